// Every output format read back by its consumer gives the original values:
// sh through a real `sh` sourcing the file, dotenv through Node's own
// dotenv reader (util.parseEnv, what `node --env-file` uses), json through
// JSON.parse. Values a format cannot carry fail naming the variable.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseEnv } from 'node:util';
import t from 'tap';
import { dotenvQuote } from '../../src/workload/env-syntax.js';
import type { EnvEntry } from '../../src/workload/environment.js';
import { formatEnvironment } from '../../src/workload/format.js';
import { readBack } from './env-consumer.js';

const HEADER = { workload: 'Deployment/web', namespace: 'shop', container: 'app', pod: 'web-1', context: 'kind' };

const VALUES: Record<string, string> = {
  PLAIN: 'hello',
  EMPTY: '',
  SPACES: '  leading and trailing  ',
  SINGLE: "it's",
  DOUBLE: 'say "hi"',
  BOTH: `it's "quoted"`,
  BACKTICK: 'run `ls`',
  // biome-ignore lint/suspicious/noTemplateCurlyInString: a literal ${X} is what the formats must carry
  DOLLAR: '$HOME $(whoami) ${X} $$',
  BACKSLASH: 'C:\\path\\n\\t',
  MULTI: 'line1\nline2\n',
  HASH: 'value # not a comment',
  EQUALS: 'a=b=c',
  UNICODE: 'grüße 😀',
  GLOB: '* ? [a]',
};

/** A Secret value that is not UTF-8: 0x66 0xff. */
const BINARY: EnvEntry = {
  name: 'BIN',
  value: 'f\ufffd',
  bytes: Buffer.from([0x66, 0xff]),
  source: 'secret',
  fromSecret: true,
};

function entries(values: Record<string, string>): EnvEntry[] {
  return Object.entries(values).map(([name, value]) => ({ name, value, source: 'value', fromSecret: false }));
}

t.test('sh: sourced by sh, every value comes back byte for byte', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'kvpn-env-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'env.sh');
  writeFileSync(file, formatEnvironment('sh', entries(VALUES), HEADER, false).text);
  for (const [name, value] of Object.entries(VALUES)) {
    const got = execFileSync('sh', ['-c', `. "$1"; printf %s "$${name}"`, 'sh', file], { env: {} });
    t.equal(got.toString('utf8'), value, name);
  }
});

t.test('dotenv: read back by util.parseEnv', async (t) => {
  const representable = Object.fromEntries(Object.entries(VALUES).filter(([, v]) => dotenvQuote(v) !== undefined));
  const text = formatEnvironment('dotenv', entries(representable), HEADER, false).text;
  const parsed = parseEnv(text);
  for (const [name, value] of Object.entries(representable)) t.equal(parsed[name], value, name);
  t.same(Object.keys(representable), Object.keys(VALUES), 'every test value has a quoting');
});

t.test('dotenv: what no quoting carries fails naming it, or is skipped on request', async (t) => {
  const bad = { ALL: `' " \` \\n`, CR: 'a\r\nb' };
  t.throws(() => formatEnvironment('dotenv', entries(bad), HEADER, false), {
    code: 'KVPN_ERR_ENV_UNREPRESENTABLE',
    message: /ALL/,
  });
  const skipped = formatEnvironment('dotenv', entries({ ...bad, OK: 'x' }), HEADER, true);
  t.same(
    skipped.skipped.map((s) => s.name),
    ['ALL', 'CR'],
  );
  t.same(parseEnv(skipped.text), { OK: 'x' });
});

t.test('sh: a name that is not a shell variable fails; binary values fail', async (t) => {
  t.throws(() => formatEnvironment('sh', entries({ 'dotted.key': 'x' }), HEADER, false), {
    code: 'KVPN_ERR_ENV_UNREPRESENTABLE',
    message: /dotted\.key/,
  });
  t.throws(() => formatEnvironment('sh', [BINARY], HEADER, false), { message: /BIN \(not valid UTF-8\)/ });
});

t.test('json: JSON.parse gives the values, binary ones as base64, unavailable ones listed', async (t) => {
  const missing: EnvEntry = { name: 'IP', unavailable: 'no running pod', source: 'fieldRef', fromSecret: false };
  const doc = JSON.parse(formatEnvironment('json', [...entries(VALUES), BINARY, missing], HEADER, false).text);
  t.same(doc.env, VALUES);
  t.same(doc.envBase64, { BIN: 'Zv8=' });
  t.same(doc.unavailable, [{ name: 'IP', source: 'fieldRef', reason: 'no running pod' }]);
  t.same(doc.fromSecrets, ['BIN']);
  t.equal(doc.pod, 'web-1');
});

