// The router's capture of one request (bounded head and body, one record,
// once) and the registration stream's writer (backpressure: records dropped
// and counted while the stream is full, never buffered).
import { Writable } from 'node:stream';
import t from 'tap';
import {
  type InterceptedRequest,
  MAX_RECORD_BODY_BYTES,
  MAX_RECORD_HEADER_BYTES,
  MAX_RECORD_LINE_BYTES,
  MAX_RECORD_PATH_CHARS,
} from '../../src/relay/intercept-spec.js';
import type { InterceptCounters } from '../../src/relay/server/router/intercept-table.js';
import { RegistrationStream } from '../../src/relay/server/router/registration-stream.js';
import {
  boundHeaders,
  h2Pairs,
  RequestCapture,
  type RequestSink,
  rawPairs,
  recordLine,
} from '../../src/relay/server/router/request-record.js';

function sink(): RequestSink & { sent: InterceptedRequest[] } {
  let seq = 0;
  const sent: InterceptedRequest[] = [];
  return { sent, nextSeq: () => ++seq, send: (r) => sent.push(r) };
}

const head = {
  protocol: 'http/1.1' as const,
  method: 'POST',
  path: '/p?q=1',
  authority: 'web',
  headers: [['x-dev', 'alice'] as [string, string]],
};

t.test('a capture: the body kept to 16 KiB over any split, counted whole; one record, once', async (t) => {
  const s = sink();
  const c = new RequestCapture(s, 'x-dev=alice', head, 1000);
  const body = Buffer.alloc(MAX_RECORD_BODY_BYTES + 100);
  for (let i = 0; i < body.length; i++) body[i] = i % 251;
  c.body(body.subarray(0, 7));
  c.body(body.subarray(7, MAX_RECORD_BODY_BYTES - 1));
  c.body(body.subarray(MAX_RECORD_BODY_BYTES - 1));
  c.fail('first');
  c.fail('second');
  c.finish(1250, 201);
  c.finish(9999, 500, 'late');
  t.same(s.sent, [
    {
      seq: 1,
      at: 1000,
      protocol: 'http/1.1',
      method: 'POST',
      path: '/p?q=1',
      authority: 'web',
      to: 'laptop',
      filter: 'x-dev=alice',
      headers: [['x-dev', 'alice']],
      bodyBytes: MAX_RECORD_BODY_BYTES + 100,
      body: body.subarray(0, MAX_RECORD_BODY_BYTES).toString('base64'),
      bodyTruncated: true,
      status: 201,
      durationMs: 250,
      error: 'first',
    },
  ]);
  const pods = new RequestCapture(s, '', { ...head, path: `/${'a'.repeat(5000)}` }, 0);
  pods.toPods('full');
  pods.finish(3, undefined, 'no response');
  t.match(s.sent[1], { seq: 2, to: 'pods', why: 'full', filter: 'whole', bodyBytes: 0, error: 'no response' });
  t.equal(s.sent[1]?.path.length, MAX_RECORD_PATH_CHARS, 'the path is cut');
  t.notOk('body' in (s.sent[1] as object) || 'status' in (s.sent[1] as object), 'no body, no status');
});

t.test('headers: at most 64 fields and 8 KiB; a field too large is left out, the rest kept', async (t) => {
  const many = Array.from({ length: 70 }, (_, i): [string, string] => [`h${i}`, 'v']);
  const a = boundHeaders(many);
  t.equal(a.headers.length, 64);
  t.equal(a.truncated, true);
  const big: [string, string][] = [
    ['a', '1'],
    ['cookie', 'c'.repeat(MAX_RECORD_HEADER_BYTES)],
    ['b', '2'],
  ];
  t.same(boundHeaders(big), {
    headers: [
      ['a', '1'],
      ['b', '2'],
    ],
    truncated: true,
  });
  t.same(boundHeaders([['a', '1']]), { headers: [['a', '1']], truncated: false });
  t.same(rawPairs(['Host', 'web', 'X-Dev', 'Alice']), [
    ['host', 'web'],
    ['x-dev', 'Alice'],
  ]);
  t.same(h2Pairs({ ':method': 'GET', ':path': '/', 'set-cookie': ['a', 'b'], te: 'trailers' }), [
    ['set-cookie', 'a'],
    ['set-cookie', 'b'],
    ['te', 'trailers'],
  ]);
});

t.test('a record line stays below 64 KiB: the body goes first, then the headers', async (t) => {
  const base: InterceptedRequest = {
    seq: 1,
    at: 0,
    protocol: 'h2',
    method: 'GET',
    path: '/',
    authority: 'a',
    to: 'laptop',
    filter: 'whole',
    headers: [['x', 'y']],
    bodyBytes: 10,
    body: 'AAAA',
  };
  t.same(JSON.parse(recordLine(base) as string), { request: base });
  t.ok(recordLine(base)?.endsWith('}\n'));
  const fat = { ...base, body: 'A'.repeat(MAX_RECORD_LINE_BYTES) };
  const { body: _, ...noBody } = base;
  t.same(JSON.parse(recordLine(fat) as string).request, { ...noBody, bodyTruncated: true });
  // JSON escapes: a quote takes two bytes on the line.
  const quoted = { ...fat, headers: [['x', '"'.repeat(MAX_RECORD_LINE_BYTES / 2)]] as [string, string][] };
  t.match(JSON.parse(recordLine(quoted) as string).request, {
    headers: [],
    headersTruncated: true,
    bodyTruncated: true,
  });
  t.equal(recordLine({ ...quoted, path: '"'.repeat(MAX_RECORD_LINE_BYTES) }), undefined, 'still too long: none');
});

/** A stream that takes one write and then holds it until release(): write() says "full" at once. */
class HeldWritable extends Writable {
  readonly written: string[] = [];
  #held: (() => void) | undefined;
  constructor() {
    super({ highWaterMark: 1, decodeStrings: false });
  }
  override _write(chunk: string, _enc: BufferEncoding, cb: () => void): void {
    this.written.push(chunk);
    this.#held = cb;
  }
  release(): void {
    const cb = this.#held;
    this.#held = undefined;
    cb?.();
  }
}

t.test('the registration stream: full ─► records dropped and counted; drained ─► they flow again', async (t) => {
  const stream = new HeldWritable();
  const counters: InterceptCounters = { toLaptop: 0, toPods: 0, failedOpen: 0, refused: 0, requestsDropped: 0 };
  const lines = new RegistrationStream(stream, counters, 60_000);
  t.teardown(() => lines.close());
  const record = (): InterceptedRequest => ({
    seq: lines.nextSeq(),
    at: 0,
    protocol: 'http/1.1',
    method: 'GET',
    path: '/',
    authority: 'a',
    to: 'laptop',
    filter: 'whole',
    headers: [],
    bodyBytes: 0,
  });
  lines.send(record());
  lines.send(record());
  lines.send(record());
  t.equal(stream.written.length, 1, 'one line written; the stream is full');
  t.equal(counters.requestsDropped, 2, 'the next two dropped and counted');
  t.equal(stream.writableLength, stream.written[0]?.length, 'nothing buffered beyond the one write');
  const drained = new Promise((resolve) => stream.once('drain', resolve));
  stream.release();
  await drained;
  lines.send(record());
  t.equal(stream.written.length, 2);
  t.same(
    stream.written.map((l) => JSON.parse(l).request.seq),
    [1, 4],
    'seq counts every request, sent or not',
  );
  stream.release();
  stream.end();
  lines.send(record());
  t.equal(counters.requestsDropped, 2, 'a closed stream: nothing to send, nothing counted');
});
