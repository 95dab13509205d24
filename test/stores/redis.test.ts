import { RedisStore as ConnectRedisStore } from 'connect-redis';
import express from 'express';
import expressSession from 'express-session';
import { Redis } from 'ioredis';
import { createClient } from 'redis';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { generateId, storageKey } from '../../src/core/id.js';
import { createFromUrl, RedisStore } from '../../src/stores/redis.js';
import { TcpProxy } from '../../src/testing/proxy.js';
import { redisSkipReason } from '../support/redis.js';
import { runNamespace } from '../support/services.js';
import { record, runStoreConformance } from './conformance.js';
import { runExpressSessionCompat } from './express-session-compat.js';

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const target = new URL(REDIS_URL);
const host = target.hostname || '127.0.0.1';
const port = Number(target.port || 6379);

const skip = await redisSkipReason(REDIS_URL);

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
  // The other app server talks through the other client.
  createPeer: async () =>
    new RedisStore({
      client: await ioredisReady(ioredisClient(REDIS_URL)),
      closeClient: true,
      prefix: nodePrefix,
    }),
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
  createPeer: async () =>
    new RedisStore({ client: await nodeRedisClient(REDIS_URL), closeClient: true, prefix: ioPrefix }),
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

  it('writes, updates and replaces a session with more keys than one Lua call can carry', async () => {
    const id = generateId();
    const keys = (tag: string, n: number) => Array.from({ length: n }, (_, i) => `${tag}${i}`);
    const first = Object.fromEntries(keys('k', 5000).map((k, i) => [k, i]));
    await store.create(id, record({ userId: 'wide-user', data: first }));
    expect(Object.keys((await store.get(id))?.data ?? {})).toHaveLength(5000);

    const set = Object.fromEntries(keys('n', 5000).map((k, i) => [k, -i]));
    const unset = keys('k', 4999);
    const expiresAt = Date.now() + 60_000;
    expect(await store.update(id, { set, unset, expiresAt, lastSeenAt: Date.now() })).toBe(true);
    const after = await store.get(id);
    expect(Object.keys(after?.data ?? {})).toHaveLength(5001);
    expect(after?.data).toMatchObject({ k4999: 4999, n1: -1, n4999: -4999 });
    expect(after?.userId).toBe('wide-user');
    expect(after?.expiresAt).toBe(expiresAt);

    const replace = { set: { only: true }, unset: [], replace: true, expiresAt, lastSeenAt: Date.now() };
    expect(await store.update(id, replace)).toBe(true);
    expect((await store.get(id))?.data).toEqual({ only: true });
    expect((await store.listByUser('wide-user')).map((s) => s.handle)).toEqual([storageKey(id)]);
  });

  describe('the size cap on updates', () => {
    const cap = 1_000_000;
    const text = (char: string, bytes: number) => char.repeat(bytes);
    const write = (id: string, set: Record<string, unknown>) =>
      store.update(id, {
        set,
        unset: [],
        expiresAt: Date.now() + 60_000,
        lastSeenAt: Date.now(),
        maxBytes: cap,
      });

    it('never refuses a write that fits, however often a key was rewritten', async () => {
      const id = generateId();
      await store.create(id, record({ data: { a: text('x', 300_000) } }));
      for (let i = 0; i < 8; i++) await expect(write(id, { a: text('x', 300_000) })).resolves.toBe(true);
      await expect(write(id, { b: text('y', 600_000) })).resolves.toBe(true);
      await expect(write(id, { c: text('z', 200_000) })).rejects.toMatchObject({
        code: 'ERR_SESSION_TOO_LARGE',
      });
    });

    it('counts data an older sessionkit wrote without keeping the size bound', async () => {
      const id = generateId();
      await store.create(id, record({ data: { a: text('x', 300_000) } }));
      // What an update by a version that keeps no bound leaves: a new data field, a moved `_ls`.
      const key = `${prefix}s:{${storageKey(id)}}`;
      await (raw as Redis).hset(
        key,
        'd:b',
        JSON.stringify(text('y', 300_000)),
        '_ls',
        String(Date.now() + 1),
      );
      await expect(write(id, { c: text('z', 450_000) })).rejects.toMatchObject({
        code: 'ERR_SESSION_TOO_LARGE',
      });
      expect(Object.keys((await store.get(id))?.data ?? {}).sort()).toEqual(['a', 'b']);
    });

    it('counts data a reseal lengthened', async () => {
      const id = generateId();
      await store.create(id, record({ data: { a: text('x', 300_000) } }));
      const swap = { key: 'a', from: text('x', 300_000), to: text('y', 500_000) };
      expect(await store.resealByHandle(storageKey(id), [swap])).toBe(1);
      await expect(write(id, { c: text('z', 550_000) })).rejects.toMatchObject({
        code: 'ERR_SESSION_TOO_LARGE',
      });
      await expect(write(id, { c: text('z', 450_000) })).resolves.toBe(true);
    });
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

describe.skipIf(skip)("RedisStore and node-redis's per-command timer", () => {
  const prefix = `${runNamespace('sk_timer')}:`;

  async function until(condition: () => boolean, what: string) {
    for (let waited = 0; !condition(); waited += 10) {
      if (waited > 5_000) throw new Error(`timed out waiting for ${what}`);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }

  it("sends without the client's timer while connected: the store's own timeout bounds each call", async () => {
    const client = createClient({ url: REDIS_URL });
    client.on('error', () => undefined);
    await client.connect();
    const store = new RedisStore({ client, closeClient: true, prefix });
    const timers = vi.spyOn(AbortSignal, 'timeout');
    try {
      const id = generateId();
      expect(await store.create(id, record({ data: { views: 1 } }))).toBe(true);
      const now = Date.now();
      expect(
        await store.update(id, { set: { views: 2 }, unset: [], expiresAt: now + 60_000, lastSeenAt: now }),
      ).toBe(true);
      expect((await store.get(id))?.data).toEqual({ views: 2 });
      await store.destroy(id);
      expect(timers).not.toHaveBeenCalled();
    } finally {
      timers.mockRestore();
      await store.close();
    }
  });

  /** A node-redis client with a 300 ms command timeout, reaching Redis through a proxy the test controls. */
  async function clientBehindProxy() {
    const proxy = new TcpProxy(host, port);
    const via = await proxy.start();
    // The offline queue is on (node-redis's default): commands sent while disconnected wait in it.
    const client = createClient({
      url: `redis://127.0.0.1:${via}`,
      commandOptions: { timeout: 300 },
      socket: { reconnectStrategy: () => 50 },
    });
    client.on('error', () => undefined);
    await client.connect();
    return { proxy, client };
  }

  it("takes a client's shorter command timeout as its own, unless given one", async () => {
    const { proxy, client } = await clientBehindProxy();
    const store = new RedisStore({ client, prefix });
    try {
      expect(store.timeout).toBe(300);
      expect(new RedisStore({ client, prefix, timeout: 1_000 }).timeout).toBe(1_000);
      proxy.stall();
      const started = Date.now();
      await expect(store.get(generateId())).rejects.toMatchObject({
        code: 'ERR_STORE_UNAVAILABLE',
        timeoutMs: 300,
      });
      // Room for a loaded machine, still short of the store's default timeout (5 s).
      expect(Date.now() - started).toBeLessThan(3_000);
    } finally {
      client.destroy();
      await proxy.stop();
    }
  });

  it('an update that timed out while the client was reconnecting is not applied when it is back', async () => {
    const { proxy, client } = await clientBehindProxy();
    const store = new RedisStore({ client, prefix });
    const id = generateId();
    try {
      expect(await store.create(id, record({ data: { views: 1 } }))).toBe(true);
      // Stopped, not cut: reconnects are refused at connect, so nothing flushes the offline queue.
      await proxy.stop();
      await until(() => !client.isReady, 'the client to notice');
      const now = Date.now();
      const late = { set: { views: 2 }, unset: [], expiresAt: now + 60_000, lastSeenAt: now };
      await expect(store.update(id, late)).rejects.toMatchObject({ code: 'ERR_STORE_UNAVAILABLE' });
      await new Promise((resolve) => setTimeout(resolve, 400)); // past the client's own timer too
      await proxy.start();
      await until(() => client.isReady, 'the client to reconnect');
      await new Promise((resolve) => setTimeout(resolve, 100));
      expect((await store.get(id))?.data).toEqual({ views: 1 });
    } finally {
      await store.destroy(id).catch(() => undefined);
      client.destroy();
      await proxy.stop();
    }
  });
});

describe.skipIf(skip)('RedisStore round trips', () => {
  const prefix = `${runNamespace('sk_rt')}:`;

  /** Counts the commands a store sends by wrapping the client's own send method: a count, not a timing. */
  async function counted(kind: 'node-redis' | 'ioredis') {
    const sent: string[][] = [];
    if (kind === 'node-redis') {
      const client = await nodeRedisClient(REDIS_URL);
      const original = client.sendCommand.bind(client);
      Object.defineProperty(client, 'sendCommand', {
        value: (args: string[], ...rest: unknown[]) => {
          sent.push([...args]);
          return (original as (...a: unknown[]) => Promise<unknown>)(args, ...rest);
        },
      });
      return { store: new RedisStore({ client, closeClient: true, prefix }), sent };
    }
    const client = await ioredisReady(ioredisClient(REDIS_URL));
    const original = client.call.bind(client) as (...a: string[]) => Promise<unknown>;
    Object.defineProperty(client, 'call', {
      value: (...args: string[]) => {
        sent.push(args);
        return original(...args);
      },
    });
    return { store: new RedisStore({ client, closeClient: true, prefix }), sent };
  }

  for (const kind of ['node-redis', 'ioredis'] as const) {
    it(`${kind}: get, update and touch are one command each; a login-time update a few`, async () => {
      const { store, sent } = await counted(kind);
      try {
        const id = generateId();
        await store.create(id, record());
        // Warm up: the first EVALSHA on a fresh server may meet NOSCRIPT and fall back to EVAL.
        await store.update(id, {
          set: { warm: 1 },
          unset: [],
          expiresAt: Date.now() + 60_000,
          lastSeenAt: 1,
        });

        sent.length = 0;
        await store.get(id);
        expect(sent.map((c) => c[0])).toEqual(['HGETALL']);

        sent.length = 0;
        await store.update(id, {
          set: { a: 1, b: [2] },
          unset: ['warm'],
          expiresAt: Date.now() + 60_000,
          lastSeenAt: 2,
        });
        expect(sent.map((c) => c[0])).toEqual(['EVALSHA']);

        sent.length = 0;
        await store.touch(id, Date.now() + 90_000, 3);
        expect(sent.map((c) => c[0])).toEqual(['EVALSHA']);

        // Binding a user raises the user's index first (its own slot), then writes the session.
        sent.length = 0;
        await store.update(id, {
          set: {},
          unset: [],
          expiresAt: Date.now() + 90_000,
          lastSeenAt: 4,
          userId: 'rt-user',
        });
        expect(sent.map((c) => c[0])).toEqual(['EVALSHA', 'EVALSHA', 'EVALSHA']);

        // Loading a session bound to a user also reads the user's revocation epoch (in the user's slot).
        sent.length = 0;
        expect((await store.get(id))?.userId).toBe('rt-user');
        expect(sent.map((c) => c[0])).toEqual(['HGETALL', 'HMGET']);

        // The common authenticated request after that: one command again.
        sent.length = 0;
        await store.update(id, { set: { c: 3 }, unset: [], expiresAt: Date.now() + 90_000, lastSeenAt: 5 });
        expect(sent.map((c) => c[0])).toEqual(['EVALSHA']);
        await store.destroy(id);
      } finally {
        await store.clear();
        await store.close();
      }
    });
  }
});

describe.skipIf(skip)('connect-redis migration (legacy: connect-redis)', () => {
  const prefix = `${runNamespace('sk_legacy')}:`;
  const legacyPrefix = `${runNamespace('sess')}:`;
  type NodeRedis = Awaited<ReturnType<typeof nodeRedisClient>>;
  let client: NodeRedis;
  let old: InstanceType<typeof ConnectRedisStore>;
  let store: RedisStore;

  beforeAll(async () => {
    client = await nodeRedisClient(REDIS_URL);
    old = new ConnectRedisStore({ client, prefix: legacyPrefix });
    store = new RedisStore({ client, prefix, legacy: 'connect-redis', legacyPrefix });
  });
  afterAll(async () => {
    await store.clear();
    await client.close();
  });

  /** Writes a session exactly as an express-session app on connect-redis 9 would. */
  async function legacySession(data: Record<string, unknown>, maxAge = 60_000) {
    const sid = generateId().slice(0, 32);
    const expires = new Date(Date.now() + maxAge);
    const sess = { cookie: { originalMaxAge: maxAge, expires, httpOnly: true, path: '/' }, ...data };
    await old.set(sid, sess as unknown as Parameters<typeof old.set>[1]);
    return { sid, expires };
  }

  it('reads a connect-redis record, and moves it to the native layout on the next write', async () => {
    const { sid, expires } = await legacySession({ views: 3, user: { name: 'ada' } });
    const got = await store.get(sid);
    expect(got?.data).toEqual({ views: 3, user: { name: 'ada' } });
    expect(got?.expiresAt).toBe(expires.getTime());
    expect(got?.cookie).toMatchObject({ originalMaxAge: 60_000, httpOnly: true, path: '/' });

    expect(
      await store.update(sid, {
        set: { views: 4 },
        unset: [],
        expiresAt: Date.now() + 60_000,
        lastSeenAt: 1,
      }),
    ).toBe(true);
    expect(await client.exists(`${legacyPrefix}${sid}`)).toBe(0);
    expect(await client.type(`${prefix}s:{${storageKey(sid)}}`)).toBe('hash');
    expect((await store.get(sid))?.data).toEqual({ views: 4, user: { name: 'ada' } });
  });

  it('touch and set migrate too; destroy removes the legacy record', async () => {
    const touched = await legacySession({ t: 1 });
    expect(await store.touch(touched.sid, Date.now() + 120_000, 1)).toBe(true);
    expect(await client.exists(`${legacyPrefix}${touched.sid}`)).toBe(0);
    expect((await store.get(touched.sid))?.data).toEqual({ t: 1 });

    const replaced = await legacySession({ s: 1 });
    await store.set(replaced.sid, record({ data: { s: 2 } }));
    expect(await client.exists(`${legacyPrefix}${replaced.sid}`)).toBe(0);
    expect((await store.get(replaced.sid))?.data).toEqual({ s: 2 });

    const destroyed = await legacySession({ d: 1 });
    await store.destroy(destroyed.sid);
    expect(await client.exists(`${legacyPrefix}${destroyed.sid}`)).toBe(0);
    expect(await store.get(destroyed.sid)).toBeNull();
    expect(
      await store.update(destroyed.sid, {
        set: { late: 1 },
        unset: [],
        expiresAt: Date.now() + 1000,
        lastSeenAt: 1,
      }),
    ).toBe(false);
  });

  it('a migrating update racing a destroy never brings the session back', async () => {
    for (let round = 0; round < 20; round++) {
      const { sid } = await legacySession({ r: round });
      await Promise.all([
        store.update(sid, { set: { late: round }, unset: [], expiresAt: Date.now() + 60_000, lastSeenAt: 1 }),
        store.destroy(sid),
      ]);
      expect(await store.get(sid)).toBeNull();
    }
  });

  it("a session connect-redis's touch kept alive past its cookie's expiry stays logged in", async () => {
    // connect-redis's touch moves the key's TTL only: the payload keeps the expiry it was first saved with.
    const sid = generateId().slice(0, 32);
    const stale = new Date(Date.now() - 5_000);
    const sess = {
      cookie: { originalMaxAge: 3_000, expires: stale, httpOnly: true, path: '/' },
      user: 'ada',
    };
    await client.set(`${legacyPrefix}${sid}`, JSON.stringify(sess), { PX: 60_000 });
    const got = await store.get(sid);
    expect(got?.data).toEqual({ user: 'ada' });
    expect(got?.expiresAt).toBeGreaterThan(Date.now() + 50_000);
    expect(await store.touch(sid, Date.now() + 60_000, Date.now())).toBe(true);
    expect((await store.get(sid))?.data).toEqual({ user: 'ada' });
  });

  it('concurrent first writes of one legacy session keep every key', async () => {
    const { sid } = await legacySession({ base: true });
    await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        store.update(sid, {
          set: { [`k${i}`]: i },
          unset: [],
          expiresAt: Date.now() + 60_000,
          lastSeenAt: 1,
        }),
      ),
    );
    const data = (await store.get(sid))?.data ?? {};
    expect(data.base).toBe(true);
    for (let i = 0; i < 10; i++) expect(data[`k${i}`]).toBe(i);
  });

  it('an express-session app switched from connect-redis keeps its logged-in users', async () => {
    const makeApp = (sessionStore: expressSession.Store) => {
      const app = express();
      app.use(
        expressSession({ secret: 'switch', resave: false, saveUninitialized: false, store: sessionStore }),
      );
      app.get('/', (req, res) => {
        const s = req.session as unknown as { views?: number };
        s.views = (s.views ?? 0) + 1;
        res.send(`views: ${s.views}`);
      });
      return app;
    };
    const before = makeApp(old as unknown as expressSession.Store);
    const first = await request(before).get('/').expect(200, 'views: 1');
    const cookie = first.headers['set-cookie'] as unknown as string[];
    await request(before).get('/').set('Cookie', cookie).expect(200, 'views: 2');
    const after = makeApp(store as unknown as expressSession.Store);
    await request(after).get('/').set('Cookie', cookie).expect(200, 'views: 3');
    await request(after).get('/').set('Cookie', cookie).expect(200, 'views: 4');
  });
});

describe.skipIf(skip)('RedisStore per-user limit (C31): an evicted session stays dead', () => {
  it('even when the delete of its hash is lost: not loaded, not listed, and no write brings it back into the index', async () => {
    const prefix = `${runNamespace('sk_limit')}:`;
    const store = new RedisStore({
      client: await ioredisReady(ioredisClient(REDIS_URL)),
      closeClient: true,
      prefix,
    });
    const client = raw as Redis;
    try {
      const user = `limit-${generateId().slice(0, 8)}`;
      const one = { max: 1, onLimit: 'evict-oldest' } as const;
      const old = generateId();
      const key = `${prefix}s:{${storageKey(old)}}`;
      await store.createWithinLimit(old, record({ userId: user, createdAt: Date.now() - 1_000 }), one);
      const hash = await client.hgetall(key);
      const next = generateId();
      expect(await store.createWithinLimit(next, record({ userId: user }), one)).toEqual({
        result: 'created',
        evicted: [storageKey(old)],
      });
      // The delete after the script is lost: the hash is back, as a slow or failed DEL would leave it.
      const restore = async () => {
        await client.hset(key, hash);
        await client.pexpire(key, 60_000);
      };
      await restore();
      expect(await store.get(old)).toBeNull();
      await restore();
      expect((await store.listByUser(user)).map((s) => s.handle)).toEqual([storageKey(next)]);
      await restore();
      // A touch past the index score needs the index raised: refused for an evicted handle.
      expect(await store.touch(old, Date.now() + 3_600_000, Date.now())).toBe(false);
      const index = `${prefix}u:{${storageKey(user)}}`;
      expect(await client.zscore(index, storageKey(old))).toBeNull();
      expect(await store.get(old)).toBeNull();
    } finally {
      await store.clear();
      await store.close();
    }
  });
});
