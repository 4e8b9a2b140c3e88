// Registers ts-hooks.mjs so `node --import ./scripts/ts-loader.mjs file.ts` runs
// TypeScript directly (tests, benchmarks, test/cluster). Production code runs
// from dist/, compiled by tsc.
import { register } from 'node:module';

register('./ts-hooks.mjs', import.meta.url);
