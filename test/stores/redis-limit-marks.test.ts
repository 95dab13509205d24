/**
 * Why: under `maxSessionsPerUser` with 'evict-oldest', every eviction leaves a mark in the user's epoch
 * hash until the evicted session's deadline, so that no request of it still in flight brings it back. A
 * client that signs in over and over (a script, a bot with the user's password) piles up thousands of
 * them. Redis runs one command at a time for every user of the application: a login must never read all
 * of its user's marks, and marks that no longer matter must go, or each login of that user blocks every
 * other request for longer and longer.
 */
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { storageKey } from '../../src/core/id.js';
import type { SessionRecord } from '../../src/core/types.js';
import { createFromUrl, type RedisStore } from '../../src/stores/redis.js';
import { RedisServer, removeDir, tempDir } from '../support/redis-servers.js';
import { runNamespace } from '../support/services.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('RedisStore per-user limit: the marks a login reads and keeps stay bounded', () => {
  const dir = tempDir('sk-marks');
  let server: RedisServer;
  let raw: Redis;
  let store: RedisStore;
  const prefix = `${runNamespace('sk_marks')}:`;
  beforeAll(async () => {
    server = await RedisServer.startOnFreePort(dir);
    raw = new Redis({ port: server.port, host: '127.0.0.1' });
    store = await createFromUrl(
      new URL(`redis://127.0.0.1:${server.port}?client=ioredis&timeout=1000&prefix=${prefix}`),
    );
  });
  afterAll(async () => {
    await store?.close();
    raw?.disconnect();
    await server?.stop();
    removeDir(dir);
  });

  const epochKey = (user: string) => `${prefix}e:{${storageKey(user)}}`;
  let logins = 0;
  /** One login of `user` under a limit of one session, living `lifetime` ms: it evicts the previous one. */
  function login(user: string, lifetime: number) {
    const now = Date.now();
    logins++;
    const record: SessionRecord = {
      data: {},
      cookie: { originalMaxAge: lifetime },
      expiresAt: now + lifetime,
      createdAt: now + logins,
      lastSeenAt: now,
      userId: user,
    };
    return store.createWithinLimit(`login-${logins}-${'x'.repeat(32)}`, record, {
      max: 1,
      onLimit: 'evict-oldest',
    });
  }

  async function loginsOf(user: string, count: number, lifetime: number): Promise<void> {
    for (let i = 0; i < count; i += 25) {
      await Promise.all(Array.from({ length: Math.min(25, count - i) }, () => login(user, lifetime)));
    }
  }

  it('a login after 2,500 evictions reads no more of the epoch hash than a bounded batch of fields', async () => {
    await loginsOf('steady', 2_500, 86_400_000);
    // Every eviction is still within its deadline: the marks all matter.
    expect(await raw.hlen(epochKey('steady'))).toBeGreaterThan(2_000);

    const monitor = await raw.monitor();
    const seen: string[][] = [];
    monitor.on('monitor', (_time: string, args: string[]) => {
      if (args[1] === epochKey('steady')) seen.push(args);
    });
    try {
      expect((await login('steady', 86_400_000)).evicted).toHaveLength(1);
      await raw.ping(); // MONITOR lines come before the reply to a later command
    } finally {
      monitor.disconnect();
    }
    const names = seen.map((args) => (args[0] as string).toUpperCase());
    expect(names.length).toBeGreaterThan(0);
    expect(names.filter((name) => ['HGETALL', 'HKEYS', 'HVALS'].includes(name))).toEqual([]);
    for (const args of seen.filter((a) => (a[0] as string).toUpperCase() === 'HSCAN')) {
      expect(Number(args[args.indexOf('COUNT') + 1])).toBeLessThanOrEqual(100);
    }
  }, 60_000);

  it('marks past their deadline are pruned by the logins that follow', async () => {
    // 400 evictions whose marks last about a second (the deadline padded by the lifetime left).
    await loginsOf('bursty', 400, 500);
    expect(await raw.hlen(epochKey('bursty'))).toBeGreaterThan(300);
    // Past those deadlines and the logins' grace (twice the store's timeout).
    await sleep(2_500);
    for (let i = 0; i < 20; i++) await login('bursty', 500);
    // What is left: the last logins' own marks, and the fields of the prune's cursor and the like.
    expect(await raw.hlen(epochKey('bursty'))).toBeLessThan(60);
  }, 60_000);
});
