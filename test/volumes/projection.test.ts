// The files the kubelet writes for configMap, secret, downwardAPI and
// projected volumes, computed from the API objects: names, bytes, modes.
import t from 'tap';
import {
  type ConfigMapObject,
  formatMap,
  goQuote,
  type Payload,
  type ProjectionInputs,
  projectVolume,
  type SecretObject,
} from '../../src/volumes/projection.js';
import type { ApiVolumeSpec } from '../../src/volumes/volume-kinds.js';
import type { Node, Pod } from '../../src/workload/index.js';

const b64 = (s: string | Buffer) => Buffer.from(s).toString('base64');

function inputs(
  objects: { configMaps?: ConfigMapObject[]; secrets?: SecretObject[]; pod?: Pod; node?: Node } = {},
): ProjectionInputs {
  return {
    namespace: 'shop',
    configMaps: new Map((objects.configMaps ?? []).map((o) => [o.metadata.name as string, o])),
    secrets: new Map((objects.secrets ?? []).map((o) => [o.metadata.name as string, o])),
    pod: objects.pod,
    node: objects.node,
  };
}

/** path → [text, mode] for readable assertions. */
function files(payload: Payload): Record<string, [string, string]> {
  const out: Record<string, [string, string]> = {};
  for (const [path, f] of [...payload].sort(([a], [b]) => (a < b ? -1 : 1)))
    out[path] = [f.data.toString('utf8'), f.mode.toString(8)];
  return out;
}

const settings: ConfigMapObject = {
  metadata: { name: 'settings', resourceVersion: '7' },
  data: { 'app.yaml': 'port: 8080\n', LOG_LEVEL: 'debug' },
  binaryData: { 'logo.bin': b64(Buffer.from([0, 1, 0xfe, 0xff])) },
};

t.test('configMap: every data and binaryData key, at defaultMode 0644 when unset', async (t) => {
  const payload = projectVolume({ name: 'cfg', configMap: { name: 'settings' } }, inputs({ configMaps: [settings] }));
  t.same(files(payload), {
    LOG_LEVEL: ['debug', '644'],
    'app.yaml': ['port: 8080\n', '644'],
    'logo.bin': [Buffer.from([0, 1, 0xfe, 0xff]).toString('utf8'), '644'],
  });
  t.same(payload.get('logo.bin')?.data, Buffer.from([0, 1, 0xfe, 0xff]), 'binaryData bytes, base64-decoded');
});

t.test('configMap items: key → path (subdirectories), own mode, else defaultMode', async (t) => {
  const volume: ApiVolumeSpec = {
    name: 'cfg',
    configMap: {
      name: 'settings',
      defaultMode: 0o440,
      items: [
        { key: 'app.yaml', path: 'conf/app.yaml' },
        { key: 'logo.bin', path: 'img/logo', mode: 0o600 },
      ],
    },
  };
  t.same(files(projectVolume(volume, inputs({ configMaps: [settings] }))), {
    'conf/app.yaml': ['port: 8080\n', '440'],
    'img/logo': [Buffer.from([0, 1, 0xfe, 0xff]).toString('utf8'), '600'],
  });
});

t.test('configMap: missing object or key fails unless optional; optional missing is an empty volume', async (t) => {
  t.throws(() => projectVolume({ name: 'cfg', configMap: { name: 'nope' } }, inputs()), {
    code: 'KVPN_ERR_MOUNT_SOURCE_MISSING',
    message: /ConfigMap "shop\/nope" does not exist/,
  });
  t.same(files(projectVolume({ name: 'cfg', configMap: { name: 'nope', optional: true } }, inputs())), {});
  const items = {
    name: 'settings',
    items: [
      { key: 'missing', path: 'm' },
      { key: 'LOG_LEVEL', path: 'level' },
    ],
  };
  t.throws(() => projectVolume({ name: 'cfg', configMap: items }, inputs({ configMaps: [settings] })), {
    code: 'KVPN_ERR_MOUNT_SOURCE_MISSING',
    message: /ConfigMap "shop\/settings" has no key "missing"/,
  });
  t.same(
    files(projectVolume({ name: 'cfg', configMap: { ...items, optional: true } }, inputs({ configMaps: [settings] }))),
    { level: ['debug', '644'] },
    'optional: a missing item key is skipped',
  );
});

