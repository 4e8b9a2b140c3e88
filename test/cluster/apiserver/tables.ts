// Server-side printing: the meta.k8s.io Table a real API server returns to
// `kubectl get`, with the same columns for the types we serve.
import type { KObject } from './objects.js';

interface Column {
  name: string;
  type: 'string' | 'integer' | 'date';
  format?: string;
  priority?: number;
  cell: (o: KObject, now: number) => string | number;
}

export function humanDuration(ms: number): string {
  const seconds = Math.floor(ms / 1000);
  if (seconds < -1) return '<invalid>';
  if (seconds < 0) return '0s';
  if (seconds < 120) return `${seconds}s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 10) return seconds % 60 === 0 ? `${minutes}m` : `${minutes}m${seconds % 60}s`;
  if (minutes < 180) return `${minutes}m`;
  const hours = Math.floor(minutes / 60);
  if (hours < 8) return minutes % 60 === 0 ? `${hours}h` : `${hours}h${minutes % 60}m`;
  if (hours < 48) return `${hours}h`;
  if (hours < 24 * 8)
    return hours % 24 === 0 ? `${Math.floor(hours / 24)}d` : `${Math.floor(hours / 24)}d${hours % 24}h`;
  return `${Math.floor(hours / 24)}d`;
}

const name: Column = { name: 'Name', type: 'string', format: 'name', cell: (o) => o.metadata.name ?? '' };
const age: Column = {
  name: 'Age',
  type: 'string',
  cell: (o, now) =>
    o.metadata.creationTimestamp ? humanDuration(now - Date.parse(o.metadata.creationTimestamp)) : '<unknown>',
};
const wide = (c: Omit<Column, 'priority'>): Column => ({ ...c, priority: 1 });
const orNone = (s: string | undefined): string => (s === undefined || s === '' ? '<none>' : s);

function podStatus(o: KObject): string {
  let reason: string = o.status?.reason ?? o.status?.phase ?? 'Unknown';
  const inits = o.spec?.initContainers ?? [];
  for (const [i, cs] of (o.status?.initContainerStatuses ?? []).entries()) {
    if (cs.state?.terminated?.exitCode === 0) continue;
    if (cs.state?.terminated)
      reason = `Init:${cs.state.terminated.reason || `ExitCode:${cs.state.terminated.exitCode}`}`;
    else if (cs.state?.waiting?.reason && cs.state.waiting.reason !== 'PodInitializing')
      reason = `Init:${cs.state.waiting.reason}`;
    else reason = `Init:${i}/${inits.length}`;
    return o.metadata.deletionTimestamp ? 'Terminating' : reason;
  }
  for (const cs of [...(o.status?.containerStatuses ?? [])].reverse()) {
    if (cs.state?.waiting?.reason) reason = cs.state.waiting.reason;
    else if (cs.state?.terminated?.reason) reason = cs.state.terminated.reason;
    else if (cs.state?.terminated) {
      reason = cs.state.terminated.signal
        ? `Signal:${cs.state.terminated.signal}`
        : `ExitCode:${cs.state.terminated.exitCode}`;
    }
  }
  if (o.metadata.deletionTimestamp) return 'Terminating';
  return reason;
}

function podRestarts(o: KObject, now: number): string {
  let restarts = 0;
  let last = 0;
  for (const cs of o.status?.containerStatuses ?? []) {
    restarts += cs.restartCount ?? 0;
    const finished = cs.lastState?.terminated?.finishedAt;
    if (finished) last = Math.max(last, Date.parse(finished));
  }
  return last && restarts ? `${restarts} (${humanDuration(now - last)} ago)` : String(restarts);
}

function servicePorts(o: KObject): string {
  const ports = (o.spec?.ports ?? []) as { port: number; protocol: string; nodePort?: number }[];
  if (ports.length === 0) return '<none>';
  return ports.map((p) => (p.nodePort ? `${p.port}:${p.nodePort}/${p.protocol}` : `${p.port}/${p.protocol}`)).join(',');
}

function serviceExternal(o: KObject): string {
  switch (o.spec?.type) {
    case 'ExternalName':
      return o.spec.externalName;
    case 'LoadBalancer': {
      const ing = (o.status?.loadBalancer?.ingress ?? []) as { ip?: string; hostname?: string }[];
      return ing.length ? ing.map((i) => i.ip ?? i.hostname).join(',') : '<pending>';
    }
    default:
      return '<none>';
  }
}

function sliceEndpoints(o: KObject): string {
  const addrs = ((o.endpoints ?? []) as { addresses: string[] }[]).flatMap((e) => e.addresses);
  if (addrs.length === 0) return '<none>';
  const shown = addrs.slice(0, 3).join(',');
  return addrs.length > 3 ? `${shown} + ${addrs.length - 3} more...` : shown;
}

function endpointsList(o: KObject): string {
  const out: string[] = [];
  for (const s of o.subsets ?? []) {
    for (const a of s.addresses ?? [])
      for (const p of s.ports ?? [{ port: undefined }]) out.push(p.port ? `${a.ip}:${p.port}` : a.ip);
  }
  if (out.length === 0) return '<none>';
  return out.length > 3 ? `${out.slice(0, 3).join(',')} + ${out.length - 3} more...` : out.join(',');
}

function selectorText(sel: Record<string, string> | undefined): string {
  if (!sel || Object.keys(sel).length === 0) return '<none>';
  return Object.entries(sel)
    .map(([k, v]) => `${k}=${v}`)
    .join(',');
}

const COLUMNS: Record<string, Column[]> = {
  Pod: [
    name,
    {
      name: 'Ready',
      type: 'string',
      cell: (o) => {
        const cs = (o.status?.containerStatuses ?? []) as { ready: boolean }[];
        return `${cs.filter((c) => c.ready).length}/${(o.spec?.containers ?? []).length}`;
      },
    },
    { name: 'Status', type: 'string', cell: podStatus },
    { name: 'Restarts', type: 'string', cell: podRestarts },
    age,
    wide({ name: 'IP', type: 'string', cell: (o) => orNone(o.status?.podIP) }),
    wide({ name: 'Node', type: 'string', cell: (o) => orNone(o.spec?.nodeName) }),
    wide({ name: 'Nominated Node', type: 'string', cell: (o) => orNone(o.status?.nominatedNodeName) }),
    wide({ name: 'Readiness Gates', type: 'string', cell: () => '<none>' }),
  ],
  Service: [
    name,
    { name: 'Type', type: 'string', cell: (o) => o.spec?.type ?? 'ClusterIP' },
    { name: 'Cluster-IP', type: 'string', cell: (o) => orNone(o.spec?.clusterIP) },
    { name: 'External-IP', type: 'string', cell: serviceExternal },
    { name: 'Port(s)', type: 'string', cell: servicePorts },
    age,
    wide({ name: 'Selector', type: 'string', cell: (o) => selectorText(o.spec?.selector) }),
  ],
  EndpointSlice: [
    name,
    { name: 'AddressType', type: 'string', cell: (o) => o.addressType ?? '' },
    {
      name: 'Ports',
      type: 'string',
      cell: (o) => {
        const ports = (o.ports ?? []) as { port?: number }[];
        return ports.length ? ports.map((p) => p.port ?? '<unset>').join(',') : '<unset>';
      },
    },
    { name: 'Endpoints', type: 'string', cell: sliceEndpoints },
    age,
  ],
  Endpoints: [name, { name: 'Endpoints', type: 'string', cell: endpointsList }, age],
  Node: [
    name,
    {
      name: 'Status',
      type: 'string',
      cell: (o) =>
        (o.status?.conditions ?? []).find((c: { type: string }) => c.type === 'Ready')?.status === 'True'
          ? 'Ready'
          : 'NotReady',
    },
    {
      name: 'Roles',
      type: 'string',
      cell: (o) => {
        const roles = Object.keys(o.metadata.labels ?? {})
          .filter((k) => k.startsWith('node-role.kubernetes.io/'))
          .map((k) => k.slice('node-role.kubernetes.io/'.length));
        return roles.length ? roles.join(',') : '<none>';
      },
    },
    age,
    { name: 'Version', type: 'string', cell: (o) => o.status?.nodeInfo?.kubeletVersion ?? '' },
    wide({
      name: 'Internal-IP',
      type: 'string',
      cell: (o) => orNone((o.status?.addresses ?? []).find((a: { type: string }) => a.type === 'InternalIP')?.address),
    }),
    wide({ name: 'External-IP', type: 'string', cell: () => '<none>' }),
    wide({ name: 'OS-Image', type: 'string', cell: (o) => o.status?.nodeInfo?.osImage ?? '' }),
    wide({ name: 'Kernel-Version', type: 'string', cell: (o) => o.status?.nodeInfo?.kernelVersion ?? '' }),
    wide({ name: 'Container-Runtime', type: 'string', cell: (o) => o.status?.nodeInfo?.containerRuntimeVersion ?? '' }),
  ],
  Namespace: [name, { name: 'Status', type: 'string', cell: (o) => o.status?.phase ?? '' }, age],
  ConfigMap: [
    name,
    {
      name: 'Data',
      type: 'integer',
      cell: (o) => Object.keys(o.data ?? {}).length + Object.keys(o.binaryData ?? {}).length,
    },
    age,
  ],
  Secret: [
    name,
    { name: 'Type', type: 'string', cell: (o) => o.type ?? 'Opaque' },
    { name: 'Data', type: 'integer', cell: (o) => Object.keys(o.data ?? {}).length },
    age,
  ],
  Deployment: [
    name,
    { name: 'Ready', type: 'string', cell: (o) => `${o.status?.readyReplicas ?? 0}/${o.spec?.replicas ?? 0}` },
    { name: 'Up-to-date', type: 'integer', cell: (o) => o.status?.updatedReplicas ?? 0 },
    { name: 'Available', type: 'integer', cell: (o) => o.status?.availableReplicas ?? 0 },
    age,
    wide({
      name: 'Containers',
      type: 'string',
      cell: (o) => (o.spec?.template?.spec?.containers ?? []).map((c: { name: string }) => c.name).join(','),
    }),
    wide({
      name: 'Images',
      type: 'string',
      cell: (o) => (o.spec?.template?.spec?.containers ?? []).map((c: { image: string }) => c.image).join(','),
    }),
    wide({ name: 'Selector', type: 'string', cell: (o) => selectorText(o.spec?.selector?.matchLabels) }),
  ],
  StatefulSet: [
    name,
    { name: 'Ready', type: 'string', cell: (o) => `${o.status?.readyReplicas ?? 0}/${o.spec?.replicas ?? 0}` },
    age,
  ],
  ServiceCIDR: [name, { name: 'CIDRs', type: 'string', cell: (o) => (o.spec?.cidrs ?? []).join(',') }, age],
};

export type IncludeObject = 'None' | 'Metadata' | 'Object';

export function toTable(
  kind: string,
  objects: KObject[],
  listMeta: Record<string, unknown>,
  tableApiVersion: string,
  include: IncludeObject,
  now = Date.now(),
): Record<string, unknown> {
  const cols = COLUMNS[kind] ?? [name, age];
  return {
    kind: 'Table',
    apiVersion: tableApiVersion,
    metadata: listMeta,
    columnDefinitions: cols.map((c) => ({
      name: c.name,
      type: c.type,
      format: c.format ?? '',
      description: c.name === 'Name' ? 'Name must be unique within a namespace.' : c.name,
      priority: c.priority ?? 0,
    })),
    rows: objects.map((o) => {
      const row: Record<string, unknown> = { cells: cols.map((c) => c.cell(o, now)) };
      if (include === 'Object') row.object = o;
      else if (include === 'Metadata')
        row.object = { kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1', metadata: o.metadata };
      return row;
    }),
  };
}
