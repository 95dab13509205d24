/**
 * Why: an upgrade from sessionkit 0.1.0 is rolled out one app server at a time, so for a while servers
 * still on 0.1.0 and upgraded ones share one store. A user logged out everywhere by an upgraded server
 * (`destroyByUser`: a password change, `sessionkit revoke-user`) who logs in again on a 0.1.0 server must
 * stay logged in when the next request reaches an upgraded one. 0.1.0 writes no revocation stamp; a
 * session without one must not be taken for one bound before the revoke. A revoke still ends it.
 *
 * The 0.1.0 servers are stood in for by the exact writes 0.1.0 makes (its Redis scripts, SQL statements
 * and MongoDB documents, in src/stores of the 0.1.0 release): its login (a create bound to the user) and
 * its update that binds a user to an existing session.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { type Document, MongoClient } from 'mongodb';
import mysql from 'mysql2/promise';
import pg from 'pg';
import { createClient } from 'redis';
import { afterAll, describe, expect, it } from 'vitest';
import { generateId, storageKey } from '../../src/core/id.js';
import type { SessionStore } from '../../src/stores/contract.js';
import { createStore } from '../../src/stores/factory.js';
import { record } from '../stores/conformance.js';
import { mongoTarget } from '../support/mongo/target.js';
import { deletePrefixed, redisSkipReason } from '../support/redis.js';
import { type Dialect, release010TableSql } from '../support/release-0.1.0.js';
import { mysqlConnection, runNamespace, serviceSkipReason } from '../support/services.js';

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const POSTGRES_URL = process.env.POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const MYSQL_URL = process.env.MYSQL_URL ?? 'mysql://root@127.0.0.1:3306/test';
const HOUR = 3_600_000;
const COOKIE = '{"originalMaxAge":3600000}';

/** What a server still on sessionkit 0.1.0 writes. */
interface OldServer {
  /** Its login: a new session bound to the user (login regenerates, so a create). */
  login(id: string, userId: string, data: Record<string, unknown>): Promise<void>;
  /** Its update that binds a user to an existing session (the user flag `s`). */
  bind(id: string, userId: string): Promise<void>;
}

interface Opened {
  store: SessionStore;
  old: OldServer;
  close(): Promise<void>;
}

interface Backend {
  name: string;
  skip: string | false;
  open(): Promise<Opened>;
}

const redisSkip = await redisSkipReason(REDIS_URL);
const pgAdmin = new pg.Pool({ connectionString: POSTGRES_URL, connectionTimeoutMillis: 3_000, max: 2 });
pgAdmin.on('error', () => undefined);
const pgSkip = await serviceSkipReason('PostgreSQL', () => pgAdmin.query('SELECT 1'));
const mysqlAdmin = mysql.createPool({
  ...mysqlConnection(MYSQL_URL),
  connectTimeout: 3_000,
  connectionLimit: 2,
});
const mysqlSkip = await serviceSkipReason('MySQL/MariaDB', () => mysqlAdmin.query('SELECT 1'));
const mongo = await mongoTarget();

afterAll(async () => {
  await pgAdmin.end();
  await mysqlAdmin.end();
  await mongo.close();
});

/** 0.1.0's SQL login (insertIfAbsent) and binding update (updateMetaAndUser), through `run`. */
function oldSqlServer(
  dialect: Dialect,
  t: string,
  run: (sql: string, params: unknown[]) => Promise<unknown>,
): OldServer {
  const cols = 'id, data, cookie, user_id, created_at, last_seen_at, expires_at';
  const insert =
    dialect === 'mysql'
      ? `INSERT INTO ${t} (${cols}) VALUES (?, ?, ?, ?, ?, ?, ?)`
      : `INSERT INTO ${t} (${cols}) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING`;
  const bind = `UPDATE ${t} SET cookie = COALESCE(?, cookie), user_id = ?, last_seen_at = ?, expires_at = ? WHERE id = ? AND expires_at > ?`;
  return {
    async login(id, userId, data) {
      const now = Date.now();
      await run(insert, [storageKey(id), JSON.stringify(data), COOKIE, userId, now, now, now + HOUR]);
    },
    async bind(id, userId) {
      const now = Date.now();
      await run(bind, [null, userId, now, now + HOUR, storageKey(id), now]);
    },
  };
}

/** `?` placeholders as pg's `$n`. */
function numbered(sql: string): string {
  let n = 0;
  return sql.replace(/\?/g, () => `$${++n}`);
}

