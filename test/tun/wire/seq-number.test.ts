import t from 'tap';
import { SeqNumber } from '../../../src/tun/wire/seq-number.js';

t.test('comparisons hold across the 2^32 wrap', async (t) => {
  const near = 0xffff_fff0;
  const after = SeqNumber.add(near, 0x20);
  t.equal(after, 0x10);
  t.ok(SeqNumber.lt(near, after));
  t.ok(SeqNumber.gt(after, near));
  t.ok(SeqNumber.le(near, near));
  t.ok(SeqNumber.ge(after, after));
  t.equal(SeqNumber.sub(after, near), 0x20);
  t.equal(SeqNumber.sub(near, after), -0x20);
  t.equal(SeqNumber.max(near, after), after);
  t.equal(SeqNumber.min(near, after), near);
  t.ok(SeqNumber.inRange(0x5, near, after));
  t.notOk(SeqNumber.inRange(after, near, after));
});

t.test('add wraps and stays unsigned', async (t) => {
  t.equal(SeqNumber.add(0xffff_ffff, 1), 0);
  t.equal(SeqNumber.add(0, -1), 0xffff_ffff);
  t.equal(SeqNumber.add(1, 2 ** 31), 2 ** 31 + 1);
});
