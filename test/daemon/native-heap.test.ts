// The daemon's memory janitor ends with trimNativeHeap(): glibc keeps the
// pages that freed buffers leave in the middle of its heap until asked.
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import t from 'tap';
import { trimNativeHeap } from '../../src/daemon/native-heap.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;
const MiB = 2 ** 20;

t.test('after a burst of buffers is freed, the trim hands the free C heap back to the kernel', async (t) => {
  // 4,000 × 64 KiB (below glibc's mmap threshold, so they come from its heap),
  // every other one kept alive: the freed half is scattered, not at the top,
  // so glibc's own trimming on free() cannot return it.
  const kept: Buffer[] = [];
  let burst: Buffer[] | undefined = [];
  for (let i = 0; i < 4000; i++) {
    const b = Buffer.allocUnsafeSlow(64 * 1024).fill(i & 0xff);
    if (i % 2 === 0) kept.push(b);
    else burst.push(b);
  }
  burst = undefined;
  gc();
  gc();
  // V8 frees array buffers' memory while sweeping, which may finish after gc().
  await new Promise((r) => setTimeout(r, 50));
  const before = process.memoryUsage.rss();
  t.equal(trimNativeHeap(), true, 'glibc on Linux: the trim ran');
  const after = process.memoryUsage.rss();
  t.ok(
    before - after > 64 * MiB,
    `resident memory fell by ${Math.round((before - after) / MiB)} MiB (≥ 64 of the 125 freed)`,
  );
  t.equal(kept.length, 2000, 'the kept buffers are untouched');
  t.equal(kept[1999]?.[0], 3998 & 0xff);
  t.equal(trimNativeHeap(), true, 'again: nothing left to give, still fine');
});
