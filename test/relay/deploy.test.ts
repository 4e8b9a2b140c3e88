// Relay deployment against the test world: what the pod looks like, how
// failures read, reuse, leftovers, idle exit. Traffic is in test/tunnel/cluster.test.ts.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import t from 'tap';
import type { KvpnError } from '../../src/errors.js';
import { KubeClient } from '../../src/kube/client.js';
import {
  deployRelay,
  findLeftoverRelays,
  RelayError,
  type RelayHandle,
  removeLeftoverRelay,
} from '../../src/relay/deploy.js';
import { TunnelDialer } from '../../src/tunnel/dialer.js';
import type { Cluster } from '../cluster/index.js';
import { startWorld } from '../tunnel/helpers/world.js';

/** The pid of the relay's node process (the container's shell execs into it). */
async function relayPid(cluster: Cluster, pod: string): Promise<number> {
  const net = await cluster.podNet(pod, 'default');
  for (;;) {
    const pids = execFileSync('ip', ['netns', 'pids', net.netns], { encoding: 'utf8' }).split(/\s+/).filter(Boolean);
    for (const pid of pids) {
      let cmdline: string[];
      try {
        cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
      } catch {
        continue; // exited between `ip netns pids` and this read
      }
      if (cmdline[0]?.endsWith('node') && cmdline.some((a) => a.endsWith('relay.cjs'))) return Number(pid);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
}

t.test('against the test world', async (t) => {
  const { cluster, api, staging, admin } = await startWorld(t);
  const owner = 'dev@laptop';

  await t.test('deploys a hardened relay pod that serves the tunnel', async (t) => {
    const relay = await deployRelay(staging, { sessionId: 'deploy1', owner });
    t.teardown(() => relay.delete());
    t.equal(relay.namespace, 'default', 'the context namespace by default');
    t.match(relay.podName, /^kvpn-relay-deploy1-[0-9a-f]{6}$/);
    const pod = await cluster.object('pods', relay.podName, 'default');
    const spec = pod?.spec;
    const c = spec.containers[0];
    t.same(pod?.metadata.labels, {
      'app.kubernetes.io/name': 'kvpn-relay',
      'app.kubernetes.io/managed-by': 'kvpn',
      'kvpn.dev/session': 'deploy1',
      'kvpn.dev/owner': 'dev-laptop',
    });
    t.equal(c.image, 'node:22-alpine');
    t.equal(spec.automountServiceAccountToken, false);
    t.same(spec.securityContext, {
      runAsNonRoot: true,
      runAsUser: 1000,
      runAsGroup: 1000,
      seccompProfile: { type: 'RuntimeDefault' },
    });
    t.same(c.securityContext, {
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      runAsNonRoot: true,
      capabilities: { drop: ['ALL'] },
    });
    t.ok(
      c.resources.limits.cpu && c.resources.limits.memory && c.resources.requests.cpu && c.resources.requests.memory,
      'requests and limits',
    );
    t.same(
      c.env.find((e: { name: string }) => e.name === 'KVPN_RELAY_TOKEN'),
      { name: 'KVPN_RELAY_TOKEN', valueFrom: { secretKeyRef: { name: 'kvpn-relay-deploy1', key: 'token' } } },
      'the token comes from the Secret, not the pod spec',
    );
    const cm = await cluster.object('configmaps', 'kvpn-relay-deploy1', 'default');
    t.ok((cm?.data?.['relay.cjs'] ?? '').length > 1000, 'the bundle ships in the ConfigMap');
    // The relay process really runs as uid 1000 without capabilities.
    const status = readFileSync(`/proc/${await relayPid(cluster, relay.podName)}/status`, 'utf8');
    t.match(status, /^Uid:\s+1000\s+1000\s+1000\s+1000$/m);
    t.match(status, /^CapEff:\s+0+$/m);
    t.match(status, /^NoNewPrivs:\s+1$/m);

    const dialer = new TunnelDialer({ client: staging, relay, carriers: 2 });
    t.teardown(() => dialer.destroy());
    await dialer.ready(15_000);
    const echo = await cluster.serviceIp('echo');
    const conn = await dialer.connect(echo, 7);
    conn.end('hello through the relay\n');
    const chunks: Buffer[] = [];
    for await (const c of conn) chunks.push(c as Buffer);
    t.equal(Buffer.concat(chunks).toString(), 'hello through the relay\n', 'echoed by a cluster service');
  });

  await t.test('a second deploy with the same session and token reuses the running relay', async (t) => {
    const first = await deployRelay(staging, { sessionId: 'reuse1', owner });
    t.teardown(() => first.delete());
    const again = await deployRelay(staging, { sessionId: 'reuse1', owner, token: first.token });
    t.equal(again.podName, first.podName, 'same pod');
    t.equal(again.generations, 0, 'nothing created');
  });

  await t.test('an image the cluster cannot pull ends with the cause and the fix', async (t) => {
    const err = (await deployRelay(staging, {
      sessionId: 'pull1',
      owner,
      image: 'registry.example.invalid/kvpn/node:22',
    }).catch((e) => e)) as RelayError;
    t.type(err, RelayError);
    t.equal(err.code, 'KVPN_ERR_RELAY_IMAGE');
    t.match(
      err.message,
      /cannot pull the relay image "registry\.example\.invalid\/kvpn\/node:22" \((ImagePullBackOff|ErrImagePull)\)/,
    );
    t.match(err.remedy, /--relay-image/);
    t.same(await cluster.pods({ 'kvpn.dev/session': 'pull1' }, 'default'), [], 'nothing left behind');
    t.equal(await cluster.object('configmaps', 'kvpn-relay-pull1', 'default'), null);
  });

  await t.test('a 403 names the missing verb and the Role to ask for', async (t) => {
    const err = (await deployRelay(staging, { sessionId: 'rbac1', owner, namespace: 'shop' }).catch(
      (e) => e,
    )) as RelayError;
    t.type(err, RelayError);
    t.equal(err.code, 'KVPN_ERR_RELAY_FORBIDDEN');
    t.match(err.message, /namespace "shop": missing RBAC verb "create" on "configmaps"/);
    t.match(err.remedy, /docs\/rbac\.md/);
  });

  await t.test('without pods/portforward: the relay deploys, the tunnel fails at once naming the verb', async (t) => {
    // Regression: this path was only ever tested against a fake API server (no world identity lacked pods/portforward).
    const client = KubeClient.load({ kubeconfig: api.kubeconfig, context: 'no-portforward' });
    let relay: RelayHandle | undefined;
    let dialer: TunnelDialer | undefined;
    t.teardown(async () => {
      dialer?.destroy();
      await relay?.delete();
      client.close();
    });
    relay = await deployRelay(client, { sessionId: 'nopf1', owner });
    const pod = await cluster.object('pods', relay.podName, 'default');
    t.equal(pod?.status?.phase, 'Running', 'the Role may create and watch the relay');

    dialer = new TunnelDialer({ client, relay, carriers: 4 });
    // A timeout would reject with KVPN_ERR_TUNNEL_SESSION ("no tunnel connection within 60000 ms"):
    // the refusal must come first, from the first port-forward the API server refused.
    const err = (await dialer.ready(60_000).catch((e) => e)) as KvpnError;
    t.type(err, RelayError);
    t.equal(err.code, 'KVPN_ERR_RELAY_FORBIDDEN');
    t.equal(err.category, 'user');
    t.equal(
      err.message,
      `not allowed to open a port-forward to the relay in namespace "default": missing RBAC verb "get" on "pods/portforward" (pods "${relay.podName}" is forbidden: User "system:serviceaccount:default:no-portforward" cannot get resource "pods/portforward" in API group "" in the namespace "default")`,
    );
    t.equal(
      err.remedy,
      'Ask a cluster admin to bind the kvpn Role from docs/rbac.md in "default" (it grants "get" on "pods/portforward"), or pick a namespace where you have it with --namespace.',
    );
    t.equal(dialer.stats.carriersOpened, 0, 'no carrier ever opened');

    dialer.destroy();
    await relay.delete();
    t.same(await cluster.pods({ 'kvpn.dev/session': 'nopf1' }, 'default'), [], 'the Role may remove the relay too');
    t.equal(await cluster.object('configmaps', 'kvpn-relay-nopf1', 'default'), null);
    t.equal(await cluster.object('secrets', 'kvpn-relay-nopf1', 'default'), null);
  });

  await t.test('a crashed session leaves a relay that the next run finds and removes', async (t) => {
    const crashed = await deployRelay(staging, { sessionId: 'crashed1', owner });
    const live = await deployRelay(staging, { sessionId: 'live1', owner });
    t.teardown(() => live.delete());
    const other = await deployRelay(admin, { sessionId: 'other1', owner: 'someone-else' });
    t.teardown(() => other.delete());
    const found = await findLeftoverRelays(staging, { owner, exclude: ['live1'] });
    t.same(
      found.map((f) => [f.sessionId, f.owner, f.pods.map((p) => p.name)]),
      [['crashed1', owner, [crashed.podName]]],
      'only this owner, not the live session',
    );
    await removeLeftoverRelay(staging, found[0] as (typeof found)[0]);
    t.same(await cluster.pods({ 'kvpn.dev/session': 'crashed1' }, 'default'), [], 'pod gone');
    t.equal(await cluster.object('configmaps', 'kvpn-relay-crashed1', 'default'), null, 'ConfigMap gone');
    t.equal(await cluster.object('secrets', 'kvpn-relay-crashed1', 'default'), null, 'Secret gone');
  });

  await t.test('with no client the relay exits; ensure() brings a new one', async (t) => {
    const relay = await deployRelay(staging, { sessionId: 'idle1', owner, idleExitMs: 1000 });
    t.teardown(() => relay.delete());
    const first = relay.podName;
    await cluster.waitForPod(first, (p) => p?.status?.phase === 'Succeeded', 'default', 15_000);
    t.pass('the idle relay exited 0');
    await relay.ensure();
    t.not(relay.podName, first, 'a new pod');
    t.equal(relay.generations, 2);
    t.same(
      await cluster.pods({ 'kvpn.dev/session': 'idle1' }, 'default').then((ps) => ps.map((p) => p.metadata.name)),
      [relay.podName],
      'the exited pod was removed',
    );
  });
});
