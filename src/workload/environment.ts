// A container's environment as the kubelet makes it (makeEnvironmentVariables
// in pkg/kubelet/kubelet_pods.go, v1.34), from plain objects:
//
//   Service links (linkedServices) ─► serviceEnv
//   envFrom, in order (prefix + key; ConfigMap, Secret) ─► env map
//   env, in order: value ─► $(…) expansion against (env map, serviceEnv)
//                  valueFrom ─► fieldRef | resourceFieldRef | configMapKeyRef | secretKeyRef
//   result: the env map, then the service variables it does not define
//
// A later definition replaces an earlier one. A missing non-optional
// ConfigMap, Secret or key throws (the kubelet's CreateContainerConfigError);
// an optional one is skipped, leaving any earlier value of that name.
import { fieldRefValue, type PodFacts, type Resolved, resourceFieldRefValue } from './downward.js';
import { MissingReferenceError } from './errors.js';
import { expand, referencedNames } from './expansion.js';
import { linkedServices, serviceLinkVariables } from './service-links.js';
import type { ConfigMap, Container, Secret, Service } from './types.js';

export type { PodFacts } from './downward.js';

export type EnvSource = 'service' | 'configMap' | 'secret' | 'value' | 'fieldRef' | 'resourceFieldRef' | 'fileKeyRef';

export interface EnvEntry {
  name: string;
  /** Absent when kvpn cannot know it; `unavailable` says why. */
  value?: string;
  unavailable?: string;
  source: EnvSource;
  /** The value is, or contains, Secret data. */
  fromSecret: boolean;
  /** A Secret value that is not valid UTF-8: `value` shows it with U+FFFD; `bytes` holds the original. */
  bytes?: Buffer;
}

export interface EnvironmentInputs {
  facts: PodFacts;
  container: Container;
  /** ConfigMaps and Secrets of the pod's namespace by name; a name not here does not exist. */
  configMaps: ReadonlyMap<string, ConfigMap>;
  secrets: ReadonlyMap<string, Secret>;
  /** Services of the pod's namespace and of `default` (for `kubernetes`). */
  services: readonly Service[];
  /** Linked Services kvpn may not read (RBAC): their main variables are reported unavailable. */
  unreadableServices?: readonly string[];
}

export interface Environment {
  /** In the kubelet's order: envFrom and env definitions, then the remaining Service links. */
  entries: EnvEntry[];
}

function secretValue(b64: string): { value: string; bytes?: Buffer } {
  const bytes = Buffer.from(b64, 'base64');
  const value = bytes.toString('utf8');
  return Buffer.from(value, 'utf8').equals(bytes) ? { value } : { value, bytes };
}

