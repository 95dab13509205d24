/**
 * Why: "log out everywhere" and the device list name a user by ID, and an administrator's tool or an API
 * may pass any text there. A user ID the table cannot hold is no user a session can have: the SQL stores
 * refuse it in `listByUser` and `destroyByUser` with ERR_INVALID_USER, as `login()` is refused, before
 * anything is written. Without that, MySQL with strict mode off cuts an ID past 255 characters short and
 * the revoke logs out the user whose ID is its first 255 characters; strict MySQL and PostgreSQL (a NUL)
 * fail in the driver with a 500 ERR_STORE.
 */
import mysql from 'mysql2/promise';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { generateId } from '../../src/core/id.js';
import { MySQLStore } from '../../src/stores/mysql.js';
import { PostgresStore } from '../../src/stores/postgres.js';
import { SQLiteStore } from '../../src/stores/sqlite.js';
import { mysqlConnection, runNamespace, serviceSkipReason } from '../support/services.js';
import { record } from './conformance.js';

const MYSQL_URL = process.env.MYSQL_URL ?? 'mysql://root@127.0.0.1:3306/test';
const POSTGRES_URL = process.env.POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const connection = mysqlConnection(MYSQL_URL);
const admin = mysql.createPool({ ...connection, connectTimeout: 3_000, connectionLimit: 2 });
const mysqlSkip = await serviceSkipReason('MySQL/MariaDB', () => admin.query('SELECT 1'));
const pgAdmin = new pg.Pool({ connectionString: POSTGRES_URL, max: 1 });
const pgSkip = await serviceSkipReason('PostgreSQL', () => pgAdmin.query('SELECT 1'));
const mysqlTables: string[] = [];
const pgTable = runNamespace('skuidlook');

afterAll(async () => {
  for (const table of mysqlTables) await admin.query(`DROP TABLE IF EXISTS ${table}, ${table}_epochs`);
  await admin.end();
  if (!pgSkip) await pgAdmin.query(`DROP TABLE IF EXISTS ${pgTable}, ${pgTable}_epochs`);
  await pgAdmin.end();
});

const outcome = (promise: Promise<unknown>) =>
  promise.then(
    (value) => `ok ${JSON.stringify(value)}`,
    (error: { code?: string }) => String(error.code),
  );

describe.skipIf(mysqlSkip)('MySQLStore: a user ID over 255 characters', () => {
  it('with strict mode off, revoking "u"×255 + "x" is refused and leaves user "u"×255 logged in', async () => {
    const table = runNamespace('skuidlook');
    mysqlTables.push(table);
    const pool = mysql.createPool({ ...connection, connectionLimit: 2 });
    pool.pool.on('connection', (conn) => {
      conn.query("SET SESSION sql_mode = ''");
    });
    const store = new MySQLStore(pool, { table, pruneInterval: false });
    try {
      const alice = 'u'.repeat(255);
      const id = generateId();
      expect(await store.create(id, record({ userId: alice }))).toBe(true);
      expect(await outcome(store.destroyByUser(`${alice}x`))).toBe('ERR_INVALID_USER');
      expect(await outcome(store.listByUser(`${alice}x`))).toBe('ERR_INVALID_USER');
      expect((await store.get(id))?.userId).toBe(alice);
      expect(await store.listByUser(alice)).toHaveLength(1);
    } finally {
      await store.close();
      await pool.end();
    }
  });

  it('in strict mode (the store’s own pool): ERR_INVALID_USER, not ERR_STORE', async () => {
    const table = runNamespace('skuidlook');
    mysqlTables.push(table);
    const store = new MySQLStore(MYSQL_URL, { table, pruneInterval: false });
    try {
      expect(await outcome(store.destroyByUser('u'.repeat(256)))).toBe('ERR_INVALID_USER');
      expect(await outcome(store.listByUser('u'.repeat(256)))).toBe('ERR_INVALID_USER');
    } finally {
      await store.close();
    }
  });
});

describe.skipIf(pgSkip)('PostgresStore: a user ID holding NUL', () => {
  it('destroyByUser and listByUser answer ERR_INVALID_USER, not ERR_STORE', async () => {
    const store = new PostgresStore(POSTGRES_URL, { table: pgTable, pruneInterval: false });
    try {
      expect(await outcome(store.destroyByUser('a\u0000b'))).toBe('ERR_INVALID_USER');
      expect(await outcome(store.listByUser('a\u0000b'))).toBe('ERR_INVALID_USER');
    } finally {
      await store.close();
    }
  });
});

describe('SQLiteStore: a user ID over 1020 bytes of UTF-8', () => {
  it('destroyByUser and listByUser answer ERR_INVALID_USER, as create does', async () => {
    const store = new SQLiteStore(':memory:', { pruneInterval: false });
    try {
      const long = 'é'.repeat(511);
      expect(await outcome(store.create(generateId(), record({ userId: long })))).toBe('ERR_INVALID_USER');
      expect(await outcome(store.destroyByUser(long))).toBe('ERR_INVALID_USER');
      expect(await outcome(store.listByUser(long))).toBe('ERR_INVALID_USER');
      expect(await store.destroyByUser('é'.repeat(510))).toBe(0);
    } finally {
      await store.close();
    }
  });
});
