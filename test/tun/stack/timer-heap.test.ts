import t from 'tap';
import { TimerHeap } from '../../../src/tun/stack/timer-heap.js';

t.test('min-heap with reschedule and removal keeps the earliest on top', async (t) => {
  const heap = new TimerHeap<{ deadline: number; heapIndex: number; name: string }>();
  const items = Array.from({ length: 200 }, (_, i) => ({ deadline: (i * 7919) % 1000, heapIndex: -1, name: `t${i}` }));
  for (const it of items) heap.update(it);
  t.equal(heap.size, 200);
  t.equal(heap.nextDeadline, 0);
  // Reschedule half of them later, remove a quarter, cancel some with Infinity.
  for (let i = 0; i < 100; i++) {
    (items[i] as (typeof items)[number]).deadline += 5000;
    heap.update(items[i] as (typeof items)[number]);
  }
  for (let i = 100; i < 150; i++) heap.remove(items[i] as (typeof items)[number]);
  for (let i = 150; i < 160; i++) {
    (items[i] as (typeof items)[number]).deadline = Number.POSITIVE_INFINITY;
    heap.update(items[i] as (typeof items)[number]);
  }
  t.equal(heap.size, 140);
  const order: number[] = [];
  for (let top = heap.peek(); top !== undefined; top = heap.peek()) {
    order.push(top.deadline);
    heap.remove(top);
  }
  t.same(
    order,
    [...order].sort((a, b) => a - b),
    'popped in deadline order',
  );
  t.equal(heap.nextDeadline, Number.POSITIVE_INFINITY);
  t.ok(items.every((it) => it.heapIndex === -1));
});
