// The images this "registry" has. A container runs on this machine's own
// root filesystem (through an overlay, so writes stay in the pod): node:*
// runs the machine's node, postgres:* Debian's PostgreSQL from a cached
// initdb template, coredns the world's DNS server, debian:* the host's own
// Debian userland. Anything else fails to pull, as it would on a cluster
// without network access.
import { join } from 'node:path';

export interface ImageSpec {
  /** Fully qualified reference, e.g. docker.io/library/node:22-alpine. */
  ref: string;
  imageId: string;
  entrypoint: string[];
  cmd: string[];
  env: Record<string, string>;
  /** Host directories bound read-only into the container (program files). */
  hostBinds: { from: string; to: string }[];
  /** Paths inside the container root bound onto other paths (overlay-backed). */
  rootBinds: { from: string; to: string }[];
}

export interface ImageContext {
  programsDir: string;
  pgTemplateDir: string;
}

const BASE_ENV = { PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' };

export function normalizeImage(image: string): string {
  let ref = image;
  const firstPart = ref.split('/')[0] ?? '';
  const hasRegistry =
    ref.includes('/') && (firstPart.includes('.') || firstPart.includes(':') || firstPart === 'localhost');
  if (!hasRegistry) ref = ref.includes('/') ? `docker.io/${ref}` : `docker.io/library/${ref}`;
  const last = ref.split('/').pop() ?? '';
  if (!last.includes(':') && !last.includes('@')) ref += ':latest';
  return ref;
}

function digest(ref: string): string {
  let h = 0x811c9dc5;
  for (const ch of ref) h = Math.imul(h ^ ch.charCodeAt(0), 0x01000193) >>> 0;
  return `${ref.split(':')[0]}@sha256:${h.toString(16).padStart(8, '0').repeat(8)}`;
}

export function resolveImage(image: string, ctx: ImageContext): ImageSpec | undefined {
  const ref = normalizeImage(image);
  const repo = ref.replace(/[:@][^/]*$/, '');
  const base = { ref, imageId: digest(ref), env: { ...BASE_ENV }, hostBinds: [], rootBinds: [] };
  switch (repo) {
    case 'docker.io/library/node':
      return { ...base, entrypoint: [], cmd: ['node'], env: { ...BASE_ENV, NODE_VERSION: process.versions.node } };
    case 'docker.io/library/postgres':
      return {
        ...base,
        entrypoint: ['sh', '/kvpn-image/postgres-entrypoint.sh'],
        cmd: ['postgres'],
        env: { ...BASE_ENV, PGDATA: '/var/lib/postgresql/data', PG_MAJOR: '15' },
        hostBinds: [{ from: join(ctx.programsDir), to: '/kvpn-image' }],
        rootBinds: [{ from: ctx.pgTemplateDir, to: '/var/lib/postgresql/data' }],
      };
    case 'registry.k8s.io/coredns/coredns':
      return {
        ...base,
        entrypoint: ['node', '/kvpn-image/dns-server-main.mjs'],
        cmd: [],
        hostBinds: [{ from: ctx.programsDir, to: '/kvpn-image' }],
      };
    case 'docker.io/library/debian':
    case 'docker.io/library/busybox':
    case 'registry.k8s.io/pause':
      return { ...base, entrypoint: [], cmd: repo.endsWith('pause') ? ['sleep', 'infinity'] : ['sh'] };
    default:
      return undefined;
  }
}

export function pullErrorMessage(image: string): string {
  const ref = normalizeImage(image);
  return `failed to pull and unpack image "${ref}": failed to resolve reference "${ref}": pull access denied, repository does not exist or may require authorization: server message: insufficient_scope: authorization failed`;
}
