import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateId, storageKey } from '../../src/core/id.js';
import type { SessionRecord } from '../../src/core/types.js';
import { type AnyStore, createStore } from '../../src/stores/factory.js';
import { MemoryStore } from '../../src/stores/memory.js';
import { createTableSql } from '../../src/stores/sql.js';
import type { SQLiteStore } from '../../src/stores/sqlite.js';
import { MYSQL_URL, mysqlExec, POSTGRES_URL, pgExec, REDIS_URL } from '../support/interleave.js';
import { memoryEntries } from '../support/memory-internals.js';
import { mongoTarget } from '../support/mongo/target.js';
import { redisSkipReason } from '../support/redis.js';
import { runNamespace, serviceSkipReason, urlVia } from '../support/services.js';
import { WireProxy } from '../support/wire-proxy.js';

/**
 * Issue 23 item 1, C17: a login racing "log out everywhere". Two store instances stand for two app
 * servers: one logs users in through a proxy that delays every chunk by 0-3 ms, the other revokes
 * directly. A survivor is what the attack left: a session of the user that still loads but that the
 * revoking server cannot list, and that a second destroyByUser does not end.
 */

interface Pair {
  /** The app server that logs in, through the proxy when the store talks over the network. */
  login: AnyStore;
  /** The app server that revokes, directly. */
  revoke: AnyStore;
  proxy: WireProxy | null;
}

interface RaceTarget {
  name: string;
  skip: string | false;
  trials: number;
  /** The store reads the user's epoch (and index) in a step before the session write leaves the app. */
  writeAfterEpochRead: boolean;
  /** Talks to its server over the network (through the proxy, for the server that logs in). */
  network: boolean;
  open(): Promise<Pair>;
  /** Makes a destroyByUser miss the session: its index entry dropped, or its record put back afterwards. */
  miss(pair: Pair, id: string, userId: string): Promise<() => Promise<void>>;
  dispose(pair: Pair): Promise<void>;
}

