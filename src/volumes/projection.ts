// Pure: a volume source plus the API objects it reads → the files the
// kubelet writes for it (path → bytes and mode), by the kubelet's rules:
//
//   configMap   pkg/volume/configmap MakePayload (data as UTF-8, binaryData base64)
//   secret      pkg/volume/secret MakePayload (data base64)
//   downwardAPI pkg/volume/downwardapi CollectData + pkg/fieldpath (FormatMap, Go %q)
//   projected   pkg/volume/projected collectData (one defaultMode for all sources)
//
// Modes are the defaultMode / item mode exactly. The kubelet then applies
// the pod's fsGroup (group bits and ownership, SetVolumeOwnership); kvpn does
// not: the files belong to the laptop user instead (see atomic-writer.ts).
import { KvpnError } from '../errors.js';
import {
  type ConfigMap,
  type Node,
  type ObjectMeta,
  type Pod,
  type PodFacts,
  resourceFieldRefValue,
  type Secret,
} from '../workload/index.js';
import { MountError } from './errors.js';
import type { ApiVolumeSpec, DownwardAPIVolumeFile, KeyToPath } from './volume-kinds.js';

/** The API's default for defaultMode on configMap, secret, downwardAPI and projected volumes. */
export const DEFAULT_FILE_MODE = 0o644;

export interface FileProjection {
  data: Buffer;
  mode: number;
}

/** Relative path (as the spec names it) → file. */
export type Payload = Map<string, FileProjection>;

export interface ApiObjectMeta extends ObjectMeta {
  resourceVersion?: string;
}

export interface ConfigMapObject extends ConfigMap {
  metadata: ApiObjectMeta;
  /** base64, as the API serves it. */
  binaryData?: Record<string, string>;
}

export interface SecretObject extends Secret {
  metadata: ApiObjectMeta;
}

export interface ProjectionInputs {
  namespace: string;
  /** name → object; a name that is absent or maps to undefined does not exist. */
  configMaps: ReadonlyMap<string, ConfigMapObject | undefined>;
  secrets: ReadonlyMap<string, SecretObject | undefined>;
  /** The pod, for downward API files. */
  pod?: Pod | undefined;
  /** The pod's node, whose allocatable stands in for unset limits in resourceFieldRef. */
  node?: Node | undefined;
}

/** A non-optional ConfigMap, Secret or key the volume reads does not exist. */
export class MountSourceMissingError extends MountError {
  readonly kind: 'ConfigMap' | 'Secret';
  readonly object: string;
  readonly key: string | undefined;
  constructor(kind: 'ConfigMap' | 'Secret', namespace: string, name: string, key?: string) {
    const what =
      key === undefined
        ? `${kind} "${namespace}/${name}" does not exist`
        : `${kind} "${namespace}/${name}" has no key "${key}"`;
    super('KVPN_ERR_MOUNT_SOURCE_MISSING', 'cluster', `${what}: the kubelet could not build this volume either`, {
      remedy: `Create the ${kind}${key === undefined ? '' : ' key'}, or mark the volume source optional: true.`,
    });
    this.kind = kind;
    this.object = `${namespace}/${name}`;
    this.key = key;
  }
}

/** A volume kvpn cannot build: a field path or resource the kubelet would refuse too. */
export class MountInvalidVolumeError extends MountError {
  constructor(volume: string, detail: string, cause?: unknown) {
    super('KVPN_ERR_MOUNT_INVALID_VOLUME', 'cluster', `volume "${volume}": ${detail}`, {
      cause,
      remedy: 'Check the volume with `kubectl get pod -o yaml`; the API server or kubelet would refuse it too.',
    });
  }
}

/** A downward API value that depends on something kvpn could not read (the node's allocatable). */
export class MountValueUnavailableError extends MountError {
  constructor(volume: string, path: string, why: string) {
    super('KVPN_ERR_MOUNT_VALUE_UNAVAILABLE', 'cluster', `volume "${volume}", file ${path}: ${why}`, {
      remedy: 'Set the limit on the container, or get read access to the node (`kubectl get node`).',
    });
  }
}

