// Which of a container's volumeMounts `kvpn mount` shows, and how: the
// pure step between the pod's spec and the mounts on the laptop.
//
//   volumeMounts ─► --only ─► per mount: its volume, built from the API or
//   served by the pod; read-only unless --rw and the pod may write it.
import { mountError } from './errors.js';
import { volumeKind } from './volume-kinds.js';

export interface VolumeMountSpec {
  name: string;
  mountPath: string;
  subPath?: string;
  subPathExpr?: string;
  readOnly?: boolean;
}

export interface PodVolume {
  name: string;
  [source: string]: unknown;
}

export interface PlanContainer {
  name: string;
  volumeMounts?: VolumeMountSpec[];
  securityContext?: { runAsUser?: number; runAsGroup?: number; runAsNonRoot?: boolean };
}

export interface PlanPodSpec {
  containers: PlanContainer[];
  volumes?: PodVolume[];
  securityContext?: { runAsUser?: number; runAsGroup?: number; runAsNonRoot?: boolean; fsGroup?: number };
}

export interface PlannedMount {
  /** The path in the container, e.g. /etc/config. */
  mountPath: string;
  volume: PodVolume;
  /** The volume's source type as the pod spec names it: configMap, emptyDir, persistentVolumeClaim… */
  type: string;
  subPath: string | undefined;
  /** Built from the API objects on the laptop, or served by the pod's file server. */
  source: 'api' | 'pod';
  readOnly: boolean;
}

export interface MountPlan {
  mounts: PlannedMount[];
  /** Mounts left out, with why ("subPathExpr …"). */
  skipped: { mountPath: string; why: string }[];
}

export interface PlanOptions {
  only?: string[] | undefined;
  rw: boolean;
}

/** The volume source's key: the one field besides `name`. */
export function volumeType(volume: PodVolume): string {
  return Object.keys(volume).find((k) => k !== 'name') ?? 'unknown';
}

/** Whether a mount path or volume name was asked for by --only. */
const selected = (only: string[] | undefined, m: VolumeMountSpec): boolean =>
  !only || only.includes(m.name) || only.includes(m.mountPath);

export function planMounts(spec: PlanPodSpec, container: PlanContainer, options: PlanOptions): MountPlan {
  const all = container.volumeMounts ?? [];
  if (all.length === 0)
    throw mountError(
      'KVPN_ERR_MOUNT_NO_VOLUMES',
      `container "${container.name}" mounts no volumes`,
      'Pick another container with -c, or use `kvpn env` for its configuration.',
    );
  const unknown = (options.only ?? []).filter((o) => !all.some((m) => m.name === o || m.mountPath === o));
  if (unknown.length)
    throw mountError(
      'KVPN_ERR_MOUNT_NO_VOLUMES',
      `container "${container.name}" has no volume mount ${unknown.map((u) => `"${u}"`).join(', ')}`,
      `Name a volume or mount path it has: ${all.map((m) => `${m.name} (${m.mountPath})`).join(', ')}.`,
    );
  const mounts: PlannedMount[] = [];
  const skipped: MountPlan['skipped'] = [];
  for (const m of all) {
    if (!selected(options.only, m)) continue;
    const volume = spec.volumes?.find((v) => v.name === m.name);
    if (!volume) {
      skipped.push({ mountPath: m.mountPath, why: `the pod has no volume "${m.name}"` });
      continue;
    }
    if (m.subPathExpr) {
      skipped.push({ mountPath: m.mountPath, why: 'subPathExpr is not supported yet' });
      continue;
    }
    const type = volumeType(volume);
    const source = volumeKind(volume);
    // The kubelet mounts these read-only whatever the pod says.
    const podReadOnly = m.readOnly === true || source === 'api';
    if (options.rw && podReadOnly && options.only?.some((o) => o === m.name || o === m.mountPath))
      throw mountError(
        'KVPN_ERR_MOUNT_READ_ONLY',
        `${m.mountPath} (${type} volume "${m.name}") is read-only in the pod, so it cannot be mounted writable`,
        'Leave out --rw for it: mount it with a separate `kvpn mount … --only` without --rw.',
      );
    mounts.push({
      mountPath: m.mountPath,
      volume,
      type,
      subPath: m.subPath || undefined,
      source,
      readOnly: podReadOnly || !options.rw,
    });
  }
  // Parents before children: /data is mounted before /data/cache.
  mounts.sort((a, b) => a.mountPath.split('/').length - b.mountPath.split('/').length);
  return { mounts, skipped };
}

/** The uid/gid the container runs as, when its spec says (else the image decides). */
export function containerUser(
  spec: PlanPodSpec,
  container: PlanContainer,
): { uid?: number; gid?: number; nonRoot: boolean } {
  const uid = container.securityContext?.runAsUser ?? spec.securityContext?.runAsUser;
  const gid = container.securityContext?.runAsGroup ?? spec.securityContext?.runAsGroup;
  const nonRoot = (container.securityContext?.runAsNonRoot ?? spec.securityContext?.runAsNonRoot) === true;
  return { ...(uid === undefined ? {} : { uid }), ...(gid === undefined ? {} : { gid }), nonRoot };
}
