/**
 * The kinds of store the seed articles run on, each opened once per implementation. A native kind gives
 * express-session the store the articles name (connect-redis, connect-mongo, express-mysql-session,
 * connect-pg-simple) and sessionkit its own store for that database, as an application that switches
 * would; a `-bridge` kind gives both the express-session store, which sessionkit runs through its store
 * bridge, as an application that switches only the middleware would. Every kind works under its own
 * runNamespace() prefix, database or table, and `close()` drops it.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import ConnectMongo from 'connect-mongo';
import connectPgSimple from 'connect-pg-simple';
import { RedisStore as ConnectRedisStore } from 'connect-redis';
import expressMysqlSession from 'express-mysql-session';
import expressSession from 'express-session';
import pg from 'pg';
import { createClient } from 'redis';
import sessionkit, { MemoryStore } from '../../../src/index.js';
import { MongoStore } from '../../../src/stores/mongodb.js';
import { MySQLStore } from '../../../src/stores/mysql.js';
import { PostgresStore } from '../../../src/stores/postgres.js';
import { RedisStore } from '../../../src/stores/redis.js';
import { SQLiteStore } from '../../../src/stores/sqlite.js';
import { MYSQL_URL, mysqlExec, POSTGRES_URL, pgExec, REDIS_URL } from '../../support/interleave.js';
import { type MongoTarget, mongoTarget } from '../../support/mongo/target.js';
import { deletePrefixed } from '../../support/redis.js';
import { mysqlConnection, runNamespace } from '../../support/services.js';
import { SlowMemoryStore } from '../../support/slow-store.js';
import type { SessionFactory } from './articles.mjs';

export type Impl = 'express-session' | 'sessionkit';
export const IMPLS: Impl[] = ['express-session', 'sessionkit'];

/** The `session` an article requires under `impl`. */
export const sessionOf = (impl: Impl): SessionFactory =>
  impl === 'express-session' ? expressSession : sessionkit;

export interface Opened {
  store: unknown;
  close(): Promise<void>;
}

export interface StoreKind {
  name: string;
  /** The store the article's app gets under `impl` (`session` is that impl's middleware function). */
  open(impl: Impl, session: SessionFactory): Promise<Opened>;
}

const NAMESPACE = 'seed_articles';
const noop = async () => {};

let mongo: MongoTarget | null = null;
async function mongoUrl(): Promise<string> {
  mongo ??= await mongoTarget();
  const url = new URL(mongo.url);
  url.pathname = `/${runNamespace(NAMESPACE)}`;
  return url.href;
}
/** Stops the MongoDB stand-in the mongodb kinds started (a no-op on a real server). */
export async function closeMongo(): Promise<void> {
  await mongo?.close();
  mongo = null;
}

/** A Redis key prefix of this run's own, on db 1 as article 003 uses, with a close that deletes it. */
async function redisPrefix() {
  const client = createClient({ url: REDIS_URL, database: 1 });
  client.on('error', () => undefined);
  await client.connect();
  const prefix = `${runNamespace(NAMESPACE)}:ID:`;
  const close = async () => {
    await deletePrefixed(client, prefix);
    await client.close();
  };
  return { client, prefix, close };
}

type Database = 'redis' | 'mongodb' | 'mysql' | 'postgres';

/** Each database's express-session store, as the articles open it. */
const EXPRESS_SESSION_STORES: Record<Database, (session: SessionFactory) => Promise<Opened>> = {
  redis: async () => {
    const { client, prefix, close } = await redisPrefix();
    return { store: new ConnectRedisStore({ client, prefix }), close };
  },
  // article 001: MongoStore.create({ mongoUrl })
  mongodb: async () => {
    const store = ConnectMongo.create({ mongoUrl: await mongoUrl() });
    return { store, close: () => store.close() };
  },
  // article 004: require('express-mysql-session')(session), with whichever `session` the app has
  mysql: async (session) => {
    const table = runNamespace(NAMESPACE);
    const MySQLStoreOf = expressMysqlSession(session);
    const store = new MySQLStoreOf({
      ...mysqlConnection(MYSQL_URL),
      clearExpired: false,
      schema: { tableName: table },
    });
    await store.onReady();
    return {
      store,
      close: async () => {
        await store.close();
        await mysqlExec(MYSQL_URL, `DROP TABLE IF EXISTS \`${table}\``);
      },
    };
  },
  postgres: async (session) => {
    const table = runNamespace(NAMESPACE);
    await pgExec(
      POSTGRES_URL,
      `CREATE TABLE IF NOT EXISTS ${table} (sid varchar NOT NULL COLLATE "default", sess json NOT NULL, expire timestamp(6) NOT NULL, PRIMARY KEY (sid))`,
    );
    const pool = new pg.Pool({ connectionString: POSTGRES_URL, max: 3 });
    const PgStore = connectPgSimple(session);
    const store = new PgStore({ pool, tableName: table, pruneSessionInterval: false });
    return {
      store,
      close: async () => {
        await pool.end();
        await pgExec(POSTGRES_URL, `DROP TABLE IF EXISTS ${table}`);
      },
    };
  },
};

/** Each database's sessionkit store. */
const SESSIONKIT_STORES: Record<Database, () => Promise<Opened>> = {
  redis: async () => {
    const { client, prefix, close } = await redisPrefix();
    return { store: new RedisStore({ client, prefix }), close };
  },
  mongodb: async () => {
    const store = new MongoStore({ url: await mongoUrl() });
    return { store, close: () => store.close() };
  },
  mysql: async () => {
    const table = runNamespace(NAMESPACE);
    const store = new MySQLStore({ ...mysqlConnection(MYSQL_URL) }, { table, pruneInterval: false });
    return {
      store,
      close: async () => {
        await store.close();
        await mysqlExec(MYSQL_URL, `DROP TABLE IF EXISTS \`${table}\`, \`${table}_epochs\``);
      },
    };
  },
  postgres: async () => {
    const table = runNamespace(NAMESPACE);
    const store = new PostgresStore(POSTGRES_URL, { table, pruneInterval: false });
    return {
      store,
      close: async () => {
        await store.close();
        await pgExec(POSTGRES_URL, `DROP TABLE IF EXISTS ${table}, ${table}_epochs`);
      },
    };
  },
};

const DATABASES: Database[] = ['redis', 'mongodb', 'mysql', 'postgres'];

export const STORE_KINDS: StoreKind[] = [
  {
    name: 'memory',
    open: async (impl) => ({
      store: impl === 'express-session' ? new expressSession.MemoryStore() : new MemoryStore(),
      close: noop,
    }),
  },
  { name: 'slow', open: async () => ({ store: new SlowMemoryStore(25), close: noop }) },
  {
    name: 'sqlite',
    open: async () => {
      const dir = mkdtempSync(join(tmpdir(), 'seed-articles-'));
      const store = new SQLiteStore(join(dir, 's.db'), { pruneInterval: false });
      return {
        store,
        close: async () => {
          await store.close();
          rmSync(dir, { recursive: true, force: true });
        },
      };
    },
  },
  ...DATABASES.flatMap((db): StoreKind[] => [
    {
      name: db,
      open: (impl, session) =>
        impl === 'express-session' ? EXPRESS_SESSION_STORES[db](session) : SESSIONKIT_STORES[db](),
    },
    { name: `${db}-bridge`, open: (_impl, session) => EXPRESS_SESSION_STORES[db](session) },
  ]),
];
