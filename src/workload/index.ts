// A workload's container environment, as the kubelet would make it:
//
//   readWorkloadInputs (read.ts, the API through the user's kubeconfig)
//     ─► containerEnvironment (environment.ts, pure: the kubelet's rules)
//     ─► formatEnvironment (format.ts: dotenv | sh | json)
//
// The CLI enters here only.
import { KubeClient, type KubeTarget } from '../kube/client.js';
import { containerEnvironment, type Environment } from './environment.js';
import { UnknownWorkloadError } from './errors.js';
import { findWorkload, readWorkloadInputs, type WorkloadQuery } from './read.js';

export { readWorkloadPod, type WorkloadQuery } from './read.js';
export type { Container, Pod } from './types.js';

import type { PodSpec } from './types.js';

export type { EnvEntry, Environment } from './environment.js';
export { type EnvFormat, FORMATS, type Formatted, formatEnvironment, UnrepresentableError } from './format.js';

export interface WorkloadEnvironment extends Environment {
  workload: string;
  namespace: string;
  container: string;
  pod: string | undefined;
  context: string;
}

/** Reads the workload and computes its container's environment. */
export async function workloadEnvironment(target: KubeTarget, query: WorkloadQuery): Promise<WorkloadEnvironment> {
  const client = KubeClient.load(target);
  try {
    return await environmentWith(client, query);
  } finally {
    client.close();
  }
}

/** The environment of a workload's container with a client the caller holds (the session's). */
export async function environmentWith(client: KubeClient, query: WorkloadQuery): Promise<WorkloadEnvironment> {
  const inputs = await readWorkloadInputs(client, query);
  return {
    ...containerEnvironment(inputs),
    workload: inputs.workload,
    namespace: client.namespace,
    container: inputs.containerName,
    pod: inputs.podName,
    context: client.contextName,
  };
}

/** A workload's pod template: what its pods are labelled and which ports they declare. */
export interface WorkloadTemplate {
  /** kind/name, as messages name it. */
  label: string;
  labels: Record<string, string>;
  spec: PodSpec;
}

/** Reads `deploy/NAME` (kubectl syntax, or a bare name) and returns its pod template. */
export async function workloadTemplate(client: KubeClient, namespace: string, text: string): Promise<WorkloadTemplate> {
  const [kind, obj] = await findWorkload(client, namespace, text);
  const label = `${kind.kind}/${obj.metadata.name}`;
  const template = kind.template(obj);
  if (!template) throw new UnknownWorkloadError(label, namespace, ' with a pod template');
  return { label, labels: { ...(template.metadata?.labels ?? {}) }, spec: template.spec };
}

// For src/volumes: downward API volume files follow the same resource rules as env.
export { type PodFacts, resourceFieldRefValue } from './downward.js';
export type { ConfigMap, Node, ObjectMeta, PodSpec, Secret } from './types.js';
