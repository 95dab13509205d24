/**
 * Why: a Redis that reaches its `maxmemory` refuses writes that would grow it (under `noeviction`), and
 * anonymous traffic alone can bring it there. A user then depends on three things: a login Redis refuses
 * does not sign them out of their other devices (the per-user limit evicts only for a login that is
 * stored, C31); "log out everywhere" still ends every session, which is what an operator runs after an
 * account compromise; and an operator whose Redis runs an eviction policy that can drop the keys the
 * store cannot lose hears about it once, at start. Also: a store `timeout` longer than a Node timer holds
 * is refused at construction, since such a timer fires at once and every call would fail unanswered.
 */
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { generateId, storageKey } from '../../src/core/id.js';
import type { SessionRecord } from '../../src/core/types.js';
import { createFromUrl, RedisStore } from '../../src/stores/redis.js';
import { CLIENTS, overMemoryLimit, privateRedis, usedMemory } from '../support/redis-pressure.js';
import { runNamespace } from '../support/services.js';

const DAY = 86_400_000;

function bound(userId: string, createdAt: number, data: Record<string, unknown> = {}): SessionRecord {
  const now = Date.now();
  return {
    data,
    cookie: { originalMaxAge: DAY },
    expiresAt: now + DAY,
    createdAt,
    lastSeenAt: now,
    userId,
  };
}

const evictOldest = (max: number) => ({ max, onLimit: 'evict-oldest' as const });

describe('RedisStore at the memory limit (noeviction)', () => {
  const redis = privateRedis('sk-oom');
  beforeEach(async () => {
    await redis.raw.config('SET', 'maxmemory', '0');
    await redis.raw.flushall();
  });

  async function storeFor(client: (typeof CLIENTS)[number]): Promise<RedisStore> {
    const prefix = `${runNamespace('sk_oom')}:`;
    return createFromUrl(
      new URL(`redis://127.0.0.1:${redis.server.port}?client=${client}&timeout=1000&prefix=${prefix}`),
    );
  }

  /** Two sessions of `user` under a limit of two, the phone's the older. */
  async function phoneAndLaptop(store: RedisStore, user: string) {
    const phone = generateId();
    const laptop = generateId();
    const now = Date.now();
    expect((await store.createWithinLimit(phone, bound(user, now - 1), evictOldest(2))).result).toBe(
      'created',
    );
    expect((await store.createWithinLimit(laptop, bound(user, now), evictOldest(2))).result).toBe('created');
    return { phone, laptop };
  }

  async function signedIn(store: RedisStore, ids: string[]): Promise<Array<string | null>> {
    return Promise.all(ids.map(async (id) => (await store.get(id))?.userId ?? null));
  }

  for (const client of CLIENTS) {
    it(`${client}: a login Redis refuses evicts none of the user's sessions`, async () => {
      const store = await storeFor(client);
      try {
        const { phone, laptop } = await phoneAndLaptop(store, 'alice');
        await overMemoryLimit(redis.raw);
        for (let attempt = 0; attempt < 2; attempt++) {
          await expect(
            store.createWithinLimit(generateId(), bound('alice', Date.now()), evictOldest(2)),
          ).rejects.toMatchObject({ code: 'ERR_STORE' });
        }
        expect(await signedIn(store, [phone, laptop])).toEqual(['alice', 'alice']);
        await redis.raw.config('SET', 'maxmemory', '0');
        expect((await store.listByUser('alice')).map((s) => s.handle).sort()).toEqual(
          [storageKey(phone), storageKey(laptop)].sort(),
        );
      } finally {
        await redis.raw.config('SET', 'maxmemory', '0');
        await store.close();
      }
    });

    it(`${client}: a login whose session write Redis refuses after the limit ran gives the evicted session back`, async () => {
      const store = await storeFor(client);
      try {
        const { phone, laptop } = await phoneAndLaptop(store, 'bob');
        // Room for the limit's few marks, not for the new session's data: its write is refused.
        await redis.raw.config('SET', 'maxmemory-policy', 'noeviction');
        await redis.raw.config('SET', 'maxmemory', String((await usedMemory(redis.raw)) + 256 * 1024));
        const big = { blob: 'x'.repeat(4 * 1024 * 1024) };
        await expect(
          store.createWithinLimit(generateId(), bound('bob', Date.now(), big), evictOldest(2)),
        ).rejects.toMatchObject({ code: 'ERR_STORE' });
        expect(await signedIn(store, [phone, laptop])).toEqual(['bob', 'bob']);
        await redis.raw.config('SET', 'maxmemory', '0');
        expect((await store.listByUser('bob')).map((s) => s.handle).sort()).toEqual(
          [storageKey(phone), storageKey(laptop)].sort(),
        );
        // The limit still holds for the next login Redis does store.
        const tablet = generateId();
        expect(await store.createWithinLimit(tablet, bound('bob', Date.now()), evictOldest(2))).toEqual({
          result: 'created',
          evicted: [storageKey(phone)],
        });
        expect(await signedIn(store, [phone, laptop, tablet])).toEqual([null, 'bob', 'bob']);
      } finally {
        await redis.raw.config('SET', 'maxmemory', '0');
        await store.close();
      }
    });

    it(`${client}: destroyByUser ends every session of the user, as a logout of each one does`, async () => {
      const store = await storeFor(client);
      try {
        const { phone, laptop } = await phoneAndLaptop(store, 'carol');
        await overMemoryLimit(redis.raw);
        expect(await store.destroyByUser('carol')).toBe(2);
        expect(await signedIn(store, [phone, laptop])).toEqual([null, null]);
        await redis.raw.config('SET', 'maxmemory', '0');
        expect(await signedIn(store, [phone, laptop])).toEqual([null, null]);
      } finally {
        await redis.raw.config('SET', 'maxmemory', '0');
        await store.close();
      }
    });
  }
});

