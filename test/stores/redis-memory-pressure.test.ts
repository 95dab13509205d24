import request from 'supertest';
import { beforeEach, describe, expect, it } from 'vitest';
import { storageKey } from '../../src/core/id.js';
import { createFromUrl } from '../../src/stores/redis.js';
import { cookieOf, idOf } from '../support/apps.js';
import {
  appOn,
  CLIENTS,
  overMemoryLimit,
  privateRedis,
  signIn,
  sleep,
  usedMemory,
  whoIs,
} from '../support/redis-pressure.js';
import { runNamespace } from '../support/services.js';

/**
 * Why: a Redis full of anonymous traffic must not take a site down or bring a session back. Under
 * `noeviction` at the memory limit, reads and logouts keep working and writes fail with a typed error,
 * changing nothing; under `volatile-lru`, a revoked user's epoch is never evicted, and a revoke still
 * ends the sessions an evicted index lost.
 */
describe('RedisStore under noeviction OOM and volatile-lru eviction', () => {
  const redis = privateRedis('sk-redis-pressure', () => ['--maxmemory-samples', '64']);
  beforeEach(async () => {
    await redis.raw.config('SET', 'maxmemory', '0');
    await redis.raw.flushall();
  });

  for (const client of CLIENTS) {
    it(`${client}: OOM gives typed errors, reads and logout keep working, a failed update changes nothing`, async () => {
      const prefix = `${runNamespace('zz1')}:`;
      const store = await createFromUrl(
        new URL(`redis://127.0.0.1:${redis.server.port}?client=${client}&timeout=1000&prefix=${prefix}`),
      );
      try {
        const app = appOn(store);
        const alice = await signIn(app, 'alice');
        const bob = await signIn(app, 'bob');
        const visitor = cookieOf(await request(app).post('/visit').send({ note: 'before' }));
        await overMemoryLimit(redis.raw);
        expect(await whoIs(app, alice)).toBe('alice');
        // Writes: a typed 500 ERR_STORE (the documented mapping of other server errors), no hang or crash.
        const write = await request(app).post('/visit').set('Cookie', visitor).send({ note: 'after' });
        expect([write.status, write.body]).toEqual([500, { code: 'ERR_STORE' }]);
        const fresh = await request(app).post('/visit').send({ note: 'new' });
        expect([fresh.status, fresh.body]).toEqual([500, { code: 'ERR_STORE' }]);
        // Logout is a DEL: allowed at OOM, and it sticks.
        expect((await request(app).post('/logout').set('Cookie', bob)).status).toBe(200);
        expect(await whoIs(app, bob)).toBeNull();
        await redis.raw.config('SET', 'maxmemory', '0');
        // The failed update left the visitor's record as it was (no half-applied script).
        const record = await store.get(idOf(visitor));
        expect(record?.data.note).toBe('before');
        expect(record?.userId).toBeNull();
        expect(await whoIs(app, alice)).toBe('alice');
        expect(await whoIs(app, bob)).toBeNull();
      } finally {
        await redis.raw.config('SET', 'maxmemory', '0');
        await store.close();
      }
    });
  }

  it('volatile-lru: the epoch of a revoked user has no TTL, and a revoke ends sessions the evicted index lost', async () => {
    await redis.raw.config('SET', 'maxmemory-policy', 'volatile-lru');
    const prefix = `${runNamespace('zz1')}:`;
    const store = await createFromUrl(
      new URL(`redis://127.0.0.1:${redis.server.port}?client=ioredis&prefix=${prefix}`),
    );
    try {
      const app = appOn(store);
      await signIn(app, 'alice');
      await store.destroyByUser('alice');
      expect(await redis.raw.pttl(`${prefix}e:{${storageKey('alice')}}`)).toBe(-1);
      const phone = await signIn(app, 'alice');
      const laptop = await signIn(app, 'alice');
      const index = `${prefix}u:{${storageKey('alice')}}`;
      await sleep(1_100);
      const now = Date.now();
      const visitor = (i: number) =>
        store.create(`visitor-${runNamespace('v')}-${i}-padpadpadpad`, {
          data: { pad: 'p'.repeat(2_000) },
          cookie: { originalMaxAge: 86_400_000 },
          expiresAt: now + 86_400_000,
          createdAt: now,
          lastSeenAt: now,
          userId: null,
        });
      for (let i = 0; i < 600; i++) await visitor(i);
      for (let i = 0; i < 8; i++) {
        await whoIs(app, phone);
        await whoIs(app, laptop);
        await sleep(250);
      }
      await redis.raw.config('SET', 'maxmemory', String(await usedMemory(redis.raw)));
      for (let round = 0; round < 100 && (await redis.raw.exists(index)) === 1; round++) {
        await whoIs(app, phone);
        await whoIs(app, laptop);
        for (let i = 0; i < 10; i++) await visitor(1_000 + round * 10 + i);
      }
      await redis.raw.config('SET', 'maxmemory', '0');
      expect(await redis.raw.exists(index)).toBe(0);
      expect(await redis.raw.exists(`${prefix}e:{${storageKey('alice')}}`)).toBe(1);
      expect(await whoIs(app, phone)).toBe('alice');
      await store.destroyByUser('alice');
      expect(await whoIs(app, phone)).toBeNull();
      expect(await whoIs(app, laptop)).toBeNull();
    } finally {
      await redis.raw.config('SET', 'maxmemory', '0');
      await redis.raw.config('SET', 'maxmemory-policy', 'noeviction');
      await store.close();
    }
  });
});
