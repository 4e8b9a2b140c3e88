// The laptop's reading of a registration stream: ndjson split into lines at
// any chunk boundary, a line too long skipped whole, and each line read as
// counters or a request record; anything malformed is ignored, never thrown.
import t from 'tap';
import type { InterceptedRequest } from '../../src/relay/intercept-spec.js';
import { lineSplitter, readRouterLine } from '../../src/tunnel/intercept-link.js';

const record: InterceptedRequest = {
  seq: 3,
  at: 1_700_000_000_000,
  protocol: 'http/1.1',
  method: 'POST',
  path: '/a?b=c',
  authority: 'web.shop',
  to: 'pods',
  why: 'failed-open',
  filter: 'x-dev=alice',
  headers: [
    ['x-dev', 'alice'],
    ['authorization', 'Bearer t'],
  ],
  headersTruncated: true,
  body: 'aGk=',
  bodyBytes: 2,
  bodyTruncated: false,
  status: 200,
  durationMs: 12.5,
  error: 'x',
};

t.test('lines: the same at every split of the input; a long one skipped to its newline', async (t) => {
  const input = `{"a":1}\n${'x'.repeat(40)}\n{"b":2}\n\n${'y'.repeat(10)}\n{"c":3}\n`;
  const want = ['{"a":1}', '{"b":2}', '', 'y'.repeat(10), '{"c":3}'];
  for (let i = 0; i <= input.length; i++) {
    for (const j of [i, Math.min(input.length, i + 7)]) {
      const got: string[] = [];
      const feed = lineSplitter(16, (l) => got.push(l));
      feed(input.slice(0, i));
      feed(input.slice(i, j));
      feed(input.slice(j));
      t.same(got, want, `split at ${i} and ${j}`);
    }
  }
  const got: string[] = [];
  const feed = lineSplitter(16, (l) => got.push(l));
  feed('z'.repeat(100));
  feed('z'.repeat(100));
  feed('\n{"d":4}');
  feed('\n');
  t.same(got, ['{"d":4}'], 'a line longer than the limit, in pieces, is dropped whole');
});

t.test('a record line: checked field by field, copied without unknown fields', async (t) => {
  t.same(readRouterLine(JSON.stringify({ request: { ...record, extra: 'no' } })), { request: record });
  const minimal = { ...record };
  for (const k of ['why', 'headersTruncated', 'body', 'bodyTruncated', 'status', 'durationMs', 'error'] as const)
    delete minimal[k];
  t.same(readRouterLine(JSON.stringify({ request: minimal })), { request: minimal }, 'optional fields may be absent');
  const broken: [string, unknown][] = [
    ['seq', 0],
    ['seq', '1'],
    ['at', null],
    ['protocol', 'http/3'],
    ['method', 1],
    ['path', undefined],
    ['to', 'elsewhere'],
    ['why', 'bored'],
    ['filter', null],
    ['headers', { a: 'b' }],
    ['headers', [['a']]],
    ['headers', [['a', 1]]],
    ['bodyBytes', -1],
    ['bodyBytes', 1.5],
    ['body', 5],
    ['status', '200'],
    ['durationMs', -3],
    ['error', {}],
    ['headersTruncated', 'yes'],
  ];
  for (const [field, value] of broken) {
    const line = JSON.stringify({ request: { ...record, [field]: value } });
    t.equal(readRouterLine(line), undefined, `${field}: ${JSON.stringify(value)} → ignored`);
  }
  for (const line of ['', 'nope', '{"request":', '{"request":null}', '{"request":[]}', 'null', '[1]', '"s"', '7'])
    t.equal(readRouterLine(line), undefined, `${JSON.stringify(line)} → ignored`);
});

t.test('a counters line: only known counters that are counts', async (t) => {
  t.same(readRouterLine('{"toLaptop":3,"toPods":1,"failedOpen":1,"refused":0,"requestsDropped":7}'), {
    counters: { toLaptop: 3, toPods: 1, failedOpen: 1, refused: 0, requestsDropped: 7 },
  });
  t.same(readRouterLine('{"toLaptop":"3","toPods":-1,"other":5,"refused":2}'), { counters: { refused: 2 } });
  t.same(readRouterLine('{}'), { counters: {} }, 'an older router: no requestsDropped');
});
