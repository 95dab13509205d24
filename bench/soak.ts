/**
 * Soak: mixed traffic (60 % reads, 35 % writes, 5 % logouts, new sessions as slots empty) over 10,000
 * sessions for 60 s per store, memory (capped at 5,000, below the session count, to exercise eviction)
 * and SQLite. Prints RSS, heap and event-loop delay for the first window and the end.
 *
 *   npm run soak                       (60 s per store)
 *   SOAK_SECONDS=20 npm run soak
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MemoryStore } from '../src/stores/memory.js';
import { SQLiteStore } from '../src/stores/sqlite.js';
import { type SoakResult, soak } from '../test/support/soak.js';

const seconds = Number(process.env.SOAK_SECONDS ?? 60);
const sessions = Number(process.env.SOAK_SESSIONS ?? 10_000);
const concurrency = Number(process.env.SOAK_CONCURRENCY ?? 32);
const memoryCap = Number(process.env.SOAK_MEMORY_MAX ?? 5_000);

const rows: [string, SoakResult][] = [];
{
  const store = new MemoryStore({ max: memoryCap });
  rows.push([`memory (max ${memoryCap})`, await soak(store, { seconds, sessions, concurrency })]);
  await store.close();
}
{
  const dir = mkdtempSync(join(tmpdir(), 'sk-soak-'));
  const store = new SQLiteStore(join(dir, 'soak.db'));
  rows.push(['sqlite (file, WAL)', await soak(store, { seconds, sessions, concurrency })]);
  await store.close();
  rmSync(dir, { recursive: true, force: true });
}

console.log(
  `\nSoak: ${seconds} s per store, ${sessions} sessions, ${concurrency} concurrent clients, node ${process.version}`,
);
console.log('(load generator in the same process: event-loop delay is an upper bound for the app alone)\n');
console.log(
  '| store | requests | req/s | statuses | stored at end | RSS start → end | heap start → end | loop delay p50/p99/max start | end |',
);
console.log('|---|---|---|---|---|---|---|---|---|');
for (const [name, r] of rows) {
  const d = (w: SoakResult['start']) => `${w.delayP50Ms}/${w.delayP99Ms}/${w.delayMaxMs} ms`;
  console.log(
    `| ${name} | ${r.requests} | ${Math.round(r.requests / r.seconds)} | ${Object.entries(r.statuses)
      .map(([s, n]) => `${n}× ${s}`)
      .join(
        ', ',
      )} | ${r.storeLength} | ${r.start.rssMiB} → ${r.end.rssMiB} MiB | ${r.start.heapMiB} → ${r.end.heapMiB} MiB | ${d(r.start)} | ${d(r.end)} |`,
  );
}