t.test('unavailable values are comments, never assignments', async (t) => {
  const missing: EnvEntry = { name: 'IP', unavailable: 'no running pod', source: 'fieldRef', fromSecret: false };
  for (const format of ['sh', 'dotenv'] as const) {
    const text = formatEnvironment(format, [missing], { ...HEADER, pod: undefined }, false).text;
    t.match(text, /^# unavailable: IP: no running pod$/m, format);
    t.notMatch(text, /^[^#].*IP=/m, format);
  }
});

// docker and Compose read with their own code (test/workload/consumers).
const EDGES: Record<string, string> = {
  ...VALUES,
  TAB: 'a\tb',
  CR_INSIDE: 'a\rb',
  LEADING_HASH: '# looks like a comment',
  QUOTED_LOOKING: '"already quoted"',
  SINGLE_QUOTED_LOOKING: "'x'",
  TRAILING_BACKSLASH: 'ends with \\',
  // biome-ignore lint/suspicious/noTemplateCurlyInString: Compose would interpolate these if not escaped
  INTERPOLATION: '${POISON} $POISON ${POISON:-default} \\$POISON',
  ESCAPES: '\\a\\b\\f\\n\\r\\t\\v\\0123 \\x41 \\u0041',
};

function written(dir: string, format: 'docker' | 'compose', values: Record<string, string>, skip = false): string {
  const file = join(dir, `${format}.env`);
  writeFileSync(file, formatEnvironment(format, entries(values), HEADER, skip).text);
  return file;
}

for (const format of ['docker', 'compose'] as const) {
  t.test(`${format}: read back by ${format}'s own env-file reader, value for value`, async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'kvpn-env-'));
    t.teardown(() => rmSync(dir, { recursive: true, force: true }));
    const values = Object.fromEntries(
      Object.entries(EDGES).filter(([name]) => format === 'compose' || !['MULTI'].includes(name)),
    );
    // A variable in the reader's own environment must not leak into the values.
    const got = await readBack(format, written(dir, format, values), { POISON: 'leaked' });
    t.ok(got.ok, got.ok ? 'read' : got.error);
    if (got.ok) t.same(got.env, values);
  });
}

t.test(
  'docker: a newline or a trailing CR fails naming the variable; docker really reads them otherwise',
  async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'kvpn-env-'));
    t.teardown(() => rmSync(dir, { recursive: true, force: true }));
    const bad = { MULTI: 'line1\nline2', TRAILING_CR: 'value\r' };
    t.throws(() => formatEnvironment('docker', entries(bad), HEADER, false), {
      code: 'KVPN_ERR_ENV_UNREPRESENTABLE',
      message: /MULTI \(holds a newline.*TRAILING_CR \(ends in a carriage return/,
    });
    // Written anyway, docker would give the container other values: the refusal is not caution.
    const raw = join(dir, 'raw.env');
    writeFileSync(raw, 'MULTI=line1\nline2=\nTRAILING_CR=value\r\n');
    const got = await readBack('docker', raw);
    t.same(got.ok && got.env, { MULTI: 'line1', line2: '', TRAILING_CR: 'value' });
    const skipped = formatEnvironment('docker', entries({ ...bad, OK: 'x' }), HEADER, true);
    t.same(
      skipped.skipped.map((s) => s.name),
      ['MULTI', 'TRAILING_CR'],
    );
    writeFileSync(raw, skipped.text);
    t.same(await readBack('docker', raw), { ok: true, env: { OK: 'x' } });
  },
);

t.test('docker: a line is at most 64 KiB; longer fails here, not in docker', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'kvpn-env-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const longest = { BIG: 'x'.repeat(64 * 1024 - 1 - 'BIG='.length) };
  t.same(await readBack('docker', written(dir, 'docker', longest)), { ok: true, env: longest });
  const tooLong = { BIG: `${longest.BIG}x` };
  t.throws(() => formatEnvironment('docker', entries(tooLong), HEADER, false), { message: /BIG \(longer than/ });
  const raw = join(dir, 'raw.env');
  writeFileSync(raw, `BIG=${tooLong.BIG}\n`);
  const got = await readBack('docker', raw);
  t.match(got, { ok: false, error: /too long/ }, 'docker itself refuses that line');
});

t.test('docker and compose: names each reader cannot take fail naming them', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'kvpn-env-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  // Kubernetes (RelaxedEnvironmentVariableValidation) allows any printable ASCII but =.
  const names = { 'WITH SPACE': 'a', '#HASH': 'b', 'COLON:NAME': 'c', 'dotted.key-1': 'd', ÜBER: 'e' };
  const docker = formatEnvironment('docker', entries(names), HEADER, true);
  t.same(
    docker.skipped.map((s) => s.name),
    ['WITH SPACE', '#HASH'],
  );
  t.same(await readBack('docker', written(dir, 'docker', names, true)), {
    ok: true,
    env: { 'COLON:NAME': 'c', 'dotted.key-1': 'd', ÜBER: 'e' },
  });
  const compose = formatEnvironment('compose', entries(names), HEADER, true);
  t.same(
    compose.skipped.map((s) => s.name),
    ['WITH SPACE', '#HASH', 'COLON:NAME'],
  );
  t.same(await readBack('compose', written(dir, 'compose', names, true)), {
    ok: true,
    env: { 'dotted.key-1': 'd', ÜBER: 'e' },
  });
});

t.test('docker and compose: non-UTF-8 Secret values fail naming them', async (t) => {
  for (const format of ['docker', 'compose'] as const)
    t.throws(() => formatEnvironment(format, [BINARY], HEADER, false), { message: /BIN \(not valid UTF-8\)/ }, format);
});
