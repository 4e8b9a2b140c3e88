import t from 'tap';
import { SendBuffer } from '../../../../src/tun/stack/tcp/send-buffer.js';

t.test('copyOut spans chunks from any offset; consume drops acknowledged bytes', async (t) => {
  const b = new SendBuffer();
  b.push(Buffer.from('hello '));
  b.push(Buffer.from('wide '));
  b.push(Buffer.from('world'));
  t.equal(b.length, 16);
  const dst = Buffer.alloc(9, '.');
  t.equal(b.copyOut(3, 7, dst, 1), 7);
  t.equal(dst.toString(), '.lo wide.');
  b.consume(8);
  t.equal(b.length, 8);
  const rest = Buffer.alloc(8);
  b.copyOut(0, 8, rest, 0);
  t.equal(rest.toString(), 'de world');
  t.equal(b.copyOut(6, 10, Buffer.alloc(10), 0), 2, 'copies only what is there');
  b.consume(100);
  t.equal(b.length, 0);
});

t.test('many chunks: the chunk list is compacted as the head advances', async (t) => {
  const b = new SendBuffer();
  for (let i = 0; i < 1000; i++) b.push(Buffer.from([i & 0xff]));
  for (let i = 0; i < 990; i++) b.consume(1);
  const out = Buffer.alloc(10);
  b.copyOut(0, 10, out, 0);
  t.same([...out], [...Array.from({ length: 10 }, (_, i) => (990 + i) & 0xff)]);
});
