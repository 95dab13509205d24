import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import express from 'express';
import request from 'supertest';
import { afterAll, describe, expect, it } from 'vitest';
import { storageKey } from '../../src/core/id.js';
import session, { login, logout, MemoryStore } from '../../src/index.js';
import type { AnyStore } from '../../src/stores/factory.js';
import { createStore } from '../../src/stores/factory.js';
import { cookieOf, idOf, jsonErrors } from '../support/apps.js';
import { MYSQL_URL, mysqlExec, POSTGRES_URL, pgExec, REDIS_URL } from '../support/interleave.js';
import type { MemoryCollection, MemoryDatabase } from '../support/mongo/storage.js';
import { type MongoTarget, mongoTarget } from '../support/mongo/target.js';
import { runNamespace, serviceSkipReason } from '../support/services.js';

/**
 * C05: a dump of the store holds no usable session ID. Every ID a browser is given (a first visit, a
 * login, a login evicting another under the per-user limit, an ID renewal, a regenerate, a logout's
 * fresh session) is looked for, as it appears in the cookie, in everything each real store holds: keys,
 * fields, values, rows of the sessions and epochs tables, every table of the SQLite database and the
 * bytes of its files, every document of the MongoDB database. Stores key by SHA-256 of the ID, so none
 * may appear; nor may a cookie's signature or the secret.
 */

const secret = 'store-dumps-secret-0123456789abcdefghij';

interface DumpTarget {
  name: string;
  skip: string | false;
  open(): Promise<AnyStore>;
  /** Everything the store's backend holds for this store, as one text. */
  dump(store: AnyStore): Promise<string>;
  dispose(store: AnyStore): Promise<void>;
}

const table = runNamespace('dumps');
const prefix = `${runNamespace('dumps')}:`;
const sqliteDir = mkdtempSync(join(tmpdir(), 'sessionkit-dumps-'));
const sqliteFile = join(sqliteDir, 'sessions.db');
const mongoDb = runNamespace('dumps');
let mongo: MongoTarget | null = null;
afterAll(async () => {
  rmSync(sqliteDir, { recursive: true, force: true });
  await mongo?.close();
});

/** Buffers (blob and varbinary columns) as their text, so an ID stored as bytes is found too. */
const bufferAsText = (_key: string, value: { type?: unknown; data?: number[] } | null) =>
  value?.type === 'Buffer' ? Buffer.from(value.data as number[]).toString('latin1') : value;

async function pgRows(sql: string): Promise<unknown[]> {
  const pg = (await import('pg')).default;
  const client = new pg.Client({ connectionString: POSTGRES_URL });
  await client.connect();
  try {
    return (await client.query(sql)).rows;
  } finally {
    await client.end();
  }
}

async function mysqlRows(sql: string): Promise<unknown> {
  const mysql = await import('mysql2/promise');
  const connection = await mysql.createConnection({ uri: MYSQL_URL });
  try {
    const [rows] = await connection.query(sql);
    // varbinary columns come back as Buffers: compare their text.
    return JSON.parse(JSON.stringify(rows, bufferAsText));
  } finally {
    await connection.end();
  }
}

async function redisDump(): Promise<string> {
  const { Redis } = await import('ioredis');
  const client = new Redis(REDIS_URL);
  try {
    const out: unknown[] = [];
    let cursor = '0';
    do {
      const [next, keys] = await client.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 500);
      cursor = next;
      for (const key of keys) {
        const type = await client.type(key);
        const value =
          type === 'hash'
            ? await client.hgetall(key)
            : type === 'zset'
              ? await client.zrange(key, '0', '-1', 'WITHSCORES')
              : type === 'string'
                ? await client.get(key)
                : type;
        out.push([key, value]);
      }
    } while (cursor !== '0');
    return JSON.stringify(out);
  } finally {
    client.disconnect();
  }
}

/**
 * Every row of every table, read by a connection of its own, then the bytes of the database file and of
 * its WAL (the store runs in WAL mode): what a copy of the files holds, pages not yet checkpointed and
 * freed pages included.
 */
