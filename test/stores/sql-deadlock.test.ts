import mysql from 'mysql2/promise';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { generateId } from '../../src/core/id.js';
import type { SessionStore } from '../../src/stores/contract.js';
import { MySQLStore } from '../../src/stores/mysql.js';
import { PostgresStore } from '../../src/stores/postgres.js';
import { mysqlConnection, runNamespace, serviceSkipReason } from '../support/services.js';
import { record } from './conformance.js';

/**
 * A database breaks a deadlock by rolling back one of its statements or transactions, whole. The store runs
 * that one again rather than failing the request (a login, a write). A pool whose connections answer a
 * chosen statement with the database's deadlock error once stands in for the race, which no test can time.
 */

const MYSQL_URL = process.env.MYSQL_URL ?? 'mysql://root@127.0.0.1:3306/test';
const POSTGRES_URL = process.env.POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const mysqlPool = mysql.createPool({
  ...mysqlConnection(MYSQL_URL),
  connectTimeout: 3_000,
  connectionLimit: 4,
});
const pgPool = new pg.Pool({ connectionString: POSTGRES_URL, connectionTimeoutMillis: 3_000, max: 4 });
const mysqlSkip = await serviceSkipReason('MySQL/MariaDB', () => mysqlPool.query('SELECT 1'));
const pgSkip = await serviceSkipReason('PostgreSQL', () => pgPool.query('SELECT 1'));
const table = runNamespace('skdl');

afterAll(async () => {
  if (!mysqlSkip) await mysqlPool.query(`DROP TABLE IF EXISTS \`${table}\`, \`${table}_epochs\``);
  if (!pgSkip) await pgPool.query(`DROP TABLE IF EXISTS ${table}, ${table}_epochs`);
  await mysqlPool.end();
  await pgPool.end();
});

const deadlock = (code: string) =>
  Object.assign(new Error('deadlock detected'), {
    code,
    ...(code === 'ER_LOCK_DEADLOCK' ? { errno: 1213 } : {}),
  });

/** `connection`, but its first query whose SQL starts with `prefix` fails as a deadlock's victim. */
function failingOnce<C extends object>(
  connection: C,
  prefix: string,
  code: string,
  tally: { victims: number },
): C {
  return new Proxy(connection, {
    get(target, property, receiver) {
      const value = Reflect.get(target, property, receiver) as unknown;
      if (property !== 'query' || typeof value !== 'function') return value;
      return (options: string | { sql?: string; text?: string }, ...rest: unknown[]) => {
        const sql = typeof options === 'string' ? options : (options.sql ?? options.text ?? '');
        if (tally.victims === 0 && sql.startsWith(prefix)) {
          tally.victims++;
          return Promise.reject(deadlock(code));
        }
        return (value as (...args: unknown[]) => unknown).call(target, options, ...rest);
      };
    },
  });
}

interface Target {
  name: string;
  skip: string | false;
  /** A store over the pool, but with the first query starting with `prefix` failing as a deadlock's victim. */
  open(prefix: string, tally: { victims: number }): SessionStore;
  plain(): SessionStore;
}

const targets: Target[] = [
  {
    name: 'MySQL/MariaDB',
    skip: mysqlSkip,
    plain: () => new MySQLStore(mysqlPool, { table, pruneInterval: false }),
    open(prefix, tally) {
      const getConnection = async () =>
        failingOnce(await mysqlPool.getConnection(), prefix, 'ER_LOCK_DEADLOCK', tally);
      const pool = new Proxy(mysqlPool, {
        get: (target, property, receiver) =>
          property === 'getConnection' ? getConnection : Reflect.get(target, property, receiver),
      });
      return new MySQLStore(pool, { table, pruneInterval: false });
    },
  },
  {
    name: 'PostgreSQL',
    skip: pgSkip,
    plain: () => new PostgresStore(pgPool, { table, pruneInterval: false }),
    open(prefix, tally) {
      const connect = async () => failingOnce(await pgPool.connect(), prefix, '40P01', tally);
      const pool = new Proxy(pgPool, {
        get: (target, property, receiver) =>
          property === 'connect' ? connect : Reflect.get(target, property, receiver),
      });
      return new PostgresStore(pool, { table, pruneInterval: false });
    },
  },
];

for (const target of targets) {
  describe.skipIf(target.skip)(`${target.name} and deadlocks`, () => {
    it.each([
      ['a single statement (the create’s insert)', 'INSERT INTO', 'create'],
      ['a transaction (an update’s locking read)', 'SELECT id, data, cookie', 'update'],
    ] as const)('runs %s again when it was a deadlock’s victim', async (_label, prefix, operation) => {
      const id = generateId();
      if (operation === 'update') await target.plain().create(id, record());
      const tally = { victims: 0 };
      const store = target.open(prefix, tally);
      if (operation === 'create') expect(await store.create(id, record({ data: { n: 1 } }))).toBe(true);
      else {
        const now = Date.now();
        const delta = { set: { n: 2 }, unset: [], expiresAt: now + 60_000, lastSeenAt: now };
        expect(await store.update(id, delta)).toBe(true);
      }
      expect(tally.victims).toBe(1);
      expect((await store.get(id))?.data.n).toBe(operation === 'create' ? 1 : 2);
    });
  });
}
