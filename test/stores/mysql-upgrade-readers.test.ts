/**
 * Why: during a rolling deploy, app servers on sessionkit 0.1.0 keep serving the same MySQL/MariaDB table
 * after the first upgraded server (or a read-only `sessionkit list`) has touched it. 0.1.0 reads rows with
 * mysql2 and takes a `user_id` that is not a string for a corrupt session, which it deletes: every
 * logged-in user reaching an old server would be logged out. The table the current store leaves must
 * still give a 0.1.0-style reader strings, and still match user IDs exactly ('Alice', 'alice ' and
 * 'alice' are three users).
 */
import mysql from 'mysql2/promise';
import { afterAll, describe, expect, it } from 'vitest';
import { generateId, storageKey } from '../../src/core/id.js';
import { MySQLStore } from '../../src/stores/mysql.js';
import { mysqlTableSetup, type Row } from '../../src/stores/sql.js';
import { release010TableSql } from '../support/release-0.1.0.js';
import { mysqlConnection, runNamespace, serviceSkipReason } from '../support/services.js';
import { record } from './conformance.js';

const MYSQL_URL = process.env.MYSQL_URL ?? 'mysql://root@127.0.0.1:3306/test';
const connection = mysqlConnection(MYSQL_URL);
const admin = mysql.createPool({ ...connection, connectTimeout: 3_000, connectionLimit: 2 });
const skip = await serviceSkipReason('MySQL/MariaDB', () => admin.query('SELECT 1'));
/** Servers without a binary NO PAD collation (MySQL 5.7, MariaDB before 10.2) keep bytes instead. */
const nopad =
  !skip &&
  (
    await admin.query<mysql.RowDataPacket[]>(
      "SELECT 1 FROM information_schema.COLLATIONS WHERE COLLATION_NAME IN ('utf8mb4_nopad_bin', 'utf8mb4_0900_bin')",
    )
  )[0].length > 0;
const tables: string[] = [];
/** 0.1.0's own pool: utf8mb4_bin, as its MySQLStore opened it. */
const old = mysql.createPool({ ...connection, charset: 'utf8mb4_bin', connectionLimit: 2 });

afterAll(async () => {
  if (!skip && tables.length > 0)
    await admin.query(`DROP TABLE IF EXISTS ${tables.flatMap((t) => [t, `${t}_epochs`]).join(', ')}`);
  await old.end();
  await admin.end();
});

/** sessionkit 0.1.0's DDL for the MySQL table. */
async function createOldTable(table: string): Promise<void> {
  tables.push(table);
  for (const statement of release010TableSql('mysql', table)) await admin.query(statement);
}

/** 0.1.0's login: its upsert, naming the columns it knows. */
async function oldLogin(table: string, id: string, userId: string): Promise<void> {
  const now = Date.now();
  await old.query(
    `INSERT INTO ${table} (id, data, cookie, user_id, created_at, last_seen_at, expires_at) VALUES (?, '{"cart":3}', '{"originalMaxAge":null}', ?, ?, ?, ?)`,
    [storageKey(id), userId, now, now, now + 60_000],
  );
}

/**
 * 0.1.0's read of one session, as its decode judged it: a `user_id` that is neither null nor a string
 * made the session corrupt (deleted, the user logged out).
 */
async function oldGet(table: string, id: string): Promise<unknown> {
  const [rows] = await old.query<mysql.RowDataPacket[]>(
    `SELECT id, data, cookie, user_id, created_at, last_seen_at, expires_at FROM ${table} WHERE id = ? AND expires_at > ?`,
    [storageKey(id), Date.now()],
  );
  return rows[0]?.user_id;
}

/** 0.1.0's listByUser: the user IDs of the rows its `user_id = ?` matches. */
async function oldByUser(table: string, userId: string): Promise<unknown[]> {
  const [rows] = await old.query<mysql.RowDataPacket[]>(
    `SELECT id, data, user_id, created_at, last_seen_at, expires_at FROM ${table} WHERE user_id = ? AND expires_at > ?`,
    [userId, Date.now()],
  );
  return rows.map((row) => row.user_id);
}

