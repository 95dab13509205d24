import { promisify } from 'node:util';
import ConnectMongo from 'connect-mongo';
import connectPgSimple from 'connect-pg-simple';
import { RedisStore as ConnectRedisStore } from 'connect-redis';
import expressMysqlSession from 'express-mysql-session';
import expressSession from 'express-session';
import { MongoClient } from 'mongodb';
import mysql from 'mysql2/promise';
import pg from 'pg';
import { createClient } from 'redis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateId } from '../../src/core/id.js';
import type { SessionStore } from '../../src/stores/contract.js';
import { MongoStore } from '../../src/stores/mongodb.js';
import { MySQLStore } from '../../src/stores/mysql.js';
import { PostgresStore } from '../../src/stores/postgres.js';
import { RedisStore } from '../../src/stores/redis.js';
import { MYSQL_URL, POSTGRES_URL, REDIS_URL } from '../support/interleave.js';
import { announce, mongoTarget } from '../support/mongo/target.js';
import { delayingVia, runRaces } from '../support/race-loop.js';
import { redisSkipReason } from '../support/redis.js';
import { mysqlConnection, runNamespace, serviceSkipReason } from '../support/services.js';
import type { WireProxy } from '../support/wire-proxy.js';

/**
 * With `legacy`, a session still in the incumbent's layout (connect-pg-simple, express-mysql-session,
 * connect-redis, connect-mongo) moves to the native one on its first write. A logout on another app server racing that
 * first write must stay a logout: two store instances stand for two app servers, each behind a proxy that
 * delays every chunk by a random 0-3 ms; each trial writes a session as the incumbent does, then races
 * an `update` or a `touch` on one server against a `destroy` on the other, each started at a random
 * offset. Zero survivors: after both settle, neither server loads the session, and its legacy record is
 * gone. Each race also checks it ran both ways (the first write finding the session, and not).
 */

const TRIALS_PER_WRITE = 100;
/** Trials in flight at once, each on its own session. */
const LANES = 4;
const WIRE_DELAY_MS = 3;

type Store = SessionStore & { close(): Promise<void> };
type WriteLegacy = (sid: string, sess: Record<string, unknown>) => Promise<void>;

interface Opened {
  writeLegacy: WriteLegacy;
  /** Whether the incumbent's record of `sid` is still there. */
  legacyExists(sid: string): Promise<boolean>;
  near: Store;
  far: Store;
  dispose(): Promise<void>;
}

interface Target {
  name: string;
  skip: string | false;
  open(via: (url: string) => Promise<string>): Promise<Opened>;
}

const pgAdmin = new pg.Pool({ connectionString: POSTGRES_URL, connectionTimeoutMillis: 3_000, max: 4 });
pgAdmin.on('error', () => undefined);
const pgSkip = await serviceSkipReason('PostgreSQL', () => pgAdmin.query('SELECT 1'));
const connection = mysqlConnection(MYSQL_URL);
const myAdmin = mysql.createPool({ ...connection, connectTimeout: 3_000, connectionLimit: 4 });
const mySkip = await serviceSkipReason('MySQL/MariaDB', () => myAdmin.query('SELECT 1'));
const redisSkip = await redisSkipReason(REDIS_URL);
const mongo = await mongoTarget();
announce(mongo, 'legacy-migration-race.test.ts');

