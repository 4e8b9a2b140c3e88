// `kvpn env` against the truth: the real kubelet (v1.34) of the real test
// world. A Deployment whose container uses every kind of reference runs;
// its environment is read from the running container (/proc/1/environ of
// its process, through `kubectl exec`), and `kvpn env --format json` must
// give exactly the kubelet's variables. The container also has variables
// the kubelet does not make — PATH and HOSTNAME from the runtime, HOME and
// the image's own ENV — and those are listed, not compared.
import { execFileSync } from 'node:child_process';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseEnv } from 'node:util';
import t from 'tap';
import { EXIT } from '../../src/cli/exit-codes.js';
import { type Cluster, startCluster } from '../cluster/index.js';
import { realWorld } from '../cluster/worlds.js';
import { readBack } from '../workload/env-consumer.js';
import { kvpnIn } from './helpers/kvpn.js';

const NS = 'envtest';
const RBAC_DOC = new URL('../../docs/rbac.md', import.meta.url);

/** What the runtime and image add to every container (not the kubelet's). */
const NOT_THE_KUBELETS = new Set(['PATH', 'HOSTNAME', 'HOME', 'TERM', 'NODE_VERSION', 'YARN_VERSION']);

const fieldRef = (fieldPath: string) => ({ fieldRef: { fieldPath } });
const resourceRef = (resource: string, divisor?: string) => ({
  resourceFieldRef: { resource, ...(divisor ? { divisor } : {}) },
});

