// The memory janitor's policy as a trace of (open connections, bytes moved,
// time) samples, and its edge collecting once with a real timer.
import t from 'tap';
import {
  JANITOR_MIN_BYTES,
  JANITOR_MIN_CLOSED,
  JANITOR_MIN_GAP_MS,
  JANITOR_QUIET_BYTES,
  JanitorPolicy,
  startMemoryJanitor,
} from '../../src/daemon/memory-janitor.js';

const MiB = 1024 * 1024;

t.test('collects once most of the connections seen since the last collection have closed', async (t) => {
  const p = new JanitorPolicy();
  t.equal(p.sample({ open: 0, bytes: 0 }, 0), undefined, 'idle: nothing to reclaim');
  t.equal(p.sample({ open: 10_000, bytes: 0 }, 2000), undefined, '10,000 open');
  t.equal(p.sample({ open: 6000, bytes: 0 }, 4000), undefined, '4,000 closed but more than half still open');
  t.equal(p.sample({ open: 3000, bytes: 0 }, 6000), 'closed', '7,000 closed, under half left');
  t.equal(
    p.sample({ open: 0, bytes: 0 }, 8000),
    undefined,
    'the high-water mark restarted at 3,000: 3,000 more closed, but within the gap',
  );
  t.equal(p.sample({ open: 0, bytes: 0 }, 6000 + JANITOR_MIN_GAP_MS), 'closed', 'after the gap, for those 3,000');
  t.equal(p.sample({ open: 0, bytes: 0 }, 6000 + 2 * JANITOR_MIN_GAP_MS), undefined, 'nothing closed since');
});

t.test('a few connections coming and going never trigger a collection', async (t) => {
  const p = new JanitorPolicy();
  let now = 0;
  for (let i = 0; i < 50; i++) {
    now += 2000;
    t.equal(p.sample({ open: JANITOR_MIN_CLOSED - 1, bytes: 0 }, now), undefined);
    now += 2000;
    t.equal(p.sample({ open: 0, bytes: 0 }, now), undefined);
  }
});

t.test('collects when traffic goes quiet after a bulk transfer, not during it', async (t) => {
  const p = new JanitorPolicy();
  let bytes = 10 * MiB;
  t.equal(p.sample({ open: 1, bytes }, 0), undefined, 'what moved before the first sample does not count');
  for (let now = 2000; now <= 10_000; now += 2000) {
    bytes += 500 * MiB;
    t.equal(p.sample({ open: 1, bytes }, now), undefined, `${now} ms: 500 MiB in the last interval`);
  }
  bytes += JANITOR_QUIET_BYTES;
  t.equal(p.sample({ open: 1, bytes }, 12_000), 'quiet', 'the transfer ended');
  bytes += JANITOR_QUIET_BYTES;
  t.equal(p.sample({ open: 1, bytes }, 14_000 + JANITOR_MIN_GAP_MS), undefined, 'quiet again, but little moved since');
});

t.test('steady light traffic never adds up to a collection while it keeps flowing', async (t) => {
  const p = new JanitorPolicy();
  let bytes = 0;
  let now = 0;
  p.sample({ open: 3, bytes }, now);
  // 2 MiB per interval: more than quiet, for as long as JANITOR_MIN_BYTES takes and more.
  for (let i = 0; i < (2 * JANITOR_MIN_BYTES) / (2 * MiB); i++) {
    now += 2000;
    bytes += 2 * MiB;
    t.equal(p.sample({ open: 3, bytes }, now), undefined);
  }
  t.equal(p.sample({ open: 3, bytes }, now + 2000), 'quiet', 'when it stops, what it moved counts');
});

t.test('the edge samples on its timer and collects once', async (t) => {
  // Its timer is unref'd (it must not keep a daemon alive): this one keeps the test alive.
  const keepAlive = setInterval(() => {}, 1000);
  t.teardown(() => clearInterval(keepAlive));
  const samples = [5000, 5000, 0, 0, 0];
  let calls = 0;
  let collected = 0;
  const info = await new Promise<{ reason: string; open: number }>((resolve) => {
    const stop = startMemoryJanitor({
      // 5,000 open for two samples, then all closed.
      sample: () => ({ open: samples[Math.min(calls++, samples.length - 1)] as number, bytes: 0 }),
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
  t.match(info, { reason: 'closed', open: 0 }, 'at the first sample that saw them closed');
  t.equal(calls, 3);
});
