// The pod and container a mount reads: the workload's newest Ready pod (or
// the one named) must run, since pod volumes come from it and downward API
// files describe it.
import type { KubeClient } from '../kube/client.js';
import { readWorkloadPod, type WorkloadQuery } from '../workload/index.js';
import { mountError } from './errors.js';
import type { PlanContainer, PlanPodSpec } from './mount-plan.js';

export interface MountTarget {
  /** kind/name, e.g. Deployment/web. */
  workload: string;
  pod: { metadata: { name: string }; spec: PlanPodSpec };
  container: PlanContainer;
}

export async function findMountTarget(client: KubeClient, query: WorkloadQuery): Promise<MountTarget> {
  const found = await readWorkloadPod(client, query);
  const pod = found.pod;
  if (!pod?.metadata.name || pod.status?.phase !== 'Running')
    throw mountError(
      'KVPN_ERR_MOUNT_NO_POD',
      `${found.workload} has no running pod to read its volumes from`,
      'Start one (scale it up), or name a running one with --pod.',
    );
  return {
    workload: found.workload,
    pod: pod as unknown as MountTarget['pod'],
    container: found.container as unknown as PlanContainer,
  };
}