export function containerEnvironment(inputs: EnvironmentInputs): Environment {
  const { facts, container } = inputs;
  const ns = facts.namespace;
  const serviceEnv = serviceLinkVariables(linkedServices(inputs.services, ns, facts.spec.enableServiceLinks ?? true));
  const env = new Map<string, EnvEntry>();
  const set = (entry: EnvEntry) => {
    // The kubelet's map has no order; a redefined name is listed where it was last defined.
    env.delete(entry.name);
    env.set(entry.name, entry);
  };

  for (const from of container.envFrom ?? []) {
    const prefix = from.prefix ?? '';
    if (from.configMapRef) {
      const cm = inputs.configMaps.get(from.configMapRef.name);
      if (!cm) {
        if (from.configMapRef.optional) continue;
        throw new MissingReferenceError('ConfigMap', ns, from.configMapRef.name);
      }
      for (const [k, v] of Object.entries(cm.data ?? {}))
        set({ name: prefix + k, value: v, source: 'configMap', fromSecret: false });
    } else if (from.secretRef) {
      const secret = inputs.secrets.get(from.secretRef.name);
      if (!secret) {
        if (from.secretRef.optional) continue;
        throw new MissingReferenceError('Secret', ns, from.secretRef.name);
      }
      for (const [k, v] of Object.entries(secret.data ?? {}))
        set({ name: prefix + k, ...secretValue(v), source: 'secret', fromSecret: true });
    }
  }

  for (const v of container.env ?? []) {
    if (v.value) {
      set(expandValue(v.name, v.value, env, serviceEnv));
      continue;
    }
    const from = v.valueFrom;
    if (!from) {
      set({ name: v.name, value: '', source: 'value', fromSecret: false });
    } else if (from.fieldRef) {
      set(resolved(v.name, fieldRefValue(v.name, from.fieldRef, facts), 'fieldRef'));
    } else if (from.resourceFieldRef) {
      set(resolved(v.name, resourceFieldRefValue(v.name, from.resourceFieldRef, container, facts), 'resourceFieldRef'));
    } else if (from.configMapKeyRef || from.secretKeyRef) {
      const secret = !from.configMapKeyRef;
      const ref = (from.configMapKeyRef ?? from.secretKeyRef) as { name: string; key: string; optional?: boolean };
      const object = secret ? inputs.secrets.get(ref.name) : inputs.configMaps.get(ref.name);
      const raw = object?.data?.[ref.key];
      if (raw === undefined) {
        // An optional miss defines nothing: an earlier value of the name stays (the kubelet's `continue`).
        if (ref.optional) continue;
        throw new MissingReferenceError(secret ? 'Secret' : 'ConfigMap', ns, ref.name, object ? ref.key : undefined);
      }
      set(
        secret
          ? { name: v.name, ...secretValue(raw), source: 'secret', fromSecret: true }
          : { name: v.name, value: raw, source: 'configMap', fromSecret: false },
      );
    } else if (from.fileKeyRef) {
      set({
        name: v.name,
        unavailable: `read from file "${from.fileKeyRef.path}" of volume "${from.fileKeyRef.volumeName}" inside the pod (fileKeyRef)`,
        source: 'fileKeyRef',
        fromSecret: false,
      });
    } else {
      set({ name: v.name, value: '', source: 'value', fromSecret: false });
    }
  }

  const entries = [...env.values()];
  for (const [name, value] of serviceEnv) {
    if (!env.has(name)) entries.push({ name, value, source: 'service', fromSecret: false });
  }
  for (const service of inputs.unreadableServices ?? []) {
    const prefix = service.replaceAll('-', '_').toUpperCase();
    for (const name of [`${prefix}_SERVICE_HOST`, `${prefix}_SERVICE_PORT`, `${prefix}_PORT`]) {
      if (env.has(name) || serviceEnv.has(name)) continue;
      const unavailable = `the Service "${service}" is not readable (RBAC); its link variables are unknown`;
      entries.push({ name, unavailable, source: 'service', fromSecret: false });
    }
  }
  return { entries };
}

function resolved(name: string, r: Resolved, source: EnvSource): EnvEntry {
  return 'value' in r
    ? { name, value: r.value, source, fromSecret: false }
    : { name, unavailable: r.unavailable, source, fromSecret: false };
}

/** Step 1a: `$(…)` against what is defined so far, then the Service links. */
function expandValue(
  name: string,
  raw: string,
  env: ReadonlyMap<string, EnvEntry>,
  serviceEnv: ReadonlyMap<string, string>,
): EnvEntry {
  const used = referencedNames(raw)
    .map((n) => env.get(n))
    .filter((e): e is EnvEntry => e !== undefined);
  const fromSecret = used.some((e) => e.fromSecret);
  const missing = used.find((e) => e.value === undefined);
  if (missing) {
    return { name, unavailable: `refers to $(${missing.name}), which is unavailable`, source: 'value', fromSecret };
  }
  const value = expand(raw, (n) => env.get(n)?.value ?? serviceEnv.get(n));
  return { name, value, source: 'value', fromSecret };
}
