// The real world as a user meets it: kubectl works with every context, the
// contexts hold the documented rights (read back from the real RBAC
// authorizer), the laptop reaches the API server and nothing else, and
// stopping the world leaves nothing on the machine: no namespace, cgroup,
// mount, process or file, and the host's sysctls as they were.
import { readdir, readFile, stat } from 'node:fs/promises';
import t from 'tap';
import { startCluster } from '../index.js';
import { realWorld } from '../worlds.js';
import { KUBELET_SYSCTLS } from './config-files.js';

const available = await realWorld();
if (!available.run) {
  t.plan(0, available.why);
} else {
  const sysctlsBefore = await readSysctls();
  const cluster = await startCluster({ kind: 'real' });
  t.teardown(() => cluster.stop());

  t.test('kubectl against it, as each context', async (t) => {
    t.equal(cluster.kind, 'real');
    const nodes = await cluster.kubectl(['get', 'nodes', '-o', 'json'], { context: 'admin' });
    t.equal(nodes.code, 0, nodes.stderr);
    const node = JSON.parse(nodes.stdout).items[0];
    t.equal(node.status.nodeInfo.kubeletVersion, 'v1.34.4', 'a real v1.34 kubelet');
    t.match(node.status.nodeInfo.containerRuntimeVersion, /^containerd:\/\//);
    t.ok(
      node.status.conditions.some((c: { type: string; status: string }) => c.type === 'Ready' && c.status === 'True'),
      'the node is Ready',
    );
    const pods = await cluster.kubectl(['get', 'pods', '-o', 'name'], { context: 'staging' });
    t.equal(pods.code, 0, pods.stderr);
    t.match(pods.stdout, 'pod/postgres-', 'staging lists pods in its namespace');
    const calls = await cluster.execPluginCalls();
    const viaExec = await cluster.kubectl(['get', 'pods', '-o', 'name'], { context: 'staging-exec' });
    t.equal(viaExec.code, 0, viaExec.stderr);
    t.ok((await cluster.execPluginCalls()) > calls, 'staging-exec authenticates through its exec plugin');
  });

  t.test('the Cluster client talks to its API server (request, as each context)', async (t) => {
    const r = await cluster.request('GET', '/api/v1/namespaces/default/pods', { context: 'staging' });
    t.equal(r.status, 200, r.body);
    const denied = await cluster.request('GET', '/api/v1/namespaces/default/services', { context: 'staging' });
    t.equal(denied.status, 403, 'the real authorizer refuses what the minimal Role lacks');
    t.match(denied.json<{ message: string }>().message, 'cannot list resource "services"');
  });

  t.test("staging holds exactly docs/rbac.md's Role; no-portforward the same without pods/portforward", async (t) => {
    const can = async (context: 'staging' | 'staging-reader' | 'no-portforward', ...q: string[]): Promise<string> =>
      (await cluster.kubectl(['auth', 'can-i', ...q], { context })).stdout.trim();
    // (`can-i create pods/portforward` would ask about a pod *named* portforward)
    t.equal(await can('staging', 'create', 'pods', '--subresource=portforward'), 'yes');
    t.equal(await can('staging', 'get', 'pods', '--subresource=portforward'), 'yes');
    t.equal(await can('staging', 'create', 'pods'), 'yes');
    t.equal(await can('staging', 'create', 'secrets'), 'yes');
    t.equal(await can('staging', 'get', 'secrets'), 'no', 'kvpn never reads secrets back');
    t.equal(await can('staging', 'list', 'services'), 'no', 'the optional reads are not in the minimal Role');
    t.equal(await can('staging', 'create', 'pods', '-n', 'kube-system'), 'no', 'namespace-scoped');
    t.equal(await can('staging-reader', 'list', 'services'), 'yes', 'staging-reader holds the optional reads');
    t.equal(await can('staging-reader', 'create', 'pods', '--subresource=portforward'), 'yes');
    t.equal(await can('no-portforward', 'create', 'pods', '--subresource=portforward'), 'no');
    t.equal(await can('no-portforward', 'get', 'pods', '--subresource=portforward'), 'no');
    t.equal(await can('no-portforward', 'create', 'pods'), 'yes');
  });

  t.test('the laptop reaches the API server and nothing else', async (t) => {
    const echo = (await cluster.pods({ app: 'echo' }, 'default'))[0];
    const podIp = echo?.status?.podIP as string;
    const direct = await cluster.exec('curl', ['-sS', '-m', '2', `http://${podIp}:8080/`]);
    t.not(direct.code, 0, `no route to a pod from the laptop (${direct.stderr.trim()})`);
    const inPod = await cluster.execInPod(echo?.metadata.name as string, 'default', 'curl', [
      '-sS',
      '-m',
      '5',
      'http://127.0.0.1:8080/',
    ]);
    t.equal(inPod.stdout.trim(), echo?.metadata.name, 'inside the pod, the echo server answers with its name');
    const svc = await cluster.execInPod(echo?.metadata.name as string, 'default', 'curl', [
      '-sS',
      '-m',
      '5',
      `http://${await cluster.serviceIp('echo')}/`,
    ]);
    t.match(svc.stdout, /^echo-/, 'from a pod, the Service answers through kube-proxy');
  });

  t.test('stopped, it leaves nothing', async (t) => {
    const id = cluster.id;
    await cluster.stop();
    t.same(
      (await readdir('/run/netns')).filter((n) => n.startsWith(`${id}-`)),
      [],
      'no network namespace',
    );
    const cgroups: string[] = [];
    for (const h of await readdir('/sys/fs/cgroup')) {
      const entries: string[] = await readdir(`/sys/fs/cgroup/${h}`).catch(() => []);
      if (entries.includes(`kvpn-${id}`)) cgroups.push(h);
    }
    t.same(cgroups, [], 'no cgroup');
    t.notMatch(await readFile('/proc/mounts', 'utf8'), id, 'no mount');
    t.notOk(await exists(cluster.dir), 'no world directory');
    t.same(await processesMentioning(cluster.dir), [], 'no process (containerd shims included)');
    t.notOk(await exists('/var/lib/kubelet'), 'nothing at the kubelet default paths');
    t.same(await readSysctls(), sysctlsBefore, "the kubelet's sysctls were never set on the host");
  });
}

async function readSysctls(): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const key of Object.keys(KUBELET_SYSCTLS)) out[key] = (await readFile(`/proc/sys/${key}`, 'utf8')).trim();
  return out;
}

/** Pids whose command line names `text` (a world's directory appears in every daemon's and shim's). */
async function processesMentioning(text: string): Promise<number[]> {
  const out: number[] = [];
  for (const pid of (await readdir('/proc')).filter((p) => /^\d+$/.test(p))) {
    const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
    if (cmdline.includes(text)) out.push(Number(pid));
  }
  return out;
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}
