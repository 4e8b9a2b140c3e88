// Undo after a crash: everything the journal records is removed from a
// network namespace of our own, nothing else; a second run finds nothing;
// an undo that fails stays journaled for the next `down`.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { KvpnError } from '../../src/errors.js';
import { isAlive, processStartTime } from '../../src/host/process-info.js';
import { StateJournal } from '../../src/session/state-journal.js';
import { type UndoDeps, undoJournal, undoOrder } from '../../src/session/undo.js';
import { routeTable } from '../../src/tun/routes.js';
import { NetNs } from '../helpers/netns.js';

function journalIn(t: Test, netns?: string): { journal: StateJournal; dir: string } {
  const dir = mkdtempSync(join(tmpdir(), 'kvpn-undo-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const journal = StateJournal.create(join(dir, 'sessions', 's.json'), {
    id: 's',
    context: 'staging',
    namespace: 'default',
    cluster: 'c',
    server: 'https://127.0.0.1:6443',
    netns,
    socket: join(dir, 's.sock'),
    logFile: join(dir, 's.log'),
    createdAt: new Date().toISOString(),
    ownerPid: 999999999,
  });
  return { journal, dir };
}

async function deps(netns: string, overrides: Partial<UndoDeps> = {}): Promise<UndoDeps> {
  return {
    routes: await routeTable({ netns }),
    kube: () => Promise.reject(new KvpnError('KVPN_ERR_API_UNREACHABLE', 'cluster', 'no cluster in this test')),
    restoreDns: async () => false,
    linkOwnedElsewhere: () => false,
    ...overrides,
  };
}

t.test('undo removes the journaled link, routes, files and process, and is idempotent', async (t) => {
  const ns = await NetNs.create(t, 'kvu');
  await ns.ip('link', 'add', 'kvpn0', 'type', 'veth', 'peer', 'name', 'kvpeer0');
  await ns.ip('link', 'add', 'other0', 'type', 'veth', 'peer', 'name', 'otherp0');
  for (const l of ['kvpn0', 'other0']) await ns.ip('link', 'set', l, 'up');
  await ns.ip('route', 'add', '10.96.0.0/12', 'dev', 'kvpn0');
  await ns.ip('route', 'add', '10.244.0.0/16', 'dev', 'kvpn0');
  await ns.ip('route', 'add', '172.20.0.0/16', 'dev', 'other0');

  const { journal, dir } = journalIn(t, ns.name);
  const sleeper = spawn('sleep', ['60'], { stdio: 'ignore' });
  t.teardown(() => sleeper.kill('SIGKILL'));
  const pid = sleeper.pid as number;
  journal.record({ kind: 'process', pid, startTime: processStartTime(pid), what: 'kvpn daemon' });
  const sessionDir = join(dir, 'sessions', 's');
  journal.record({ kind: 'file', path: sessionDir, what: 'session directory' });
  mkdirSync(sessionDir);
  writeFileSync(join(sessionDir, 'overlay.json'), '{}');
  journal.record({ kind: 'link', device: 'kvpn0' });
  journal.record({ kind: 'route', destination: '10.96.0.0/12', device: 'kvpn0' });
  journal.record({ kind: 'route', destination: '10.244.0.0/16', device: 'kvpn0' });
  journal.record({ kind: 'route', destination: '10.250.0.0/16', device: 'kvpn0' });

  t.same(
    undoOrder(journal.entries).map((e) => e.change.kind),
    ['process', 'route', 'route', 'route', 'link', 'file'],
    'the process first, then newest first',
  );
  const outcomes = await undoJournal(journal, await deps(ns.name));
  t.same(
    outcomes.map((o) => `${o.result} ${o.what}`),
    [
      `undone kvpn daemon (pid ${pid})`,
      'absent route 10.250.0.0/16 dev kvpn0',
      'undone route 10.244.0.0/16 dev kvpn0',
      'undone route 10.96.0.0/12 dev kvpn0',
      'undone link kvpn0',
      `undone session directory ${sessionDir}`,
    ],
    'a change journaled but never made counts as absent',
  );
  t.notOk(isAlive(pid), 'the daemon is gone');
  t.notOk(existsSync(sessionDir));
  t.notOk(existsSync(journal.path), 'the state file goes when the journal is empty');
  const left = await (await routeTable({ netns: ns.name })).listRoutes();
  t.same(
    left.map((r) => `${r.destination} ${r.device}`),
    ['172.20.0.0/16 other0'],
    "another interface's route is untouched",
  );
  t.ok(await (await routeTable({ netns: ns.name })).linkExists('other0'));
  t.notOk(await (await routeTable({ netns: ns.name })).linkExists('kvpn0'));
  t.same(await undoJournal(journal, await deps(ns.name)), [], 'a second undo has nothing left to do');
});

t.test('a failed undo stays in the journal; a link another session now owns is left alone', async (t) => {
  const ns = await NetNs.create(t, 'kvu');
  await ns.ip('link', 'add', 'kvpn1', 'type', 'veth', 'peer', 'name', 'kvpeer1');
  const { journal } = journalIn(t, ns.name);
  journal.record({
    kind: 'kube-object',
    apiPath: '/api/v1/namespaces/default/pods/kvpn-relay-x',
    what: 'relay pod default/kvpn-relay-x',
  });
  journal.record({ kind: 'link', device: 'kvpn1' });
  const outcomes = await undoJournal(journal, await deps(ns.name, { linkOwnedElsewhere: (d) => d === 'kvpn1' }));
  t.same(
    outcomes.map((o) => [o.result, o.what, o.detail]),
    [
      ['skipped', 'link kvpn1', undefined],
      ['failed', 'relay pod default/kvpn-relay-x', 'no cluster in this test'],
    ],
  );
  t.ok(await (await routeTable({ netns: ns.name })).linkExists('kvpn1'), 'the link is still there');
  t.same(
    StateJournal.open(journal.path).entries.map((e) => e.change.kind),
    ['kube-object'],
    'only the failed change remains, for the next down',
  );
});

t.test('IPv6 routes of a crashed session are undone like IPv4 ones, whatever their spelling', async (t) => {
  const ns = await NetNs.create(t, 'kvu');
  await ns.ip('link', 'add', 'kvpn0', 'type', 'veth', 'peer', 'name', 'kvpeer0');
  await ns.ip('link', 'set', 'kvpn0', 'up');
  await ns.ip('-6', 'addr', 'add', 'fdc7:6b76:706e::1/126', 'dev', 'kvpn0', 'nodad');
  await ns.ip('-6', 'route', 'add', 'fd00:10:96::/112', 'dev', 'kvpn0');
  await ns.ip('-6', 'route', 'add', 'fd00:10:244::/56', 'dev', 'kvpn0');
  const { journal } = journalIn(t, ns.name);
  journal.record({ kind: 'link', device: 'kvpn0' });
  journal.record({ kind: 'route', destination: 'fd00:10:96::/112', device: 'kvpn0' });
  journal.record({ kind: 'route', destination: 'FD00:10:244:0::/56', device: 'kvpn0' });
  const outcomes = await undoJournal(journal, await deps(ns.name));
  t.same(
    outcomes.map((o) => `${o.result} ${o.what}`),
    ['undone route FD00:10:244:0::/56 dev kvpn0', 'undone route fd00:10:96::/112 dev kvpn0', 'undone link kvpn0'],
  );
  const table = await routeTable({ netns: ns.name });
  t.same(
    (await table.listRoutes()).filter((r) => r.family === 6).map((r) => `${r.destination} ${r.device}`),
    [],
    'no IPv6 route left (the /126 of the link went with it)',
  );
});