const MANIFEST = {
  apiVersion: 'v1',
  kind: 'List',
  items: [
    {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'cfg', namespace: NS },
      data: {
        A: 'cm-a',
        B: 'cm-b',
        'dotted.key': 'dot',
        '1st-key': 'digit',
        MULTI: 'line1\nline2\n',
        QUOTES: `it's "q" $x \\ $(A)`,
      },
    },
    {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 'sec', namespace: NS },
      stringData: { TOKEN: 't0k=', A: 'sec-a' },
    },
    {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'my-db', namespace: NS },
      spec: {
        selector: { app: 'nothing' },
        ports: [
          { name: 'pg', port: 5432 },
          { name: 'metrics-http', port: 9187, protocol: 'TCP' },
          { name: 'dns', port: 53, protocol: 'UDP' },
        ],
      },
    },
    {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'headless', namespace: NS },
      spec: { clusterIP: 'None', selector: { app: 'nothing' }, ports: [{ port: 80 }] },
    },
    {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'web', namespace: NS },
      spec: {
        replicas: 1,
        selector: { matchLabels: { app: 'web' } },
        template: {
          metadata: { labels: { app: 'web', tier: 'front' }, annotations: { note: 'hello "there"' } },
          spec: {
            terminationGracePeriodSeconds: 0,
            containers: [
              {
                name: 'app',
                image: 'node:22-alpine',
                command: ['sleep', '3600'],
                resources: {
                  requests: { cpu: '250m', memory: '64Mi' },
                  limits: { cpu: '1500m', memory: '128Mi' },
                },
                envFrom: [
                  { configMapRef: { name: 'absent', optional: true } },
                  { prefix: 'CFG_', configMapRef: { name: 'cfg' } },
                  { prefix: 'SEC_', secretRef: { name: 'sec' } },
                  { configMapRef: { name: 'cfg' } },
                ],
                env: [
                  { name: 'LIT', value: 'literal value' },
                  { name: 'CHAIN1', value: 'c1' },
                  { name: 'CHAIN2', value: '$(CHAIN1)-c2' },
                  { name: 'CHAIN3', value: '$(CHAIN2)-$(CFG_A)-$(MY_DB_SERVICE_HOST)-$(SEC_TOKEN)' },
                  { name: 'ESCAPES', value: '$$(CHAIN1) $$$$ $(NOPE) $CHAIN1 $(CHAIN1 $' },
                  { name: 'LATER', value: '$(DEFINED_LATER)' },
                  { name: 'DEFINED_LATER', value: 'x' },
                  { name: 'B', value: 'env-b $(B)' },
                  { name: 'EMPTY' },
                  { name: 'A', valueFrom: { secretKeyRef: { name: 'sec', key: 'nokey', optional: true } } },
                  { name: 'OPT_CM', valueFrom: { configMapKeyRef: { name: 'absent', key: 'k', optional: true } } },
                  { name: 'OPT_KEY', valueFrom: { configMapKeyRef: { name: 'cfg', key: 'nokey', optional: true } } },
                  { name: 'OPT_SEC', valueFrom: { secretKeyRef: { name: 'absent', key: 'k', optional: true } } },
                  { name: 'FROM_CM', valueFrom: { configMapKeyRef: { name: 'cfg', key: 'QUOTES' } } },
                  { name: 'TOKEN', valueFrom: { secretKeyRef: { name: 'sec', key: 'TOKEN' } } },
                  { name: 'POD_NAME', valueFrom: fieldRef('metadata.name') },
                  { name: 'POD_NAMESPACE', valueFrom: fieldRef('metadata.namespace') },
                  { name: 'POD_UID', valueFrom: fieldRef('metadata.uid') },
                  { name: 'LABEL_APP', valueFrom: fieldRef("metadata.labels['app']") },
                  { name: 'LABEL_NONE', valueFrom: fieldRef("metadata.labels['none']") },
                  { name: 'NOTE', valueFrom: fieldRef("metadata.annotations['note']") },
                  { name: 'NODE', valueFrom: fieldRef('spec.nodeName') },
                  { name: 'SA', valueFrom: fieldRef('spec.serviceAccountName') },
                  { name: 'POD_IP', valueFrom: fieldRef('status.podIP') },
                  { name: 'POD_IPS', valueFrom: fieldRef('status.podIPs') },
                  { name: 'HOST_IP', valueFrom: fieldRef('status.hostIP') },
                  { name: 'HOST_IPS', valueFrom: fieldRef('status.hostIPs') },
                  { name: 'URL', value: 'http://$(POD_IP):8080/$(NODE)' },
                  { name: 'CPU_REQ', valueFrom: resourceRef('requests.cpu') },
                  { name: 'CPU_REQ_M', valueFrom: resourceRef('requests.cpu', '1m') },
                  { name: 'CPU_LIM', valueFrom: resourceRef('limits.cpu') },
                  { name: 'MEM_REQ', valueFrom: resourceRef('requests.memory') },
                  { name: 'MEM_REQ_M', valueFrom: resourceRef('requests.memory', '1M') },
                  { name: 'MEM_LIM_MI', valueFrom: resourceRef('limits.memory', '1Mi') },
                  { name: 'EPH_REQ', valueFrom: resourceRef('requests.ephemeral-storage') },
                  { name: 'EPH_LIM_MI', valueFrom: resourceRef('limits.ephemeral-storage', '1Mi') },
                ],
              },
            ],
          },
        },
      },
    },
    {
      apiVersion: 'batch/v1',
      kind: 'CronJob',
      metadata: { name: 'ticker', namespace: NS },
      spec: {
        schedule: '0 0 1 1 *',
        suspend: true,
        jobTemplate: {
          spec: {
            template: {
              metadata: { labels: { app: 'ticker' } },
              spec: {
                restartPolicy: 'Never',
                terminationGracePeriodSeconds: 0,
                containers: [
                  {
                    name: 'app',
                    image: 'node:22-alpine',
                    command: ['sleep', '3600'],
                    env: [
                      { name: 'JOB_POD', valueFrom: fieldRef('metadata.name') },
                      { name: 'JOB_IP', valueFrom: fieldRef('status.podIP') },
                      { name: 'JOB_NAME_LABEL', valueFrom: fieldRef("metadata.labels['job-name']") },
                      { name: 'GREETING', value: 'tick $(JOB_POD) $(CFG_A)' },
                    ],
                    envFrom: [{ prefix: 'CFG_', configMapRef: { name: 'cfg' } }],
                  },
                ],
              },
            },
          },
        },
      },
    },
  ],
};