t.test('secret: data is base64, defaultMode applies', async (t) => {
  const secret: SecretObject = {
    metadata: { name: 'db', resourceVersion: '3' },
    data: { password: b64('s3cr3t'), 'tls.key': b64('-----BEGIN KEY-----\n') },
  };
  t.same(
    files(
      projectVolume({ name: 'creds', secret: { secretName: 'db', defaultMode: 0o400 } }, inputs({ secrets: [secret] })),
    ),
    { password: ['s3cr3t', '400'], 'tls.key': ['-----BEGIN KEY-----\n', '400'] },
  );
  t.throws(() => projectVolume({ name: 'creds', secret: { secretName: 'other' } }, inputs({ secrets: [secret] })), {
    code: 'KVPN_ERR_MOUNT_SOURCE_MISSING',
    message: /Secret "shop\/other" does not exist/,
  });
});

t.test("Go's %q, written by hand from strconv.Quote's rules", async (t) => {
  t.equal(goQuote('plain'), '"plain"');
  t.equal(goQuote('say "hi"\nnext'), '"say \\"hi\\"\\nnext"', 'quote and newline escaped');
  t.equal(goQuote('back\\slash\ttab'), '"back\\\\slash\\ttab"');
  t.equal(goQuote('\x07\b\f\r\v'), '"\\a\\b\\f\\r\\v"', 'C escapes');
  t.equal(goQuote('\x00\x1b\x7f'), '"\\x00\\x1b\\x7f"', 'other controls and DEL as \\xNN');
  t.equal(goQuote('héllo ✓ 😀 日本'), '"héllo ✓ 😀 日本"', 'printable Unicode as it is');
  t.equal(goQuote('a\u00a0b\u200bc\u0085'), '"a\\u00a0b\\u200bc\\u0085"', 'no-break space, zero width, C1: \\u');
  t.equal(goQuote('\u{e0001}\u{f0000}'), '"\\U000e0001\\U000f0000"', 'astral non-printable: \\U, lowercase hex');
  t.equal(goQuote('lone \ud800'), '"lone \ufffd"', "a lone surrogate is U+FFFD, as Go's JSON decoder makes it");
});

t.test('FormatMap: key="value" lines, keys sorted bytewise, no final newline', async (t) => {
  t.equal(
    formatMap({ 'app.kubernetes.io/name': 'web', app: 'web', Zeta: 'z"q' }),
    'Zeta="z\\"q"\napp="web"\napp.kubernetes.io/name="web"',
  );
  t.equal(formatMap({}), '', 'no labels: an empty file');
});

const pod: Pod = {
  metadata: {
    name: 'web-7d9f',
    namespace: 'shop',
    uid: '0b1c2d3e-aaaa-bbbb-cccc-000000000001',
    labels: { app: 'web', tier: 'front' },
    annotations: { note: 'line1\nline2 "quoted" ünï ☃', 'kvpn.dev/x': 'tab\there' },
  },
  spec: {
    nodeName: 'node-1',
    containers: [
      { name: 'app', resources: { limits: { memory: '128Mi' }, requests: { cpu: '250m', memory: '64Mi' } } },
    ],
    initContainers: [{ name: 'init', resources: { limits: { cpu: '500m' } } }],
  },
};

t.test('downwardAPI: metadata fields, labels/annotations files, subscripts, modes', async (t) => {
  const volume: ApiVolumeSpec = {
    name: 'podinfo',
    downwardAPI: {
      defaultMode: 0o644,
      items: [
        { path: 'name', fieldRef: { fieldPath: 'metadata.name' } },
        { path: 'namespace', fieldRef: { fieldPath: 'metadata.namespace' } },
        { path: 'uid', fieldRef: { fieldPath: 'metadata.uid' } },
        { path: 'labels', fieldRef: { fieldPath: 'metadata.labels' }, mode: 0o400 },
        { path: 'meta/annotations', fieldRef: { fieldPath: 'metadata.annotations' } },
        { path: 'tier', fieldRef: { fieldPath: "metadata.labels['tier']" } },
        { path: 'absent', fieldRef: { fieldPath: "metadata.annotations['kvpn.dev/none']" } },
        { path: './dir//clean', fieldRef: { fieldPath: 'metadata.name' } },
      ],
    },
  };
  t.same(files(projectVolume(volume, inputs({ pod }))), {
    './dir//clean': ['web-7d9f', '644'],
    absent: ['', '644'],
    labels: ['app="web"\ntier="front"', '400'],
    'meta/annotations': ['kvpn.dev/x="tab\\there"\nnote="line1\\nline2 \\"quoted\\" ünï ☃"', '644'],
    name: ['web-7d9f', '644'],
    namespace: ['shop', '644'],
    tier: ['front', '644'],
    uid: ['0b1c2d3e-aaaa-bbbb-cccc-000000000001', '644'],
  });
  t.throws(
    () =>
      projectVolume(
        { name: 'podinfo', downwardAPI: { items: [{ path: 'ip', fieldRef: { fieldPath: 'status.podIP' } }] } },
        inputs({ pod }),
      ),
    { code: 'KVPN_ERR_MOUNT_INVALID_VOLUME', message: /unsupported fieldPath "status.podIP"/ },
    'volumes give metadata only (env gives more)',
  );
  t.throws(
    () =>
      projectVolume(
        {
          name: 'podinfo',
          downwardAPI: { items: [{ path: 'x', fieldRef: { fieldPath: "metadata.labels['-bad-']" } }] },
        },
        inputs({ pod }),
      ),
    { message: /invalid key subscript/ },
  );
});

