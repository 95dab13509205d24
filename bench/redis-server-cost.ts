/**
 * What each request costs Redis itself: `npm run bench:redis-server -- [--url redis://…] [--requests N]`.
 *
 * On a machine whose cores Redis shares with the web server (and the load generator), Redis's CPU per
 * request is taken from the same budget as the server's. This runs the store calls of a cookie + read
 * request and of a cookie + write request, as the middlewares make them (sessionkit + RedisStore: `get`,
 * then `update` with the default size cap; express-session + connect-redis: `get` + `touch`, then
 * `get` + `set`), on the benchmarks' three-key session, and prints Redis's CPU time per request (the
 * difference of `INFO cpu`, which includes reading commands and writing replies) and its time per
 * command (`INFO commandstats`, where a script's time includes the commands it calls, which are also
 * listed on their own). Point `--url` at a Redis nobody else is using while it runs: their commands would
 * count too.
 */
import { RedisStore as ConnectRedisStore } from 'connect-redis';
import { createClient } from 'redis';
import { RedisStore } from '../src/stores/redis.js';
import { option, REDIS_URL, seedPayload, seedRecord } from './common.js';

const argv = process.argv.slice(2);
const url = option(argv, '--url', REDIS_URL);
const requests = Number(option(argv, '--requests', '20000'));
const BATCH = 32;

const client = createClient({ url });
await client.connect();
const prefix = `bench:server-cost:${process.pid}:`;
const DAY = 86_400_000;

/** Redis's microseconds per command name since `before`. */
function usec(before: string, after: string): Map<string, number> {
  const read = (info: string) =>
    new Map(
      [...info.matchAll(/^cmdstat_(\S+):calls=\d+,usec=(\d+)/gm)].map((m) => [m[1] as string, Number(m[2])]),
    );
  const start = read(before);
  const out = new Map<string, number>();
  for (const [command, total] of read(after)) {
    const spent = total - (start.get(command) ?? 0);
    if (spent > 0 && command !== 'info') out.set(command, spent);
  }
  return out;
}

/** Redis's user + system CPU seconds so far. */
function cpu(info: string): number {
  const field = (name: string) => Number(new RegExp(`^${name}:([\\d.]+)`, 'm').exec(info)?.[1] ?? Number.NaN);
  return field('used_cpu_user') + field('used_cpu_sys');
}

async function measure(label: string, request: (i: number) => Promise<unknown>): Promise<void> {
  for (let i = 0; i < 1000; i++) await request(i); // warm-up: scripts cached, hashes in their final shape
  const before = (await client.sendCommand(['INFO', 'all'])) as string;
  for (let i = 0; i < requests; i += BATCH) {
    await Promise.all(Array.from({ length: BATCH }, (_, j) => request(i + j)));
  }
  const after = (await client.sendCommand(['INFO', 'all'])) as string;
  const spent = usec(before, after);
  const total = ((cpu(after) - cpu(before)) * 1e6) / requests;
  const detail = [...spent]
    .sort((a, b) => b[1] - a[1])
    .map(([command, us]) => `${command} ${(us / requests).toFixed(2)}`)
    .join(', ');
  console.log(`| ${label} | ${total.toFixed(1)} | ${detail} |`);
}

const ids = Array.from({ length: BATCH }, (_, i) => `server-cost-session-${String(i).padStart(12, '0')}`);
const sk = new RedisStore({ client, prefix: `${prefix}sk:` });
const es = new ConnectRedisStore({ client, prefix: `${prefix}es:` });
const now = Date.now();
for (const id of ids) {
  await sk.create(id, seedRecord(now));
  await new Promise<void>((resolve, reject) =>
    es.set(
      id,
      { cookie: { originalMaxAge: DAY, expires: new Date(now + DAY) }, ...seedPayload() } as never,
      (err) => (err ? reject(err) : resolve()),
    ),
  );
}
const esCall = <T>(fn: (done: (err: unknown, value?: T) => void) => void) =>
  new Promise<T | undefined>((resolve, reject) => fn((err, value) => (err ? reject(err) : resolve(value))));

console.log(`Redis's own CPU per request (µs), ${requests} requests over ${BATCH} sessions, ${url}:`);
console.log('| Request | Redis CPU µs per request | command time (µs per request) |');
console.log('|---|---:|---|');
await measure('sessionkit + RedisStore, cookie + read', (i) => sk.get(ids[i % BATCH] as string));
await measure('express-session + connect-redis, cookie + read', async (i) => {
  const id = ids[i % BATCH] as string;
  const sess = await esCall<Record<string, unknown>>((done) => es.get(id, done as never));
  await esCall((done) => es.touch(id, sess as never, done as never));
});
await measure('sessionkit + RedisStore, cookie + write', async (i) => {
  const id = ids[i % BATCH] as string;
  const found = await sk.get(id);
  const views = Number(found?.data.views ?? 0) + 1;
  const at = Date.now();
  await sk.update(id, { set: { views }, unset: [], expiresAt: at + DAY, lastSeenAt: at, maxBytes: 1 << 20 });
});
await measure('express-session + connect-redis, cookie + write', async (i) => {
  const id = ids[i % BATCH] as string;
  const sess = (await esCall<Record<string, unknown>>((done) => es.get(id, done as never))) ?? {};
  sess.views = Number(sess.views ?? 0) + 1;
  await esCall((done) => es.set(id, sess as never, done as never));
});

await sk.clear();
for (const id of ids) await esCall((done) => es.destroy(id, done as never));
await client.close();
