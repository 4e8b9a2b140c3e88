// Which pod volumes kvpn builds on the laptop from API objects, as the
// kubelet builds them (configMap, secret, downwardAPI, projected without a
// token), and which only the running pod can show (everything else). Also
// the API shapes of those volume sources, as the API serves them (JSON).

/** A pod volume as the pod spec gives it: a name and one source field. */
export interface PodVolumeLike {
  name: string;
  [source: string]: unknown;
}

export interface KeyToPath {
  key: string;
  path: string;
  mode?: number;
}

export interface ConfigMapVolumeSource {
  name?: string;
  items?: KeyToPath[];
  defaultMode?: number;
  optional?: boolean;
}

export interface SecretVolumeSource {
  secretName?: string;
  items?: KeyToPath[];
  defaultMode?: number;
  optional?: boolean;
}

export interface DownwardAPIVolumeFile {
  path: string;
  fieldRef?: { apiVersion?: string; fieldPath: string };
  resourceFieldRef?: { containerName?: string; resource: string; divisor?: string | number };
  mode?: number;
}

export interface DownwardAPIVolumeSource {
  items?: DownwardAPIVolumeFile[];
  defaultMode?: number;
}

export interface VolumeProjection {
  configMap?: { name?: string; items?: KeyToPath[]; optional?: boolean };
  secret?: { name?: string; items?: KeyToPath[]; optional?: boolean };
  downwardAPI?: { items?: DownwardAPIVolumeFile[] };
  serviceAccountToken?: { path: string; audience?: string; expirationSeconds?: number };
  clusterTrustBundle?: unknown;
  podCertificate?: unknown;
}

export interface ProjectedVolumeSource {
  sources?: VolumeProjection[] | null;
  defaultMode?: number;
}

/** The volume sources kvpn reads; any other source field makes the volume a 'pod' one. */
export interface ApiVolumeSpec {
  name: string;
  configMap?: ConfigMapVolumeSource;
  secret?: SecretVolumeSource;
  downwardAPI?: DownwardAPIVolumeSource;
  projected?: ProjectedVolumeSource;
}

/** 'api': built on the laptop from API objects; 'pod': read from the running pod. */
export type VolumeKind = 'api' | 'pod';

/** Projection sources the laptop can build; a token or certificate is minted for the pod only. */
const API_PROJECTIONS: ReadonlySet<string> = new Set(['configMap', 'secret', 'downwardAPI']);
const API_SOURCES: ReadonlySet<string> = new Set(['configMap', 'secret', 'downwardAPI', 'projected']);

function sourceKey(volume: PodVolumeLike): string | undefined {
  return Object.keys(volume).find((k) => k !== 'name' && volume[k] !== undefined && volume[k] !== null);
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function volumeKind(volume: PodVolumeLike): VolumeKind {
  const key = sourceKey(volume);
  if (key === undefined || !API_SOURCES.has(key) || !isObject(volume[key])) return 'pod';
  if (key !== 'projected') return 'api';
  const sources = (volume[key] as ProjectedVolumeSource).sources ?? [];
  const projectable = (s: VolumeProjection): boolean => {
    const fields = Object.keys(s).filter((k) => s[k as keyof VolumeProjection] != null);
    return fields.length === 1 && API_PROJECTIONS.has(fields[0] as string);
  };
  return sources.every(projectable) ? 'api' : 'pod';
}

/** The volume as kvpn reads it, when it is an 'api' volume. */
export function asApiVolume(volume: PodVolumeLike): ApiVolumeSpec | undefined {
  return volumeKind(volume) === 'api' ? (volume as unknown as ApiVolumeSpec) : undefined;
}

/** The ConfigMaps and Secrets a volume reads (names, each once, in spec order). */
export function referencedObjects(volume: PodVolumeLike): { configMaps: string[]; secrets: string[] } {
  const v = volume as unknown as ApiVolumeSpec;
  const configMaps = new Set<string>();
  const secrets = new Set<string>();
  if (isObject(v.configMap) && typeof v.configMap.name === 'string') configMaps.add(v.configMap.name);
  if (isObject(v.secret) && typeof v.secret.secretName === 'string') secrets.add(v.secret.secretName);
  if (isObject(v.projected) && Array.isArray(v.projected.sources)) {
    for (const s of v.projected.sources as VolumeProjection[]) {
      if (s.configMap?.name) configMaps.add(s.configMap.name);
      if (s.secret?.name) secrets.add(s.secret.name);
    }
  }
  return { configMaps: [...configMaps], secrets: [...secrets] };
}

/** Whether a volume has downward API files (then it depends on the pod object). */
export function downwardFiles(volume: ApiVolumeSpec): DownwardAPIVolumeFile[] {
  const fromSources = (volume.projected?.sources ?? []).flatMap((s) => s.downwardAPI?.items ?? []);
  return [...(volume.downwardAPI?.items ?? []), ...fromSources];
}

/**
 * The mode of the volume's root directory in the container: the kubelet
 * wraps these volumes in an emptyDir it chmods to 0777; secret, downwardAPI
 * and projected ones are tmpfs (medium Memory), whose root is 01777.
 */
export function kubeletVolumeDirMode(volume: ApiVolumeSpec): number {
  return volume.configMap ? 0o777 : 0o1777;
}
