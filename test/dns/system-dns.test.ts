// Pointing the resolver at kvpn and back: resolv.conf replaced and
// restored byte for byte (a temp file, then a network namespace's
// /etc/netns/<ns>/resolv.conf with real glibc clients), a killed daemon's
// change undone from its record (or, the record lost, by the next apply),
// managed symlinks refused clearly, and the
// systemd-resolved backend — against a fake resolvectl that records its
// calls, since systemd-resolved does not run on these machines.
import { type ChildProcess, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  chmodSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { namespaceSearchDomains, parseResolvConf } from '../../src/dns/resolv-conf.js';
import { createSystemDns, type ResolverRecord, type SystemDnsConfig } from '../../src/dns/system-dns.js';
import { isRoot, NetNs, run } from '../helpers/netns.js';
import { dig } from './dig.js';

const here = dirname(fileURLToPath(import.meta.url));
const repo = join(here, '..', '..');
const DAEMON = join(here, 'netns-daemon.ts');
const LOADER = join(repo, 'scripts', 'ts-loader.mjs');

const ORIGINAL =
  '# my resolver\nnameserver 192.0.2.53\nnameserver 2001:db8::53\nsearch corp.example lab.example\noptions ndots:2 rotate timeout:1\n';
const CONFIG: SystemDnsConfig = {
  serverAddress: '10.96.53.53',
  linkName: 'kvpn0',
  clusterDomain: 'cluster.local',
  searchDomains: namespaceSearchDomains('shop', 'cluster.local'),
};

function tempDir(t: { teardown(fn: () => unknown): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'kvpn-sysdns-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

const sha = (path: string) => createHash('sha256').update(readFileSync(path)).digest('hex');

/** Spawns the daemon stand-in (optionally inside a namespace) and waits for its first line. */
async function daemon(t: { teardown(fn: () => unknown): void }, role: string, config: object, ns?: NetNs) {
  const args = ['--import', LOADER, DAEMON, role, JSON.stringify(config)];
  const child: ChildProcess = ns
    ? ns.spawn(process.execPath, args, { cwd: repo, stdio: ['pipe', 'pipe', 'inherit'] })
    : spawn(process.execPath, args, { cwd: repo, stdio: ['pipe', 'pipe', 'inherit'] });
  t.teardown(() => child.kill('SIGKILL'));
  const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream });
  const queue: string[] = [];
  const waiting: ((line: string) => void)[] = [];
  lines.on('line', (line) => {
    const w = waiting.shift();
    if (w) w(line);
    else queue.push(line);
  });
  const next = () =>
    new Promise<Record<string, unknown>>((resolve, reject) => {
      const line = queue.shift();
      if (line !== undefined) return resolve(JSON.parse(line));
      child.once('exit', (code) => reject(new Error(`daemon exited ${code}`)));
      waiting.push((l) => resolve(JSON.parse(l)));
    });
  const first = await next();
  const ask = async (command: string) => {
    child.stdin?.write(`${command}\n`);
    return next();
  };
  return { child, first, ask };
}

t.test('resolv.conf mode: our server first, the search list kept, restored byte for byte', async (t) => {
  const dir = tempDir(t);
  const path = join(dir, 'resolv.conf');
  writeFileSync(path, ORIGINAL);
  chmodSync(path, 0o640);
  const system = createSystemDns({
    resolvConfPath: path,
    stateDir: join(dir, 'state'),
    mode: 'auto',
    stubResolvConfPath: join(dir, 'no-stub'),
    resolvectl: join(dir, 'no-resolvectl'),
  });
  t.equal(await system.detect(), 'resolvconf', 'no systemd-resolved here');
  const record = await system.record(CONFIG.linkName);
  t.same(record, { mode: 'resolvconf', device: 'kvpn0', dnsStateDir: join(dir, 'state'), resolvConfPath: path });
  const applied = await system.apply(CONFIG);
  t.equal(applied.mode, 'resolvconf');
  t.same(
    applied.upstreams,
    [
      { address: '192.0.2.53', port: 53 },
      { address: '2001:db8::53', port: 53 },
    ],
    'the original servers, for names outside the cluster',
  );
  const written = parseResolvConf(readFileSync(path, 'utf8'));
  t.same(written.nameservers, ['10.96.53.53', '192.0.2.53', '2001:db8::53'], 'ours first');
  t.same(written.search, [
    'shop.svc.cluster.local',
    'svc.cluster.local',
    'cluster.local',
    'corp.example',
    'lab.example',
  ]);
  t.same(written.options, ['ndots:2', 'timeout:1'], 'rotate dropped: it would send cluster names elsewhere');
  t.equal(statSync(path).mode & 0o777, 0o640, 'mode kept');
  t.equal(readFileSync(join(dir, 'state', 'resolv.conf.kvpn-backup'), 'utf8'), ORIGINAL, 'backup under the state dir');

  const restored = await system.restore(record);
  t.ok(restored.restored);
  t.equal(readFileSync(path, 'utf8'), ORIGINAL, 'byte-identical');
  t.equal(statSync(path).mode & 0o777, 0o640);
  t.same(readdirSync(join(dir, 'state')), [], 'backup removed');
  t.same(await system.restore(record), { restored: false, notes: [] }, 'restore is idempotent');
});

t.test('a resolv.conf symlink owned by another tool: a clear refusal, or replaced and put back', async (t) => {
  const dir = tempDir(t);
  const path = join(dir, 'resolv.conf');
  mkdirSync(join(dir, 'run', 'resolvconf'), { recursive: true });
  const target = join(dir, 'run', 'resolvconf', 'resolv.conf');
  writeFileSync(target, ORIGINAL);
  symlinkSync(target, path);
  const base = { resolvConfPath: path, stateDir: join(dir, 'state'), mode: 'resolvconf' as const };
  await t.rejects(createSystemDns(base).apply(CONFIG), {
    code: 'KVPN_ERR_DNS_RESOLV_CONF_MANAGED',
    message: /is a symlink to .*run\/resolvconf\/resolv\.conf, managed by resolvconf/,
  });
  t.ok(lstatSync(path).isSymbolicLink(), 'untouched');
  const system = createSystemDns({ ...base, replaceSymlink: true });
  const record = await system.record(CONFIG.linkName);
  const applied = await system.apply(CONFIG);
  t.match(applied.notes, [/was a symlink managed by resolvconf/]);
  t.notOk(lstatSync(path).isSymbolicLink());
  t.equal(readFileSync(target, 'utf8'), ORIGINAL, "the other tool's file is never written");
  await system.restore(record);
  t.equal(readlinkSync(path), target, 'the symlink is back, same target');

  // A symlink to systemd-resolved's stub while resolved is not running: say that too.
  rmSync(path);
  symlinkSync('/run/systemd/resolve/stub-resolv.conf', path);
  await t.rejects(
    createSystemDns({
      ...base,
      mode: 'auto',
      stubResolvConfPath: join(dir, 'no-stub'),
      resolvectl: join(dir, 'none'),
    }).apply(CONFIG),
    {
      code: 'KVPN_ERR_DNS_RESOLV_CONF_MANAGED',
      message: /managed by systemd-resolved and systemd-resolved is not running/,
    },
  );
});

t.test('a killed daemon: its record undoes the change byte for byte, from any process', async (t) => {
  const dir = tempDir(t);
  const path = join(dir, 'resolv.conf');
  writeFileSync(path, ORIGINAL);
  const stateDir = join(dir, 'state');
  const d = await daemon(t, 'apply-only', { resolvConfPath: path, stateDir, address: '10.96.53.53' });
  t.equal(d.first.ready, true);
  t.match(readFileSync(path, 'utf8'), /^# Written by kvpn\./);
  const exited = new Promise((resolve) => d.child.once('exit', resolve));
  d.child.kill('SIGKILL');
  await exited;
  t.match(readFileSync(path, 'utf8'), /^# Written by kvpn\./, 'the kill left our file in place');
  const record = d.first.record as ResolverRecord;
  t.same(record, { mode: 'resolvconf', device: 'kvpn0', dnsStateDir: stateDir, resolvConfPath: path });
  const system = createSystemDns({ stateDir });
  t.same(await system.restore(record), { restored: true, notes: [] });
  t.equal(readFileSync(path, 'utf8'), ORIGINAL, 'byte-identical after the restore');
  t.same(await system.restore(record), { restored: false, notes: [] }, 'a second restore has nothing to do');
});

t.test('a killed daemon whose record was lost: the next apply() repairs the leftover first', async (t) => {
  const dir = tempDir(t);
  const path = join(dir, 'resolv.conf');
  writeFileSync(path, ORIGINAL);
  const stateDir = join(dir, 'state');
  const d = await daemon(t, 'apply-only', { resolvConfPath: path, stateDir, address: '10.96.53.99' });
  const exited = new Promise((resolve) => d.child.once('exit', resolve));
  d.child.kill('SIGKILL');
  await exited;
  const system = createSystemDns({ resolvConfPath: path, stateDir, mode: 'resolvconf' });
  const record = await system.record(CONFIG.linkName);
  const applied = await system.apply(CONFIG);
  t.match(applied.notes, [/ended without cleaning up/]);
  t.same(
    applied.upstreams.map((u) => u.address),
    ['192.0.2.53', '2001:db8::53'],
    "the original servers, not the dead session's",
  );
  t.notMatch(readFileSync(path, 'utf8'), /10\.96\.53\.99/);
  await system.restore(record);
  t.equal(readFileSync(path, 'utf8'), ORIGINAL, 'byte-identical');
});

t.test('a file rewritten by another program during the session is left alone on restore', async (t) => {
  const dir = tempDir(t);
  const path = join(dir, 'resolv.conf');
  writeFileSync(path, ORIGINAL);
  const system = createSystemDns({ resolvConfPath: path, stateDir: join(dir, 'state'), mode: 'resolvconf' });
  const record = await system.record(CONFIG.linkName);
  await system.apply(CONFIG);
  writeFileSync(path, 'nameserver 198.51.100.1\n');
  const r = await system.restore(record);
  t.match(r.notes, [/changed by another program/]);
  t.equal(readFileSync(path, 'utf8'), 'nameserver 198.51.100.1\n');
  t.equal(
    readFileSync(join(dir, 'state', 'resolv.conf.kvpn-backup.old'), 'utf8'),
    ORIGINAL,
    'the original is still kept',
  );
  // Our header with no state: refuse to guess.
  writeFileSync(path, '# Written by kvpn. stale\nnameserver 10.96.53.53\n');
  await t.rejects(system.apply(CONFIG), { code: 'KVPN_ERR_DNS_LEFTOVER' });
});

t.test(
  'systemd-resolved: per-link DNS and routing domains through resolvectl (a fake one that records its calls)',
  async (t) => {
    const dir = tempDir(t);
    const log = join(dir, 'calls.log');
    const bin = join(dir, 'bin');
    mkdirSync(bin);
    writeFileSync(join(bin, 'resolvectl'), `#!/bin/sh\necho "$*" >> ${log}\n`, { mode: 0o755 });
    const stub = join(dir, 'stub-resolv.conf');
    writeFileSync(stub, 'nameserver 127.0.0.53\n');
    const path = join(dir, 'resolv.conf');
    symlinkSync('/run/systemd/resolve/stub-resolv.conf', path);
    const oldPath = process.env.PATH;
    process.env.PATH = `${bin}:${oldPath}`;
    t.teardown(() => {
      process.env.PATH = oldPath;
    });
    const system = createSystemDns({ resolvConfPath: path, stateDir: join(dir, 'state'), stubResolvConfPath: stub });
    t.equal(await system.detect(), 'resolved', 'stub present and resolv.conf points at it');
    const record = await system.record(CONFIG.linkName);
    const applied = await system.apply({ ...CONFIG, routingDomains: ['96.10.in-addr.arpa'] });
    t.same(
      applied,
      { mode: 'resolved', upstreams: [], notes: [] },
      "resolved keeps the user's own servers: no forwarding by us",
    );
    t.same(readFileSync(log, 'utf8').trim().split('\n'), [
      'dns kvpn0 10.96.53.53',
      'domain kvpn0 ~cluster.local shop.svc.cluster.local svc.cluster.local cluster.local ~96.10.in-addr.arpa',
      'default-route kvpn0 false',
      'dnssec kvpn0 no',
      'flush-caches',
    ]);
    t.equal(readlinkSync(path), '/run/systemd/resolve/stub-resolv.conf', 'resolv.conf untouched');
    t.notOk(existsSync(join(dir, 'state')), 'nothing kept on disk: the record says all');
    writeFileSync(log, '');
    t.same(await createSystemDns({ stateDir: join(dir, 'state') }).restore(record), { restored: true, notes: [] });
    t.same(readFileSync(log, 'utf8').trim().split('\n'), ['revert kvpn0', 'flush-caches']);

    // resolvectl failing is an error that names the command.
    writeFileSync(
      join(bin, 'resolvectl'),
      '#!/bin/sh\necho "Failed to set DNS configuration: Link kvpn0 not known" >&2\nexit 1\n',
      { mode: 0o755 },
    );
    await t.rejects(
      createSystemDns({ resolvConfPath: path, stateDir: join(dir, 'state'), mode: 'resolved' }).apply(CONFIG),
      {
        code: 'KVPN_ERR_DNS_RESOLVECTL',
        message: /resolvectl dns kvpn0 10\.96\.53\.53 failed: Failed to set DNS configuration: Link kvpn0 not known/,
      },
    );
  },
);

t.test('macOS: behind the same interface, a clear "not supported yet"', async (t) => {
  const mac = createSystemDns({ stateDir: '/nonexistent' }, 'darwin');
  await t.rejects(mac.apply(CONFIG), {
    code: 'KVPN_ERR_DNS_UNSUPPORTED_PLATFORM',
    message: /macOS .* not supported yet/,
  });
  t.same(
    await mac.restore({
      mode: 'resolvconf',
      device: 'kvpn0',
      dnsStateDir: '/nonexistent',
      resolvConfPath: '/etc/resolv.conf',
    }),
    { restored: false, notes: [] },
  );
});

t.test(
  'in a network namespace: glibc, curl and dig resolve cluster names through us; resolv.conf comes back',
  { skip: !isRoot() && 'needs root' },
  async (t) => {
    const ns = await NetNs.create(t, 'kd');
    const etc = `/etc/netns/${ns.name}`;
    mkdirSync(etc, { recursive: true });
    t.teardown(() => rmSync(etc, { recursive: true, force: true }));
    const resolvConf = join(etc, 'resolv.conf');
    const original = 'nameserver 127.0.0.1\nsearch corp.example\noptions timeout:1 attempts:1\n';
    writeFileSync(resolvConf, original);
    // The DNS address (in kvpn: inside the TUN network) and web's ClusterIP, on the namespace's loopback.
    await ns.ip('addr', 'add', '10.96.53.53/32', 'dev', 'lo');
    await ns.ip('addr', 'add', '10.96.10.1/32', 'dev', 'lo');
    const hostsBefore = sha('/etc/hosts');

    const upstream = await daemon(t, 'upstream', {}, ns);
    t.equal(upstream.first.ready, true);
    const web = ns.spawn(
      process.execPath,
      [
        '-e',
        "require('http').createServer((q, r) => r.end('hello from web\\n')).listen(80, '10.96.10.1', () => console.log('up'))",
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    t.teardown(() => web.kill('SIGKILL'));
    await new Promise((resolve) => web.stdout?.once('data', resolve));

    const stateDir = tempDir(t);
    const d = await daemon(t, 'daemon', { resolvConfPath: resolvConf, stateDir, address: '10.96.53.53' }, ns);
    t.match(d.first, {
      ready: true,
      applied: { mode: 'resolvconf', upstreams: [{ address: '127.0.0.1', port: 53 }] },
    });

    const exec = (cmd: string, args: string[]) => ns.exec(cmd, args);
    t.match(
      await exec('getent', ['hosts', 'web.shop']),
      /^10\.96\.10\.1\s+web\.shop\.svc\.cluster\.local/,
      'getent hosts web.shop',
    );
    t.match(await exec('getent', ['hosts', 'web']), /^10\.96\.10\.1\s/, 'a single label, through the search list');
    t.match(await exec('getent', ['hosts', 'pg-0.pg.shop.svc.cluster.local']), /^10\.244\.1\.10\s/);
    t.equal(
      await exec('curl', ['-s', '--max-time', '5', 'http://web.shop/']),
      'hello from web\n',
      'curl http://web.shop/',
    );
    const viaResolvConf = await exec('dig', ['+short', 'db.shop.svc.cluster.local']);
    t.equal(viaResolvConf.trim(), '10.96.10.2', 'dig with the namespace resolv.conf');
    const srv = await dig('10.96.53.53', 53, ['_postgres._tcp.pg.shop.svc.cluster.local', 'SRV'], exec);
    t.equal(srv.answer.length, 2);
    t.match(
      await exec('getent', ['hosts', 'www.example.test']),
      /^192\.0\.2\.80\s/,
      'a name outside the zone: from the upstream',
    );
    const asked = ((await upstream.ask('stats')).asked as string[]) ?? [];
    t.ok(
      asked.some((a) => a.startsWith('www.example.test A')),
      'forwarded to the original server',
    );
    // (Search-list expansions such as web.shop.corp.example, and the bare "web" glibc tries
    // last after an AAAA NODATA, do go there, as they would from a pod.)
    const leaked = asked.filter((a) => /^\S*cluster\.local /.test(a) || a.startsWith('web.shop '));
    t.same(leaked, [], 'no cluster name, and no short name tried as-is, reached it');
    const stats = (await d.ask('stats')).stats as Record<string, number>;
    t.ok((stats.forwardedUpstream ?? 0) >= 1 && (stats.answeredLocally ?? 0) >= 5);

    const down = await d.ask('down');
    t.match(down, { down: { restored: true } });
    t.equal(readFileSync(resolvConf, 'utf8'), original, 'restored byte for byte after down');
    t.match(
      await exec('getent', ['hosts', 'www.example.test']),
      /^192\.0\.2\.80\s/,
      'the original resolver works again',
    );

    // Again, but the daemon is killed; its record puts the file back.
    const d2 = await daemon(t, 'daemon', { resolvConfPath: resolvConf, stateDir, address: '10.96.53.53' }, ns);
    t.equal(d2.first.ready, true);
    const gone = new Promise((resolve) => d2.child.once('exit', resolve));
    d2.child.kill('SIGKILL');
    await gone;
    t.not(readFileSync(resolvConf, 'utf8'), original);
    await createSystemDns({ stateDir }).restore(d2.first.record as ResolverRecord);
    t.equal(
      readFileSync(resolvConf, 'utf8'),
      original,
      'restored byte for byte after a killed daemon, from its record',
    );
    t.equal(sha('/etc/hosts'), hostsBefore, '/etc/hosts never touched');
    await run('true', []);
  },
);