async function sqliteDump(): Promise<string> {
  const Database = (await import('better-sqlite3')).default;
  const db = new Database(sqliteFile, { readonly: true, fileMustExist: true });
  let rows: unknown[];
  try {
    const tables = db
      .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
      .pluck()
      .all() as string[];
    rows = tables.map((name) => [name, db.prepare(`SELECT * FROM "${name}"`).all()]);
  } finally {
    db.close();
  }
  const files = ['', '-wal', '-shm']
    .map((suffix) => `${sqliteFile}${suffix}`)
    .filter((file) => existsSync(file))
    .map((file) => readFileSync(file).toString('latin1'));
  return [JSON.stringify(rows, bufferAsText), ...files].join('\n');
}

/** The stand-in's database: its collections, each document kept as BSON bytes. */
function standInDatabase(target: MongoTarget): MemoryDatabase | undefined {
  const router = target.standIn?.router;
  return router && (Reflect.get(router, 'databases') as Map<string, MemoryDatabase>).get(mongoDb);
}

/**
 * Every document of every collection of the store's database, read through the driver (the collections
 * a real server lists; on the stand-in, which has no listCollections, the ones it holds), and on the
 * stand-in also the BSON bytes it keeps each document as.
 */
async function mongoDump(): Promise<string> {
  const target = mongo as MongoTarget;
  const { MongoClient } = await import('mongodb');
  const client = new MongoClient(target.url, { serverSelectionTimeoutMS: 5_000 });
  try {
    const db = client.db(mongoDb);
    const held = standInDatabase(target);
    const names = held
      ? [...held.collections.keys()]
      : (await db.listCollections({}, { nameOnly: true }).toArray()).map((c) => c.name);
    const out: unknown[] = [];
    for (const name of names.sort()) out.push([name, await db.collection(name).find({}).toArray()]);
    for (const [name, collection] of held?.collections ?? []) {
      const docs = Reflect.get(collection as MemoryCollection, 'docs') as Map<string, { bytes: Buffer }>;
      out.push([name, [...docs.values()].map(({ bytes }) => bytes.toString('latin1'))]);
    }
    return JSON.stringify(out, bufferAsText);
  } finally {
    await client.close();
  }
}

const targets: DumpTarget[] = [
  {
    name: 'MemoryStore',
    skip: false,
    open: async () => new MemoryStore(),
    // Its entries, read from the private shards: what a heap snapshot of the process would show.
    dump: async (store) =>
      JSON.stringify((Reflect.get(store, 'shards') as Map<string, string>[]).map((shard) => [...shard])),
    dispose: async (store) => store.close?.(),
  },
  {
    name: 'PostgreSQL',
    skip: await serviceSkipReason('PostgreSQL', () => pgExec(POSTGRES_URL, 'SELECT 1')),
    open: () => createStore(`${POSTGRES_URL}?table=${table}&pruneInterval=false`),
    dump: async () =>
      JSON.stringify([await pgRows(`SELECT * FROM ${table}`), await pgRows(`SELECT * FROM ${table}_epochs`)]),
    dispose: async (store) => {
      await store.close?.();
      await pgExec(POSTGRES_URL, `DROP TABLE IF EXISTS ${table}, ${table}_epochs`);
    },
  },
  {
    name: 'MariaDB',
    skip: await serviceSkipReason('MariaDB', () => mysqlExec(MYSQL_URL, 'SELECT 1')),
    open: () => createStore(`${MYSQL_URL}?table=${table}&pruneInterval=false`),
    dump: async () =>
      JSON.stringify([
        await mysqlRows(`SELECT * FROM \`${table}\``),
        await mysqlRows(`SELECT * FROM \`${table}_epochs\``),
      ]),
    dispose: async (store) => {
      await store.close?.();
      await mysqlExec(MYSQL_URL, `DROP TABLE IF EXISTS \`${table}\`, \`${table}_epochs\``);
    },
  },
  {
    name: 'Redis',
    skip: await serviceSkipReason(`Redis at ${REDIS_URL}`, async () => {
      await redisDump();
    }),
    open: () => createStore(`${REDIS_URL}?prefix=${encodeURIComponent(prefix)}`),
    dump: () => redisDump(),
    dispose: async (store) => {
      await store.clear?.();
      await store.close?.();
    },
  },
  {
    name: 'SQLite',
    skip: false,
    open: () => createStore(`sqlite://${sqliteFile}?pruneInterval=false`),
    dump: () => sqliteDump(),
    dispose: async (store) => store.close?.(),
  },
  {
    name: 'MongoDB',
    skip: false,
    // MONGODB_URL when set, else the in-process stand-in (as test/stores/mongodb.test.ts).
    open: async () => {
      mongo = await mongoTarget();
      const url = new URL(mongo.url);
      url.pathname = `/${mongoDb}`;
      return createStore(url);
    },
    dump: () => mongoDump(),
    dispose: async (store) => {
      await store.clear?.();
      await store.close?.();
      if (mongo?.kind === 'real') {
        const { MongoClient } = await import('mongodb');
        const client = new MongoClient(mongo.url);
        await client.db(mongoDb).dropDatabase();
        await client.close();
      }
    },
  },
];

