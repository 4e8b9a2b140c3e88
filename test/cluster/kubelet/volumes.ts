// Materializes a pod's volumes in its directory: configMap and secret keys
// as files (with items, mode), emptyDir, downwardAPI, projected, hostPath.
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { KObject } from '../apiserver/objects.js';
import type { EnvSources } from './env.js';

export class VolumeError extends Error {}

export interface MaterializedVolume {
  name: string;
  hostPath: string;
  /** ConfigMap and Secret volumes are always read-only in Kubernetes. */
  readOnly: boolean;
}

type Files = Map<string, { content: Buffer; mode?: number }>;

function pick(
  all: Record<string, Buffer>,
  items: { key: string; path: string; mode?: number }[] | undefined,
  what: string,
  optional: boolean,
): Files {
  const out: Files = new Map();
  if (!items) {
    for (const [k, v] of Object.entries(all)) out.set(k, { content: v });
    return out;
  }
  for (const it of items) {
    const v = all[it.key];
    if (v === undefined) {
      if (optional) continue;
      throw new VolumeError(`configmap references non-existent config key: ${it.key} (${what})`);
    }
    out.set(it.path, { content: v, mode: it.mode });
  }
  return out;
}

function configMapFiles(cm: KObject): Record<string, Buffer> {
  const out: Record<string, Buffer> = {};
  for (const [k, v] of Object.entries(cm.data ?? {})) out[k] = Buffer.from(String(v));
  for (const [k, v] of Object.entries(cm.binaryData ?? {})) out[k] = Buffer.from(String(v), 'base64');
  return out;
}

function secretFiles(s: KObject): Record<string, Buffer> {
  const out: Record<string, Buffer> = {};
  for (const [k, v] of Object.entries(s.data ?? {})) out[k] = Buffer.from(String(v), 'base64');
  return out;
}

function downwardFiles(pod: KObject, items: { path: string; fieldRef?: { fieldPath: string } }[]): Files {
  const out: Files = new Map();
  for (const it of items ?? []) {
    const path = it.fieldRef?.fieldPath ?? '';
    let v = '';
    if (path === 'metadata.name') v = pod.metadata.name ?? '';
    else if (path === 'metadata.namespace') v = pod.metadata.namespace ?? '';
    else if (path === 'metadata.uid') v = pod.metadata.uid ?? '';
    else if (path === 'metadata.labels')
      v = Object.entries(pod.metadata.labels ?? {})
        .map(([k, x]) => `${k}="${x}"`)
        .join('\n');
    out.set(it.path, { content: Buffer.from(v) });
  }
  return out;
}

function sourceFiles(pod: KObject, v: KObject['spec'], src: EnvSources): Files | undefined {
  const ns = pod.metadata.namespace ?? 'default';
  if (v.configMap) {
    const cm = src.configMap(ns, v.configMap.name);
    if (!cm) {
      if (v.configMap.optional) return new Map();
      throw new VolumeError(`configmap "${v.configMap.name}" not found`);
    }
    return pick(configMapFiles(cm), v.configMap.items, v.configMap.name, !!v.configMap.optional);
  }
  if (v.secret) {
    const name = v.secret.secretName ?? v.secret.name;
    const s = src.secret(ns, name);
    if (!s) {
      if (v.secret.optional) return new Map();
      throw new VolumeError(`secret "${name}" not found`);
    }
    return pick(secretFiles(s), v.secret.items, name, !!v.secret.optional);
  }
  if (v.downwardAPI) return downwardFiles(pod, v.downwardAPI.items);
  return undefined;
}

export async function materializeVolumes(pod: KObject, podDir: string, src: EnvSources): Promise<MaterializedVolume[]> {
  const out: MaterializedVolume[] = [];
  for (const v of pod.spec?.volumes ?? []) {
    const dir = join(podDir, 'volumes', v.name);
    if (v.hostPath) {
      out.push({ name: v.name, hostPath: v.hostPath.path, readOnly: false });
      continue;
    }
    await mkdir(dir, { recursive: true });
    if (v.emptyDir) {
      await chmod(dir, 0o777);
      out.push({ name: v.name, hostPath: dir, readOnly: false });
      continue;
    }
    let files: Files = new Map();
    let mode: number = v.configMap?.defaultMode ?? v.secret?.defaultMode ?? v.projected?.defaultMode ?? 0o644;
    if (v.projected) {
      for (const s of v.projected.sources ?? []) {
        if (s.serviceAccountToken) {
          files.set(s.serviceAccountToken.path, { content: Buffer.from('kvpn-test-world-projected-token') });
          continue;
        }
        for (const [k, f] of sourceFiles(pod, s, src) ?? new Map()) files.set(k, f);
      }
    } else {
      const f = sourceFiles(pod, v, src);
      if (!f) throw new VolumeError(`volume "${v.name}" has a type this test cluster does not support`);
      files = f;
    }
    if (v.secret && v.secret.defaultMode === undefined) mode = 0o644;
    for (const [rel, f] of files) {
      const path = join(dir, rel);
      await mkdir(dirname(path), { recursive: true });
      await writeFile(path, f.content, { mode: f.mode ?? mode });
      await chmod(path, f.mode ?? mode);
    }
    out.push({ name: v.name, hostPath: dir, readOnly: true });
  }
  return out;
}