function sqlBackends(made: 'new' | '0.1.0'): Backend[] {
  const by = made === 'new' ? 'a table the upgraded server made' : 'a table 0.1.0 made';
  return [
    {
      name: `PostgreSQL, ${by}`,
      skip: pgSkip,
      async open() {
        const t = runNamespace('rd010');
        if (made === '0.1.0') for (const ddl of release010TableSql('postgres', t)) await pgAdmin.query(ddl);
        const store = (await createStore(`${POSTGRES_URL}?table=${t}&pruneInterval=false`)) as SessionStore;
        return {
          store,
          old: oldSqlServer('postgres', t, (sql, params) => pgAdmin.query(numbered(sql), params)),
          async close() {
            await store.close?.();
            await pgAdmin.query(`DROP TABLE IF EXISTS ${t}, ${t}_epochs`);
          },
        };
      },
    },
    {
      name: `MySQL/MariaDB, ${by}`,
      skip: mysqlSkip,
      async open() {
        const t = runNamespace('rd010');
        if (made === '0.1.0') for (const ddl of release010TableSql('mysql', t)) await mysqlAdmin.query(ddl);
        const store = (await createStore(`${MYSQL_URL}?table=${t}&pruneInterval=false`)) as SessionStore;
        return {
          store,
          old: oldSqlServer('mysql', t, (sql, params) => mysqlAdmin.query(sql, params)),
          async close() {
            await store.close?.();
            await mysqlAdmin.query(`DROP TABLE IF EXISTS \`${t}\`, \`${t}_epochs\``);
          },
        };
      },
    },
    {
      name: `SQLite, ${by}`,
      skip: false,
      async open() {
        const t = 'sessions';
        const dir = mkdtempSync(join(tmpdir(), 'rd010-'));
        const file = join(dir, 's.db');
        const raw = new Database(file);
        if (made === '0.1.0') for (const ddl of release010TableSql('sqlite', t)) raw.exec(ddl);
        const store = (await createStore(`sqlite://${file}?table=${t}`)) as SessionStore;
        return {
          store,
          old: oldSqlServer('sqlite', t, async (sql, params) => raw.prepare(sql).run(...params)),
          async close() {
            await store.close?.();
            raw.close();
            rmSync(dir, { recursive: true, force: true });
          },
        };
      },
    },
  ];
}

const backends: Backend[] = [
  {
    name: 'Redis',
    skip: redisSkip,
    async open() {
      const prefix = `${runNamespace('rd010')}:`;
      const store = (await createStore(`${REDIS_URL}?prefix=${encodeURIComponent(prefix)}`)) as SessionStore;
      const raw = createClient({ url: REDIS_URL });
      raw.on('error', () => undefined);
      await raw.connect();
      const send = (args: string[]) => raw.sendCommand(args);
      const keys = (id: string, userId: string) => ({
        session: `${prefix}s:{${storageKey(id)}}`,
        index: `${prefix}u:{${storageKey(userId)}}`,
      });
      /** 0.1.0's INDEX_ADD: the session joins its user's index before its hash is written. */
      const joinIndex = async (index: string, handle: string, expiresAt: number, now: number) => {
        const score = expiresAt + Math.max(expiresAt - now, 0);
        await send(['ZADD', index, String(score), handle]);
        await send(['PEXPIREAT', index, String(Math.ceil(score) + 1)]);
        return score;
      };
      return {
        store,
        old: {
          // 0.1.0's WRITE (create): `_v _c _e _cr _ls _u _ix` and `d:<key>` fields, no `_ep`.
          async login(id, userId, data) {
            const now = Date.now();
            const expiresAt = now + HOUR;
            const { session, index } = keys(id, userId);
            const ix = await joinIndex(index, storageKey(id), expiresAt, now);
            const fields = Object.entries(data).flatMap(([k, v]) => [`d:${k}`, JSON.stringify(v)]);
            await send([
              'HSET',
              session,
              '_v',
              '1',
              '_c',
              COOKIE,
              '_e',
              String(expiresAt),
              '_cr',
              String(now),
            ]);
            await send(['HSET', session, '_ls', String(now), '_u', userId, '_ix', String(ix), ...fields]);
            await send(['PEXPIRE', session, String(HOUR)]);
          },
          // 0.1.0's UPDATE binding a user: `_e _ls _u _ix` set, every other field (`_ep` too) left as is.
          async bind(id, userId) {
            const now = Date.now();
            const expiresAt = now + HOUR;
            const { session, index } = keys(id, userId);
            const ix = await joinIndex(index, storageKey(id), expiresAt, now);
            await send([
              'HSET',
              session,
              '_e',
              String(expiresAt),
              '_ls',
              String(now),
              '_u',
              userId,
              '_ix',
              String(ix),
            ]);
            await send(['PEXPIRE', session, String(HOUR)]);
          },
        },
        async close() {
          await store.close?.();
          await deletePrefixed(raw, prefix);
          await raw.quit();
        },
      };
    },
  },
  ...sqlBackends('new'),
  ...sqlBackends('0.1.0'),
  {
    name: `MongoDB (${mongo.kind})`,
    skip: false,
    async open() {
      const dbName = runNamespace('rd010');
      const collection = 'sessions';
      const store = (await createStore(`${mongo.url}/${dbName}?collection=${collection}`)) as SessionStore;
      const client = new MongoClient(mongo.url, { serverSelectionTimeoutMS: 5_000 });
      const sessions = client.db(dbName).collection<Document & { _id: string }>(collection);
      return {
        store,
        old: {
          // 0.1.0's toDocument, inserted: no `epoch` field.
          async login(id, userId, data) {
            const now = Date.now();
            await sessions.insertOne({
              _id: storageKey(id),
              expiresAt: new Date(now + HOUR),
              userId,
              createdAt: new Date(now),
              lastSeenAt: new Date(now),
              version: 1,
              cookie: JSON.parse(COOKIE),
              data,
            });
          },
          // 0.1.0's deltaUpdate with a user: `$set` of the times and `userId`, `epoch` left as is.
          async bind(id, userId) {
            const now = Date.now();
            await sessions.updateOne(
              { _id: storageKey(id), expiresAt: { $gt: new Date(now) } },
              {
                $set: { expiresAt: new Date(now + HOUR), lastSeenAt: new Date(now), userId },
                $inc: { version: 1 },
              },
            );
          },
        },
        async close() {
          await store.close?.();
          if (mongo.kind === 'real') await client.db(dbName).dropDatabase();
          await client.close();
        },
      };
    },
  },
];

