// The intercept spec both ends read: flags → filter on the laptop, the
// registration header → spec on the router, and a request's path and
// headers → matched or not.
import t, { type Test } from 'tap';
import {
  canonicalFilter,
  compileFilter,
  filterFromFlags,
  InterceptSpecError,
  parseInterceptSpec,
  sameFilter,
} from '../../src/relay/intercept-spec.js';

/** Throws an InterceptSpecError (a message for the user), not any error. */
function throwsSpecError(t: Test, fn: () => unknown, label: string): void {
  try {
    fn();
    t.fail(`${label}: accepted`);
  } catch (err) {
    t.ok(err instanceof InterceptSpecError, `${label}: ${(err as Error).message}`);
  }
}

const headersOf =
  (h: Record<string, string | string[]>) =>
  (name: string): string | string[] | undefined =>
    h[name];

t.test('no filter flag: a whole intercept', async (t) => {
  t.equal(filterFromFlags({}), undefined);
  t.equal(filterFromFlags({ headers: [], headerRegexes: [] }), undefined);
});

t.test('flags become conditions; names are case-insensitive, values exact', async (t) => {
  const f = filterFromFlags({ headers: ['X-Dev=alice'], headerRegexes: ['baggage=.*dev=alice.*'], pathPrefix: '/api' });
  t.same(f, {
    headers: [{ name: 'x-dev', value: 'alice' }],
    headerRegexes: [{ name: 'baggage', pattern: '.*dev=alice.*' }],
    pathPrefix: '/api',
  });
  const m = compileFilter(f as NonNullable<typeof f>);
  const base = { 'x-dev': 'alice', baggage: 'k=v,dev=alice' };
  t.ok(m.matches('/api/orders', headersOf(base)), 'every condition holds');
  t.notOk(m.matches('/web', headersOf(base)), 'path outside the prefix');
  t.notOk(m.matches('/api', headersOf({ ...base, 'x-dev': 'Alice' })), 'values are case-sensitive');
  t.notOk(m.matches('/api', headersOf({ 'x-dev': 'alice' })), 'a missing header fails its regex');
  t.ok(m.matches('/api', headersOf({ ...base, 'x-dev': ['bob', 'alice'] })), 'any of a repeated header');
  t.notOk(
    compileFilter({ headers: [], headerRegexes: [{ name: 'x', pattern: 'a|b' }] }).matches('/', headersOf({ x: 'ab' })),
    'regexes match the whole value (anchored, alternation included)',
  );
});

t.test('bad flags: one sentence each', async (t) => {
  const bad: [Parameters<typeof filterFromFlags>[0], RegExp][] = [
    [{ headers: ['x-dev'] }, /not NAME=VALUE/],
    [{ headers: ['=alice'] }, /not NAME=VALUE/],
    [{ headers: ['x dev=alice'] }, /not a header name/],
    [{ headers: ['host=example'] }, /--path-prefix/],
    [{ headers: [':path=/x'] }, /not a header name|--path-prefix/],
    [{ headerRegexes: ['x=('] }, /not a regular expression/],
    [{ headerRegexes: [`x=${'a'.repeat(300)}`] }, /longer than 256/],
    [{ headers: ['x=a\r\nInjected: 1'] }, /control character/],
    [{ pathPrefix: 'api' }, /must start with \//],
    [{ headers: Array.from({ length: 17 }, (_, i) => `h${i}=v`) }, /at most 16/],
  ];
  for (const [flags, message] of bad)
    t.throws(() => filterFromFlags(flags), { name: 'Error', message }, JSON.stringify(flags));
  throwsSpecError(t, () => filterFromFlags({ headers: ['x'] }), 'a bad flag');
});

t.test('the registration header: validated field by field', async (t) => {
  const spec = { id: 'abc-1', port: 8080, owner: 'alice@laptop', filter: { headers: [{ name: 'X-Dev', value: 'a' }] } };
  t.same(parseInterceptSpec(JSON.stringify(spec)), {
    id: 'abc-1',
    port: 8080,
    owner: 'alice@laptop',
    filter: { headers: [{ name: 'x-dev', value: 'a' }], headerRegexes: [], pathPrefix: undefined },
  });
  t.same(parseInterceptSpec('{"id":"w","port":80,"owner":"o"}'), { id: 'w', port: 80, owner: 'o' }, 'whole');
  t.same(
    parseInterceptSpec('{"id":"w","port":80,"owner":"o","records":false}'),
    { id: 'w', port: 80, owner: 'o', records: false },
    'records: false is kept (true is the default, left out)',
  );
  for (const raw of [
    '{"id":"a","port":80,"owner":"o","records":"no"}',
    undefined,
    'not json',
    '[]',
    '{"id":"UPPER","port":80,"owner":"o"}',
    '{"id":"a","port":0,"owner":"o"}',
    '{"id":"a","port":80}',
    '{"id":"a","port":80,"owner":"o","filter":{"headers":"x"}}',
    '{"id":"a","port":80,"owner":"o","filter":{"headers":[{"name":"x"}]}}',
    '{"id":"a","port":80,"owner":"o","filter":{"headers":[]}}',
  ])
    throwsSpecError(t, () => parseInterceptSpec(raw), String(raw));
});

t.test('same filter: the same conditions in any order', async (t) => {
  const a = filterFromFlags({ headers: ['a=1', 'b=2'] });
  const b = filterFromFlags({ headers: ['B=2', 'a=1'] });
  t.ok(sameFilter(a, b));
  t.notOk(sameFilter(a, filterFromFlags({ headers: ['a=1'] })));
  t.ok(sameFilter(undefined, undefined), 'two whole intercepts');
  t.equal(canonicalFilter(filterFromFlags({ headers: ['x-dev=alice'], pathPrefix: '/api' })), 'x-dev=alice path^/api');
});
