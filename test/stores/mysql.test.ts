import expressMysqlSession from 'express-mysql-session';
import expressSession from 'express-session';
import mysql from 'mysql2/promise';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateId, storageKey } from '../../src/core/id.js';
import { createFromUrl, MySQLStore } from '../../src/stores/mysql.js';
import { mysqlConnection, runNamespace, serviceSkipReason, urlVia } from '../support/services.js';
import { record, runStoreConformance } from './conformance.js';
import {
  expectExpressSessionCookie,
  expressSessionApp,
  expressSessionId,
  runExpressSessionCompat,
} from './express-session-compat.js';
import { later, legacyPayload, runScript, sourcePath } from './sql-helpers.js';

const MYSQL_URL = process.env.MYSQL_URL ?? 'mysql://root@127.0.0.1:3306/test';
const table = runNamespace('sk');
const legacyTable = runNamespace('ems');
const connection = mysqlConnection(MYSQL_URL);
const admin = mysql.createPool({ ...connection, connectTimeout: 3_000, connectionLimit: 2 });
const skip = await serviceSkipReason('MySQL/MariaDB', () => admin.query('SELECT 1'));

runStoreConformance<MySQLStore>({
  name: 'MySQLStore',
  skip,
  create: () => new MySQLStore(MYSQL_URL, { table }),
  createPeer: () => new MySQLStore(MYSQL_URL, { table, pruneInterval: false }),
  async corrupt(_store, id) {
    await admin.query(`UPDATE ${table} SET data = ? WHERE id = ?`, ['{"trunc', storageKey(id)]);
  },
  network: {
    host: connection.host,
    port: connection.port,
    createVia: (host, port, timeoutMs) =>
      new MySQLStore(urlVia(MYSQL_URL, host, port), { table, timeout: timeoutMs, pruneInterval: false }),
  },
});

if (!skip) runExpressSessionCompat('MySQLStore', () => new MySQLStore(MYSQL_URL, { table }));

afterAll(async () => {
  if (!skip) await admin.query(`DROP TABLE IF EXISTS ${table}, ${table}_epochs, ${legacyTable}`);
  await admin.end();
});

