// initdb is the slow part of a world (~1-2 s): it runs once per machine
// into a cache directory, and every postgres pod starts from that template
// through its overlay (writes stay in the pod).
import { appendFile, mkdir, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { run } from '../network/shell.js';
import { CACHE_ROOT } from '../world-config.js';

export const PG_BIN = '/usr/lib/postgresql/15/bin';

export async function ensurePgTemplate(cacheRoot = CACHE_ROOT): Promise<string> {
  const dir = join(cacheRoot, 'pg15-template');
  if (
    await stat(join(dir, 'PG_VERSION')).then(
      () => true,
      () => false,
    )
  )
    return dir;
  await mkdir(cacheRoot, { recursive: true, mode: 0o755 });
  const tmp = `${dir}.tmp-${process.pid}`;
  await rm(tmp, { recursive: true, force: true });
  await mkdir(tmp, { mode: 0o700 });
  await run('chown', ['postgres:postgres', tmp]);
  await run('setpriv', [
    '--reuid=postgres',
    '--regid=postgres',
    '--init-groups',
    `${PG_BIN}/initdb`,
    '-D',
    tmp,
    '-U',
    'postgres',
    '--auth=trust',
    '-E',
    'UTF8',
    '--locale=C',
    '--no-sync',
  ]);
  await appendFile(
    join(tmp, 'pg_hba.conf'),
    '\n# kvpn test world: trust everyone (test only)\nhost all all all trust\n',
  );
  await run('chown', ['postgres:postgres', join(tmp, 'pg_hba.conf')]);
  try {
    await rename(tmp, dir);
  } catch {
    await rm(tmp, { recursive: true, force: true });
  }
  return dir;
}
