import mysql from 'mysql2/promise';
import { afterAll, describe, expect, it } from 'vitest';
import { generateId } from '../../src/core/id.js';
import { MySQLStore } from '../../src/stores/mysql.js';
import { mysqlConnection, runNamespace, serviceSkipReason } from '../support/services.js';
import { record } from './conformance.js';

/**
 * InnoDB breaks a deadlock by rolling back one of its statements or transactions, whole. The store runs
 * that one again rather than failing the request (a login, a write). A pool that answers a chosen
 * statement with InnoDB's deadlock error once stands in for the race, which no test can time exactly.
 */

const MYSQL_URL = process.env.MYSQL_URL ?? 'mysql://root@127.0.0.1:3306/test';
const pool = mysql.createPool({ ...mysqlConnection(MYSQL_URL), connectTimeout: 3_000, connectionLimit: 4 });
const skip = await serviceSkipReason('MySQL/MariaDB', () => pool.query('SELECT 1'));
const table = runNamespace('skdl');

afterAll(async () => {
  if (!skip) await pool.query(`DROP TABLE IF EXISTS \`${table}\`, \`${table}_epochs\``);
  await pool.end();
});

/** The pool, but the first query whose SQL starts with `prefix` fails as a deadlock's victim. */
function deadlockingOnce(prefix: string): { pool: mysql.Pool; victims: () => number } {
  let victims = 0;
  const getConnection = async () => {
    const conn = await pool.getConnection();
    const query = conn.query.bind(conn) as (options: { sql: string }) => Promise<unknown>;
    return new Proxy(conn, {
      get(target, property, receiver) {
        if (property !== 'query') return Reflect.get(target, property, receiver);
        return (options: { sql: string }) => {
          if (victims === 0 && options.sql.startsWith(prefix)) {
            victims++;
            return Promise.reject(
              Object.assign(new Error('Deadlock found when trying to get lock'), {
                code: 'ER_LOCK_DEADLOCK',
                errno: 1213,
              }),
            );
          }
          return query(options);
        };
      },
    });
  };
  const wrapped = new Proxy(pool, {
    get: (target, property, receiver) =>
      property === 'getConnection' ? getConnection : Reflect.get(target, property, receiver),
  });
  return { pool: wrapped, victims: () => victims };
}

describe.skipIf(skip)('MySQLStore and InnoDB deadlocks', () => {
  it.each([
    ['a single statement (the create’s insert)', 'INSERT INTO', 'create'],
    ['a transaction (an update’s locking read)', 'SELECT id, data, cookie', 'update'],
  ] as const)('runs %s again when it was a deadlock’s victim', async (_label, prefix, operation) => {
    const id = generateId();
    if (operation === 'update')
      await new MySQLStore(pool, { table, pruneInterval: false }).create(id, record());
    const { pool: failing, victims } = deadlockingOnce(prefix);
    const store = new MySQLStore(failing, { table, pruneInterval: false });
    if (operation === 'create') expect(await store.create(id, record({ data: { n: 1 } }))).toBe(true);
    else {
      const now = Date.now();
      expect(
        await store.update(id, { set: { n: 2 }, unset: [], expiresAt: now + 60_000, lastSeenAt: now }),
      ).toBe(true);
    }
    expect(victims()).toBe(1);
    expect((await store.get(id))?.data.n).toBe(operation === 'create' ? 1 : 2);
  });
});