const targets: Target[] = [
  {
    name: 'connect-pg-simple → PostgresStore',
    skip: pgSkip,
    async open(via) {
      const legacyTable = runNamespace('race_cps');
      const table = runNamespace('race_pg');
      await pgAdmin.query(
        `CREATE TABLE ${legacyTable} (sid varchar NOT NULL COLLATE "default", sess json NOT NULL, expire timestamp(6) NOT NULL, PRIMARY KEY (sid))`,
      );
      const anchor = new (connectPgSimple(expressSession))({
        pool: pgAdmin,
        tableName: legacyTable,
        pruneSessionInterval: false,
      });
      const options = { table, legacy: { layout: 'connect-pg-simple' as const, table: legacyTable } };
      const near = new PostgresStore(await via(POSTGRES_URL), { ...options, pruneInterval: false });
      const far = new PostgresStore(await via(POSTGRES_URL), { ...options, pruneInterval: false });
      return {
        writeLegacy: promisify(anchor.set.bind(anchor)) as WriteLegacy,
        legacyExists: async (sid) =>
          (await pgAdmin.query(`SELECT 1 FROM ${legacyTable} WHERE sid = $1`, [sid])).rowCount === 1,
        near,
        far,
        async dispose() {
          await near.close();
          await far.close();
          await pgAdmin.query(`DROP TABLE IF EXISTS ${table}, ${table}_epochs, ${legacyTable}`);
        },
      };
    },
  },
  {
    name: 'express-mysql-session → MySQLStore',
    skip: mySkip,
    async open(via) {
      const legacyTable = runNamespace('race_ems');
      const table = runNamespace('race_my');
      const anchor = new (expressMysqlSession(expressSession))({
        ...connection,
        clearExpired: false,
        schema: { tableName: legacyTable },
      });
      await anchor.onReady();
      const options = { table, legacy: { layout: 'express-mysql-session' as const, table: legacyTable } };
      const near = new MySQLStore(await via(MYSQL_URL), { ...options, pruneInterval: false });
      const far = new MySQLStore(await via(MYSQL_URL), { ...options, pruneInterval: false });
      return {
        writeLegacy: promisify(anchor.set.bind(anchor)) as WriteLegacy,
        async legacyExists(sid) {
          const [rows] = await myAdmin.query(`SELECT 1 FROM ${legacyTable} WHERE session_id = ?`, [sid]);
          return (rows as unknown[]).length === 1;
        },
        near,
        far,
        async dispose() {
          await near.close();
          await far.close();
          await anchor.close();
          await myAdmin.query(`DROP TABLE IF EXISTS ${table}, ${table}_epochs, ${legacyTable}`);
        },
      };
    },
  },
  {
    name: 'connect-redis → RedisStore',
    skip: redisSkip,
    async open(via) {
      const prefix = `${runNamespace('race_sk')}:`;
      const legacyPrefix = `${runNamespace('race_sess')}:`;
      const direct = createClient({ url: REDIS_URL });
      const nearClient = createClient({ url: await via(REDIS_URL) });
      const farClient = createClient({ url: await via(REDIS_URL) });
      const clients = [direct, nearClient, farClient];
      for (const client of clients) await client.connect();
      const anchor = new ConnectRedisStore({ client: direct, prefix: legacyPrefix });
      const options = { prefix, legacy: 'connect-redis' as const, legacyPrefix };
      return {
        writeLegacy: (sid, sess) => anchor.set(sid, sess as never) as Promise<void>,
        legacyExists: async (sid) => (await direct.exists(`${legacyPrefix}${sid}`)) === 1,
        near: new RedisStore({ client: nearClient, ...options }),
        far: new RedisStore({ client: farClient, ...options }),
        async dispose() {
          for (const pattern of [`${prefix}*`, `${legacyPrefix}*`])
            for await (const keys of direct.scanIterator({ MATCH: pattern }))
              if (keys.length) await direct.del(keys);
          for (const client of clients) client.destroy();
        },
      };
    },
  },
  {
    name: `connect-mongo → MongoStore, on the ${mongo.label}`,
    skip: false,
    async open(via) {
      const dbName = runNamespace('race_mongo');
      const legacyCollectionName = 'cm_sessions';
      const clients = [
        new MongoClient(mongo.url),
        new MongoClient(await via(mongo.url)),
        new MongoClient(await via(mongo.url)),
      ];
      const [direct, nearClient, farClient] = clients as [MongoClient, MongoClient, MongoClient];
      const anchor = ConnectMongo.create({ client: direct, dbName, collectionName: legacyCollectionName });
      const options = {
        dbName,
        collectionName: 'sk_sessions',
        legacy: 'connect-mongo' as const,
        legacyCollectionName,
      };
      const near = new MongoStore({ client: nearClient, ...options });
      const far = new MongoStore({ client: farClient, ...options });
      return {
        writeLegacy: promisify(anchor.set.bind(anchor)) as WriteLegacy,
        legacyExists: async (sid) =>
          (await direct
            .db(dbName)
            .collection<{ _id: string }>(legacyCollectionName)
            .findOne({ _id: sid })) !== null,
        near,
        far,
        async dispose() {
          await near.close();
          await far.close();
          if (mongo.kind === 'real') await direct.db(dbName).dropDatabase();
          await anchor.close();
          for (const client of clients) await client.close();
        },
      };
    },
  },
];

afterAll(async () => {
  await pgAdmin.end();
  await myAdmin.end();
  await mongo.close();
});

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

for (const target of targets) {
  describe.skipIf(target.skip)(`a first write of a legacy session racing a logout: ${target.name}`, () => {
    let opened: Opened;
    const proxies: WireProxy[] = [];

    beforeAll(async () => {
      opened = await target.open(delayingVia(proxies, WIRE_DELAY_MS));
      // Both servers' tables exist before the first trial.
      await opened.near.length?.();
      await opened.far.length?.();
    });

    afterAll(async () => {
      await opened?.dispose();
      for (const proxy of proxies) await proxy.stop();
    });

    for (const write of ['update', 'touch'] as const) {
      it(`${write} on one server, destroy on the other: the logout stays (${TRIALS_PER_WRITE} trials)`, async () => {
        const survivors: string[] = [];
        const legacySession = async (): Promise<string> => {
          const sid = generateId();
          const expires = new Date(Date.now() + 60_000);
          await opened.writeLegacy(sid, {
            cookie: { originalMaxAge: 60_000, expires, httpOnly: true, path: '/' },
            user: 'ada',
          });
          return sid;
        };
        const firstWrite = (sid: string): Promise<boolean> => {
          const now = Date.now();
          return write === 'update'
            ? opened.far.update(sid, {
                set: { late: 1 },
                unset: [],
                expiresAt: now + 60_000,
                lastSeenAt: now,
              })
            : opened.far.touch(sid, now + 60_000, now);
        };
        const { won: found, lost: missed } = await runRaces({
          trials: TRIALS_PER_WRITE,
          lanes: LANES,
          async timeOne() {
            const sid = await legacySession();
            const start = performance.now();
            await firstWrite(sid);
            const took = performance.now() - start;
            await opened.near.destroy(sid);
            return took;
          },
          async race(spreadMs) {
            const sid = await legacySession();
            const writing = pause(Math.random() * WIRE_DELAY_MS).then(() => firstWrite(sid));
            const logout = pause(Math.random() * spreadMs).then(() => opened.near.destroy(sid));
            const [wrote] = await Promise.all([writing, logout]);
            const left = [await opened.near.get(sid), await opened.far.get(sid)];
            if (left.some((record) => record !== null) || (await opened.legacyExists(sid)))
              survivors.push(sid);
            return wrote;
          },
        });
        expect(survivors).toEqual([]);
        // The race ran both ways: otherwise the test proved nothing.
        expect({ found: found > 0, missed: missed > 0 }, `found ${found}, missed ${missed}`).toEqual({
          found: true,
          missed: true,
        });
      });
    }
  });
}
