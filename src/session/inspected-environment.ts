// The Environment view of the inspection page: `kvpn env` for a workload,
// computed in the daemon with the session's client (the user's credentials),
// each value marked when it is Secret data (the page masks those).
import type { KubeClient } from '../kube/client.js';
import { environmentWith } from '../workload/index.js';

export interface InspectedEnvironment {
  workload: string;
  namespace: string;
  container: string;
  pod: string | null;
  entries: { name: string; value: string | null; unavailable: string | null; source: string; fromSecret: boolean }[];
}

export async function inspectedEnvironment(
  client: KubeClient,
  query: { workload: string; container?: string | undefined },
): Promise<InspectedEnvironment> {
  const env = await environmentWith(client, query);
  return {
    workload: env.workload,
    namespace: env.namespace,
    container: env.container,
    pod: env.pod ?? null,
    entries: env.entries.map((e) => ({
      name: e.name,
      value: e.value ?? null,
      unavailable: e.unavailable ?? null,
      source: e.source,
      fromSecret: e.fromSecret,
    })),
  };
}
