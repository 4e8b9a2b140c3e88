// kube-proxy for every node: turns Services and EndpointSlices into the
// nftables rules of network/service-rules.ts and loads them, atomically,
// into each node's namespace.
import type { KObject } from '../apiserver/objects.js';
import type { Store } from '../apiserver/store.js';
import { renderServiceRules, type ServicePortRule } from '../network/service-rules.js';
import { inNetns } from '../network/shell.js';
import { Reconciler } from './reconciler.js';

// biome-ignore lint/suspicious/noExplicitAny: API objects are JSON
type Json = any;

const SLICES = 'discovery.k8s.io/endpointslices';

export function serviceRules(services: KObject[], slices: KObject[]): ServicePortRule[] {
  const out: ServicePortRule[] = [];
  for (const svc of services) {
    const ip = svc.spec?.clusterIP;
    if (!ip || ip === 'None' || svc.spec?.type === 'ExternalName') continue;
    const ns = svc.metadata.namespace;
    const mine = slices.filter(
      (s) => s.metadata.namespace === ns && s.metadata.labels?.['kubernetes.io/service-name'] === svc.metadata.name,
    );
    for (const sp of svc.spec.ports ?? []) {
      const endpoints: { ip: string; port: number }[] = [];
      for (const slice of mine) {
        const port = (slice.ports ?? []).find(
          (p: Json) => (p.name ?? '') === (sp.name ?? '') && (p.protocol ?? 'TCP') === (sp.protocol ?? 'TCP'),
        );
        if (!port?.port) continue;
        for (const ep of slice.endpoints ?? []) {
          if (ep.conditions?.ready === false) continue;
          for (const addr of ep.addresses ?? []) endpoints.push({ ip: addr, port: port.port });
        }
      }
      out.push({
        label: `${ns}/${svc.metadata.name}:${sp.name ?? sp.port}`,
        clusterIp: ip,
        port: sp.port,
        protocol: sp.protocol ?? 'TCP',
        endpoints,
      });
    }
  }
  return out;
}

export class KubeProxy extends Reconciler {
  #nodes: string[];
  #serviceCidr: string;
  #last = '';
  /** Rule sets loaded so far (tests and `status` read it). */
  generation = 0;

  constructor(store: Store, nodeNetns: string[], serviceCidr: string) {
    super(store, ['services', SLICES]);
    this.#nodes = nodeNetns;
    this.#serviceCidr = serviceCidr;
  }

  protected async reconcile(): Promise<void> {
    const text = renderServiceRules(
      serviceRules(this.store.list('services'), this.store.list(SLICES)),
      this.#serviceCidr,
    );
    if (text === this.#last) return;
    await Promise.all(this.#nodes.map((ns) => inNetns(ns, 'nft', ['-f', '-'], text)));
    this.#last = text;
    this.generation++;
  }
}
