import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { MongoClient } from 'mongodb';
import mysql from 'mysql2/promise';
import pg from 'pg';
import { createClient } from 'redis';
import { afterAll, describe, expect, it } from 'vitest';
import { generateId, storageKey } from '../../src/core/id.js';
import { type AnyStore, createStore } from '../../src/stores/factory.js';
import { MemoryStore } from '../../src/stores/memory.js';
import { MongoStore } from '../../src/stores/mongodb.js';
import { MySQLStore } from '../../src/stores/mysql.js';
import { PostgresStore } from '../../src/stores/postgres.js';
import { createFromUrl as redisFromUrl } from '../../src/stores/redis.js';
import {
  type ParamType,
  readParams,
  STORES,
  type StoreParam,
  storeTable,
} from '../../src/stores/registry.js';
import { SQLiteStore } from '../../src/stores/sqlite.js';
import { record } from '../../src/testing/conformance.js';
import { runCli } from '../cli/harness.js';
import { announce, mongoTarget } from '../support/mongo/target.js';
import { runNamespace, serviceSkipReason } from '../support/services.js';

const ROOT = resolve(import.meta.dirname, '../..');
const POSTGRES_URL = process.env.POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const MYSQL_URL = process.env.MYSQL_URL ?? 'mysql://root@127.0.0.1:3306/test';
const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

/** A URL of each scheme that names nothing reachable: every check below must fail before connecting. */
function baseUrl(scheme: string): string {
  if (scheme === 'memory:') return 'memory:';
  if (scheme === 'sqlite:') return 'sqlite::memory:';
  if (scheme.includes('sentinel')) return `${scheme}//127.0.0.1:1/mymaster`;
  // An SRV URL names a DNS name, without a port.
  if (scheme === 'mongodb+srv:') return `${scheme}//cluster.example.invalid/db`;
  return `${scheme}//127.0.0.1:1/db`;
}

function withParam(scheme: string, name: string, value: string): string {
  const url = baseUrl(scheme);
  return `${url}?${new URLSearchParams([[name, value]])}`;
}

const GOOD: Record<ParamType, string> = {
  string: 'x:',
  identifier: 'sk_table',
  ms: '2500',
  ms0: '0',
  interval: 'false',
  count: '7',
  boolean: 'false',
  enum: '',
  endpoint: '127.0.0.1:7001',
};
const BAD: Record<ParamType, string> = {
  string: '',
  identifier: 'a-b; DROP TABLE x',
  ms: '-1',
  ms0: '1.5',
  interval: 'soon',
  count: 'x',
  boolean: 'maybe',
  enum: 'other',
  endpoint: 'nohost',
};

const cases = STORES.flatMap((store) =>
  store.params.map((param) => ({
    store: store.name,
    param,
    scheme: (param.schemes ?? store.schemes)[0] as string,
    definition: store,
  })),
);

async function failure(promise: Promise<unknown>): Promise<Error & { code?: string }> {
  return promise.then(
    (opened) => {
      (opened as AnyStore | undefined)?.close?.();
      return Object.assign(new Error('opened'), { code: 'opened' });
    },
    (error: Error) => error,
  );
}

function thrown(build: () => unknown): Error & { code?: string } {
  try {
    const store = build() as AnyStore;
    store.close?.();
  } catch (error) {
    return error as Error & { code?: string };
  }
  return Object.assign(new Error('constructed'), { code: 'constructed' });
}