describe('rolling deploy from 0.1.0: sessions a 0.1.0 server binds after a revoke', () => {
  for (const backend of backends) {
    it.skipIf(backend.skip)(
      `${backend.name}: stay logged in, and a later revoke still ends them`,
      async () => {
        const { store, old, close } = await backend.open();
        try {
          const user = runNamespace('carol');
          const seen = async (id: string) => {
            const got = await store.get(id);
            return got && { userId: got.userId, data: got.data };
          };

          // Logged out everywhere by an upgraded server, then logs in again on a 0.1.0 one.
          const first = generateId();
          await store.create(first, record({ userId: user }));
          expect(await store.destroyByUser?.(user)).toBe(1);
          const login = generateId();
          await old.login(login, user, { since: 'login' });

          // A session an upgraded server made anonymous (and rewrote), which a 0.1.0 server binds.
          const anonymous = generateId();
          await store.create(anonymous, record({ userId: null, data: { cart: 1 } }));
          await store.set(anonymous, record({ userId: null, data: { cart: 2 } }));
          await old.bind(anonymous, user);

          // A session an upgraded server bound, then unbound (logout in place), which a 0.1.0 server binds.
          const unbound = generateId();
          const now = Date.now();
          await store.create(unbound, record({ userId: user, data: { cart: 3 } }));
          await store.update(unbound, {
            set: {},
            unset: [],
            expiresAt: now + HOUR,
            lastSeenAt: now,
            userId: null,
          });
          await old.bind(unbound, user);

          expect({
            login: await seen(login),
            anonymous: await seen(anonymous),
            unbound: await seen(unbound),
            listed: ((await store.listByUser?.(user)) ?? []).map((s) => s.handle).sort(),
            byHandle: (await store.getByHandle?.(storageKey(login)))?.userId,
          }).toEqual({
            login: { userId: user, data: { since: 'login' } },
            anonymous: { userId: user, data: { cart: 2 } },
            unbound: { userId: user, data: { cart: 3 } },
            listed: [storageKey(login), storageKey(anonymous), storageKey(unbound)].sort(),
            byHandle: user,
          });

          // "Log out everywhere" still reaches every one of them.
          expect(await store.destroyByUser?.(user)).toBe(3);
          expect([await store.get(login), await store.get(anonymous), await store.get(unbound)]).toEqual([
            null,
            null,
            null,
          ]);
        } finally {
          await close();
        }
      },
    );
  }
});