/** The running container's environment: its process's /proc/1/environ (NUL-separated, so newlines survive). */
async function containerEnv(cluster: Cluster, pod: string): Promise<Record<string, string>> {
  const r = await cluster.kubectl(['exec', '-n', NS, pod, '-c', 'app', '--', 'cat', '/proc/1/environ'], {
    context: 'admin',
  });
  if (r.code !== 0) throw new Error(`kubectl exec: ${r.stderr}`);
  const env: Record<string, string> = {};
  for (const pair of r.stdout.split('\0').filter(Boolean)) {
    const at = pair.indexOf('=');
    env[pair.slice(0, at)] = pair.slice(at + 1);
  }
  return env;
}

/** The variables `names` as each format's consumer reads them from `file`. */
async function readWith(format: string, file: string, names: string[]): Promise<Record<string, string | undefined>> {
  if (format === 'dotenv') return parseEnv(readFileSync(file, 'utf8'));
  if (format === 'sh')
    return Object.fromEntries(
      names.map((k) => [
        k,
        execFileSync('sh', ['-c', `. "$1"; printf %s "$${k}"`, 'sh', file], { env: {} }).toString(),
      ]),
    );
  const got = await readBack(format as 'docker' | 'compose', file);
  if (!got.ok) throw new Error(`${format} refused the file: ${got.error}`);
  return got.env;
}