describe('RedisStore: the eviction policy is checked once, at the first call', () => {
  const redis = privateRedis('sk-policy');
  afterEach(() => {
    vi.restoreAllMocks();
  });

  /** What process.emitWarning got with sessionkit's code while `steps` ran a store on the server. */
  async function warningsWith(client: (typeof CLIENTS)[number], policy: string): Promise<string[]> {
    await redis.raw.config('SET', 'maxmemory-policy', policy);
    const warned: string[] = [];
    vi.spyOn(process, 'emitWarning').mockImplementation((warning, options) => {
      const code = typeof options === 'object' && options !== null ? options.code : undefined;
      if (code === 'SESSIONKIT') warned.push(String(warning));
    });
    const prefix = `${runNamespace('sk_policy')}:`;
    const store = await createFromUrl(
      new URL(`redis://127.0.0.1:${redis.server.port}?client=${client}&timeout=1000&prefix=${prefix}`),
    );
    try {
      const id = generateId();
      await store.create(id, bound('dave', Date.now()));
      // Replies come back in order on the one connection: the check's has come by these.
      for (let i = 0; i < 3; i++) await store.get(id);
      return warned;
    } finally {
      await store.clear();
      await store.close();
    }
  }

  for (const client of CLIENTS) {
    it(`${client}: a volatile-* policy, which evicts the user's index and marks (they carry a TTL), is warned about once`, async () => {
      const warned = await warningsWith(client, 'volatile-lru');
      expect(warned).toHaveLength(1);
      expect(warned[0]).toMatch(/maxmemory-policy is volatile-lru.*use noeviction/);
    });

    it(`${client}: noeviction is not warned about`, async () => {
      expect(await warningsWith(client, 'noeviction')).toEqual([]);
    });
  }
});

describe('RedisStore timeout', () => {
  const client = new Redis({ lazyConnect: true });
  afterAll(() => client.disconnect());

  it('refuses a timeout longer than a Node timer holds (2^31-1 ms), naming the option', () => {
    expect(() => new RedisStore({ client, timeout: 2 ** 31 })).toThrow(
      expect.objectContaining({ code: 'ERR_INVALID_OPTION', option: 'timeout' }),
    );
    expect(new RedisStore({ client, timeout: 2 ** 31 - 1 }).timeout).toBe(2 ** 31 - 1);
  });
});
