import { execFileSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateId } from '../../src/core/id.js';
import { createFromUrl, type RedisStore } from '../../src/stores/redis.js';
import { RedisServer, removeDir, tempDir, waitFor } from '../support/redis-servers.js';
import { serviceSkipReason } from '../support/services.js';
import { record } from './conformance.js';

/**
 * A standalone redis-server of the test's own, stopped while operations are in flight and started again
 * on the same port: calls fail with ERR_STORE_UNAVAILABLE while it is down and succeed again after,
 * without an unhandled rejection or a crash. Stores here own their clients (createFromUrl defaults).
 */

const skip = await serviceSkipReason('redis-server binary', async () =>
  execFileSync('redis-server', ['--version'], { timeout: 5_000 }),
);

const TIMEOUT = 1_000;
const dir = tempDir('sk-redis-restart');
let server: RedisServer;
const unhandled: unknown[] = [];
const onUnhandled = (reason: unknown) => unhandled.push(reason);

beforeAll(async () => {
  process.on('unhandledRejection', onUnhandled);
  if (skip) return;
  server = await RedisServer.startOnFreePort(dir);
});

afterAll(async () => {
  process.off('unhandledRejection', onUnhandled);
  await server?.stop('SIGKILL');
  removeDir(dir);
});

describe.skipIf(skip)('RedisStore across a redis-server restart', () => {
  for (const client of ['redis', 'ioredis'] as const) {
    it(`${client === 'redis' ? 'node-redis' : 'ioredis'}: fails fast while down, recovers by itself`, async () => {
      const store: RedisStore = await createFromUrl(
        new URL(`redis://127.0.0.1:${server.port}?client=${client}&timeout=${TIMEOUT}`),
      );
      try {
        const id = generateId();
        expect(await store.create(id, record())).toBe(true);

        // Keep operations in flight across the stop.
        let stop = false;
        const outcomes = { ok: 0, unavailable: 0, other: [] as unknown[], slowestMs: 0 };
        const worker = async () => {
          while (!stop) {
            const started = Date.now();
            try {
              await store.update(id, {
                set: { n: started },
                unset: [],
                expiresAt: Date.now() + 60_000,
                lastSeenAt: started,
              });
              outcomes.ok++;
            } catch (error) {
              if ((error as { code?: string }).code === 'ERR_STORE_UNAVAILABLE') outcomes.unavailable++;
              else outcomes.other.push(error);
              await new Promise((resolve) => setTimeout(resolve, 20));
            }
            outcomes.slowestMs = Math.max(outcomes.slowestMs, Date.now() - started);
          }
        };
        const workers = Array.from({ length: 4 }, worker);
        await waitFor('some writes to land', async () => outcomes.ok > 10);

        await server.stop('SIGKILL');
        const downAt = Date.now();
        await expect(store.get(id)).rejects.toMatchObject({ code: 'ERR_STORE_UNAVAILABLE', status: 503 });
        await expect(store.create(generateId(), record())).rejects.toMatchObject({
          code: 'ERR_STORE_UNAVAILABLE',
        });
        expect(Date.now() - downAt).toBeLessThan(2 * TIMEOUT + 500);
        const failedWhileDown = outcomes.unavailable;

        await server.start();
        // No persistence: the server comes back empty, so recovery shows as working writes of new sessions.
        const recoveryMs = await waitFor(
          'the store to serve again',
          async () => store.create(generateId(), record()).then(() => true),
          15_000,
        );
        stop = true;
        await Promise.all(workers);
        console.log(
          `[redis restart ${client}] ${JSON.stringify({ ...outcomes, other: outcomes.other.length, failedWhileDown, recoveryMs })}`,
        );
        expect(outcomes.other).toEqual([]);
        expect(outcomes.slowestMs).toBeLessThan(TIMEOUT + 1_000);
        const fresh = generateId();
        expect(await store.create(fresh, record({ data: { back: true } }))).toBe(true);
        expect((await store.get(fresh))?.data).toEqual({ back: true });
        expect(unhandled).toEqual([]);
      } finally {
        await store.close();
      }
    }, 40_000);
  }
});
