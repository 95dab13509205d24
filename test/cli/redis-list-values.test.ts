/**
 * `sessionkit list` on Redis with a huge `--limit` or a forged `--cursor`: a huge limit is a page of at
 * most 10,000, as on the SQL stores, and a cursor no page gave is a usage error (exit 1), never a store
 * failure (exit 6, which an operator reads as "Redis failed"). The library's `RedisStore.list()` gives
 * the same answers.
 */
import { createClient } from 'redis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateId } from '../../src/core/id.js';
import { type AnyStore, createStore } from '../../src/stores/factory.js';
import { serviceSkipReason } from '../support/services.js';
import { runCli as run } from './harness.js';

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const prefix = `skcli_${process.pid}_${Date.now()}:`;
const url = `${REDIS_URL}${REDIS_URL.includes('?') ? '&' : '?'}prefix=${encodeURIComponent(prefix)}`;

// In CI an unreachable Redis fails the file (serviceSkipReason); elsewhere it skips with a warning.
const skip = await serviceSkipReason('Redis', async () => {
  const probe = createClient({ url: REDIS_URL, socket: { reconnectStrategy: false, connectTimeout: 1000 } });
  probe.on('error', () => undefined);
  await probe.connect();
  await probe.ping();
  await probe.quit();
});
const up = skip === false;

let store: AnyStore | undefined;
beforeAll(async () => {
  if (!up) return;
  const opened = await createStore(url);
  store = opened;
  const now = Date.now();
  for (let i = 0; i < 5; i++)
    await store.create(generateId(), {
      data: { i },
      cookie: { originalMaxAge: 3_600_000 },
      userId: 'u1',
      createdAt: now,
      lastSeenAt: now,
      expiresAt: now + 3_600_000,
    });
});
afterAll(async () => {
  await store?.clear?.();
  await store?.close?.();
});

describe.skipIf(!up)('Redis list with out-of-range values', () => {
  it.each([['1e20'], ['9223372036854775807']])(
    '--limit %s lists (as on SQL/memory) or is a usage error, never "store failed" (exit 6)',
    async (limit) => {
      const result = await run(['list', '--json', '--store', url, '--limit', limit]);
      expect(result.stdout).not.toContain('ERR_STORE"');
      expect([0, 1]).toContain(result.code);
    },
  );

  it('--cursor 0:18446744073709551616 (not a cursor any page gave) is a usage error (exit 1)', async () => {
    const result = await run(['list', '--json', '--store', url, '--cursor', '0:18446744073709551616']);
    expect(result.code).toBe(1);
    expect(JSON.parse(result.stdout)).toMatchObject({ error: { code: 'ERR_USAGE' } });
  });
});
