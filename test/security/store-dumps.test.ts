import express from 'express';
import request from 'supertest';
import { afterAll, describe, expect, it } from 'vitest';
import { storageKey } from '../../src/core/id.js';
import session, { MemoryStore } from '../../src/index.js';
import type { AnyStore } from '../../src/stores/factory.js';
import { createStore } from '../../src/stores/factory.js';
import { cookieOf, idOf, jsonErrors } from '../support/apps.js';
import { MYSQL_URL, mysqlExec, POSTGRES_URL, pgExec, REDIS_URL } from '../support/interleave.js';
import { runNamespace, serviceSkipReason } from '../support/services.js';

/**
 * C05: a dump of the store holds no usable session ID. Every ID a browser is given (a first visit, a
 * login, a login evicting another under the per-user limit, an ID renewal, a regenerate, a logout's
 * fresh session) is looked for, as it appears in the cookie, in everything each real store holds: keys,
 * fields, values, rows of the sessions and epochs tables. Stores key by SHA-256 of the ID, so none may
 * appear.
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
    return JSON.parse(
      JSON.stringify(rows, (_key, value) =>
        value?.type === 'Buffer' ? Buffer.from(value.data).toString('latin1') : value,
      ),
    );
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
        req.session.login('dump-user', (error) => (error ? next(error) : res.send('in'))),
      );
      app.get('/rotate', (req, res, next) =>
        req.session.regenerate({ keep: true }, (error) => (error ? next(error) : res.send('rotated'))),
      );
      app.get('/logout', (req, res, next) =>
        req.session.logout((error) => {
          if (error) return next(error);
          (req.session as unknown as Record<string, boolean>).after = true;
          res.send('out');
        }),
      );
      app.use(jsonErrors);

      const ids = new Set<string>();
      const step = async (path: string, cookie?: string): Promise<string> => {
        const res = await request(app)
          .get(path)
          .set('Cookie', cookie ?? '')
          .expect(200);
        const next = cookieOf(res) || (cookie ?? '');
        if (next) ids.add(idOf(next));
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
      expect(dump).not.toContain(secret);
    });
  });
}
