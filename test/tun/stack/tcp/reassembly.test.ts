import t from 'tap';
import { Reassembly } from '../../../../src/tun/stack/tcp/reassembly.js';

const text = (s: string) => Buffer.from(s);
const drain = (r: Reassembly, from: number) => {
  let nxt = from;
  let out = '';
  for (let p = r.takeContiguous(nxt); p !== null; p = r.takeContiguous(nxt)) {
    out += Buffer.from(p).toString();
    nxt += p.length;
  }
  return { out, nxt };
};

t.test('pieces are kept sorted and handed back once the hole fills', async (t) => {
  const budget = { used: 0, limit: 1000 };
  const r = new Reassembly(budget, 8);
  t.ok(r.insert(110, text('klm')));
  t.ok(r.insert(105, text('fgh')));
  t.equal(r.takeContiguous(100), null, 'hole at 100..105');
  t.equal(budget.used, 6);
  t.same(drain(r, 105), { out: 'fgh', nxt: 108 }, 'second hole at 108..110');
  t.ok(r.insert(108, text('ij')));
  t.same(drain(r, 108), { out: 'ijklm', nxt: 113 });
  t.equal(budget.used, 0);
});

t.test('overlaps keep what is held and add only new bytes', async (t) => {
  const r = new Reassembly({ used: 0, limit: 1000 }, 8);
  r.insert(10, text('cdef'));
  r.insert(8, text('abcdefgh')); // covers the held piece on both sides
  t.equal(r.bytes, 8);
  r.insert(9, text('bc')); // entirely held already
  t.equal(r.bytes, 8);
  t.same(drain(r, 8), { out: 'abcdefgh', nxt: 16 });
});

t.test('a piece starting before RCV.NXT is trimmed on the way out', async (t) => {
  const r = new Reassembly({ used: 0, limit: 1000 }, 8);
  r.insert(5, text('0123456789'));
  t.same(drain(r, 8), { out: '3456789', nxt: 15 });
});

t.test('works across the 2^32 wrap', async (t) => {
  const r = new Reassembly({ used: 0, limit: 1000 }, 8);
  r.insert(2, text('cd'));
  r.insert(0xffff_fffe, text('xyab'));
  t.same(drain(r, 0xffff_fffe), { out: 'xyabcd', nxt: 0xffff_fffe + 6 });
});

t.test('limits: segment count per connection and the shared byte budget', async (t) => {
  const budget = { used: 0, limit: 10 };
  const r = new Reassembly(budget, 2);
  t.ok(r.insert(10, text('a')));
  t.ok(r.insert(20, text('b')));
  t.notOk(r.insert(30, text('c')), 'third segment refused');
  const other = new Reassembly(budget, 8);
  t.notOk(other.insert(10, text('0123456789')), 'budget exhausted across connections');
  r.clear();
  t.equal(budget.used, 0, 'clear returns the budget');
  t.ok(other.insert(10, text('0123456789')));
});
