/**
 * Lost updates, side by side: N concurrent requests each change a different key of one session.
 * sessionkit on every store that can run here versus express-session with its MemoryStore, same run.
 *
 * Two schedules: "aligned" (every request loads the session before any saves: the worst case, forced
 * with a barrier) and "jittered" (each handler works a random 0–20 ms, seeded: requests overlap partly).
 *
 *   npm run bench:lost-updates            (N=20 concurrent, 10 rounds)
 *   LOST_N=50 LOST_ROUNDS=20 LOST_JITTER_MS=50 npm run bench:lost-updates
 */
import { storeTargets } from '../test/support/interleave.js';
import {
  expressSessionMiddleware,
  formatTable,
  type LostUpdateResult,
  measureLostUpdates,
  sessionkitMiddleware,
} from '../test/support/lost-updates.js';

const concurrency = Number(process.env.LOST_N ?? 20);
const rounds = Number(process.env.LOST_ROUNDS ?? 10);
const jitterMs = Number(process.env.LOST_JITTER_MS ?? 20);

const targets = await storeTargets('sklu');
const skipped = targets.filter((t) => t.skip).map((t) => `${t.name}: ${t.skip}`);

for (const schedule of ['aligned', 'jittered'] as const) {
  const options = { concurrency, rounds, ...(schedule === 'jittered' ? { jitterMs } : {}) };
  const results: LostUpdateResult[] = [];
  results.push(
    await measureLostUpdates('express-session 1.x + MemoryStore', expressSessionMiddleware(), options),
  );
  for (const target of targets) {
    if (target.skip) continue;
    const store = await target.open();
    try {
      results.push(
        await measureLostUpdates(`sessionkit + ${target.name}`, sessionkitMiddleware(store), options),
      );
    } finally {
      await target.dispose(store);
    }
  }
  const how =
    schedule === 'aligned'
      ? `all ${concurrency} load the session before any saves`
      : `each handler works a random 0–${jitterMs} ms, seeded`;
  console.log(
    `\nLost updates, ${schedule}: ${concurrency} concurrent requests per round, each setting its own key`,
  );
  console.log(`of one session (${how}), ${rounds} rounds, node ${process.version}\n`);
  console.log(formatTable(results));
}
if (skipped.length > 0) console.log(`\nnot run: ${skipped.join('; ')}`);