function record(userId: string, marker: string): SessionRecord {
  const now = Date.now();
  return {
    data: { marker },
    cookie: {
      originalMaxAge: 60_000,
      expires: new Date(now + 60_000).toISOString(),
      httpOnly: true,
      path: '/',
    },
    expiresAt: now + 60_000,
    createdAt: now,
    lastSeenAt: now,
    userId,
  };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function proxied(url: string): Promise<{ proxy: WireProxy; via: string }> {
  const target = new URL(url);
  const proxy = new WireProxy(target.hostname, Number(target.port));
  await proxy.start();
  return { proxy, via: urlVia(url, '127.0.0.1', proxy.port) };
}

/** Puts a SQL row back as it was (a delete that was lost: a failover, a restored backup). */
async function restoreRow(
  query: (sql: string, params: unknown[]) => Promise<Array<Record<string, unknown>>>,
  table: string,
  quote: (name: string) => string,
  handle: string,
  marks: (n: number) => string[],
): Promise<() => Promise<void>> {
  const [row] = await query(`SELECT * FROM ${quote(table)} WHERE id = ${marks(1)[0]}`, [handle]);
  if (!row) throw new Error('no row to restore');
  const columns = Object.keys(row);
  return async () => {
    await query(
      `INSERT INTO ${quote(table)} (${columns.map(quote).join(', ')}) VALUES (${marks(columns.length).join(', ')})`,
      columns.map((c) => row[c]),
    );
  };
}

const pgMarks = (n: number) => Array.from({ length: n }, (_, i) => `$${i + 1}`);
const qMarks = (n: number) => Array.from({ length: n }, () => '?');

async function targets(): Promise<RaceTarget[]> {
  const out: RaceTarget[] = [];

  out.push({
    name: 'memory',
    skip: false,
    trials: 200,
    writeAfterEpochRead: false,
    network: false,
    async open() {
      // One process, one store: both "servers" are the same instance.
      const store = new MemoryStore() as unknown as AnyStore;
      return { login: store, revoke: store, proxy: null };
    },
    async miss(pair, id) {
      const key = storageKey(id);
      const entries = memoryEntries(pair.revoke as unknown as MemoryStore, key);
      const text = entries.get(key) as string;
      return async () => {
        entries.set(key, text);
      };
    },
    async dispose(pair) {
      await pair.login.close?.();
    },
  });

  {
    const dir = mkdtempSync(join(tmpdir(), 'sk-revoke-'));
    const file = join(dir, 'sessions.db');
    out.push({
      name: 'sqlite',
      skip: false,
      trials: 200,
      writeAfterEpochRead: false,
      network: false,
      async open() {
        // Two connections to one file: two app servers on one host.
        const login = await createStore(`sqlite://${file}?pruneInterval=false`);
        const revoke = await createStore(`sqlite://${file}?pruneInterval=false`);
        return { login, revoke, proxy: null };
      },
      async miss(pair, id) {
        const db = (pair.revoke as unknown as SQLiteStore).db;
        return restoreRow(
          async (sql, params) => {
            if (sql.startsWith('SELECT'))
              return db.prepare(sql).all(...params) as Array<Record<string, unknown>>;
            db.prepare(sql).run(...params);
            return [];
          },
          'sessionkit_sessions',
          (n) => `"${n}"`,
          storageKey(id),
          qMarks,
        );
      },
      async dispose(pair) {
        await pair.login.close?.();
        await pair.revoke.close?.();
        rmSync(dir, { recursive: true, force: true });
      },
    });
  }

  {
    const table = runNamespace('skrv');
    const skip = await serviceSkipReason('PostgreSQL', () => pgExec(POSTGRES_URL, 'SELECT 1'));
    out.push({
      name: 'postgres',
      skip,
      trials: 120,
      writeAfterEpochRead: false,
      network: true,
      async open() {
        const { proxy, via } = await proxied(POSTGRES_URL);
        const login = await createStore(`${via}?table=${table}&pruneInterval=false`);
        const revoke = await createStore(`${POSTGRES_URL}?table=${table}&pruneInterval=false`);
        return { login, revoke, proxy };
      },
      async miss(_pair, id) {
        const pg = (await import('pg')).default;
        const query = async (sql: string, params: unknown[]) => {
          const client = new pg.Client({ connectionString: POSTGRES_URL });
          await client.connect();
          try {
            return (await client.query(sql, params)).rows as Array<Record<string, unknown>>;
          } finally {
            await client.end();
          }
        };
        return restoreRow(query, table, (n) => `"${n}"`, storageKey(id), pgMarks);
      },
      async dispose(pair) {
        await pair.login.close?.();
        await pair.revoke.close?.();
        await pair.proxy?.stop();
        await pgExec(POSTGRES_URL, `DROP TABLE IF EXISTS ${table}, ${table}_epochs`);
      },
    });
  }

  {
    const table = runNamespace('skrv');
    const skip = await serviceSkipReason('MariaDB', () => mysqlExec(MYSQL_URL, 'SELECT 1'));
    out.push({
      name: 'mysql',
      skip,
      trials: 120,
      writeAfterEpochRead: false,
      network: true,
      async open() {
        const { proxy, via } = await proxied(MYSQL_URL);
        const login = await createStore(`${via}?table=${table}&pruneInterval=false`);
        const revoke = await createStore(`${MYSQL_URL}?table=${table}&pruneInterval=false`);
        return { login, revoke, proxy };
      },
      async miss(_pair, id) {
        const mysql = await import('mysql2/promise');
        const query = async (sql: string, params: unknown[]) => {
          const connection = await mysql.createConnection({ uri: MYSQL_URL });
          try {
            const [rows] = await connection.query(sql, params);
            return (Array.isArray(rows) ? rows : []) as Array<Record<string, unknown>>;
          } finally {
            await connection.end();
          }
        };
        return restoreRow(query, table, (n) => `\`${n}\``, storageKey(id), qMarks);
      },
      async dispose(pair) {
        await pair.login.close?.();
        await pair.revoke.close?.();
        await pair.proxy?.stop();
        await mysqlExec(MYSQL_URL, `DROP TABLE IF EXISTS \`${table}\`, \`${table}_epochs\``);
      },
    });
  }

  {
    const prefix = `${runNamespace('skrv')}:`;
    const skip = await redisSkipReason(REDIS_URL);
    out.push({
      name: 'redis',
      skip,
      trials: 200,
      writeAfterEpochRead: true,
      network: true,
      async open() {
        const { proxy, via } = await proxied(REDIS_URL);
        const login = await createStore(`${via}?prefix=${encodeURIComponent(prefix)}`);
        const revoke = await createStore(`${REDIS_URL}?prefix=${encodeURIComponent(prefix)}`);
        return { login, revoke, proxy };
      },
      async miss(_pair, id, userId) {
        const { Redis } = await import('ioredis');
        const client = new Redis(REDIS_URL);
        try {
          await client.zrem(`${prefix}u:{${storageKey(userId)}}`, storageKey(id));
        } finally {
          client.disconnect();
        }
        return async () => undefined;
      },
      async dispose(pair) {
        await pair.revoke.clear?.();
        await pair.login.close?.();
        await pair.revoke.close?.();
        await pair.proxy?.stop();
      },
    });
  }

  {
    const collection = runNamespace('skrv');
    let close: () => Promise<void> = async () => undefined;
    let url = '';
    out.push({
      name: 'mongodb',
      skip: false,
      trials: 120,
      writeAfterEpochRead: true,
      network: true,
      async open() {
        const target = await mongoTarget();
        close = () => target.close();
        url = target.url;
        const { proxy, via } = await proxied(target.url);
        const at = (base: string) => {
          const u = new URL(base);
          u.pathname = `/${collection}`;
          u.searchParams.set('collection', collection);
          return u.href;
        };
        const login = await createStore(at(via));
        const revoke = await createStore(at(target.url));
        return { login, revoke, proxy };
      },
      async miss(_pair, id) {
        const { MongoClient } = await import('mongodb');
        const client = new MongoClient(url);
        await client.connect();
        const sessions = client.db(collection).collection<{ _id: string }>(collection);
        const doc = await sessions.findOne({ _id: storageKey(id) });
        if (!doc) throw new Error('no document to restore');
        return async () => {
          try {
            await sessions.insertOne(doc);
          } finally {
            await client.close();
          }
        };
      },
      async dispose(pair) {
        await pair.revoke.clear?.();
        await pair.login.close?.();
        await pair.revoke.close?.();
        await pair.proxy?.stop();
        await close();
      },
    });
  }
  return out;
}

// The stores race side by side (each with its own pair of instances, users and proxy); within a store the
// tests run in order, as they share the pair.
for (const target of await targets()) {
  describe.skipIf(target.skip)(`revocation races on ${target.name} (C17)`, { concurrent: true }, () => {
    let pair: Pair;

    beforeAll(async () => {
      pair = await target.open();
      // Warm both servers up (connections, scripts, tables), so trials race on the store calls alone.
      for (const store of [pair.login, pair.revoke]) {
        const id = generateId();
        await store.create(id, record('warm-up', 'warm'));
        await store.get(id);
        await store.destroyByUser?.('warm-up');
      }
      if (pair.proxy) pair.proxy.maxDelayMs = 3;
    });

    afterAll(async () => {
      pair?.proxy?.releaseAll();
      if (pair) await target.dispose(pair);
    });

    /** Loads, lists and revokes once more: no session of the user may be left after that. */
    async function survivor(id: string, userId: string): Promise<boolean> {
      const loaded = await pair.revoke.get(id);
      const listed = (await pair.revoke.listByUser?.(userId)) ?? [];
      const unreachable = loaded !== null && !listed.some((s) => s.handle === storageKey(id));
      await pair.revoke.destroyByUser?.(userId);
      expect(await pair.revoke.get(id)).toBeNull();
      expect(await pair.login.get(id)).toBeNull();
      expect(await pair.revoke.listByUser?.(userId)).toEqual([]);
      return unreachable;
    }

    it.sequential(`a login racing destroyByUser on another server leaves no unreachable session (${target.trials} trials)`, async () => {
      const run = runNamespace('race');
      let survivors = 0;
      for (let trial = 0; trial < target.trials; trial++) {
        const userId = `${run}-${trial}`;
        const id = generateId();
        const login = pair.login.create(id, record(userId, `m-${run}-${trial}`));
        await sleep(Math.random() * 3);
        const revoke = pair.revoke.destroyByUser?.(userId);
        await Promise.all([login, revoke]);
        if (await survivor(id, userId)) survivors++;
      }
      expect(survivors).toBe(0);
      // The stores' races share this process's event loop: a trial waits on the others' callbacks too.
    }, 90_000);

    it.skipIf(!target.network).sequential(
      'destroyByUser while the login’s session write is held on the wire: the session never comes alive unseen',
      async () => {
        const proxy = pair.proxy as WireProxy;
        const run = runNamespace('held');
        for (let trial = 0; trial < 20; trial++) {
          const userId = `${run}-${trial}`;
          const id = generateId();
          const marker = `held-${run}-${trial}`;
          const held = proxy.hold(marker);
          const login = pair.login.create(id, record(userId, marker));
          await held.reached;
          await pair.revoke.destroyByUser?.(userId);
          held.release();
          expect(await login).toBe(true);
          const loaded = await pair.revoke.get(id);
          if (target.writeAfterEpochRead) {
            // The login read the epoch before the revoke raised it: its session is dead on arrival.
            expect(loaded).toBeNull();
            expect(await pair.revoke.listByUser?.(userId)).toEqual([]);
          } else {
            // The write that reads the epoch is the one held: this login came after the revoke. It is live,
            // listed, and the next revoke ends it.
            expect(loaded?.userId).toBe(userId);
            expect((await pair.revoke.listByUser?.(userId))?.map((s) => s.handle)).toEqual([storageKey(id)]);
          }
          expect(await survivor(id, userId)).toBe(false);
        }
      },
    );

    it.skipIf(!target.network).sequential(
      'listByUser while a login’s session write is held on the wire: the session is listed once written',
      async () => {
        const proxy = pair.proxy as WireProxy;
        const run = runNamespace('list');
        for (let trial = 0; trial < 10; trial++) {
          const userId = `${run}-${trial}`;
          const id = generateId();
          const marker = `list-${run}-${trial}`;
          const held = proxy.hold(marker);
          const login = pair.login.create(id, record(userId, marker));
          await held.reached;
          expect(await pair.revoke.listByUser?.(userId)).toEqual([]);
          held.release();
          expect(await login).toBe(true);
          expect((await pair.revoke.listByUser?.(userId))?.map((s) => s.handle)).toEqual([storageKey(id)]);
          expect(await survivor(id, userId)).toBe(false);
        }
      },
    );

    it.sequential('a session that destroyByUser missed (index entry dropped, or its delete lost) is dead all the same', async () => {
      const run = runNamespace('miss');
      const userId = `${run}-u`;
      const missed = generateId();
      const other = generateId();
      await pair.login.create(missed, record(userId, 'missed'));
      await pair.login.create(other, record(userId, 'other'));
      const putBack = await target.miss(pair, missed, userId);
      await pair.revoke.destroyByUser?.(userId);
      await putBack();
      expect(await pair.revoke.get(missed)).toBeNull();
      expect(await pair.login.get(missed)).toBeNull();
      expect(await pair.revoke.get(other)).toBeNull();
      expect(await pair.revoke.listByUser?.(userId)).toEqual([]);
      // A login after the revoke is not affected by it.
      const later = generateId();
      await pair.login.create(later, record(userId, 'later'));
      expect((await pair.revoke.get(later))?.userId).toBe(userId);
    });
  });
}

const pgSkip = await serviceSkipReason('PostgreSQL', () => pgExec(POSTGRES_URL, 'SELECT 1'));
const mysqlSkip = await serviceSkipReason('MariaDB', () => mysqlExec(MYSQL_URL, 'SELECT 1'));

describe('tables made before the revocation epoch', () => {
  /** The sessions table as releases before the epoch created it: the current DDL without the `epoch` column. */
  const oldLayout = (dialect: 'sqlite' | 'postgres' | 'mysql', table: string) =>
    (createTableSql(dialect, table)[0] as string).replace(/,\n\s*epoch [^,\n]*/, '');

  async function check(store: AnyStore, id: string): Promise<void> {
    // The old session loads, a revoke ends it, and a login after the revoke lives.
    expect((await store.get(id))?.userId).toBe('old-user');
    expect(await store.destroyByUser?.('old-user')).toBe(1);
    expect(await store.get(id)).toBeNull();
    const later = generateId();
    await store.create(later, record('old-user', 'later'));
    expect((await store.get(later))?.userId).toBe('old-user');
  }

  const oldRow = (id: string) => {
    const now = Date.now();
    return [storageKey(id), '{"a":1}', '{"originalMaxAge":null}', 'old-user', now, now, now + 60_000];
  };

  it('SQLite: the table gets its epoch column on open and its sessions stay', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sk-epoch-migrate-'));
    try {
      const file = join(dir, 'old.db');
      const Database = (await import('better-sqlite3')).default;
      const db = new Database(file);
      db.exec(oldLayout('sqlite', 'sessionkit_sessions'));
      const id = generateId();
      db.prepare('INSERT INTO sessionkit_sessions VALUES (?, ?, ?, ?, ?, ?, ?)').run(...oldRow(id));
      db.close();
      const store = await createStore(`sqlite://${file}?pruneInterval=false`);
      try {
        await check(store, id);
      } finally {
        await store.close?.();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it.skipIf(pgSkip)(
    'PostgreSQL: the table gets its epoch column on first use and its sessions stay',
    async () => {
      const table = runNamespace('skmig');
      const pg = (await import('pg')).default;
      const admin = new pg.Client({ connectionString: POSTGRES_URL });
      await admin.connect();
      try {
        await admin.query(oldLayout('postgres', table));
        const id = generateId();
        await admin.query(`INSERT INTO ${table} VALUES ($1, $2, $3, $4, $5, $6, $7)`, oldRow(id));
        const store = await createStore(`${POSTGRES_URL}?table=${table}&pruneInterval=false`);
        try {
          await check(store, id);
        } finally {
          await store.close?.();
        }
      } finally {
        await admin.query(`DROP TABLE IF EXISTS ${table}, ${table}_epochs`);
        await admin.end();
      }
    },
  );

  it.skipIf(mysqlSkip)(
    'MySQL/MariaDB: the table gets its epoch column on first use and its sessions stay',
    async () => {
      const table = runNamespace('skmig');
      const mysql = await import('mysql2/promise');
      const admin = await mysql.createConnection({ uri: MYSQL_URL });
      try {
        await admin.query(oldLayout('mysql', table));
        const id = generateId();
        await admin.query(`INSERT INTO \`${table}\` VALUES (?, ?, ?, ?, ?, ?, ?)`, oldRow(id));
        const store = await createStore(`${MYSQL_URL}?table=${table}&pruneInterval=false`);
        try {
          await check(store, id);
        } finally {
          await store.close?.();
        }
      } finally {
        await admin.query(`DROP TABLE IF EXISTS \`${table}\`, \`${table}_epochs\``);
        await admin.end();
      }
    },
  );
});