const real = await realWorld();
t.test('kvpn env equals what the real kubelet gave the container', { skip: !real.run && real.why }, async (t) => {
  const cluster = await startCluster({ kind: 'real' });
  t.teardown(() => cluster.stop());
  const admin = { context: 'admin' as const, timeoutMs: 120_000 };
  t.equal((await cluster.kubectl(['create', 'namespace', NS], admin)).code, 0);
  const applied = await cluster.kubectl(['apply', '-f', '-'], { ...admin, input: JSON.stringify(MANIFEST) });
  t.equal(applied.code, 0, applied.stderr);
  const rolled = await cluster.kubectl(['rollout', 'status', '-n', NS, 'deploy/web', '--timeout=120s'], admin);
  t.equal(rolled.code, 0, rolled.stderr);

  const kvpn = kvpnIn(t, cluster);
  const out = await kvpn.run(['env', 'deploy/web', '--context', 'admin', '-n', NS, '--format', 'json']);
  t.equal(out.code, EXIT.OK, out.stderr);
  const doc = JSON.parse(out.stdout) as { pod: string; env: Record<string, string>; unavailable: unknown[] };
  t.same(doc.unavailable, [], 'with a running pod and a readable node, every value is known');

  const actual = await containerEnv(cluster, doc.pod);
  const extra = Object.keys(actual).filter((k) => !(k in doc.env));
  t.same(
    extra.filter((k) => !NOT_THE_KUBELETS.has(k)),
    [],
    `only the runtime's and image's variables are not kvpn's (${extra.join(', ')})`,
  );
  const kubelets = Object.fromEntries(
    Object.keys(actual)
      .filter((k) => !NOT_THE_KUBELETS.has(k))
      .map((k) => [k, actual[k]]),
  );
  const ours = Object.fromEntries(
    Object.keys(doc.env)
      .filter((k) => !NOT_THE_KUBELETS.has(k))
      .map((k) => [k, doc.env[k]]),
  );
  t.same(ours, kubelets, 'every variable the kubelet made, with its value');
  // A few, spelled out, so a failure reads as a rule.
  t.equal(actual.CHAIN3?.startsWith('c1-c2-cm-a-'), true, '$(…) chains through envFrom and Service links');
  t.equal(actual.LATER, '$(DEFINED_LATER)', 'a reference to a later variable stays as written');
  t.equal(actual.A, 'cm-a', 'an optional missing key leaves the envFrom value');

  // The files a user sources: written 0600, read back by their consumers, equal to the container's.
  const docker = (v: string) => !v.includes('\n');
  const carried: Record<string, (name: string, value: string) => boolean> = {
    sh: (name) => /^[A-Za-z_]\w*$/.test(name), // dotted.key and 1st-key are no shell names
    dotenv: () => true,
    docker: (_name, value) => docker(value), // MULTI, CFG_MULTI: docker has no multi-line values
    compose: () => true,
  };
  for (const [format, carries] of Object.entries(carried)) {
    const file = join(kvpn.dir, `web.${format}`);
    // An existing file readable by others is narrowed before the values go in, and replaced whole.
    writeFileSync(file, `${'OLD=stale\n'.repeat(10_000)}`, { mode: 0o644 });
    const args = ['env', 'deploy/web', '--context', 'admin', '-n', NS, '--format', format, '-o', file];
    const wrote = await kvpn.run([...args, '--skip-unrepresentable']);
    t.equal(wrote.code, EXIT.OK, wrote.stderr);
    t.equal(statSync(file).mode & 0o777, 0o600, `${format}: -o writes mode 0600, also over a 0644 file`);
    t.notMatch(readFileSync(file, 'utf8'), /OLD=stale/, `${format}: nothing of the old file is left`);
    // SEC_A, SEC_TOKEN, TOKEN, and CHAIN3 which expands $(SEC_TOKEN).
    t.match(wrote.stderr, /; 4 from Secrets\./, `${format}: says how many values came from Secrets`);
    const names = Object.keys(kubelets).filter((k) => carries(k, kubelets[k] as string));
    const skipped = Object.keys(kubelets).filter((k) => !names.includes(k));
    for (const k of skipped) t.match(wrote.stderr, `kvpn: ${k} left out`, `${format}: says it left out ${k}`);
    const readBack = await readWith(format, file, names);
    t.same(
      Object.fromEntries(names.map((k) => [k, readBack[k]])),
      Object.fromEntries(names.map((k) => [k, kubelets[k]])),
      `${format}: read back by its consumer, equal to the container's`,
    );
  }

  // A CronJob's pod belongs to a Job it owns (kubectl create job --from sets the owner).
  const job = await cluster.kubectl(['create', 'job', '-n', NS, 'ticker-now', '--from=cronjob/ticker'], admin);
  t.equal(job.code, 0, job.stderr);
  const jobReady = await cluster.kubectl(
    ['wait', '-n', NS, '--for=condition=Ready', 'pod', '-l', 'job-name=ticker-now', '--timeout=120s'],
    admin,
  );
  t.equal(jobReady.code, 0, jobReady.stderr);
  const cron = await kvpn.run(['env', 'cronjob/ticker', '--context', 'admin', '-n', NS, '--format', 'json']);
  t.equal(cron.code, EXIT.OK, cron.stderr);
  const cronDoc = JSON.parse(cron.stdout || '{}') as { pod?: string; env?: Record<string, string> };
  t.match(cronDoc.pod, /^ticker-now-/, "the CronJob's pod is found through its Job");
  const cronActual = await containerEnv(cluster, cronDoc.pod ?? '');
  for (const k of ['JOB_POD', 'JOB_IP', 'JOB_NAME_LABEL', 'GREETING', 'CFG_A', 'MY_DB_SERVICE_HOST'])
    t.equal(cronDoc.env?.[k], cronActual[k], `cronjob/ticker ${k} is the kubelet's`);
  // Refusals, each one sentence with its code: the kubelet's CreateContainerConfigError included.
  const broken = {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'broken', namespace: NS },
    spec: {
      selector: { matchLabels: { app: 'broken' } },
      template: {
        metadata: { labels: { app: 'broken' } },
        spec: {
          containers: [
            {
              name: 'app',
              image: 'node:22-alpine',
              command: ['sleep', '3600'],
              env: [{ name: 'X', valueFrom: { configMapKeyRef: { name: 'cfg', key: 'nokey' } } }],
            },
          ],
        },
      },
    },
  };
  t.equal((await cluster.kubectl(['apply', '-f', '-'], { ...admin, input: JSON.stringify(broken) })).code, 0);
  const refused = await cluster.kubectl(
    [
      'wait',
      '-n',
      NS,
      '--for=jsonpath={.status.containerStatuses[0].state.waiting.reason}=CreateContainerConfigError',
      'pod',
      '-l',
      'app=broken',
      '--timeout=90s',
    ],
    admin,
  );
  t.equal(refused.code, 0, `the kubelet refuses the container: ${refused.stderr}`);
  const cases: [string[], string, RegExp][] = [
    [['deploy/broken'], 'KVPN_ERR_WORKLOAD_MISSING_REF', /ConfigMap "envtest\/cfg" has no key "nokey"/],
    [['deploy/nope'], 'KVPN_ERR_WORKLOAD_NOT_FOUND', /no Deployment "nope" in namespace "envtest"/i],
    [['nope'], 'KVPN_ERR_WORKLOAD_NOT_FOUND', /no Deployment or Pod "nope"/i],
    [['ticker'], 'KVPN_ERR_WORKLOAD_AMBIGUOUS', /"ticker" is no Deployment or Pod.*but cronjob\/ticker is/],
    [['ticker-now'], 'KVPN_ERR_WORKLOAD_AMBIGUOUS', /but job\/ticker-now is[\s\S]*Name the kind/],
    [
      ['deploy/web', '-c', 'nope'],
      'KVPN_ERR_WORKLOAD_CONTAINER',
      /has no container "nope"[\s\S]*Pick one with -c: app/,
    ],
    [['widget/web'], 'KVPN_ERR_WORKLOAD_KIND', /"widget" is not a workload kind/],
    [['deploy/web', '--pod', 'nope'], 'KVPN_ERR_WORKLOAD_POD', /pod "nope" is not a pod of Deployment\/web/i],
  ];
  for (const [args, code, message] of cases) {
    const r = await kvpn.run(['env', ...args, '--context', 'admin', '-n', NS]);
    t.equal(r.code, code === 'KVPN_ERR_WORKLOAD_MISSING_REF' ? EXIT.CLUSTER : EXIT.CONFIG, args.join(' '));
    t.match(r.stderr, message, args.join(' '));
    t.match(r.stderr, `(${code}, see docs/errors.md)`, args.join(' '));
  }
  // docs/rbac.md's kvpn-env Role (read from the page) is enough: a ServiceAccount holding only it
  // (and the get on default/kubernetes the page adds) gets the same values as admin.
  const envRole = [...readFileSync(RBAC_DOC, 'utf8').matchAll(/```yaml\n([\s\S]*?)```/g)]
    .map((m) => m[1] as string)
    .find((y) => /name: kvpn-env\n/.test(y));
  t.ok(envRole, 'docs/rbac.md documents the kvpn-env Role');
  const grant = `${(envRole ?? '').replaceAll('namespace: my-namespace', `namespace: ${NS}`)}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: env-user, namespace: ${NS}}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: kvpn-env, namespace: ${NS}}
subjects: [{kind: ServiceAccount, name: env-user, namespace: ${NS}}]
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: kvpn-env}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: kvpn-env-kubernetes, namespace: default}
rules: [{apiGroups: [""], resources: [services], resourceNames: [kubernetes], verbs: [get]}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: kvpn-env-kubernetes, namespace: default}
subjects: [{kind: ServiceAccount, name: env-user, namespace: ${NS}}]
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: kvpn-env-kubernetes}
`;
  const granted = await cluster.kubectl(['apply', '-f', '-'], { ...admin, input: grant });
  t.equal(granted.code, 0, granted.stderr);
  const token = (await cluster.kubectl(['create', 'token', 'env-user', '-n', NS], admin)).stdout.trim();
  const kubeconfig = join(kvpn.dir, 'env-user.kubeconfig');
  execFileSync('cp', [cluster.kubeconfigPath, kubeconfig]);
  for (const args of [
    ['config', 'set-credentials', 'env-user', `--token=${token}`],
    ['config', 'set-context', 'env-user', '--cluster=kvpn-test', '--user=env-user', `--namespace=${NS}`],
  ])
    execFileSync('kubectl', ['--kubeconfig', kubeconfig, ...args]);
  const asUser = await kvpn.run(['env', 'deploy/web', '--context', 'env-user', '--format', 'json'], {
    env: { KUBECONFIG: kubeconfig },
  });
  t.equal(asUser.code, EXIT.OK, asUser.stderr);
  const userDoc = JSON.parse(asUser.stdout || '{}') as {
    env?: Record<string, string>;
    unavailable?: { name: string }[];
  };
  for (const [k, v] of Object.entries(userDoc.env ?? {})) t.equal(v, doc.env[k], `${k} with only the kvpn-env Role`);
  t.same(
    Object.keys(doc.env).filter((k) => !(k in (userDoc.env ?? {}))),
    (userDoc.unavailable ?? []).map((u) => u.name),
    'what the Role cannot read (the Node) is listed as unavailable, nothing else is missing',
  );

  const cronAsUser = await kvpn.run(['env', 'cronjob/ticker', '--context', 'env-user', '--format', 'json'], {
    env: { KUBECONFIG: kubeconfig },
  });
  t.equal(cronAsUser.code, EXIT.OK, cronAsUser.stderr);
  t.equal(JSON.parse(cronAsUser.stdout || '{}').pod, cronDoc.pod, 'the Role is enough to find a CronJob pod');

  // The minimal Role (staging) may not read Deployments: the refusal names the verb and object.
  const forbidden = await kvpn.run(['env', 'deploy/echo', '--context', 'staging']);
  t.equal(forbidden.code, EXIT.CONFIG);
  t.match(forbidden.stderr, /deployments\.apps "echo" is forbidden[\s\S]*KVPN_ERR_API_FORBIDDEN/);

  // No pod running: what only a pod knows is listed as unavailable, the rest is still the kubelet's.
  const scaled = await cluster.kubectl(['scale', '-n', NS, 'deploy/web', '--replicas=0'], admin);
  t.equal(scaled.code, 0, scaled.stderr);
  const gone = await cluster.kubectl(['wait', '-n', NS, '--for=delete', `pod/${doc.pod}`, '--timeout=60s'], admin);
  t.equal(gone.code, 0, gone.stderr);
  const noPod = await kvpn.run(['env', 'deploy/web', '--context', 'admin', '-n', NS, '--format', 'json']);
  t.equal(noPod.code, EXIT.OK, noPod.stderr);
  const without = JSON.parse(noPod.stdout) as {
    pod: null;
    env: Record<string, string>;
    unavailable: { name: string }[];
  };
  t.equal(without.pod, null);
  t.same(without.unavailable.map((u) => u.name).sort(), [
    'EPH_LIM_MI',
    'HOST_IP',
    'HOST_IPS',
    'LABEL_APP',
    'LABEL_NONE',
    'NODE',
    'NOTE',
    'POD_IP',
    'POD_IPS',
    'POD_NAME',
    'POD_UID',
    'SA',
    'URL',
  ]);
  for (const [k, v] of Object.entries(without.env)) t.equal(v, kubelets[k], `${k} without a pod`);
  t.match(noPod.stderr, /POD_IP is unavailable: no running pod/);
});