/** The files of an 'api' volume (see volume-kinds.ts), as the kubelet would write them. */
export function projectVolume(volume: ApiVolumeSpec, inputs: ProjectionInputs): Payload {
  if (volume.configMap) {
    const s = volume.configMap;
    const mode = s.defaultMode ?? DEFAULT_FILE_MODE;
    return configMapPayload(s.name ?? '', s.items, mode, s.optional === true, inputs);
  }
  if (volume.secret) {
    const s = volume.secret;
    const mode = s.defaultMode ?? DEFAULT_FILE_MODE;
    return secretPayload(s.secretName ?? '', s.items, mode, s.optional === true, inputs);
  }
  if (volume.downwardAPI) {
    const mode = volume.downwardAPI.defaultMode ?? DEFAULT_FILE_MODE;
    return downwardPayload(volume.name, volume.downwardAPI.items ?? [], mode, inputs);
  }
  if (volume.projected) {
    const mode = volume.projected.defaultMode ?? DEFAULT_FILE_MODE;
    const payload: Payload = new Map();
    // Later sources overwrite earlier ones at the same path, as the kubelet's map does.
    for (const source of volume.projected.sources ?? []) {
      let part: Payload;
      if (source.configMap) {
        const s = source.configMap;
        part = configMapPayload(s.name ?? '', s.items, mode, s.optional === true, inputs);
      } else if (source.secret) {
        const s = source.secret;
        part = secretPayload(s.name ?? '', s.items, mode, s.optional === true, inputs);
      } else if (source.downwardAPI) {
        part = downwardPayload(volume.name, source.downwardAPI.items ?? [], mode, inputs);
      } else {
        throw new MountInvalidVolumeError(volume.name, 'a projected source other than configMap, secret, downwardAPI');
      }
      for (const [path, file] of part) payload.set(path, file);
    }
    return payload;
  }
  throw new MountInvalidVolumeError(volume.name, 'not a configMap, secret, downwardAPI or projected volume');
}

/** Shared by configMap and secret: all keys at defaultMode, or the items (key → path, mode). */
function keyPayload(
  entries: Map<string, Buffer>,
  items: KeyToPath[] | undefined,
  defaultMode: number,
  optional: boolean,
  missingKey: (key: string) => Error,
): Payload {
  const payload: Payload = new Map();
  if (!items || items.length === 0) {
    for (const [key, data] of entries) payload.set(key, { data, mode: defaultMode });
    return payload;
  }
  for (const item of items) {
    const data = entries.get(item.key);
    if (data === undefined) {
      if (optional) continue;
      throw missingKey(item.key);
    }
    payload.set(item.path, { data, mode: item.mode ?? defaultMode });
  }
  return payload;
}

function configMapPayload(
  name: string,
  items: KeyToPath[] | undefined,
  defaultMode: number,
  optional: boolean,
  inputs: ProjectionInputs,
): Payload {
  const cm = inputs.configMaps.get(name);
  if (!cm && !optional) throw new MountSourceMissingError('ConfigMap', inputs.namespace, name);
  // A missing optional ConfigMap reads as an empty one.
  const entries = new Map<string, Buffer>();
  for (const [k, v] of Object.entries(cm?.data ?? {})) entries.set(k, Buffer.from(v, 'utf8'));
  for (const [k, v] of Object.entries(cm?.binaryData ?? {})) entries.set(k, Buffer.from(v, 'base64'));
  return keyPayload(
    entries,
    items,
    defaultMode,
    optional,
    (key) => new MountSourceMissingError('ConfigMap', inputs.namespace, name, key),
  );
}

function secretPayload(
  name: string,
  items: KeyToPath[] | undefined,
  defaultMode: number,
  optional: boolean,
  inputs: ProjectionInputs,
): Payload {
  const secret = inputs.secrets.get(name);
  if (!secret && !optional) throw new MountSourceMissingError('Secret', inputs.namespace, name);
  const entries = new Map<string, Buffer>();
  for (const [k, v] of Object.entries(secret?.data ?? {})) entries.set(k, Buffer.from(v, 'base64'));
  return keyPayload(
    entries,
    items,
    defaultMode,
    optional,
    (key) => new MountSourceMissingError('Secret', inputs.namespace, name, key),
  );
}

function downwardPayload(
  volume: string,
  items: DownwardAPIVolumeFile[],
  defaultMode: number,
  inputs: ProjectionInputs,
): Payload {
  const payload: Payload = new Map();
  for (const item of items) {
    let value = '';
    if (item.fieldRef) value = fieldPathValue(volume, requirePod(volume, inputs), item.fieldRef.fieldPath);
    else if (item.resourceFieldRef) value = resourceValue(volume, item, inputs);
    // An item with neither reference is an empty file, as in CollectData.
    payload.set(item.path, { data: Buffer.from(value, 'utf8'), mode: item.mode ?? defaultMode });
  }
  return payload;
}

function requirePod(volume: string, inputs: ProjectionInputs): Pod {
  if (!inputs.pod) throw new MountInvalidVolumeError(volume, 'downward API files need the pod, and none was read');
  return inputs.pod;
}

/** pkg/fieldpath ExtractFieldPathAsString: the metadata fields a downward API volume may name. */
function fieldPathValue(volume: string, pod: Pod, fieldPath: string): string {
  const sub = splitSubscript(fieldPath);
  if (sub) {
    const [path, key] = sub;
    if (path === 'metadata.annotations') {
      if (!isQualifiedName(key.toLowerCase())) throw invalidSubscript(volume, fieldPath);
      return pod.metadata.annotations?.[key] ?? '';
    }
    if (path === 'metadata.labels') {
      if (!isQualifiedName(key)) throw invalidSubscript(volume, fieldPath);
      return pod.metadata.labels?.[key] ?? '';
    }
    throw new MountInvalidVolumeError(volume, `fieldPath "${fieldPath}" does not support a subscript`);
  }
  switch (fieldPath) {
    case 'metadata.annotations':
      return formatMap(pod.metadata.annotations ?? {});
    case 'metadata.labels':
      return formatMap(pod.metadata.labels ?? {});
    case 'metadata.name':
      return pod.metadata.name ?? '';
    case 'metadata.namespace':
      return pod.metadata.namespace ?? '';
    case 'metadata.uid':
      return pod.metadata.uid ?? '';
  }
  throw new MountInvalidVolumeError(volume, `unsupported fieldPath "${fieldPath}" for a downward API volume`);
}

