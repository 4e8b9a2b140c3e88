import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { listStates, SessionExistsError, StateJournal } from '../../src/session/state-journal.js';

function facts(dir: string) {
  return {
    id: 'staging-1234',
    context: 'staging',
    namespace: 'default',
    cluster: 'kind',
    server: 'https://127.0.0.1:6443',
    socket: join(dir, 'run.sock'),
    logFile: join(dir, 'log'),
    createdAt: new Date(0).toISOString(),
    ownerPid: process.pid,
  };
}

function tempDir(t: Test): string {
  const dir = mkdtempSync(join(tmpdir(), 'kvpn-state-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

t.test('a change is on disk before record() returns, and forget() takes it off', async (t) => {
  const dir = tempDir(t);
  const path = join(dir, 'sessions', 'staging.json');
  const journal = StateJournal.create(path, facts(dir));
  t.equal(statSync(path).mode & 0o777, 0o600, 'owner-only state file');
  const route = journal.record({ kind: 'route', destination: '10.96.0.0/12', device: 'kvpn0' });
  const onDisk = JSON.parse(readFileSync(path, 'utf8'));
  t.same(
    onDisk.changes.map((e: { change: unknown }) => e.change),
    [{ kind: 'route', destination: '10.96.0.0/12', device: 'kvpn0' }],
  );
  journal.record({ kind: 'link', device: 'kvpn0' });
  journal.forget(route);
  t.same(
    StateJournal.open(path).entries.map((e) => e.change.kind),
    ['link'],
    'a reopened journal sees what is left',
  );
  journal.remove();
  t.notOk(existsSync(path), 'removed');
  journal.remove();
});

t.test('the state file is the one-session-per-context lock', async (t) => {
  const dir = tempDir(t);
  const path = join(dir, 'sessions', 'staging.json');
  StateJournal.create(path, facts(dir));
  const err = t.throws(() => StateJournal.create(path, facts(dir))) as unknown;
  t.ok(err instanceof SessionExistsError);
  t.equal((err as SessionExistsError).code, 'KVPN_ERR_SESSION_EXISTS');
  t.equal((err as SessionExistsError).existing?.context, 'staging', 'the existing session is reported');
  t.same(
    listStates(join(dir, 'sessions')).map((s) => s.state?.id),
    ['staging-1234'],
  );
});