/** Returns once the clock has moved on by `ms`, without a fixed sleep longer than needed. */
async function after(ms: number): Promise<void> {
  const until = Date.now() + ms;
  while (Date.now() <= until) await new Promise((resolve) => setTimeout(resolve, 1));
}

for (const target of targets) {
  describe.skipIf(target.skip)(`a dump of ${target.name} holds no usable session ID (C05)`, () => {
    let store: AnyStore;
    afterAll(async () => {
      if (store) await target.dispose(store);
    });

    it('after visits, logins, an eviction, a renewal, a regenerate and a logout', async () => {
      store = await target.open();
      const app = express();
      app.use(
        session({
          secret,
          store,
          resave: false,
          saveUninitialized: false,
          maxSessionsPerUser: 1,
          renewAfter: 20,
        }),
      );
      app.get('/visit', (req, res) => {
        (req.session as unknown as Record<string, number>).visits =
          ((req.session as unknown as Record<string, number>).visits ?? 0) + 1;
        res.send('ok');
      });
      app.get('/login', (req, res, next) =>
        login(req.session, 'dump-user', (error) => (error ? next(error) : res.send('in'))),
      );
      app.get('/rotate', (req, res, next) =>
        req.session.regenerate({ keep: true }, (error) => (error ? next(error) : res.send('rotated'))),
      );
      app.get('/logout', (req, res, next) =>
        logout(req.session, (error) => {
          if (error) return next(error);
          (req.session as unknown as Record<string, boolean>).after = true;
          res.send('out');
        }),
      );
      app.use(jsonErrors);

      const ids = new Set<string>();
      const cookies = new Set<string>();
      const step = async (path: string, cookie?: string): Promise<string> => {
        const res = await request(app)
          .get(path)
          .set('Cookie', cookie ?? '')
          .expect(200);
        const next = cookieOf(res) || (cookie ?? '');
        if (next) {
          ids.add(idOf(next));
          cookies.add(next);
        }
        return next;
      };
      // Two browsers of one user: the second login evicts the first (limit 1).
      let a = await step('/visit');
      a = await step('/login', a);
      let b = await step('/visit');
      b = await step('/login', b);
      // A renewal moves b to a new ID; a regenerate and a logout give more.
      await after(30);
      b = await step('/visit', b);
      b = await step('/rotate', b);
      b = await step('/logout', b);
      expect(ids.size).toBeGreaterThanOrEqual(5);

      const dump = await target.dump(store);
      // The dump does see the store: the last session (stored after the logout) is there by its handle.
      expect(dump).toContain(storageKey(idOf(b)));
      for (const id of ids) expect(dump, `the ID ${id.slice(0, 6)}… is in the dump`).not.toContain(id);
      // The cookie's value, as sent and decoded, and its signature alone.
      for (const cookie of cookies) {
        const value = cookie.slice(cookie.indexOf('=') + 1);
        const signature = decodeURIComponent(value).slice(decodeURIComponent(value).lastIndexOf('.') + 1);
        expect(signature.length).toBeGreaterThan(20);
        for (const part of [value, decodeURIComponent(value), signature])
          expect(dump, `the cookie ${cookie.slice(0, 12)}… is in the dump`).not.toContain(part);
      }
      expect(dump).not.toContain(secret);
    });
  });
}
