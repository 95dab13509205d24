/**
 * The least a session read can cost: the work no server-side session with express-session's signed
 * cookie and hashed store keys can skip, timed alone, in-process, with sessionkit's own functions.
 *
 *   npm run bench:floor -- [--iterations N] [--rounds N] [--sessions N] [--bare µs,µs,…]
 *
 * Per request carrying a cookie: the cookie's HMAC-SHA256 is verified (`unsign`), the ID is hashed into
 * the key the store files it under (`sessionHandle`), and the stored record is copied out of the store
 * (`JSON.parse` of a MemoryStore entry holding the benchmarks' seed payload). The IDs rotate through
 * `--sessions` of them, as in the other benchmarks, so no per-ID cache helps. `--bare` takes the server
 * CPU per request of bare frameworks (from `bench:frameworks` or `bench`), and prints, for each, how
 * much a session layer may add per read to stay at 0.85× and 0.92× of it: a budget below the floor
 * cannot be met by any layer that does this work.
 */
import { randomBytes } from 'node:crypto';
import { fromDist, median, option, SECRET, seedPayload } from './common.js';

interface Internals {
  sign(value: string, secret: string): string;
  unsign(input: string, secrets: readonly string[]): { value: string } | null;
  sessionHandle(id: string): string;
}

const argv = process.argv.slice(2);
const iterations = Number(option(argv, '--iterations', '200000'));
const rounds = Number(option(argv, '--rounds', '5'));
const sessions = Number(option(argv, '--sessions', '100'));
const bare = option(argv, '--bare', '')
  .split(',')
  .filter((value) => value !== '')
  .map(Number);

const { sign, unsign, sessionHandle } = await fromDist<Internals>('internals.js');

const ids = Array.from({ length: sessions }, () => randomBytes(32).toString('base64url'));
const signed = ids.map((id) => sign(id, SECRET));
const now = Date.now();
// The MemoryStore's entry layout: deadline, creation, last-seen offset, user, shared cookie index, data.
const entries = ids.map(() => JSON.stringify([-(now + 86_400_000), now, 0, null, 0, seedPayload()]));
const secrets = [SECRET];

let sink = 0;
const steps: [string, (i: number) => void][] = [
  [
    'verify the cookie (HMAC-SHA256)',
    (i) => {
      sink += unsign(signed[i % sessions] as string, secrets)?.value.length ?? 0;
    },
  ],
  [
    'hash the ID into its store key (SHA-256)',
    (i) => {
      sink += sessionHandle(ids[i % sessions] as string).length;
    },
  ],
  [
    'copy the record out of the store (JSON.parse)',
    (i) => {
      sink += (JSON.parse(entries[i % sessions] as string) as unknown[]).length;
    },
  ],
];

function nsPerCall(step: (i: number) => void): number {
  for (let i = 0; i < iterations / 10; i++) step(i);
  const start = process.hrtime.bigint();
  for (let i = 0; i < iterations; i++) step(i);
  return Number(process.hrtime.bigint() - start) / iterations;
}

const samples = steps.map((): number[] => []);
for (let round = 0; round < rounds; round++)
  steps.forEach(([, step], at) => {
    samples[at]?.push(nsPerCall(step));
  });

const costs = samples.map((values) => median(values) / 1000);
const floor = costs.reduce((sum, cost) => sum + cost, 0);
console.log(`Node ${process.version}, ${sessions} sessions in rotation, medians of ${rounds} rounds:`);
console.log('| step of a read | µs |');
console.log('| --- | ---: |');
steps.forEach(([label], at) => {
  console.log(`| ${label} | ${(costs[at] as number).toFixed(2)} |`);
});
console.log(`| **floor** | **${floor.toFixed(2)}** |`);
if (bare.length > 0) {
  console.log('\n| bare CPU µs/req | budget at 0.85× | budget at 0.92× | floor ÷ budget at 0.85× |');
  console.log('| ---: | ---: | ---: | ---: |');
  for (const cpu of bare) {
    const at85 = cpu / 0.85 - cpu;
    const at92 = cpu / 0.92 - cpu;
    console.log(`| ${cpu} | ${at85.toFixed(2)} | ${at92.toFixed(2)} | ${(floor / at85).toFixed(2)} |`);
  }
}
if (sink === 0) console.log('(nothing computed)');
