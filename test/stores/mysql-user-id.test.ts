import mysql from 'mysql2/promise';
import { afterAll, describe, expect, it } from 'vitest';
import { generateId, storageKey } from '../../src/core/id.js';
import { MySQLStore } from '../../src/stores/mysql.js';
import { release010TableSql } from '../support/release-0.1.0.js';
import { mysqlConnection, runNamespace, serviceSkipReason } from '../support/services.js';
import { record } from './conformance.js';

/**
 * MySQL/MariaDB user IDs: PAD SPACE collations pad trailing spaces (`'alice' = 'alice '`, even
 * `utf8mb4_bin`), and with strict mode off an over-long value is silently truncated. The store keeps
 * `user_id` in a binary NO PAD collation (bytes on servers without one), refuses what it cannot hold, and
 * moves a table an earlier version created.
 */

const MYSQL_URL = process.env.MYSQL_URL ?? 'mysql://root@127.0.0.1:3306/test';
const connection = mysqlConnection(MYSQL_URL);
const admin = mysql.createPool({ ...connection, connectTimeout: 3_000, connectionLimit: 2 });
const skip = await serviceSkipReason('MySQL/MariaDB', () => admin.query('SELECT 1'));
const tables: string[] = [];

afterAll(async () => {
  if (!skip && tables.length > 0) await admin.query(`DROP TABLE IF EXISTS ${tables.join(', ')}`);
  await admin.end();
});

/** The table as sessionkit 0.1.0 created it. */
async function createOldTable(table: string): Promise<void> {
  tables.push(table);
  for (const statement of release010TableSql('mysql', table)) await admin.query(statement);
}

describe.skipIf(skip)('MySQLStore user IDs', () => {
  it("moves an earlier version's table to byte-exact user IDs, keeping the rows: 'alice' is not 'alice '", async () => {
    const table = runNamespace('skold');
    await createOldTable(table);
    const alice = generateId();
    const padded = generateId();
    const now = Date.now();
    for (const [id, user] of [
      [alice, 'alice'],
      [padded, 'alice '],
    ] as const) {
      await admin.query(
        `INSERT INTO ${table} VALUES (?, '{"mine":true}', '{"originalMaxAge":null}', ?, ?, ?, ?)`,
        [storageKey(id), user, now, now, now + 60_000],
      );
    }
    const store = new MySQLStore(MYSQL_URL, { table, pruneInterval: false });
    try {
      expect((await store.listByUser('alice')).map((s) => s.handle)).toEqual([storageKey(alice)]);
      expect((await store.listByUser('alice ')).map((s) => s.handle)).toEqual([storageKey(padded)]);
      expect(await store.destroyByUser('alice')).toBe(1);
      expect((await store.get(padded))?.userId).toBe('alice ');
      const [columns] = await admin.query<mysql.RowDataPacket[]>(
        "SELECT DATA_TYPE AS type, COLLATION_NAME AS collation FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? AND COLUMN_NAME = 'user_id'",
        [table],
      );
      const column: mysql.RowDataPacket = columns[0] ?? ({} as mysql.RowDataPacket);
      expect(
        column.type === 'varbinary' || /^utf8mb4_(nopad_bin|0900_bin)$/.test(String(column.collation)),
      ).toBe(true);
    } finally {
      await store.close();
    }
  });

  it('refuses an over-long user ID with ERR_INVALID_USER even with strict mode off, instead of truncating it', async () => {
    const table = runNamespace('sklax');
    tables.push(table);
    // The application's own pool, on a server whose strict mode is off.
    const pool = mysql.createPool({ ...connection, connectionLimit: 2 });
    pool.pool.on('connection', (conn) => {
      conn.query("SET SESSION sql_mode = ''");
    });
    const store = new MySQLStore(pool, { table, pruneInterval: false });
    try {
      const userId = `${'u'.repeat(1_020)}-tail`;
      const id = generateId();
      await expect(store.create(id, record({ userId }))).rejects.toMatchObject({ code: 'ERR_INVALID_USER' });
      expect(await store.get(id)).toBeNull();
      await expect(store.create(id, record({ userId: 'u'.repeat(256) }))).rejects.toMatchObject({
        code: 'ERR_INVALID_USER',
      });
      // One that fits (255 characters of 4 bytes) is kept whole, and found only under its exact self.
      const fits = '😀'.repeat(255);
      await store.create(id, record({ userId: fits }));
      expect((await store.get(id))?.userId).toBe(fits);
      expect(await store.listByUser(fits.slice(0, -2))).toEqual([]);
      expect(await store.destroyByUser(fits)).toBe(1);
    } finally {
      await store.close();
      await pool.end();
    }
  });
});
