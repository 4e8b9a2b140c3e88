// The mux carrier's frames, parsed from any split of the byte stream: DATA
// payloads come out as views of the input (never copied), control payloads
// whole, and anything that is not the protocol is reported once.
import t from 'tap';
import {
  encodeFrame,
  encodeJsonFrame,
  encodeU32Frame,
  FLAG_FIN,
  FrameDecoder,
  FrameType,
  MAX_CONTROL_FRAME_BYTES,
  MAX_DATA_FRAME_BYTES,
} from '../../src/relay/mux-frame.js';

type Event =
  | { data: number; bytes: string; last: boolean; fin: boolean }
  | { control: number; stream: number; flags: number; payload: string }
  | { malformed: string };

function decoder(): { events: Event[]; push(b: Buffer): void; pieces: Buffer[] } {
  const events: Event[] = [];
  const pieces: Buffer[] = [];
  const d = new FrameDecoder({
    data: (stream, piece, last, fin) => {
      pieces.push(piece);
      events.push({ data: stream, bytes: piece.toString(), last, fin });
    },
    control: (type, flags, stream, payload) =>
      events.push({ control: type, stream, flags, payload: payload.toString() }),
    malformed: (reason) => events.push({ malformed: reason }),
  });
  return { events, push: (b) => d.push(b), pieces };
}

const stream = Buffer.concat([
  encodeJsonFrame(FrameType.Open, 0, 1, { ':method': 'CONNECT', ':authority': '10.0.0.1:80' }),
  encodeFrame(FrameType.Data, 0, 1, Buffer.from('hello ')),
  encodeFrame(FrameType.Data, FLAG_FIN, 1, Buffer.from('world')),
  encodeU32Frame(FrameType.Window, 0, 0, 65536),
  encodeFrame(FrameType.Data, FLAG_FIN, 3),
]);

t.test('whole frames in one read', async (t) => {
  const d = decoder();
  d.push(stream);
  t.same(d.events, [
    { control: FrameType.Open, stream: 1, flags: 0, payload: '{":method":"CONNECT",":authority":"10.0.0.1:80"}' },
    { data: 1, bytes: 'hello ', last: true, fin: false },
    { data: 1, bytes: 'world', last: true, fin: true },
    { control: FrameType.Window, stream: 0, flags: 0, payload: '\u0000\u0001\u0000\u0000' },
    { data: 3, bytes: '', last: true, fin: true },
  ]);
});

t.test('every split of the same bytes gives the same frames; DATA arrives in pieces', async (t) => {
  const whole = decoder();
  whole.push(stream);
  const join = (events: Event[]): string =>
    JSON.stringify(
      events.reduce<Event[]>((out, e) => {
        const prev = out.at(-1);
        if ('data' in e && prev && 'data' in prev && prev.data === e.data && !prev.last) {
          out[out.length - 1] = { ...e, bytes: prev.bytes + e.bytes };
        } else out.push(e);
        return out;
      }, []),
    );
  for (let size = 1; size <= 17; size++) {
    const d = decoder();
    for (let at = 0; at < stream.length; at += size) d.push(stream.subarray(at, at + size));
    t.equal(join(d.events), join(whole.events), `${size}-byte reads`);
  }
});

t.test('DATA payloads are views of the input, not copies', async (t) => {
  const d = decoder();
  const input = encodeFrame(FrameType.Data, 0, 5, Buffer.alloc(1000, 7));
  d.push(input);
  t.equal(d.pieces[0]?.buffer, input.buffer, 'same memory');
});

t.test('not the protocol: one report, then nothing', async (t) => {
  for (const [what, bytes] of [
    ['an unknown type', encodeFrame(9, 0, 1, Buffer.from('x'))],
    [
      'a DATA frame over the limit',
      Buffer.from([...encodeFrame(FrameType.Data, 0, 1).subarray(0, 4).fill(0xff), 0, 0, 0, 0, 0, 1]),
    ],
    ['a control frame over the limit', Buffer.from(encodeU32Frame(FrameType.Open, 0, 1, 0))],
  ] as const) {
    const d = decoder();
    const frame = Buffer.from(bytes);
    if (what === 'a control frame over the limit') frame.writeUInt32BE(MAX_CONTROL_FRAME_BYTES + 1, 0);
    d.push(frame);
    d.push(stream);
    t.equal(d.events.length, 1, `${what}: nothing after the report`);
    t.ok('malformed' in (d.events[0] ?? {}), `${what}: ${JSON.stringify(d.events[0])}`);
  }
  t.ok(MAX_DATA_FRAME_BYTES < 0xffffffff);
});
