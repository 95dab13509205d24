/**
 * The README's second migration path on the SQL anchors: an application on sessionkit with an
 * express-session store (connect-pg-simple, express-mysql-session) moves to the native store with
 * `legacy`. Users logged in with `login()` before the move stay logged in, bound to their user, and
 * reachable by "log out everywhere"; nothing sessionkit kept in the anchor's record shows as data.
 */
import connectPgSimple from 'connect-pg-simple';
import type { RequestHandler } from 'express';
import expressMysqlSession from 'express-mysql-session';
import expressSession from 'express-session';
import mysql from 'mysql2/promise';
import pg from 'pg';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { storageKey } from '../../src/core/id.js';
import session, { currentUserId, login, type SessionStore } from '../../src/index.js';
import { MySQLStore } from '../../src/stores/mysql.js';
import { PostgresStore } from '../../src/stores/postgres.js';
import { cookieOf, expressVersions, idOf } from '../support/apps.js';
import { mysqlConnection, runNamespace, serviceSkipReason } from '../support/services.js';

const secret = 'sql-migration-secret-0123456789abcdefgh';
const POSTGRES_URL = process.env.POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const MYSQL_URL = process.env.MYSQL_URL ?? 'mysql://root@127.0.0.1:3306/test';

const pgAdmin = new pg.Pool({ connectionString: POSTGRES_URL, connectionTimeoutMillis: 3_000, max: 2 });
pgAdmin.on('error', () => undefined);
const pgSkip = await serviceSkipReason('PostgreSQL', () => pgAdmin.query('SELECT 1'));
const connection = mysqlConnection(MYSQL_URL);
const myAdmin = mysql.createPool({ ...connection, connectTimeout: 3_000, connectionLimit: 2 });
const mySkip = await serviceSkipReason('MySQL/MariaDB', () => myAdmin.query('SELECT 1'));

interface Anchor {
  name: string;
  skip: string | false;
  /** The anchor store and the native store reading its layout, in tables of this run's own. */
  open(): Promise<{
    anchor: unknown;
    native: SessionStore & { close(): Promise<void> };
    drop(): Promise<void>;
  }>;
}

const anchors: Anchor[] = [
  {
    name: 'connect-pg-simple → PostgresStore',
    skip: pgSkip,
    async open() {
      const legacyTable = runNamespace('mig_cps');
      const table = runNamespace('mig_pg');
      await pgAdmin.query(
        `CREATE TABLE ${legacyTable} (sid varchar NOT NULL COLLATE "default", sess json NOT NULL, expire timestamp(6) NOT NULL, PRIMARY KEY (sid))`,
      );
      const PgSession = connectPgSimple(expressSession);
      const anchor = new PgSession({ pool: pgAdmin, tableName: legacyTable, pruneSessionInterval: false });
      const native = new PostgresStore(POSTGRES_URL, {
        table,
        legacy: { layout: 'connect-pg-simple', table: legacyTable },
      });
      return {
        anchor,
        native,
        drop: async () => {
          await native.close();
          await pgAdmin.query(`DROP TABLE IF EXISTS ${table}, ${legacyTable}`);
        },
      };
    },
  },
  {
    name: 'express-mysql-session → MySQLStore',
    skip: mySkip,
    async open() {
      const legacyTable = runNamespace('mig_ems');
      const table = runNamespace('mig_my');
      const LegacyStore = expressMysqlSession(expressSession);
      const anchor = new LegacyStore({
        ...connection,
        clearExpired: false,
        schema: { tableName: legacyTable },
      });
      await anchor.onReady();
      const native = new MySQLStore(MYSQL_URL, {
        table,
        legacy: { layout: 'express-mysql-session', table: legacyTable },
      });
      return {
        anchor,
        native,
        drop: async () => {
          await native.close();
          await anchor.close();
          await myAdmin.query(`DROP TABLE IF EXISTS ${table}, ${legacyTable}`);
        },
      };
    },
  },
];

afterAll(async () => {
  await pgAdmin.end();
  await myAdmin.end();
});

for (const { name, skip, open } of anchors) {
  describe.skipIf(skip).each(expressVersions)(`${name}, on $name`, ({ create }) => {
    let opened: Awaited<ReturnType<Anchor['open']>>;
    beforeAll(async () => {
      opened = await open();
    });
    afterAll(async () => {
      await opened?.drop();
    });

    function app(store: unknown) {
      const a = create();
      a.use(
        session({
          secret,
          resave: false,
          saveUninitialized: false,
          store: store as never,
        }) as unknown as RequestHandler,
      );
      a.get('/login', async (req, res) => {
        await login(req.session, String(req.query.user ?? 'u1'));
        (req.session as unknown as Record<string, number>).views = 1;
        res.send('in');
      });
      a.get('/view', (req, res) => {
        const s = req.session as unknown as Record<string, number>;
        s.views = (s.views ?? 0) + 1;
        res.json({
          views: s.views,
          user: currentUserId(req.session),
          keys: Object.keys(req.session).sort(),
        });
      });
      return a;
    }

    it('log out everywhere ends sessions still in the old layout, read or written first', async () => {
      const user = `revoked-${idOf(cookieOf(await request(app(opened.anchor)).get('/login?user=x').expect(200))).slice(0, 8)}`;
      const login = async () =>
        cookieOf(await request(app(opened.anchor)).get(`/login?user=${user}`).expect(200, 'in'));
      const [read, written] = [await login(), await login()];
      expect((await opened.native.get(idOf(read)))?.userId).toBe(user);
      await opened.native.destroyByUser?.(user);
      expect(await opened.native.get(idOf(read))).toBeNull();
      // Written first (the move to the native layout): the write finds nothing to move.
      expect(await opened.native.touch(idOf(written), Date.now() + 60_000, Date.now())).toBe(false);
      expect(await opened.native.get(idOf(written))).toBeNull();
      const res = await request(app(opened.native)).get('/view').set('Cookie', read).expect(200);
      expect(res.body).toMatchObject({ views: 1, user: null });
    });

    it('a user logged in through the anchor stays logged in and bound after the move', async () => {
      const cookie = cookieOf(await request(app(opened.anchor)).get('/login').expect(200, 'in'));
      const res = await request(app(opened.native)).get('/view').set('Cookie', cookie).expect(200);
      expect(res.body).toEqual({ views: 2, user: 'u1', keys: ['cookie', 'views'] });
      const sessions = await opened.native.listByUser?.('u1');
      expect(sessions?.map((s) => s.handle)).toContain(storageKey(idOf(cookie)));
      // No meta field as data; the login's authentication time moves with it under its reserved key.
      expect(Object.keys(sessions?.[0]?.data ?? {}).sort()).toEqual(['sessionkit:authTime', 'views']);
    });
  });
}
