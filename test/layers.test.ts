// The layering of src/ (docs/architecture.md), checked on every import:
// a folder imports only the folders below it, the relay bundle's folder
// imports nothing but itself and the shared protocol, a folder with an
// index.ts is entered only through it, and each npm package has one importer.
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const SRC = join(ROOT, 'src');

/** Each layer and the layers it may import ('' is src/ itself: errors.ts). Bottom up. */
const MAY_IMPORT: Record<string, readonly string[]> = {
  '': [],
  net: [''],
  kube: [''],
  host: ['', 'kube'],
  'tun/wire': ['', 'net'],
  tun: ['', 'net', 'tun/wire'],
  'tun/stack': ['', 'net', 'tun/wire', 'tun'],
  control: ['', 'host'],
  dns: ['', 'net', 'host', 'kube', 'tun/stack'],
  'relay/server': [],
  relay: ['', 'kube'],
  tunnel: ['', 'net', 'kube', 'relay', 'tun/stack'],
  intercept: ['', 'kube', 'relay', 'workload'],
  'volumes/server': [],
  volumes: ['', 'kube', 'relay', 'workload'],
  inspect: ['', 'net', 'host', 'tun/stack', 'dns', 'relay'],
  session: [
    '',
    'net',
    'host',
    'kube',
    'control',
    'tun',
    'tun/wire',
    'tun/stack',
    'dns',
    'relay',
    'tunnel',
    'intercept',
    'volumes',
    'inspect',
    'workload',
  ],
  daemon: ['', 'host', 'control', 'tun', 'session'],
  sessions: ['', 'host', 'control', 'session', 'daemon'],
  workload: ['', 'kube'],
  doctor: ['', 'net', 'host', 'kube', 'tun', 'dns', 'relay', 'session'],
  cli: ['', 'net', 'relay', 'sessions', 'workload', 'intercept', 'volumes', 'doctor'],
};

/** What the relay bundle (relay/server) may import besides itself: the protocol both ends share. */
const RELAY_SHARED = [
  'relay/protocol.ts',
  'relay/datagram-codec.ts',
  'relay/stream-reset.ts',
  'relay/environment.ts',
  'relay/intercept-spec.ts',
  'relay/mux-frame.ts',
  'relay/mux-stream.ts',
  'relay/mux-session.ts',
];

/** The one module that imports each npm package. */
const PACKAGE_HOME: Record<string, string> = {
  '@kubernetes/client-node': 'kube/client.ts',
  ws: 'kube/port-forward.ts',
  'dns-packet': 'dns/codec.ts',
  yargs: 'cli/app.ts',
};

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sourceFiles(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : [],
  );
}

