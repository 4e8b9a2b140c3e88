import t from 'tap';
import { DatagramDecoder, encodeDatagram, MAX_DATAGRAM_BYTES } from '../../src/relay/datagram-codec.js';

const datagrams = [Buffer.from('hello'), Buffer.alloc(0), Buffer.from([0xff, 0x00, 0x01]), Buffer.alloc(300, 7)];
const wire = Buffer.concat(datagrams.map(encodeDatagram));

t.test('encode: 2-byte big-endian length, then the bytes', async (t) => {
  t.equal(encodeDatagram(Buffer.from('hello')).toString('hex'), '000568656c6c6f');
  t.equal(encodeDatagram(Buffer.alloc(0)).toString('hex'), '0000', 'an empty datagram is a zero length');
  t.equal(encodeDatagram(Buffer.alloc(300)).subarray(0, 2).toString('hex'), '012c');
  t.throws(() => encodeDatagram(Buffer.alloc(MAX_DATAGRAM_BYTES + 1)), RangeError);
});

t.test('decode: the same datagrams whatever the chunk boundaries', async (t) => {
  for (let split = 0; split <= wire.length; split++) {
    for (const step of [1, 2, 3, 7]) {
      const decoder = new DatagramDecoder();
      const got: Buffer[] = [...decoder.push(wire.subarray(0, split))];
      for (let i = split; i < wire.length; i += step) got.push(...decoder.push(wire.subarray(i, i + step)));
      if (got.length !== datagrams.length || got.some((d, i) => !d.equals(datagrams[i] as Buffer))) {
        t.fail(`split at ${split}, then ${step}-byte chunks: got ${got.map((d) => d.toString('hex'))}`);
        return;
      }
      if (decoder.pendingBytes !== 0) t.fail(`split ${split}/${step}: ${decoder.pendingBytes} bytes left over`);
    }
  }
  t.pass(`every split of ${wire.length} bytes decodes to the ${datagrams.length} datagrams`);
});

t.test('decode: a truncated datagram is held back, not emitted', async (t) => {
  const decoder = new DatagramDecoder();
  t.same(decoder.push(Buffer.from('000568656c', 'hex')), []);
  t.equal(decoder.pendingBytes, 5);
  t.same(
    decoder.push(Buffer.from('6c6f0001', 'hex')).map((d) => d.toString()),
    ['hello'],
  );
  t.equal(decoder.pendingBytes, 2, 'the next header is kept');
});