describe('the store registry', () => {
  it("the README's store table is the registry's", () => {
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    const table = /<!-- store-table:start -->\n([\s\S]*?)\n<!-- store-table:end -->/.exec(readme)?.[1];
    expect(table).toBe(storeTable());
  });

  it('createStore knows every scheme of every store, and no other', async () => {
    for (const store of STORES)
      for (const scheme of store.schemes) expect(() => readParams(new URL(baseUrl(scheme)))).not.toThrow();
    const error = await failure(createStore('reddis://127.0.0.1'));
    expect(error.code).toBe('ERR_STORE_URL');
    for (const scheme of STORES.flatMap((s) => s.schemes)) expect(error.message).toContain(scheme);
  });

  it.each(cases.map((c) => [`${c.store} ${c.param.name}`, c] as const))(
    '%s: a good value is read with its type, a bad one refused naming the parameter',
    async (_label, c) => {
      const param: StoreParam = c.param;
      const good = param.type === 'enum' ? (param.values?.[0] as string) : GOOD[param.type];
      const read = readParams(new URL(withParam(c.scheme, param.name, good)), c.definition);
      const expected =
        param.type === 'ms' || param.type === 'ms0' || param.type === 'count'
          ? Number(good)
          : param.type === 'boolean' || param.type === 'interval'
            ? false
            : good;
      expect(read[param.name]).toEqual(param.repeatable ? [expected] : expected);
      for (const alias of param.aliases ?? [])
        expect(readParams(new URL(withParam(c.scheme, alias, good)), c.definition)[param.name]).toEqual(
          expected,
        );

      const error = await failure(createStore(withParam(c.scheme, param.name, BAD[param.type])));
      expect(error.code).toBe('ERR_STORE_URL');
      expect(error.message).toContain(`\`${param.name}\``);
    },
  );

  it('a parameter of some schemes only is refused with the others', async () => {
    for (const c of cases.filter((x) => x.param.schemes)) {
      const other = c.definition.schemes.find((s) => !c.param.schemes?.includes(s)) as string;
      const error = await failure(createStore(withParam(other, c.param.name, GOOD[c.param.type])));
      expect(error.code, `${c.param.name} on ${other}`).toBe('ERR_STORE_URL');
      expect(error.message).toContain(`\`${c.param.name}\``);
    }
  });
});

const MISSPELT: Record<string, string> = {
  MemoryStore: 'maxx',
  SQLiteStore: 'tabel',
  PostgresStore: 'tabel',
  MySQLStore: 'tabel',
  RedisStore: 'prefx',
  MongoStore: 'colection',
};

describe('an unknown parameter is refused with ERR_STORE_URL naming it, its credentials masked', () => {
  const schemes = STORES.flatMap((store) =>
    store.schemes.map((scheme) => [scheme, store.name, MISSPELT[store.name] as string] as const),
  );

  it.each(schemes)('%s through createStore', async (scheme, _store, name) => {
    const url = withParam(scheme, name, 'x').replace('://', '://app:S3cretPW@');
    const error = await failure(createStore(url));
    expect(error.code).toBe('ERR_STORE_URL');
    expect(error.message).toContain(name);
    expect(`${error.message}\n${error.stack}`).not.toContain('S3cretPW');
  });

  it.each(schemes)('%s through the CLI (exit 4)', async (scheme, _store, name) => {
    const result = await runCli(['stats', '--json', '--store', withParam(scheme, name, 'x')]);
    expect(result.code, result.stderr).toBe(4);
    const { error } = JSON.parse(result.stdout) as { error: { code: string; message: string } };
    expect(error.code).toBe('ERR_STORE_URL');
    expect(error.message).toContain(name);
  });

  it.each(schemes.filter(([, store]) => store !== 'MemoryStore'))(
    '%s through the store constructor or createFromUrl',
    async (scheme, store, name) => {
      const url = withParam(scheme, name, 'x').replace('://', '://app:S3cretPW@');
      const error =
        store === 'PostgresStore'
          ? thrown(() => new PostgresStore(url))
          : store === 'MySQLStore'
            ? thrown(() => new MySQLStore(url))
            : store === 'SQLiteStore'
              ? thrown(() => new SQLiteStore(url))
              : store === 'MongoStore'
                ? thrown(() => new MongoStore({ url }))
                : await failure(redisFromUrl(new URL(url)));
      expect(error.code).toBe('ERR_STORE_URL');
      expect(error.message).toContain(name);
      expect(`${error.message}\n${error.stack}`).not.toContain('S3cretPW');
    },
  );
});

/**
 * Each store built from a URL carrying its parameters, through createStore, its constructor and the CLI:
 * the record lands where the parameters say, with the timeout they set.
 */
