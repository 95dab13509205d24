import connectPgSimple from 'connect-pg-simple';
import expressSession from 'express-session';
import pg from 'pg';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateId, storageKey } from '../../src/core/id.js';
import { createFromUrl, PostgresStore } from '../../src/stores/postgres.js';
import { runNamespace, serviceSkipReason, urlVia } from '../support/services.js';
import { record, runStoreConformance } from './conformance.js';
import {
  expectExpressSessionCookie,
  expressSessionApp,
  expressSessionId,
  runExpressSessionCompat,
} from './express-session-compat.js';
import { later, legacyPayload, runScript, sourcePath } from './sql-helpers.js';

const POSTGRES_URL = process.env.POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const table = runNamespace('sk');
const legacyTable = runNamespace('cps');
const admin = new pg.Pool({ connectionString: POSTGRES_URL, connectionTimeoutMillis: 3_000, max: 2 });
admin.on('error', () => undefined);
const skip = await serviceSkipReason('PostgreSQL', () => admin.query('SELECT 1'));

const upstream = new URL(POSTGRES_URL);

runStoreConformance<PostgresStore>({
  name: 'PostgresStore',
  skip,
  create: () => new PostgresStore(POSTGRES_URL, { table }),
  createPeer: () => new PostgresStore(POSTGRES_URL, { table, pruneInterval: false }),
  async corrupt(_store, id) {
    await admin.query(`UPDATE ${table} SET data = $1 WHERE id = $2`, ['{"trunc', storageKey(id)]);
  },
  network: {
    host: upstream.hostname,
    port: Number(upstream.port || 5432),
    createVia: (host, port, timeoutMs) =>
      new PostgresStore(urlVia(POSTGRES_URL, host, port), {
        table,
        timeout: timeoutMs,
        pruneInterval: false,
      }),
  },
});

if (!skip) runExpressSessionCompat('PostgresStore', () => new PostgresStore(POSTGRES_URL, { table }));

afterAll(async () => {
  if (!skip) {
    await admin.query(`DROP TABLE IF EXISTS ${table}, ${table}_epochs`);
    await admin.query(`DROP TABLE IF EXISTS ${legacyTable}`);
  }
  await admin.end();
});

