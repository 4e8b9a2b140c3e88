// A root filesystem directory → a docker-archive tarball that
// `ctr images import` understands: manifest.json (Config, RepoTags, Layers),
// the image config JSON and one uncompressed layer tar. The layer is made by
// the tar CLI (owner root, modes and symlinks kept, names sorted, mtime 0), so
// the same rootfs gives the same layer digest.
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';

/** The `config` part of an OCI/Docker image config, as far as we use it. */
export interface ImageRuntimeConfig {
  Env?: string[];
  Cmd?: string[];
  Entrypoint?: string[];
  User?: string;
  WorkingDir?: string;
  StopSignal?: string;
  ExposedPorts?: Record<string, Record<string, never>>;
}

export interface ImageArchive {
  /** Every reference the archive carries in manifest.json RepoTags. */
  refs: string[];
  path: string;
}

export class ImageArchiveError extends Error {
  readonly code = 'KVPN_ERR_IMAGE_ARCHIVE';
}

export function runTool(cmd: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err) reject(new ImageArchiveError(`${cmd} ${args.join(' ')}: ${String(stderr).trim() || err.message}`));
      else resolve(String(stdout));
    });
  });
}

async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/**
 * Writes `out` (atomically: a partial file is renamed into place) from the
 * directory `rootfs`. `xattrs` keeps security.capability (file capabilities
 * such as CoreDNS's cap_net_bind_service) in the layer.
 */
export async function writeDockerArchive(opts: {
  rootfs: string;
  refs: string[];
  config: ImageRuntimeConfig;
  out: string;
  xattrs?: boolean;
  /** Owner/group ids kept in the layer (everything else becomes root), e.g. a postgres data dir. */
  keepIds?: number[];
}): Promise<ImageArchive> {
  const work = `${opts.out}.work-${process.pid}`;
  await rm(work, { recursive: true, force: true });
  await mkdir(work, { recursive: true });
  try {
    const layerTmp = join(work, 'layer.tar');
    const idMap = join(work, 'id-map');
    // tar applies a map entry before --owner/--group, so mapped ids survive
    await writeFile(idMap, (opts.keepIds ?? []).map((id) => `+${id} ${id}:${id}\n`).join(''));
    await runTool('tar', [
      '--create',
      `--file=${layerTmp}`,
      `--directory=${opts.rootfs}`,
      '--owner=0',
      '--group=0',
      '--numeric-owner',
      `--owner-map=${idMap}`,
      `--group-map=${idMap}`,
      '--sort=name',
      '--mtime=@0',
      '--format=posix',
      // pax headers carry atime/ctime by default; dropping them keeps the digest stable
      '--pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime',
      ...(opts.xattrs ? ['--xattrs', '--xattrs-include=security.capability'] : []),
      '.',
    ]);
    await rm(idMap);
    const diffId = await sha256File(layerTmp);
    const layerName = `${diffId}/layer.tar`;
    await mkdir(join(work, diffId));
    await rename(layerTmp, join(work, layerName));
    const config = {
      architecture: 'amd64',
      os: 'linux',
      created: '1970-01-01T00:00:00Z',
      config: opts.config,
      rootfs: { type: 'layers', diff_ids: [`sha256:${diffId}`] },
      history: [{ created: '1970-01-01T00:00:00Z', created_by: 'kvpn test/cluster/real/images.ts' }],
    };
    const configJson = `${JSON.stringify(config)}\n`;
    const configName = `${createHash('sha256').update(configJson).digest('hex')}.json`;
    await writeFile(join(work, configName), configJson);
    const manifest = [{ Config: configName, RepoTags: opts.refs, Layers: [layerName] }];
    await writeFile(join(work, 'manifest.json'), `${JSON.stringify(manifest)}\n`);
    await mkdir(dirname(opts.out), { recursive: true });
    const partial = `${opts.out}.partial-${process.pid}`;
    await runTool('tar', [
      '--create',
      `--file=${partial}`,
      `--directory=${work}`,
      '--owner=0',
      '--group=0',
      '--numeric-owner',
      '--mtime=@0',
      'manifest.json',
      configName,
      layerName,
    ]);
    await rename(partial, opts.out);
    return { refs: opts.refs, path: opts.out };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}