describe.skipIf(skip || !nopad)('MySQLStore on a 0.1.0 table, with 0.1.0 servers still running', () => {
  it("a read-only listing by the new store leaves 0.1.0's readers strings", async () => {
    const table = runNamespace('skup');
    await createOldTable(table);
    const alice = generateId();
    await oldLogin(table, alice, 'alice');
    const store = new MySQLStore(MYSQL_URL, { table, pruneInterval: false });
    try {
      expect((await store.list()).sessions).toHaveLength(1);
      expect(await oldGet(table, alice)).toBe('alice');
      expect(await oldByUser(table, 'alice')).toEqual(['alice']);
    } finally {
      await store.close();
    }
  });

  it('rows either version writes read as strings on the other, and match only their exact user', async () => {
    const table = runNamespace('skup');
    await createOldTable(table);
    const store = new MySQLStore(MYSQL_URL, { table, pruneInterval: false });
    const [alice, padded, upper] = [generateId(), generateId(), generateId()];
    try {
      await oldLogin(table, alice, 'alice');
      // The first upgraded server stores other visitors' sessions.
      await store.create(padded, record({ userId: 'alice ' }));
      await store.create(upper, record({ userId: 'Alice' }));
      for (const [id, user] of [
        [alice, 'alice'],
        [padded, 'alice '],
        [upper, 'Alice'],
      ] as const) {
        expect(await oldGet(table, id)).toBe(user);
        expect(await oldByUser(table, user)).toEqual([user]);
        expect((await store.get(id))?.userId).toBe(user);
        expect((await store.listByUser(user)).map((s) => s.userId)).toEqual([user]);
      }
      // One user's "log out everywhere" ends no other user's session.
      expect(await store.destroyByUser('alice')).toBe(1);
      expect(await oldGet(table, padded)).toBe('alice ');
      expect(await oldGet(table, upper)).toBe('Alice');
      const [columns] = await admin.query<mysql.RowDataPacket[]>(
        "SELECT TABLE_NAME AS name, DATA_TYPE AS type, COLLATION_NAME AS collation FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME IN (?, ?) AND COLUMN_NAME = 'user_id' ORDER BY TABLE_NAME",
        [table, `${table}_epochs`],
      );
      // The epochs table holds the same type: the two are joined on it.
      expect(columns.map((c) => c.type)).toEqual(['varchar', 'varchar']);
      expect(new Set(columns.map((c) => c.collation)).size).toBe(1);
      expect(columns[0]?.collation).toMatch(/^utf8mb4_(nopad_bin|0900_bin)$/);
    } finally {
      await store.close();
    }
  });
});

describe('MySQL setup on a server without a binary NO PAD collation (MySQL 5.7, MariaDB before 10.2)', () => {
  it("keeps user IDs exact as bytes: a 0.1.0 table's `user_id` becomes varbinary", async () => {
    const statements: string[] = [];
    const db = {
      async all(sql: string): Promise<Row[]> {
        if (sql.includes('information_schema.COLLATIONS')) return [];
        if (sql.includes('information_schema.COLUMNS'))
          return [{ name: 'sessions', type: 'varchar', collation: 'utf8mb4_bin' }];
        return [];
      },
      async run(sql: string): Promise<number> {
        statements.push(sql);
        return 0;
      },
    };
    const step = mysqlTableSetup('sessions');
    if (typeof step === 'string') throw new Error('expected a setup function');
    await step(db);
    expect(statements.filter((s) => s.includes('user_id varbinary(1020)'))).toHaveLength(3);
    expect(statements.at(-1)).toBe('ALTER TABLE `sessions` MODIFY user_id varbinary(1020) NULL');
  });
});