/** Every module specifier a file names: import/export ... from, import '...', import('...'). */
function specifiers(text: string): string[] {
  const statements = /^(?:import|export)\b[^'";]*?\bfrom\s*(['"])([^'"]+)\1|^import\s*(['"])([^'"]+)\3/gm;
  const dynamic = /\bimport\(\s*(['"])([^'"]+)\1\s*\)/g;
  return [...text.matchAll(statements)]
    .map((m) => (m[2] ?? m[4]) as string)
    .concat([...text.matchAll(dynamic)].map((m) => m[2] as string));
}

function layerOf(path: string): string {
  const dir = dirname(path) === '.' ? '' : dirname(path);
  let best: string | undefined;
  for (const layer of Object.keys(MAY_IMPORT)) {
    if (
      (dir === layer || dir.startsWith(`${layer}/`) || layer === '') &&
      (best === undefined || layer.length > best.length)
    ) {
      best = layer;
    }
  }
  return best ?? '';
}

interface Edge {
  from: string;
  to: string;
}
const edges: Edge[] = [];
const packages: Edge[] = [];
for (const file of sourceFiles(SRC)) {
  const from = relative(SRC, file);
  for (const spec of specifiers(readFileSync(file, 'utf8'))) {
    if (spec.startsWith('.'))
      edges.push({ from, to: relative(SRC, resolve(dirname(file), spec)).replace(/\.js$/, '.ts') });
    else if (!spec.startsWith('node:')) packages.push({ from, to: spec });
  }
}

t.test('every folder of src/ is a known layer', async (t) => {
  const unknown = sourceFiles(SRC)
    .map((f) => relative(SRC, f))
    .filter((p) => p.includes('/') && !((p.split('/')[0] as string) in MAY_IMPORT));
  t.same(unknown, [], 'add each new folder to MAY_IMPORT in test/layers.test.ts');
});

t.test('the layer table has no cycle', async (t) => {
  const state = new Map<string, 'visiting' | 'done'>();
  const visit = (layer: string, path: string[]): string | undefined => {
    if (state.get(layer) === 'done') return undefined;
    if (state.get(layer) === 'visiting') return [...path, layer].join(' -> ');
    state.set(layer, 'visiting');
    for (const below of MAY_IMPORT[layer] ?? []) {
      const cycle = visit(below, [...path, layer]);
      if (cycle) return cycle;
    }
    state.set(layer, 'done');
    return undefined;
  };
  for (const layer of Object.keys(MAY_IMPORT)) t.equal(visit(layer, []), undefined, `from ${layer}`);
});

t.test('no import points up a layer or sideways', async (t) => {
  const wrong = edges
    .filter(({ from, to }) => {
      const a = layerOf(from);
      const b = layerOf(to);
      return a !== b && !(MAY_IMPORT[a] ?? []).includes(b) && !(a === 'relay/server' && RELAY_SHARED.includes(to));
    })
    .map(({ from, to }) => `${from} (${layerOf(from) || 'src'}) -> ${to} (${layerOf(to) || 'src'})`);
  t.same(wrong, []);
});

t.test('the file server bundle imports only itself and Node', async (t) => {
  const bundle = (path: string) => path.startsWith('volumes/server/');
  t.same(
    edges.filter((e) => bundle(e.from) && !bundle(e.to)).map((e) => `${e.from} -> ${e.to}`),
    [],
    'relative imports stay inside the bundle',
  );
  t.same(
    packages.filter((e) => bundle(e.from)).map((e) => `${e.from} -> ${e.to}`),
    [],
    'no npm package: the pod runs a stock node image',
  );
});

t.test('the relay bundle imports only itself, the shared protocol and Node', async (t) => {
  const bundle = (path: string) => path.startsWith('relay/server/') || RELAY_SHARED.includes(path);
  const outside = edges.filter((e) => bundle(e.from) && !bundle(e.to)).map((e) => `${e.from} -> ${e.to}`);
  t.same(outside, [], 'relative imports stay inside the bundle');
  const npm = packages.filter((e) => bundle(e.from)).map((e) => `${e.from} -> ${e.to}`);
  t.same(npm, [], 'no npm package: the pod runs a stock node image');
  const shared = edges.filter((e) => RELAY_SHARED.includes(e.from) && !RELAY_SHARED.includes(e.to));
  t.same(shared, [], 'the shared files import only each other');
});

t.test('a folder with an index.ts is entered only through it', async (t) => {
  const barrels = sourceFiles(SRC)
    .map((f) => relative(SRC, f))
    .filter((p) => p.endsWith('/index.ts'))
    .map((p) => dirname(p));
  const wrong = edges
    .filter(({ from, to }) =>
      barrels.some((b) => !from.startsWith(`${b}/`) && to.startsWith(`${b}/`) && to !== `${b}/index.ts`),
    )
    .map(({ from, to }) => `${from} -> ${to}`);
  t.same(wrong, []);
});

t.test('each npm package has one importer', async (t) => {
  const wrong = packages.filter((e) => PACKAGE_HOME[e.to] !== e.from).map((e) => `${e.from} -> ${e.to}`);
  t.same(wrong, [], 'import the package through its home module (PACKAGE_HOME)');
});