describe.skipIf(skip)('MySQLStore legacy: express-mysql-session', () => {
  const LegacyStore = expressMysqlSession(expressSession);
  let legacyStore: InstanceType<typeof LegacyStore>;
  let store: MySQLStore;

  beforeAll(async () => {
    // express-mysql-session creates its own table (schema.sql) under the name it is given.
    legacyStore = new LegacyStore({ ...connection, clearExpired: false, schema: { tableName: legacyTable } });
    await legacyStore.onReady();
    store = new MySQLStore(MYSQL_URL, {
      table,
      legacy: { layout: 'express-mysql-session', table: legacyTable },
    });
  });
  afterAll(async () => {
    await store?.close();
    await legacyStore?.close();
  });

  const profile = { name: 'Ann', tags: ['a', 'b'] };
  const app = (sessionStore: expressSession.Store) => expressSessionApp(sessionStore, profile);

  const count = async (sql: string, value: string) => {
    const [rows] = await admin.query<mysql.RowDataPacket[]>(sql, [value]);
    return rows.length;
  };
  const legacyRows = (sid: string) =>
    count(`SELECT session_id FROM ${legacyTable} WHERE session_id = ?`, sid);
  const nativeRows = (sid: string) => count(`SELECT id FROM ${table} WHERE id = ?`, storageKey(sid));
  const legacySet = (sid: string, sess: unknown) =>
    new Promise<void>((resolve, reject) =>
      legacyStore.set(sid, sess, (err?: unknown) => (err ? reject(err) : resolve())),
    );

  it('reads a session express-mysql-session wrote, moves it on the next write, and keeps the user logged in', async () => {
    const first = await request(app(legacyStore)).get('/').expect(200, 'views: 1');
    const cookie = first.headers['set-cookie'] as unknown as string[];
    const sid = expressSessionId(cookie);
    expect(await legacyRows(sid)).toBe(1);

    const got = await store.get(sid);
    expect(got?.data).toEqual({ views: 1, profile: { name: 'Ann', tags: ['a', 'b'] } });
    expectExpressSessionCookie(got?.cookie);
    // express-mysql-session keeps whole seconds.
    expect(Math.abs((got?.expiresAt ?? 0) - Date.parse(String(got?.cookie.expires)))).toBeLessThanOrEqual(
      1_000,
    );
    expect(got!.expiresAt).toBeGreaterThan(Date.now() + 55_000);
    expect(await nativeRows(sid)).toBe(0);

    expect(await store.update(sid, { set: { views: 2 }, unset: [], ...later(60_000) })).toBe(true);
    expect(await legacyRows(sid)).toBe(0);
    expect(await nativeRows(sid)).toBe(1);
    expect((await store.get(sid))?.data).toEqual({ views: 2, profile: { name: 'Ann', tags: ['a', 'b'] } });

    await request(app(store as unknown as expressSession.Store))
      .get('/')
      .set('Cookie', cookie)
      .expect(200, 'views: 3');
  });

  it('moves a legacy session on touch, and destroy removes the legacy row', async () => {
    const touched = generateId();
    await legacySet(touched, legacyPayload(60_000));
    expect(await store.touch(touched, Date.now() + 120_000, Date.now())).toBe(true);
    expect(await legacyRows(touched)).toBe(0);
    expect((await store.get(touched))?.expiresAt).toBeGreaterThan(Date.now() + 110_000);

    const destroyed = generateId();
    await legacySet(destroyed, legacyPayload(60_000));
    await store.destroy(destroyed);
    expect(await legacyRows(destroyed)).toBe(0);
    expect(await store.get(destroyed)).toBeNull();
  });

  it('never returns, updates or moves an expired legacy row', async () => {
    const sid = generateId();
    await legacySet(sid, legacyPayload(-5_000));
    expect(await legacyRows(sid)).toBe(1);
    expect(await store.get(sid)).toBeNull();
    expect(await store.update(sid, { set: { x: 1 }, unset: [], ...later(60_000) })).toBe(false);
    expect(await store.touch(sid, Date.now() + 60_000, Date.now())).toBe(false);
    expect(await nativeRows(sid)).toBe(0);
    expect(await store.create(sid, record())).toBe(true);
  });
});

describe.skipIf(skip)('MySQLStore specifics', () => {
  it('uses a pool it is given (callback or promise flavour) and leaves it open on close', async () => {
    const pool = mysql.createPool({ ...connection, connectionLimit: 2 });
    const store = new MySQLStore(pool.pool, { table });
    const id = generateId();
    await store.create(id, record());
    await store.close();
    const [rows] = await pool.query<mysql.RowDataPacket[]>(`SELECT id FROM ${table} WHERE id = ?`, [
      storageKey(id),
    ]);
    expect(rows.length).toBe(1);
    await pool.end();
  });

  it('createFromUrl accepts mysql:// and mariadb:// with its own parameters', async () => {
    const url = new URL(MYSQL_URL.replace(/^mysql:/, 'mariadb:'));
    url.searchParams.set('table', table);
    url.searchParams.set('timeout', '2500');
    const store = await createFromUrl(url);
    expect(store.timeout).toBe(2500);
    const id = generateId();
    await store.create(id, record());
    expect(await store.get(id)).not.toBeNull();
    await store.close();
    await expect(createFromUrl(new URL('postgres://x/y'))).rejects.toMatchObject({ code: 'ERR_STORE_URL' });
  });

  it('close() releases its connections so the process exits by itself', async () => {
    const script = `
      const { MySQLStore } = await import(${JSON.stringify(sourcePath('stores/mysql.ts'))});
      const store = new MySQLStore(${JSON.stringify(MYSQL_URL)}, { table: ${JSON.stringify(table)} });
      await store.get('x'.repeat(43));
      await store.close();
    `;
    expect(await runScript(script)).toBe(0);
  });
});
