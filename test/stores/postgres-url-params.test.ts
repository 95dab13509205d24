/**
 * Why: a PostgreSQL store URL may carry connection parameters pg applies itself
 * (`?statement_timeout=5000`, `lock_timeout`, …). An application keeps its SESSION_STORE_URL across
 * upgrades: the store must open with it, and pg must still apply what it asks for.
 */
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { createStore } from '../../src/index.js';
import type { PostgresStore } from '../../src/stores/postgres.js';
import { readParams, storeDefinition } from '../../src/stores/registry.js';
import { runNamespace, serviceSkipReason } from '../support/services.js';

const POSTGRES_URL = process.env.POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const admin = new pg.Pool({ connectionString: POSTGRES_URL, connectionTimeoutMillis: 3_000, max: 1 });
const skip = await serviceSkipReason('PostgreSQL', () => admin.query('SELECT 1'));
const table = runNamespace('skpgp');

afterAll(async () => {
  if (!skip) await admin.query(`DROP TABLE IF EXISTS "${table}", "${table}_epochs"`);
  await admin.end();
});

/** What pg 8 takes from a connection string and applies (pg/lib/connection-parameters.js). */
const APPLIED = [
  'statement_timeout',
  'query_timeout',
  'lock_timeout',
  'idle_in_transaction_session_timeout',
  'sslnegotiation',
];

describe('PostgreSQL URL parameters pg applies', () => {
  it('are accepted, and handed to pg', () => {
    const POSTGRES = storeDefinition('PostgresStore');
    for (const name of APPLIED) {
      const url = new URL(`${POSTGRES_URL}?table=t&${name}=1234`);
      expect(() => readParams(url, POSTGRES), name).not.toThrow();
    }
  });

  it('a name pg does not read is still refused', () => {
    expect(() => readParams(new URL(`${POSTGRES_URL}?statement_timout=1234`))).toThrow(
      expect.objectContaining({ code: 'ERR_STORE_URL' }),
    );
  });

  it.skipIf(skip)('the store opens with them, and pg applies them to its connections', async () => {
    const store = (await createStore(
      `${POSTGRES_URL}?table=${table}&statement_timeout=1234&lock_timeout=777&idle_in_transaction_session_timeout=8888`,
    )) as unknown as PostgresStore;
    try {
      expect(await store.get('x'.repeat(32))).toBeNull();
      const { rows } = await store.pool.query(
        "SELECT current_setting('statement_timeout') AS st, current_setting('lock_timeout') AS lt, current_setting('idle_in_transaction_session_timeout') AS it",
      );
      expect(rows[0]).toEqual({ st: '1234ms', lt: '777ms', it: '8888ms' });
    } finally {
      await store.close();
    }
  });
});
