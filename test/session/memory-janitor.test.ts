// The memory janitor's policy as a trace of (open connections, time) samples,
// and its edge collecting once with a real timer.
import t from 'tap';
import {
  JANITOR_MIN_CLOSED,
  JANITOR_MIN_GAP_MS,
  JanitorPolicy,
  startMemoryJanitor,
} from '../../src/session/memory-janitor.js';

t.test('collects once most of the connections seen since the last collection have closed', async (t) => {
  const p = new JanitorPolicy();
  t.equal(p.sample(0, 0), false, 'idle: nothing to reclaim');
  t.equal(p.sample(10_000, 2000), false, '10,000 open');
  t.equal(p.sample(6000, 4000), false, '4,000 closed but more than half still open');
  t.equal(p.sample(3000, 6000), true, '7,000 closed, under half left: collect');
  t.equal(p.sample(0, 8000), false, 'the high-water mark restarted at 3,000: 3,000 more closed, but within the gap');
  t.equal(p.sample(0, 6000 + JANITOR_MIN_GAP_MS), true, 'after the gap: collect for those 3,000');
  t.equal(p.sample(0, 6000 + 2 * JANITOR_MIN_GAP_MS), false, 'nothing closed since');
});

t.test('a few connections coming and going never trigger a collection', async (t) => {
  const p = new JanitorPolicy();
  let now = 0;
  for (let i = 0; i < 50; i++) {
    now += 2000;
    t.equal(p.sample(JANITOR_MIN_CLOSED - 1, now), false);
    now += 2000;
    t.equal(p.sample(0, now), false);
  }
});

t.test('the edge samples on its timer and collects once', async (t) => {
  // Its timer is unref'd (it must not keep a daemon alive): this one keeps the test alive.
  const keepAlive = setInterval(() => {}, 1000);
  t.teardown(() => clearInterval(keepAlive));
  const samples = [5000, 5000, 0, 0, 0];
  let calls = 0;
  let collected = 0;
  const info = await new Promise<{ open: number }>((resolve) => {
    const stop = startMemoryJanitor({
      // 5,000 open for two samples, then all closed.
      openConnections: () => samples[Math.min(calls++, samples.length - 1)] as number,
      collect: () => {
        collected++;
      },
      onCollect: (i) => {
        stop();
        resolve(i);
      },
      intervalMs: 5,
    });
    t.teardown(stop);
  });
  t.equal(collected, 1);
  t.equal(info.open, 0);
  t.equal(calls, 3, 'collected at the first sample that saw them closed');
});
