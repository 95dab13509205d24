import { describe, expect, it } from 'vitest';
import { MemoryStore, SessionError } from '../../src/index.js';
import { RedisStore } from '../../src/stores/redis.js';
import { SQLiteStore } from '../../src/stores/sqlite.js';

/**
 * Why: the README promises that every error is a SessionError with a stable code, and that an invalid
 * option fails at the store's constructor with `ERR_INVALID_OPTION` naming it. Start-up code matches on
 * `err.code`, and a store option read from the environment (`Number(process.env.TTL)` unset is NaN) must
 * fail there, not as `ERR_INVALID_RECORD` on every later express-session write of a browser-session
 * cookie, nor by making such records expired on arrival.
 */
function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  return undefined;
}

function expectOptionError(fn: () => unknown, option: string): void {
  const error = thrown(fn);
  expect(error).toBeInstanceOf(SessionError);
  expect(error).toMatchObject({ code: 'ERR_INVALID_OPTION', option });
}

describe('stores refuse bad options at their constructor, as session() does', () => {
  it('MemoryStore: a max that is not a positive integer', () => {
    for (const max of [0, -1, 2.5, Number.NaN, '10'])
      expectOptionError(() => new MemoryStore({ max: max as number }), 'max');
  });

  it('RedisStore: a client that is neither node-redis nor ioredis, as a missing one', () => {
    expectOptionError(() => new RedisStore({} as never), 'client');
    expectOptionError(() => new RedisStore({ client: {} as never }), 'client');
    expectOptionError(() => new RedisStore({ client: 'redis://localhost' as never }), 'client');
  });

  it('every store: a ttl that is not a positive number of milliseconds', () => {
    for (const ttl of [Number.NaN, -1, 0, Number.POSITIVE_INFINITY]) {
      expectOptionError(() => new MemoryStore({ ttl, sweepInterval: 0 }), 'ttl');
      expectOptionError(() => new SQLiteStore(':memory:', { ttl }), 'ttl');
    }
  });
});