t.test('downwardAPI resourceFieldRef: divisor rounds up; unset limits need the node', async (t) => {
  const item = (path: string, resource: string, divisor?: string, containerName = 'app') => ({
    path,
    resourceFieldRef: { containerName, resource, ...(divisor ? { divisor } : {}) },
  });
  const volume: ApiVolumeSpec = {
    name: 'res',
    downwardAPI: {
      items: [
        item('mem_limit_mi', 'limits.memory', '1Mi'),
        item('mem_limit', 'limits.memory'),
        item('cpu_request_m', 'requests.cpu', '1m'),
        item('cpu_request', 'requests.cpu'),
        item('init_cpu_limit_m', 'limits.cpu', '1m', 'init'),
      ],
    },
  };
  t.same(files(projectVolume(volume, inputs({ pod }))), {
    cpu_request: ['1', '644'],
    cpu_request_m: ['250', '644'],
    init_cpu_limit_m: ['500', '644'],
    mem_limit: [String(128 * 1024 * 1024), '644'],
    mem_limit_mi: ['128', '644'],
  });
  const cpuLimit: ApiVolumeSpec = { name: 'res', downwardAPI: { items: [item('cpu_limit', 'limits.cpu')] } };
  t.throws(() => projectVolume(cpuLimit, inputs({ pod })), {
    code: 'KVPN_ERR_MOUNT_VALUE_UNAVAILABLE',
    message: /cpu_limit/,
  });
  const node: Node = { metadata: { name: 'node-1' }, status: { allocatable: { cpu: '4', memory: '8Gi' } } };
  t.same(files(projectVolume(cpuLimit, inputs({ pod, node }))), { cpu_limit: ['4', '644'] }, "the node's allocatable");
  t.throws(
    () =>
      projectVolume(
        { name: 'res', downwardAPI: { items: [item('x', 'limits.cpu', undefined, 'ghost')] } },
        inputs({ pod }),
      ),
    { code: 'KVPN_ERR_MOUNT_INVALID_VOLUME', message: /no container "ghost"/ },
  );
});

t.test('projected: sources in order, one defaultMode for all, item modes kept', async (t) => {
  const secret: SecretObject = { metadata: { name: 'db' }, data: { password: b64('pw'), user: b64('admin') } };
  const volume: ApiVolumeSpec = {
    name: 'all',
    projected: {
      defaultMode: 0o440,
      sources: [
        { configMap: { name: 'settings', items: [{ key: 'LOG_LEVEL', path: 'config/level' }] } },
        { secret: { name: 'db', items: [{ key: 'password', path: 'secret/password', mode: 0o400 }] } },
        { secret: { name: 'gone', optional: true } },
        { downwardAPI: { items: [{ path: 'labels', fieldRef: { fieldPath: 'metadata.labels' } }] } },
        { configMap: { name: 'settings', items: [{ key: 'app.yaml', path: 'labels' }] } },
      ],
    },
  };
  t.same(files(projectVolume(volume, inputs({ configMaps: [settings], secrets: [secret], pod }))), {
    'config/level': ['debug', '440'],
    labels: ['port: 8080\n', '440'],
    'secret/password': ['pw', '400'],
  });
  t.same(
    files(
      projectVolume(
        { name: 'all', projected: { sources: [{ secret: { name: 'db' } }] } },
        inputs({ secrets: [secret] }),
      ),
    ),
    { password: ['pw', '644'], user: ['admin', '644'] },
    'defaultMode 0644 when unset',
  );
});