describe.skipIf(skip)('PostgresStore legacy: connect-pg-simple', () => {
  const PgSession = connectPgSimple(expressSession);
  let legacyStore: InstanceType<typeof PgSession>;
  let store: PostgresStore;

  beforeAll(async () => {
    // connect-pg-simple's own DDL (table.sql), with an index name of this run's own.
    await admin.query(
      `CREATE TABLE ${legacyTable} (sid varchar NOT NULL COLLATE "default", sess json NOT NULL, expire timestamp(6) NOT NULL)`,
    );
    await admin.query(`ALTER TABLE ${legacyTable} ADD CONSTRAINT ${legacyTable}_pkey PRIMARY KEY (sid)`);
    await admin.query(`CREATE INDEX ${legacyTable}_expire ON ${legacyTable} (expire)`);
    legacyStore = new PgSession({ pool: admin, tableName: legacyTable, pruneSessionInterval: false });
    store = new PostgresStore(POSTGRES_URL, {
      table,
      legacy: { layout: 'connect-pg-simple', table: legacyTable },
    });
  });
  afterAll(async () => {
    await store?.close();
    await legacyStore?.close();
  });

  const profile = { name: 'Ann', tags: ['a', 'b'] };
  const app = (sessionStore: expressSession.Store) => expressSessionApp(sessionStore, profile);

  const legacyRows = async (sid: string) =>
    (await admin.query(`SELECT sid FROM ${legacyTable} WHERE sid = $1`, [sid])).rowCount;
  const nativeRows = async (sid: string) =>
    (await admin.query(`SELECT id FROM ${table} WHERE id = $1`, [storageKey(sid)])).rowCount;

  it('reads a session connect-pg-simple wrote, moves it on the next write, and keeps the user logged in', async () => {
    const first = await request(app(legacyStore)).get('/').expect(200, 'views: 1');
    const cookie = first.headers['set-cookie'] as unknown as string[];
    const sid = expressSessionId(cookie);
    expect(await legacyRows(sid)).toBe(1);

    const got = await store.get(sid);
    expect(got?.data).toEqual({ views: 1, profile: { name: 'Ann', tags: ['a', 'b'] } });
    expectExpressSessionCookie(got?.cookie);
    expect(Math.abs((got?.expiresAt ?? 0) - Date.parse(String(got?.cookie.expires)))).toBeLessThan(1_000);
    expect(got!.expiresAt).toBeGreaterThan(Date.now() + 55_000);
    expect(await nativeRows(sid)).toBe(0);

    expect(await store.update(sid, { set: { views: 2 }, unset: [], ...later(60_000) })).toBe(true);
    expect(await legacyRows(sid)).toBe(0);
    expect(await nativeRows(sid)).toBe(1);
    expect((await store.get(sid))?.data).toEqual({ views: 2, profile: { name: 'Ann', tags: ['a', 'b'] } });

    // The same browser cookie keeps working against an express-session app now served by sessionkit.
    await request(app(store as unknown as expressSession.Store))
      .get('/')
      .set('Cookie', cookie)
      .expect(200, 'views: 3');
  });

  it('moves a legacy session on touch, and destroy removes the legacy row', async () => {
    const touched = generateId();
    await new Promise<void>((resolve, reject) =>
      legacyStore.set(touched, legacyPayload(60_000), (err: unknown) => (err ? reject(err) : resolve())),
    );
    expect(await store.touch(touched, Date.now() + 120_000, Date.now())).toBe(true);
    expect(await legacyRows(touched)).toBe(0);
    expect((await store.get(touched))?.expiresAt).toBeGreaterThan(Date.now() + 110_000);

    const destroyed = generateId();
    await new Promise<void>((resolve, reject) =>
      legacyStore.set(destroyed, legacyPayload(60_000), (err: unknown) => (err ? reject(err) : resolve())),
    );
    await store.destroy(destroyed);
    expect(await legacyRows(destroyed)).toBe(0);
    expect(await store.get(destroyed)).toBeNull();
  });

  it('never returns, updates or moves an expired legacy row', async () => {
    const sid = generateId();
    await new Promise<void>((resolve, reject) =>
      legacyStore.set(sid, legacyPayload(-5_000), (err: unknown) => (err ? reject(err) : resolve())),
    );
    expect(await legacyRows(sid)).toBe(1);
    expect(await store.get(sid)).toBeNull();
    expect(await store.update(sid, { set: { x: 1 }, unset: [], ...later(60_000) })).toBe(false);
    expect(await store.touch(sid, Date.now() + 60_000, Date.now())).toBe(false);
    expect(await nativeRows(sid)).toBe(0);
    expect(await store.create(sid, record())).toBe(true);
  });
});

describe.skipIf(skip)('PostgresStore specifics', () => {
  it('uses a Pool it is given and leaves it open on close', async () => {
    const pool = new pg.Pool({ connectionString: POSTGRES_URL, max: 2 });
    const store = new PostgresStore(pool, { table });
    const id = generateId();
    await store.create(id, record());
    await store.close();
    expect(
      (await pool.query(`SELECT count(*)::int AS n FROM ${table} WHERE id = $1`, [storageKey(id)])).rows[0].n,
    ).toBe(1);
    await pool.end();
  });

  it('createFromUrl reads its own parameters and hands pg the rest', async () => {
    const url = new URL(POSTGRES_URL);
    url.searchParams.set('table', table);
    url.searchParams.set('timeout', '2500');
    const store = await createFromUrl(url);
    expect(store.timeout).toBe(2500);
    const id = generateId();
    await store.create(id, record());
    expect(await store.get(id)).not.toBeNull();
    await store.close();
    await expect(createFromUrl(new URL('mysql://x/y'))).rejects.toMatchObject({ code: 'ERR_STORE_URL' });
  });

  it('close() releases its connections so the process exits by itself', async () => {
    const script = `
      const { PostgresStore } = await import(${JSON.stringify(sourcePath('stores/postgres.ts'))});
      const store = new PostgresStore(${JSON.stringify(POSTGRES_URL)}, { table: ${JSON.stringify(table)} });
      await store.get('x'.repeat(43));
      await store.close();
    `;
    expect(await runScript(script)).toBe(0);
  });
});
