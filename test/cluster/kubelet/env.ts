// A container's environment as the kubelet builds it: image env, service
// links (FOO_SERVICE_HOST…), envFrom, then env with valueFrom
// (configMapKeyRef, secretKeyRef, fieldRef) and $(VAR) expansion.
import type { KObject } from '../apiserver/objects.js';

export interface EnvSources {
  configMap(ns: string, name: string): KObject | undefined;
  secret(ns: string, name: string): KObject | undefined;
  services(ns: string): KObject[];
}

export class EnvError extends Error {}

function fieldRef(pod: KObject, path: string): string {
  const m = /^metadata\.(labels|annotations)\['(.+)'\]$/.exec(path);
  if (m?.[1] && m[2]) return (pod.metadata[m[1]] as Record<string, string> | undefined)?.[m[2]] ?? '';
  switch (path) {
    case 'metadata.name':
      return pod.metadata.name ?? '';
    case 'metadata.namespace':
      return pod.metadata.namespace ?? '';
    case 'metadata.uid':
      return pod.metadata.uid ?? '';
    case 'spec.nodeName':
      return pod.spec?.nodeName ?? '';
    case 'spec.serviceAccountName':
      return pod.spec?.serviceAccountName ?? '';
    case 'status.podIP':
    case 'status.podIPs':
      return pod.status?.podIP ?? '';
    case 'status.hostIP':
    case 'status.hostIPs':
      return pod.status?.hostIP ?? '';
    default:
      throw new EnvError(`unsupported fieldRef ${path}`);
  }
}

/** $(VAR) → value of VAR if defined; $$ escapes. */
export function expand(s: string, env: Record<string, string>): string {
  return s.replace(/\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)/g, (whole, name: string | undefined) => {
    if (whole === '$$') return '$';
    return name !== undefined && name in env ? (env[name] ?? '') : whole;
  });
}

function serviceLinks(services: KObject[]): Record<string, string> {
  const env: Record<string, string> = {};
  for (const svc of services) {
    const ip = svc.spec?.clusterIP;
    if (!ip || ip === 'None') continue;
    const name = (svc.metadata.name ?? '').toUpperCase().replace(/-/g, '_');
    const first = svc.spec?.ports?.[0];
    if (!first) continue;
    env[`${name}_SERVICE_HOST`] = ip;
    env[`${name}_SERVICE_PORT`] = String(first.port);
    env[`${name}_PORT`] = `${String(first.protocol ?? 'TCP').toLowerCase()}://${ip}:${first.port}`;
  }
  return env;
}

function decodeSecret(secret: KObject, key: string): string | undefined {
  const v = secret.data?.[key];
  return v === undefined ? undefined : Buffer.from(v, 'base64').toString('utf8');
}

export function containerEnv(
  pod: KObject,
  container: KObject['spec'],
  imageEnv: Record<string, string>,
  src: EnvSources,
): Record<string, string> {
  const ns = pod.metadata.namespace ?? 'default';
  const env: Record<string, string> = { ...imageEnv, HOSTNAME: pod.spec?.hostname ?? pod.metadata.name ?? '' };
  if (pod.spec?.enableServiceLinks !== false) Object.assign(env, serviceLinks(src.services(ns)));
  const kube = src.services('default').find((s) => s.metadata.name === 'kubernetes');
  if (kube?.spec?.clusterIP) {
    env.KUBERNETES_SERVICE_HOST = kube.spec.clusterIP;
    env.KUBERNETES_SERVICE_PORT = '443';
  }
  for (const from of container.envFrom ?? []) {
    const prefix: string = from.prefix ?? '';
    if (from.configMapRef) {
      const cm = src.configMap(ns, from.configMapRef.name);
      if (!cm) {
        if (from.configMapRef.optional) continue;
        throw new EnvError(`configmap "${from.configMapRef.name}" not found`);
      }
      for (const [k, v] of Object.entries(cm.data ?? {})) env[prefix + k] = String(v);
    }
    if (from.secretRef) {
      const s = src.secret(ns, from.secretRef.name);
      if (!s) {
        if (from.secretRef.optional) continue;
        throw new EnvError(`secret "${from.secretRef.name}" not found`);
      }
      for (const k of Object.keys(s.data ?? {})) env[prefix + k] = decodeSecret(s, k) ?? '';
    }
  }
  for (const e of container.env ?? []) {
    if (e.value !== undefined) {
      env[e.name] = expand(String(e.value), env);
      continue;
    }
    const vf = e.valueFrom;
    if (!vf) {
      env[e.name] = '';
      continue;
    }
    if (vf.configMapKeyRef) {
      const ref = vf.configMapKeyRef;
      const cm = src.configMap(ns, ref.name);
      const v = cm?.data?.[ref.key];
      if (v === undefined) {
        if (ref.optional) continue;
        throw new EnvError(
          cm ? `couldn't find key ${ref.key} in ConfigMap ${ns}/${ref.name}` : `configmap "${ref.name}" not found`,
        );
      }
      env[e.name] = String(v);
    } else if (vf.secretKeyRef) {
      const ref = vf.secretKeyRef;
      const s = src.secret(ns, ref.name);
      const v = s ? decodeSecret(s, ref.key) : undefined;
      if (v === undefined) {
        if (ref.optional) continue;
        throw new EnvError(
          s ? `couldn't find key ${ref.key} in Secret ${ns}/${ref.name}` : `secret "${ref.name}" not found`,
        );
      }
      env[e.name] = v;
    } else if (vf.fieldRef) {
      env[e.name] = fieldRef(pod, vf.fieldRef.fieldPath);
    } else if (vf.resourceFieldRef) {
      env[e.name] = '0';
    }
  }
  return env;
}
