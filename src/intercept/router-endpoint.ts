// Where a laptop's carriers to a router go: its current Ready pod. When
// carriers cannot open (the pod was deleted, its node drained), ensure()
// waits for the Deployment's replacement and points them there.
import type { KubeClient } from '../kube/client.js';
import { readyRouterPod, routerToken } from './router-deploy.js';
import { ROUTER_PORT } from './router-manifest.js';

/** How long carriers wait for a replacement router pod before reporting the tunnel down. */
const REPLACEMENT_WAIT_MS = 60_000;

export class RouterEndpoint {
  readonly port = ROUTER_PORT;
  readonly #client: KubeClient;
  readonly namespace: string;
  readonly service: string;
  readonly token: string;
  podName: string;

  private constructor(client: KubeClient, service: string, token: string, podName: string) {
    this.#client = client;
    this.namespace = client.namespace;
    this.service = service;
    this.token = token;
    this.podName = podName;
  }

  static async find(client: KubeClient, service: string, signal?: AbortSignal): Promise<RouterEndpoint> {
    const token = await routerToken(client, client.namespace, service);
    const pod = await readyRouterPod(client, client.namespace, service, REPLACEMENT_WAIT_MS, signal);
    return new RouterEndpoint(client, service, token, pod);
  }

  async ensure(_cause?: Error, signal?: AbortSignal): Promise<void> {
    this.podName = await readyRouterPod(this.#client, this.namespace, this.service, REPLACEMENT_WAIT_MS, signal);
  }
}
