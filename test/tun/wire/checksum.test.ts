import t from 'tap';
import {
  checksum,
  foldChecksum,
  pseudoHeaderSumV4,
  pseudoHeaderSumV6,
  sumBytes,
  updateChecksum16,
  updateChecksum32,
  verifyChecksum,
} from '../../../src/tun/wire/checksum.js';
import { hex, referenceSum, V4_TCP_SYN, V6_TCP_SYN } from './fixtures.js';

t.test('RFC 1071 §3 worked example: 00 01 f2 03 f4 f5 f6 f7 sums to ddf2', async (t) => {
  const b = hex('0001f203f4f5f6f7');
  t.equal(foldChecksum(sumBytes(b, 0, b.length)), 0xddf2);
  t.equal(checksum(b, 0, b.length), ~0xddf2 & 0xffff);
});

t.test('odd length pads with a zero byte', async (t) => {
  const b = hex('0102030405');
  t.equal(foldChecksum(sumBytes(b, 0, 5)), 0x0102 + 0x0304 + 0x0500);
});

t.test('the wide (32-bit) path agrees with a byte-pair reference at every alignment and length', async (t) => {
  const backing = new Uint8Array(4096 + 8);
  for (let i = 0; i < backing.length; i++) backing[i] = (i * 131 + 17) & 0xff;
  backing.fill(0xff, 100, 900); // long runs of ones exercise the carries
  for (let start = 0; start < 8; start++) {
    for (const len of [0, 1, 2, 3, 127, 128, 129, 130, 1000, 1001, 4096]) {
      const view = backing.subarray(start, start + len);
      t.equal(foldChecksum(sumBytes(view, 0, view.length)), referenceSum(view), `start ${start} len ${len}`);
    }
  }
});

t.test('a 64 KiB all-ones buffer folds without losing carries', async (t) => {
  const b = new Uint8Array(65536).fill(0xff);
  t.equal(foldChecksum(sumBytes(b, 0, b.length)), 0xffff);
});

t.test('captured IPv4 header checksum verifies; a flipped bit does not', async (t) => {
  const b = V4_TCP_SYN.slice(0, 20);
  t.ok(verifyChecksum(b, 0, 20));
  b[8] = (b[8] as number) ^ 1;
  t.notOk(verifyChecksum(b, 0, 20));
});

t.test('pseudo-headers: the captured SYNs verify with their pseudo-header sums', async (t) => {
  const tcp4 = V4_TCP_SYN.subarray(20);
  t.ok(
    verifyChecksum(
      tcp4,
      0,
      tcp4.length,
      pseudoHeaderSumV4(V4_TCP_SYN.subarray(12, 16), V4_TCP_SYN.subarray(16, 20), 6, tcp4.length),
    ),
  );
  const tcp6 = V6_TCP_SYN.subarray(40);
  t.ok(
    verifyChecksum(
      tcp6,
      0,
      tcp6.length,
      pseudoHeaderSumV6(V6_TCP_SYN.subarray(8, 24), V6_TCP_SYN.subarray(24, 40), 6, tcp6.length),
    ),
  );
  t.notOk(
    verifyChecksum(
      tcp6,
      0,
      tcp6.length,
      pseudoHeaderSumV6(V6_TCP_SYN.subarray(8, 24), V6_TCP_SYN.subarray(24, 40), 17, tcp6.length),
    ),
  );
});

t.test('RFC 1624 incremental update equals a full recomputation', async (t) => {
  const b = V4_TCP_SYN.slice(0, 20);
  const before = (b[10] as number) * 256 + (b[11] as number);
  // Decrement the TTL (word 4 = TTL|protocol), as a router would.
  const oldWord = (b[8] as number) * 256 + (b[9] as number);
  b[8] = (b[8] as number) - 1;
  const newWord = (b[8] as number) * 256 + (b[9] as number);
  const incremental = updateChecksum16(before, oldWord, newWord);
  b[10] = 0;
  b[11] = 0;
  t.equal(incremental, checksum(b, 0, 20));
  // Rewrite the destination address (a 32-bit field).
  const c = V4_TCP_SYN.slice(0, 20);
  const c0 = (c[10] as number) * 256 + (c[11] as number);
  const updated = updateChecksum32(c0, 0x7f000001, 0x0ac80001);
  c.set([10, 200, 0, 1], 16);
  c[10] = 0;
  c[11] = 0;
  t.equal(updated, checksum(c, 0, 20));
});