function invalidSubscript(volume: string, fieldPath: string): MountInvalidVolumeError {
  return new MountInvalidVolumeError(volume, `invalid key subscript in ${fieldPath}`);
}

/** fieldpath.SplitMaybeSubscriptedPath: `metadata.labels['k']` → ['metadata.labels', 'k']. */
function splitSubscript(fieldPath: string): [string, string] | undefined {
  if (!fieldPath.endsWith("']")) return undefined;
  const s = fieldPath.slice(0, -2);
  const at = s.indexOf("['");
  if (at <= 0) return undefined;
  return [s.slice(0, at), s.slice(at + 2)];
}

const QUALIFIED_NAME = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/** apimachinery validation.IsQualifiedName: [prefix/]name, name ≤ 63, prefix a DNS subdomain ≤ 253. */
function isQualifiedName(value: string): boolean {
  const parts = value.split('/');
  if (parts.length > 2) return false;
  const name = parts.length === 2 ? (parts[1] as string) : (parts[0] as string);
  if (parts.length === 2) {
    const prefix = parts[0] as string;
    if (prefix.length === 0 || prefix.length > 253 || !DNS_SUBDOMAIN.test(prefix)) return false;
  }
  return name.length > 0 && name.length <= 63 && QUALIFIED_NAME.test(name);
}

function resourceValue(volume: string, item: DownwardAPIVolumeFile, inputs: ProjectionInputs): string {
  const ref = item.resourceFieldRef as NonNullable<DownwardAPIVolumeFile['resourceFieldRef']>;
  const pod = requirePod(volume, inputs);
  if (!ref.containerName)
    throw new MountInvalidVolumeError(volume, `${item.path}: resourceFieldRef needs containerName`);
  const all = [...pod.spec.containers, ...(pod.spec.initContainers ?? [])];
  const container = all.find((c) => c.name === ref.containerName);
  if (!container)
    throw new MountInvalidVolumeError(
      volume,
      `${item.path}: resourceFieldRef names no container "${ref.containerName}"`,
    );
  const facts: PodFacts = { namespace: inputs.namespace, spec: pod.spec, pod, node: inputs.node };
  let resolved: ReturnType<typeof resourceFieldRefValue>;
  try {
    resolved = resourceFieldRefValue(item.path, ref, container, facts);
  } catch (err) {
    if (err instanceof KvpnError)
      throw new MountInvalidVolumeError(volume, err.message.replace(/^variable /, 'file '), err);
    throw err;
  }
  if ('unavailable' in resolved) throw new MountValueUnavailableError(volume, item.path, resolved.unavailable);
  return resolved.value;
}

/** fieldpath.FormatMap: `key="value"` lines (value in Go %q), keys sorted bytewise, no final newline. */
export function formatMap(m: Record<string, string>): string {
  const keys = Object.keys(m).sort((a, b) => Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8')));
  return keys.map((k) => `${k}=${goQuote(m[k] as string)}`).join('\n');
}

const PRINTABLE = /^[\p{L}\p{M}\p{N}\p{P}\p{S} ]$/u;
const SHORT_ESCAPES: Record<string, string> = {
  '\x07': '\\a',
  '\b': '\\b',
  '\f': '\\f',
  '\n': '\\n',
  '\r': '\\r',
  '\t': '\\t',
  '\v': '\\v',
  '"': '\\"',
  '\\': '\\\\',
};

/**
 * Go's strconv.Quote (what %q does to a string): printable runes as they are
 * (unicode.IsPrint: letters, marks, numbers, punctuation, symbols, ASCII
 * space), C escapes, \xNN below space and for DEL, else \uNNNN / \UNNNNNNNN
 * in lowercase hex. A lone surrogate cannot reach Go (its JSON decoder makes
 * it U+FFFD), so it is quoted as U+FFFD.
 */
export function goQuote(s: string): string {
  let out = '"';
  for (const ch of s) {
    const short = SHORT_ESCAPES[ch];
    if (short) {
      out += short;
      continue;
    }
    const cp = ch.codePointAt(0) as number;
    if (cp >= 0xd800 && cp <= 0xdfff) out += '\ufffd';
    else if (cp < 0x20 || cp === 0x7f) out += `\\x${cp.toString(16).padStart(2, '0')}`;
    else if (PRINTABLE.test(ch)) out += ch;
    else if (cp < 0x10000) out += `\\u${cp.toString(16).padStart(4, '0')}`;
    else out += `\\U${cp.toString(16).padStart(8, '0')}`;
  }
  return `${out}"`;
}
