// The Service link variables (Docker-links style) the kubelet gives every
// container: pkg/kubelet/envvars FromServices, over the Services that
// getServiceEnvVarMap picks — those of the pod's namespace when
// enableServiceLinks is true, plus the `kubernetes` Service of `default`
// always (a same-named Service of the pod's own namespace wins). Services
// without a cluster IP (headless, ExternalName) give none.
import { isIP } from 'node:net';
import type { Service } from './types.js';

/** Services that are always linked, from the `default` namespace (the kubelet's masterServices). */
const MASTER_SERVICES = new Set(['kubernetes']);

function hasClusterIP(s: Service): boolean {
  const ip = s.spec.clusterIP ?? '';
  return ip !== '' && ip !== 'None';
}

/** The Services whose variables a pod of `namespace` gets. */
export function linkedServices(
  services: readonly Service[],
  namespace: string,
  enableServiceLinks: boolean,
): Service[] {
  const chosen = new Map<string, Service>();
  for (const s of services) {
    if (!hasClusterIP(s)) continue;
    const name = s.metadata.name ?? '';
    if (s.metadata.namespace === 'default' && MASTER_SERVICES.has(name)) {
      if (!chosen.has(name)) chosen.set(name, s);
    } else if (s.metadata.namespace === namespace && enableServiceLinks) {
      chosen.set(name, s);
    }
  }
  return [...chosen.values()];
}

function envName(text: string): string {
  return text.replaceAll('-', '_').toUpperCase();
}

/** Go's net.JoinHostPort: brackets around an IPv6 address. */
function joinHostPort(host: string, port: number): string {
  return isIP(host) === 6 || host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

/** The variables of the given Services, in the kubelet's order per Service. */
export function serviceLinkVariables(services: readonly Service[]): Map<string, string> {
  const vars = new Map<string, string>();
  for (const s of services) {
    if (!hasClusterIP(s)) continue;
    const ip = s.spec.clusterIP as string;
    const ports = s.spec.ports ?? [];
    const first = ports[0];
    if (!first) continue; // the API requires a port for a cluster IP; the kubelet would fail here
    const prefix = envName(s.metadata.name ?? '');
    vars.set(`${prefix}_SERVICE_HOST`, ip);
    vars.set(`${prefix}_SERVICE_PORT`, String(first.port));
    for (const p of ports) if (p.name) vars.set(`${prefix}_SERVICE_PORT_${envName(p.name)}`, String(p.port));
    ports.forEach((p, i) => {
      const protocol = p.protocol || 'TCP';
      const url = `${protocol.toLowerCase()}://${joinHostPort(ip, p.port)}`;
      if (i === 0) vars.set(`${prefix}_PORT`, url);
      const portPrefix = `${prefix}_PORT_${p.port}_${protocol.toUpperCase()}`;
      vars.set(portPrefix, url);
      vars.set(`${portPrefix}_PROTO`, protocol.toLowerCase());
      vars.set(`${portPrefix}_PORT`, String(p.port));
      vars.set(`${portPrefix}_ADDR`, ip);
    });
  }
  return vars;
}
