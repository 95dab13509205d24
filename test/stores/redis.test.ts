import { Redis } from 'ioredis';
import { createClient } from 'redis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateId, storageKey } from '../../src/core/id.js';
import { createFromUrl, RedisStore } from '../../src/stores/redis.js';
import { runNamespace, serviceSkipReason } from '../support/services.js';
import { record, runStoreConformance } from './conformance.js';
import { runExpressSessionCompat } from './express-session-compat.js';

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const target = new URL(REDIS_URL);
const host = target.hostname || '127.0.0.1';
const port = Number(target.port || 6379);

const skip = await serviceSkipReason(`Redis at ${REDIS_URL}`, async () => {
  const probe = new Redis(REDIS_URL, {
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  });
  probe.on('error', () => undefined);
  try {
    await probe.connect();
    await probe.ping();
  } finally {
    probe.disconnect();
  }
});

/** A node-redis client configured as the docs tell users to: fail fast, reconnect in the background. */
async function nodeRedisClient(url: string, timeoutMs = 2_000) {
  const client = createClient({
    url,
    disableOfflineQueue: true,
    commandOptions: { timeout: timeoutMs },
    socket: { connectTimeout: timeoutMs, reconnectStrategy: (n: number) => Math.min(50 * 2 ** n, 500) },
  });
  client.on('error', () => undefined);
  await client.connect();
  return client;
}

function ioredisClient(url: string, timeoutMs = 2_000) {
  const client = new Redis(url, {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    commandTimeout: timeoutMs,
    connectTimeout: timeoutMs,
    retryStrategy: (n: number) => Math.min(50 * 2 ** n, 500),
  });
  client.on('error', () => undefined);
  return client;
}

async function ioredisReady(client: Redis) {
  if (client.status !== 'ready') await new Promise((resolve) => client.once('ready', resolve));
  return client;
}

/** Writes garbage over the record, as a bug or an operator with redis-cli would. */
async function corruptWith(raw: Redis, prefix: string, id: string, how: 'field' | 'string') {
  const key = `${prefix}s:{${storageKey(id)}}`;
  if (how === 'field') await raw.hset(key, 'd:views', '{"trunc');
  else await raw.set(key, 'garbage');
}

const raw = skip ? null : ioredisClient(REDIS_URL);
afterAll(async () => {
  raw?.disconnect();
});

const nodePrefix = `${runNamespace('sk_node')}:`;
runStoreConformance({
  name: 'RedisStore (node-redis)',
  skip,
  create: async () =>
    new RedisStore({ client: await nodeRedisClient(REDIS_URL), closeClient: true, prefix: nodePrefix }),
  corrupt: (_store, id) => corruptWith(raw as Redis, nodePrefix, id, 'field'),
  network: {
    host,
    port,
    async createVia(viaHost, viaPort, timeoutMs) {
      const client = await nodeRedisClient(`redis://${viaHost}:${viaPort}`, timeoutMs);
      return new RedisStore({ client, closeClient: true, prefix: nodePrefix, timeout: timeoutMs });
    },
  },
});

const ioPrefix = `${runNamespace('sk_io')}:`;
runStoreConformance({
  name: 'RedisStore (ioredis)',
  skip,
  create: async () =>
    new RedisStore({
      client: await ioredisReady(ioredisClient(REDIS_URL)),
      closeClient: true,
      prefix: ioPrefix,
    }),
  corrupt: (_store, id) => corruptWith(raw as Redis, ioPrefix, id, 'string'),
  network: {
    host,
    port,
    async createVia(viaHost, viaPort, timeoutMs) {
      const client = await ioredisReady(ioredisClient(`redis://${viaHost}:${viaPort}`, timeoutMs));
      return new RedisStore({ client, closeClient: true, prefix: ioPrefix, timeout: timeoutMs });
    },
  },
});

const compatPrefix = `${runNamespace('sk_compat')}:`;
runExpressSessionCompat('RedisStore', async () => {
  if (skip) throw new Error(skip);
  const url = new URL(REDIS_URL);
  url.searchParams.set('prefix', compatPrefix);
  return createFromUrl(url);
});

describe.skipIf(skip)('RedisStore specifics', () => {
  const prefix = `${runNamespace('sk_spec')}:`;
  let store: RedisStore;
  beforeAll(async () => {
    const url = new URL(REDIS_URL);
    url.searchParams.set('prefix', prefix);
    store = await createFromUrl(url);
  });
  afterAll(async () => {
    await store?.clear();
    await store?.close();
  });

  it('keeps the documented layout: a hash per session under a hash tag, a TTL from expiresAt', async () => {
    const id = generateId();
    const rec = record({ userId: 'layout-user', data: { a: 1, b: 'two' } });
    await store.create(id, rec);
    const key = `${prefix}s:{${storageKey(id)}}`;
    const r = raw as Redis;
    expect(await r.type(key)).toBe('hash');
    const hash = await r.hgetall(key);
    expect(hash).toMatchObject({ 'd:a': '1', 'd:b': '"two"', _e: String(rec.expiresAt), _u: 'layout-user' });
    const pttl = await r.pttl(key);
    expect(pttl).toBeGreaterThan(55_000);
    expect(pttl).toBeLessThanOrEqual(60_000);
    const index = `${prefix}u:{${storageKey('layout-user')}}`;
    expect(await r.zrange(index, '0', '-1')).toEqual([storageKey(id)]);
    expect(Number(await r.zscore(index, storageKey(id)))).toBeGreaterThanOrEqual(rec.expiresAt);
    expect(await r.pttl(index)).toBeGreaterThanOrEqual(pttl);
  });

  it('keeps an authenticated session in its user index as touches push its deadline out', async () => {
    const id = generateId();
    const user = `roll-${generateId().slice(0, 6)}`;
    await store.create(id, record({ userId: user, expiresAt: Date.now() + 1_000 }));
    const index = `${prefix}u:{${storageKey(user)}}`;
    for (let i = 1; i <= 5; i++) {
      const expiresAt = Date.now() + 1_000 * 2 ** i;
      expect(await store.touch(id, expiresAt, Date.now())).toBe(true);
      expect(Number(await (raw as Redis).zscore(index, storageKey(id)))).toBeGreaterThanOrEqual(expiresAt);
    }
    expect((await store.listByUser(user)).map((s) => s.handle)).toEqual([storageKey(id)]);
  });

  it('rejects a prefix that would change the hash slot, at construction', () => {
    expect(() => new RedisStore({ client: raw as Redis, prefix: 'a{b}:' })).toThrow(
      expect.objectContaining({ code: 'ERR_INVALID_OPTION' }),
    );
  });

  it('does not quit a client it was given', async () => {
    const client = await ioredisReady(ioredisClient(REDIS_URL));
    const borrowed = new RedisStore({ client, prefix });
    await borrowed.close();
    expect(await client.ping()).toBe('PONG');
    client.disconnect();
  });

  it('reports a key holding the wrong type as corrupt, and destroy still removes it', async () => {
    const id = generateId();
    await corruptWith(raw as Redis, prefix, id, 'string');
    const reports: unknown[] = [];
    store.on('corrupt', (error) => reports.push(error));
    expect(await store.get(id)).toBeNull();
    expect(
      await store.update(id, { set: { a: 1 }, unset: [], expiresAt: Date.now() + 1000, lastSeenAt: 0 }),
    ).toBe(false);
    await store.destroy(id);
    expect(await (raw as Redis).exists(`${prefix}s:{${storageKey(id)}}`)).toBe(0);
    expect(reports).toHaveLength(1);
    store.removeAllListeners('corrupt');
  });
});
