/**
 * An application that talks to its store in express-session's words (admin pages, "log out everywhere"
 * loops, scripts), on sessionkit's stores, beside express-session's MemoryStore and connect-redis: the
 * callback is optional (session/memory.js, connect-redis), `all` exists, and a touch keeps the
 * millisecond it was given.
 */
import { RedisStore as ConnectRedisStore } from 'connect-redis';
import expressSession from 'express-session';
import { createClient } from 'redis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MemoryStore } from '../../src/index.js';
import { RedisStore } from '../../src/stores/redis.js';
import { deletePrefixed, redisSkipReason } from '../support/redis.js';
import { runNamespace } from '../support/services.js';

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
type Callback = (err?: unknown, value?: unknown) => void;
interface CallbackStore {
  get(sid: string, callback: Callback): void;
  set(sid: string, session: unknown, callback?: Callback): unknown;
  touch(sid: string, session: unknown, callback?: Callback): unknown;
  all(callback: Callback): void;
  destroy(sid: string, callback?: Callback): unknown;
}

function call<T>(run: (callback: Callback) => void): Promise<T> {
  return new Promise((resolve, reject) => run((err, value) => (err ? reject(err) : resolve(value as T))));
}

/** Resolves once every store call made so far has had time to land (a few round trips to Redis). */
const settle = () => new Promise((resolve) => setTimeout(resolve, 50));

const redisSkip = await redisSkipReason(REDIS_URL);

describe.skipIf(redisSkip)("a store spoken to in express-session's words, without callbacks too", () => {
  const prefix = `${runNamespace('es-calls')}:`;
  let client: ReturnType<typeof createClient>;
  const stores: Array<[string, () => CallbackStore, boolean]> = [];

  beforeAll(async () => {
    client = createClient({ url: REDIS_URL });
    await client.connect();
    stores.push(
      ["express-session's MemoryStore", () => new expressSession.MemoryStore() as never, true],
      ['connect-redis', () => new ConnectRedisStore({ client, prefix: `${prefix}cr:` }) as never, true],
      ["sessionkit's MemoryStore", () => new MemoryStore() as never, false],
      ["sessionkit's RedisStore", () => new RedisStore({ client, prefix: `${prefix}sk:` }) as never, false],
    );
  });

  afterAll(async () => {
    await deletePrefixed(client, prefix);
    await client?.quit();
  });

  it('set(sid, session) and touch(sid, session) without a callback store, never reject unheard', async () => {
    const unhandled: unknown[] = [];
    const listener = (reason: unknown) => unhandled.push(reason);
    process.on('unhandledRejection', listener);
    try {
      for (const [name, make] of stores) {
        const store = make();
        const expires = new Date(Date.now() + 120_000);
        store.set('plain-set', { cookie: { originalMaxAge: 120_000, expires: expires.toISOString() }, x: 1 });
        await settle();
        const stored = await call<Record<string, unknown>>((cb) => store.get('plain-set', cb));
        expect(stored, name).toMatchObject({ x: 1 });
        // A touch the application makes itself, with the session it read.
        const later = new Date(Date.now() + 240_123);
        const session = { ...stored, cookie: { ...(stored.cookie as object), expires: later } };
        store.touch('plain-set', session);
        await settle();
        expect(await call((cb) => store.get('plain-set', cb)), name).toMatchObject({ x: 1 });
        // A session without its cookie cannot be stored: the failure goes nowhere, and nothing crashes.
        store.set('no-cookie', { cookie: null, x: 2 });
        await settle();
      }
    } finally {
      process.off('unhandledRejection', listener);
    }
    expect(unhandled).toEqual([]);
  });

  it('a touch keeps the millisecond of the Date it was given', async () => {
    for (const [name, make, anchor] of stores) {
      if (anchor) continue;
      const store = make() as CallbackStore & MemoryStore;
      await call((cb) => store.set('ms', { cookie: { originalMaxAge: 60_000 }, x: 1 }, cb));
      const expires = new Date(Math.floor(Date.now() / 1000) * 1000 + 90_789);
      await call((cb) => store.touch('ms', { cookie: { originalMaxAge: 60_000, expires }, x: 1 }, cb));
      const record = await (
        store as unknown as { get(id: string): Promise<{ expiresAt: number } | null> }
      ).get('ms');
      expect(record?.expiresAt, name).toBe(expires.getTime());
    }
  });

  it('all(callback) answers on every store, keyed as each store keys its sessions, with each expiry', async () => {
    for (const [name, make, anchor] of stores) {
      const store = make();
      // As express-session saves it: a cookie with a maxAge carries its expiry.
      const expires = new Date(Date.now() + 60_000);
      await call((cb) => store.set('listed', { cookie: { originalMaxAge: 60_000, expires }, y: 1 }, cb));
      const all = await call<Record<string, Record<string, unknown>> | unknown[]>((cb) => store.all(cb));
      const sessions = (Array.isArray(all) ? all : Object.values(all)) as Record<string, unknown>[];
      const listed = sessions.find((s) => s.y === 1);
      expect(listed, name).toBeDefined();
      // An admin page shows when each session ends.
      const listedExpires = (listed?.cookie as { expires?: unknown } | undefined)?.expires;
      expect(typeof listedExpires, name).toBe('string');
      expect(Math.abs(Date.parse(String(listedExpires)) - expires.getTime()), name).toBeLessThan(1000);
      if (!anchor) expect(Object.keys(all), name).not.toContain('listed');
    }
  });
});
