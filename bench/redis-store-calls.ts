/**
 * RedisStore's client-side CPU per store call: `npm run bench:redis-calls -- [--url redis://…]`.
 *
 * Runs the two calls of a cookie + write request (`get`, then `update` of one key under the default size
 * cap), 32 at a time as a busy server makes them, on the benchmarks' three-key session, and prints this
 * process's CPU time per call (median of five rounds): what the store, the node-redis client and their
 * promises cost the web server for each call, without the HTTP and middleware work around it.
 */
import { createClient } from 'redis';
import { RedisStore } from '../src/stores/redis.js';
import { median, option, REDIS_URL, seedRecord } from './common.js';

const argv = process.argv.slice(2);
const url = option(argv, '--url', REDIS_URL);
const batches = Number(option(argv, '--batches', '600'));
const DAY = 86_400_000;

const client = createClient({ url });
await client.connect();
const store = new RedisStore({ client, prefix: `bench:calls:${process.pid}:` });
const ids = Array.from({ length: 32 }, (_, i) => `store-calls-session-${String(i).padStart(12, '0')}`);
const now = Date.now();
for (const id of ids) {
  await store.create(id, seedRecord(now));
}

async function cpuPerCall(kind: 'get' | 'update', count: number): Promise<number> {
  const start = process.cpuUsage();
  for (let b = 0; b < count; b++) {
    await Promise.all(
      ids.map((id, j) => {
        if (kind === 'get') return store.get(id);
        const at = Date.now();
        return store.update(id, {
          set: { views: b + j },
          unset: [],
          expiresAt: at + DAY,
          lastSeenAt: at,
          maxBytes: 1 << 20,
        });
      }),
    );
  }
  const used = process.cpuUsage(start);
  return (used.user + used.system) / (count * ids.length);
}

await cpuPerCall('get', batches / 2); // warm-up
await cpuPerCall('update', batches / 2);
const gets: number[] = [];
const updates: number[] = [];
for (let round = 0; round < 5; round++) {
  gets.push(await cpuPerCall('get', batches));
  updates.push(await cpuPerCall('update', batches));
}
console.log(
  `RedisStore client CPU per call (µs), 32 concurrent: get ${median(gets).toFixed(2)}, update ${median(updates).toFixed(2)}`,
);
await store.clear();
await client.close();
