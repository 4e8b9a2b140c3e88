// A volume built from API objects and kept live against a fake API: the
// first write, an update reaching the file, failures counted while the last
// good content stays, recovery, and open()'s errors.
import { EventEmitter, once } from 'node:events';
import { mkdtemp, readFile, readlink, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { KubeApiError, KubeUnreachableError } from '../../src/kube/client.js';
import { ApiVolume, type ApiVolumeOptions } from '../../src/volumes/api-volume.js';

/** The API: objects by path, a switch to make it unreachable, an event per request. */
class FakeApi extends EventEmitter {
  readonly namespace = 'shop';
  readonly objects = new Map<string, { metadata: { resourceVersion?: string } }>();
  readonly forbidden = new Set<string>();
  unreachable = false;
  requests = 0;
  #rv = 100;

  put(path: string, object: { metadata: Record<string, unknown> } & Record<string, unknown>): void {
    this.objects.set(path, { ...object, metadata: { ...object.metadata, resourceVersion: String(this.#rv++) } });
  }

  request = async <T>(method: string, path: string): Promise<T> => {
    this.requests++;
    queueMicrotask(() => this.emit('request', path));
    if (this.unreachable) throw new KubeUnreachableError('https://api.test', 'connect ECONNREFUSED');
    if (this.forbidden.has(path))
      throw new KubeApiError(method, path, 403, {
        message: `configmaps "x" is forbidden: cannot get resource "configmaps"`,
      });
    const o = this.objects.get(path);
    if (!o) throw new KubeApiError(method, path, 404, { message: 'not found', reason: 'NotFound' });
    return structuredClone(o) as T;
  };
}

const CM = '/api/v1/namespaces/shop/configmaps/settings';
const POD = '/api/v1/namespaces/shop/pods/web-1';

async function setup(t: Test, options: Partial<ApiVolumeOptions> = {}) {
  const api = new FakeApi();
  api.put(CM, { metadata: { name: 'settings' }, data: { level: 'debug' } });
  api.put(POD, {
    metadata: { name: 'web-1', namespace: 'shop', labels: { app: 'web' } },
    spec: { containers: [{ name: 'app' }] },
  });
  const dir = await mkdtemp(join(tmpdir(), 'kvpn-apivol-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const events = new EventEmitter();
  const open = (more: Partial<ApiVolumeOptions> = {}) =>
    ApiVolume.open(api, {
      namespace: 'shop',
      podName: 'web-1',
      containerName: 'app',
      volume: { name: 'cfg', configMap: { name: 'settings' } },
      targetDir: join(dir, 'cfg'),
      owner: { uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0 },
      pollMs: 10,
      onUpdate: () => events.emit('update'),
      onError: (err) => events.emit('error-report', err),
      ...options,
      ...more,
    });
  return { api, dir: join(dir, 'cfg'), events, open };
}

t.test('first write, then a ConfigMap change reaches the file by the atomic swap', async (t) => {
  const { api, dir, events, open } = await setup(t);
  const volume = await open();
  t.teardown(() => volume.close());
  t.equal(await readFile(join(dir, 'level'), 'utf8'), 'debug', 'written before open() returns');
  t.equal(await readlink(join(dir, 'level')), '..data/level');
  t.match(volume.status(), { updates: 1, errors: 0 });
  const first = await readlink(join(dir, '..data'));

  const updated = once(events, 'update');
  api.put(CM, { metadata: { name: 'settings' }, data: { level: 'info', extra: 'x' } });
  await updated;
  t.equal(await readFile(join(dir, 'level'), 'utf8'), 'info');
  t.equal(await readFile(join(dir, 'extra'), 'utf8'), 'x', 'a new key appears');
  t.not(await readlink(join(dir, '..data')), first, 'a new timestamped dir');
  t.match(volume.status(), { updates: 2, errors: 0 });
  t.ok(volume.status().lastUpdate.getTime() > 0);
});

t.test('same resourceVersion: nothing is projected again', async (t) => {
  const { api, dir, open } = await setup(t);
  const volume = await open();
  t.teardown(() => volume.close());
  // Change the bytes behind the API's back, keeping the resourceVersion.
  const cm = api.objects.get(CM) as unknown as { data: Record<string, string> };
  cm.data.level = 'sneaky';
  const seen = api.requests;
  while (api.requests < seen + 3) await once(api, 'request');
  t.equal(await readFile(join(dir, 'level'), 'utf8'), 'debug', 'polled three times, not rewritten');
  t.equal(volume.status().updates, 1);
});

t.test(
  'API unreachable, then the ConfigMap deleted: counted and reported, the last content stays; recovery',
  async (t) => {
    const { api, dir, events, open } = await setup(t);
    const volume = await open();
    t.teardown(() => volume.close());

    let reported = once(events, 'error-report');
    api.unreachable = true;
    const [unreachable] = (await reported) as [Error & { code: string }];
    t.equal(unreachable.code, 'KVPN_ERR_MOUNT_API');
    t.match(unreachable.message, /cannot read ConfigMap "settings" in namespace "shop": cannot reach/);
    const seen = api.requests;
    while (api.requests < seen + 2) await once(api, 'request');
    t.ok(volume.status().errors >= 2, 'each failed poll is counted (reported once)');
    t.equal(await readFile(join(dir, 'level'), 'utf8'), 'debug', 'the last good content stays');

    reported = once(events, 'error-report');
    api.objects.delete(CM);
    api.unreachable = false;
    const [missing] = (await reported) as [Error & { code: string }];
    t.equal(missing.code, 'KVPN_ERR_MOUNT_SOURCE_MISSING', 'a different failure is reported again');
    t.match(volume.status(), { lastError: /ConfigMap "shop\/settings" does not exist/ });
    t.equal(await readFile(join(dir, 'level'), 'utf8'), 'debug', 'still the last good content, as in the pod');

    const updated = once(events, 'update');
    api.put(CM, { metadata: { name: 'settings' }, data: { level: 'warn' } });
    await updated;
    t.equal(await readFile(join(dir, 'level'), 'utf8'), 'warn', 'recovered');
    t.equal(volume.status().updates, 2);
  },
);

t.test('an optional ConfigMap deleted empties the volume, as the kubelet does', async (t) => {
  const { api, dir, events, open } = await setup(t, {
    volume: { name: 'cfg', configMap: { name: 'settings', optional: true } },
  });
  const volume = await open();
  t.teardown(() => volume.close());
  const updated = once(events, 'update');
  api.objects.delete(CM);
  await updated;
  await t.rejects(readlink(join(dir, 'level')), { code: 'ENOENT' });
  t.ok(await readlink(join(dir, '..data')));
});

t.test('downward API: a pod label change reaches the labels file', async (t) => {
  const { api, dir, events, open } = await setup(t, {
    volume: { name: 'info', downwardAPI: { items: [{ path: 'labels', fieldRef: { fieldPath: 'metadata.labels' } }] } },
  });
  const volume = await open();
  t.teardown(() => volume.close());
  t.equal(await readFile(join(dir, 'labels'), 'utf8'), 'app="web"');
  const updated = once(events, 'update');
  api.put(POD, {
    metadata: { name: 'web-1', namespace: 'shop', labels: { app: 'web', canary: 'true' } },
    spec: { containers: [{ name: 'app' }] },
  });
  await updated;
  t.equal(await readFile(join(dir, 'labels'), 'utf8'), 'app="web"\ncanary="true"');
  t.equal(await readFile(join(dir, '..data/labels'), 'utf8'), 'app="web"\ncanary="true"');
});

t.test('open() fails with KVPN_ERR_MOUNT_* codes and leaves nothing running', async (t) => {
  const { api, open } = await setup(t);
  await t.rejects(open({ volume: { name: 'cfg', configMap: { name: 'nope' } } }), {
    code: 'KVPN_ERR_MOUNT_SOURCE_MISSING',
    message: /ConfigMap "shop\/nope" does not exist/,
  });
  await t.rejects(open({ volume: { name: 'data', emptyDir: {} } }), { code: 'KVPN_ERR_MOUNT_NOT_API_VOLUME' });
  await t.rejects(open({ volume: { name: 'cfg', secret: { secretName: 'db', items: [] } } }), {
    code: 'KVPN_ERR_MOUNT_SOURCE_MISSING',
  });
  api.forbidden.add(CM);
  await t.rejects(open(), { code: 'KVPN_ERR_MOUNT_FORBIDDEN', message: /read ConfigMap "settings"/ });
  api.forbidden.clear();
  api.objects.delete(POD);
  await t.rejects(
    open({
      volume: { name: 'info', downwardAPI: { items: [{ path: 'n', fieldRef: { fieldPath: 'metadata.name' } }] } },
    }),
    { code: 'KVPN_ERR_MOUNT_POD_GONE' },
  );
  const seen = api.requests;
  await new Promise((resolve) => setImmediate(resolve));
  t.equal(api.requests, seen, 'no poll was scheduled by a failed open');
});

t.test('close() stops polling and leaves no timer', async (t) => {
  const { open } = await setup(t);
  const timers = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
  const before = timers();
  const volume = await open();
  t.equal(timers(), before + 1, 'one poll timer while live');
  volume.close();
  volume.close();
  t.equal(timers(), before, 'none after close (idempotent): nothing left to poll');
});