describe('the parameters reach the store, through createStore, the constructor and the CLI', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sk-registry-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  async function check(
    url: string,
    build: (url: string) => Promise<AnyStore> | AnyStore,
    landed: (handle: string) => Promise<boolean>,
  ): Promise<void> {
    for (const open of [createStore, build]) {
      const store = await open(url);
      try {
        expect(store.timeout).toBe(2345);
        expect(store.ttl).toBe(4321);
        const id = generateId();
        await store.create(id, record());
        expect(await landed(storageKey(id))).toBe(true);
      } finally {
        await store.close?.();
      }
    }
    const cli = await runCli(['stats', '--json', '--create', '--store', url]);
    expect(cli.code, cli.stderr).toBe(0);
    expect((JSON.parse(cli.stdout) as { count: number }).count).toBe(2);
  }

  it('MemoryStore: max and sweepInterval', async () => {
    const store = (await createStore('memory:?max=3&sweepInterval=1000')) as MemoryStore;
    expect(store.max).toBe(3);
    await store.close?.();
    expect(new MemoryStore({ max: 3 }).max).toBe(3);
    const cli = await runCli(['stats', '--json', '--store', 'memory:?max=3&sweepInterval=1000']);
    expect(cli.code, cli.stderr).toBe(0);
  });

  it('SQLiteStore: table, createTable, timeout, ttl, pruneInterval, busyTimeout', async () => {
    const file = join(dir, 'params.db');
    const url = `sqlite://${file}?table=sk_params&createTable=true&timeout=2345&ttl=4321&pruneInterval=false&busyTimeout=50`;
    const probe = new SQLiteStore(url);
    try {
      await check(
        url,
        (u) => new SQLiteStore(u),
        async (handle) => probe.db.prepare('SELECT 1 FROM sk_params WHERE id = ?').get(handle) !== undefined,
      );
      expect(probe.busyTimeout).toBe(50);
      // SQLite itself waits one slice at a time; the store waits out the rest with the event loop free.
      expect(probe.db.pragma('busy_timeout', { simple: true })).toBe(20);
    } finally {
      await probe.close();
    }
  });

  const postgresAdmin = new pg.Pool({
    connectionString: POSTGRES_URL,
    connectionTimeoutMillis: 3_000,
    max: 1,
  });
  postgresAdmin.on('error', () => undefined);
  const pgTable = runNamespace('sk_reg');
  it('PostgresStore: table, schema, createTable, timeout, ttl, pruneInterval, preparedStatements, a pg parameter', async (ctx) => {
    const skip = await serviceSkipReason('PostgreSQL', () => postgresAdmin.query('SELECT 1'));
    if (skip) ctx.skip();
    const url = new URL(POSTGRES_URL);
    for (const [k, v] of Object.entries({
      table: pgTable,
      schema: 'public',
      createTable: 'true',
      timeout: '2345',
      ttl: '4321',
      pruneInterval: 'false',
      preparedStatements: 'false',
      application_name: 'sk-registry',
    }))
      url.searchParams.set(k, v);
    try {
      await check(
        url.href,
        (u) => new PostgresStore(u),
        async (handle) =>
          (await postgresAdmin.query(`SELECT 1 FROM public.${pgTable} WHERE id = $1`, [handle])).rowCount ===
          1,
      );
    } finally {
      await postgresAdmin.query(`DROP TABLE IF EXISTS public.${pgTable}, public.${pgTable}_epochs`);
      await postgresAdmin.end();
    }
  });

  it('PostgresStore and MySQLStore: legacy and legacyTable reach the store', async () => {
    // legacyTable without legacy is refused; with it, the layout is taken (a wrong one was refused above).
    for (const scheme of ['postgres:', 'mysql:']) {
      const error = thrown(() =>
        scheme === 'postgres:'
          ? new PostgresStore('postgres://127.0.0.1:1/x?legacyTable=old')
          : new MySQLStore('mysql://127.0.0.1:1/x?legacyTable=old'),
      );
      expect(error.code).toBe('ERR_STORE_URL');
      expect(error.message).toContain('legacyTable');
    }
    const pgStore = new PostgresStore(
      'postgres://127.0.0.1:1/x?legacy=connect-pg-simple&legacyTable=old&pruneInterval=false',
    );
    const myStore = new MySQLStore(
      'mysql://127.0.0.1:1/x?legacy=express-mysql-session&legacyTable=old&pruneInterval=false',
    );
    for (const store of [pgStore, myStore]) {
      const legacy = (store as unknown as { legacy: unknown }).legacy;
      expect(JSON.stringify(legacy)).toContain('old');
      await store.close();
    }
  });

  const mysqlAdmin = mysql.createPool({ uri: MYSQL_URL, connectionLimit: 1, connectTimeout: 3_000 });
  const myTable = runNamespace('sk_reg');
  it('MySQLStore (mysql: and mariadb:): table, createTable, timeout, ttl, pruneInterval', async (ctx) => {
    const skip = await serviceSkipReason('MySQL', () => mysqlAdmin.query('SELECT 1'));
    if (skip) ctx.skip();
    try {
      for (const scheme of ['mysql:', 'mariadb:']) {
        const url = new URL(MYSQL_URL.replace(/^mysql:/, scheme));
        url.search = `?table=${myTable}&createTable=true&timeout=2345&ttl=4321&pruneInterval=false`;
        await mysqlAdmin.query(`DROP TABLE IF EXISTS \`${myTable}\``);
        await check(
          url.href,
          (u) => new MySQLStore(u),
          async (handle) => {
            const [rows] = await mysqlAdmin.query(`SELECT 1 FROM \`${myTable}\` WHERE id = ?`, [handle]);
            return (rows as unknown[]).length === 1;
          },
        );
      }
    } finally {
      await mysqlAdmin.query(`DROP TABLE IF EXISTS \`${myTable}\`, \`${myTable}_epochs\``);
      await mysqlAdmin.end();
    }
  });

  const redisAdmin = createClient({
    url: REDIS_URL,
    socket: { connectTimeout: 3_000, reconnectStrategy: false },
  });
  redisAdmin.on('error', () => undefined);
  it('RedisStore (redis: and rediss: refusal aside): prefix, timeout, ttl, client, scanCount, legacy, legacyPrefix', async (ctx) => {
    const skip = await serviceSkipReason('Redis', () => redisAdmin.connect());
    if (skip) ctx.skip();
    const prefix = `${runNamespace('skreg')}:`;
    try {
      for (const client of ['redis', 'ioredis']) {
        const url = new URL(REDIS_URL);
        url.search = `?${new URLSearchParams({ prefix, timeout: '2345', ttl: '4321', client, scanCount: '7', legacy: 'connect-redis', legacyPrefix: 'old:' })}`;
        await check(
          url.href,
          (u) => redisFromUrl(new URL(u)),
          async (handle) => (await redisAdmin.exists(`${prefix}s:{${handle}}`)) === 1,
        );
        const store = (await createStore(url.href)) as AnyStore & {
          scanCount: number;
          legacyPrefix: string;
          clientKind: string;
        };
        expect([store.scanCount, store.legacyPrefix]).toEqual([7, 'old:']);
        expect(store.clientKind).toContain(client === 'redis' ? 'node' : 'ioredis');
        await store.clear?.();
        await store.close?.();
      }
    } finally {
      for await (const keys of redisAdmin.scanIterator({ MATCH: `${prefix}*`, COUNT: 500 }))
        if (keys.length > 0) await redisAdmin.del(keys);
      if (redisAdmin.isOpen) await redisAdmin.quit();
    }
  });

  it('MongoStore (mongodb:): collectionName and its alias, autoRemove, timeout, ttl, legacy, legacyCollectionName, a driver option', async () => {
    const target = await mongoTarget();
    announce(target, 'stores/registry.test.ts');
    const dbName = runNamespace('sk_reg');
    const client = new MongoClient(target.url);
    try {
      for (const name of ['collectionName', 'collection']) {
        const url = new URL(target.url);
        url.pathname = `/${dbName}`;
        url.search = `?${new URLSearchParams({ [name]: `c_${name}`, autoRemove: 'false', timeout: '2345', ttl: '4321', legacy: 'connect-mongo', legacyCollectionName: 'old', serverSelectionTimeoutMS: '3000' })}`;
        await check(
          url.href,
          (u) => new MongoStore({ url: u }),
          async (handle) =>
            (await client
              .db(dbName)
              .collection(`c_${name}`)
              .countDocuments({ _id: handle as never })) === 1,
        );
        const store = (await createStore(url.href)) as MongoStore;
        expect([store.collectionName, store.legacyCollectionName]).toEqual([`c_${name}`, 'old']);
        await store.close();
      }
    } finally {
      if (target.kind === 'real') await client.db(dbName).dropDatabase();
      await client.close();
      await target.close();
    }
  });
});
