/**
 * A `set` (whole-object upsert: express-session's write through the callback API, a migration) over an
 * ID whose expired, not yet pruned row belonged to a user revoked since (`destroyByUser`) keeps what it
 * wrote, as on the MemoryStore and Redis: the contract calls a write after the revoke "a later login: it
 * stays, and is listed". The SQL upsert once kept the expired row's revocation stamp, so the new record
 * was revoked on arrival: `set` resolved, and `get` answered null.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SessionStore } from '../../src/stores/contract.js';
import { createStore } from '../../src/stores/factory.js';
import { MemoryStore } from '../../src/stores/memory.js';
import { SQLiteStore } from '../../src/stores/sqlite.js';
import { record } from '../stores/conformance.js';
import { MYSQL_URL, mysqlExec, POSTGRES_URL, pgExec, REDIS_URL } from '../support/interleave.js';
import { runNamespace } from '../support/services.js';

describe('set over an expired row of a revoked user', () => {
  const table = runNamespace('sql_set_revoked');
  const prefix = `${runNamespace('sql_set_revoked')}:`;
  const stores: [string, SessionStore][] = [];
  beforeAll(async () => {
    stores.push(['MemoryStore', new MemoryStore()]);
    stores.push(['RedisStore', (await createStore(`${REDIS_URL}?prefix=${prefix}`)) as SessionStore]);
    stores.push(['SQLiteStore', new SQLiteStore(':memory:')]);
    stores.push([
      'PostgresStore',
      (await createStore(`${POSTGRES_URL}?table=${table}&pruneInterval=false`)) as SessionStore,
    ]);
    stores.push([
      'MySQLStore',
      (await createStore(`${MYSQL_URL}?table=${table}&pruneInterval=false`)) as SessionStore,
    ]);
  });
  afterAll(async () => {
    for (const [, store] of stores) {
      await store.clear?.();
      await store.close?.();
    }
    await pgExec(POSTGRES_URL, `DROP TABLE IF EXISTS ${table}, ${table}_epochs`);
    await mysqlExec(MYSQL_URL, `DROP TABLE IF EXISTS \`${table}\`, \`${table}_epochs\``);
  });

  it('keeps the record a set wrote after the revoke, whether or not the old row had expired', async () => {
    const found: Record<string, unknown> = {};
    await Promise.all(
      stores.map(async ([name, store]) => {
        const user = runNamespace('alice');
        const id = runNamespace('sid');
        // The user's session, already expired (not pruned yet).
        await store.set(id, record({ userId: user, expiresAt: Date.now() - 1_000 }));
        // "Log out everywhere".
        await store.destroyByUser?.(user);
        // Later, the same ID is written whole for that user (express-session's set, a migration).
        const rec = record({ userId: user, data: { written: 'after the revoke' } });
        await store.set(id, rec);
        found[name] = {
          get: (await store.get(id))?.data ?? null,
          listed: (await store.listByUser?.(user))?.length,
        };
      }),
    );
    const want = { get: { written: 'after the revoke' }, listed: 1 };
    expect(found).toEqual(Object.fromEntries(stores.map(([name]) => [name, want])));
  });
});
