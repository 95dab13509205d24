import express from 'express';
import request from 'supertest';
import { afterAll, describe, expect, it } from 'vitest';
import { storageKey } from '../../src/core/id.js';
import session, { currentUserId, login, MemoryStore, type SessionOptions } from '../../src/index.js';
import { SQLiteStore } from '../../src/stores/sqlite.js';
import { cookieOf, idOf, jsonErrors } from '../support/apps.js';
import { overwritePayload } from '../support/memory-internals.js';

/**
 * Bugs the fuzzer found (test/security/fuzz.test.ts), pinned as concrete cases; fixed by validating
 * every record a store returns (serializer.validateRecord, called by SessionManager.load).
 */

const secret = 'regressions-secret-0123456789abcdef01234';

function appOn(store: SQLiteStore | MemoryStore, options: Partial<SessionOptions> = {}) {
  const middleware = session({ secret, store, resave: false, saveUninitialized: false, ...options });
  middleware.manager.on('error', () => undefined);
  const app = express();
  app.use(middleware);
  app.get('/set', (req, res) => {
    req.session.n = 1;
    res.send('ok');
  });
  app.get('/write', (req, res) => {
    req.session.m = 2;
    res.json({ n: req.session.n ?? null });
  });
  app.get('/read', (req, res) => res.json({ n: req.session.n ?? null }));
  app.use(jsonErrors);
  return app;
}

describe('B18: a stored cookie with wrongly typed fields is a corrupt record, not a 500', () => {
  const store = new SQLiteStore(':memory:', { pruneInterval: false });
  afterAll(() => store.close());
  const corruptCookie = (id: string, cookie: string) =>
    store.db.prepare('UPDATE sessionkit_sessions SET cookie = ? WHERE id = ?').run(cookie, storageKey(id));

  // Was a bug: serializer.decodeRecord only checks that `cookie` is an object; `new Cookie()` then takes
  // `originalMaxAge: "x"`, resetMaxAge() makes `new Date(now + "x")`, and Cookie.data's toISOString()
  // throws RangeError inside the store call, reported as ERR_STORE (500) on every request with that cookie.
  it('originalMaxAge that is not a number', async () => {
    const app = appOn(store);
    const cookie = cookieOf(await request(app).get('/set'));
    corruptCookie(idOf(cookie), '{"originalMaxAge":"x"}');
    const res = await request(app).get('/write').set('Cookie', cookie);
    expect(res.status).toBe(200);
  });

  // Was a bug: same path: `expires: "not a date"` becomes an Invalid Date, so expiresAt is NaN and the update throws.
  it('expires that is not a date', async () => {
    const app = appOn(store);
    const cookie = cookieOf(await request(app).get('/set'));
    corruptCookie(idOf(cookie), '{"originalMaxAge":null,"expires":"not a date"}');
    const res = await request(app).get('/write').set('Cookie', cookie);
    expect(res.status).toBe(200);
  });

  // Was a bug: a stored `sameSite: "sideways"` reaches cookie.serialize() when the cookie is re-sent (rolling),
  // which throws "option sameSite is invalid".
  it('sameSite that is not a SameSite value, re-sent by rolling', async () => {
    const app = appOn(store, { rolling: true });
    const cookie = cookieOf(await request(app).get('/set'));
    corruptCookie(idOf(cookie), '{"originalMaxAge":null,"sameSite":"sideways"}');
    const res = await request(app).get('/read').set('Cookie', cookie);
    expect(res.status).toBe(200);
  });

  it('a cookie column that is not an object is already treated as corrupt (fresh session, 200)', async () => {
    const app = appOn(store);
    const cookie = cookieOf(await request(app).get('/set'));
    corruptCookie(idOf(cookie), '23');
    const res = await request(app).get('/write').set('Cookie', cookie).expect(200);
    expect(res.body.n).toBeNull();
  });
});

describe('B18: a native store that returns a record of the wrong shape', () => {
  // Was a bug: MemoryStore.get returns `parseJson(entry.json)` unchecked and SessionManager.load trusts any
  // store's record, so `data: null` makes `new Session()` call Object.keys(null) and `cookie: 23` makes
  // `new Cookie(23)` throw: a TypeError from open() and a 500 on every request carrying that cookie.
  it('data: null from the store is treated as corrupt, not a 500', async () => {
    const store = new MemoryStore();
    const app = appOn(store);
    const cookie = cookieOf(await request(app).get('/set'));
    overwritePayload(store, idOf(cookie), 'null', 'null');
    const res = await request(app).get('/read').set('Cookie', cookie);
    expect(res.status).toBe(200);
    await store.close();
  });
});

describe('B22: a store call that times out with its effect applied, or a half-done regenerate', () => {
  /** A MemoryStore whose chosen calls take effect and then answer only after the request gave up. */
  class LateStore extends MemoryStore {
    late = new Set<'create' | 'destroy'>();
    private pause(): Promise<void> {
      return new Promise((resolve) => setTimeout(resolve, 300));
    }
    override async create(id: string, record: Parameters<MemoryStore['create']>[1]): Promise<boolean> {
      const created = await super.create(id, record);
      if (this.late.has('create')) await this.pause();
      return created;
    }
    override async destroy(id: string): Promise<void> {
      await super.destroy(id);
      if (this.late.has('destroy')) await this.pause();
    }
  }

  function lateApp(store: LateStore) {
    const middleware = session({ secret, store, resave: false, saveUninitialized: false, storeTimeout: 100 });
    middleware.manager.on('error', () => undefined);
    const app = express();
    app.use(middleware);
    app.get('/set', (req, res) => {
      req.session.n = 1;
      res.send('ok');
    });
    app.get('/read', (req, res) => res.json({ n: req.session.n ?? null, user: currentUserId(req.session) }));
    app.get('/login', (req, res, next) =>
      login(req.session, 'b22', (error) => (error ? next(error) : res.send('in'))),
    );
    app.get('/regenerate', (req, res, next) =>
      req.session.regenerate({ keep: true }, (error) => (error ? next(error) : res.send('new'))),
    );
    app.use(jsonErrors);
    return app;
  }

  it('a regenerate whose destroy timed out after it took effect leaves the old ID unusable', async () => {
    const store = new LateStore();
    const app = lateApp(store);
    const old = cookieOf(await request(app).get('/set').expect(200));
    store.late.add('destroy');
    const res = await request(app).get('/regenerate').set('Cookie', old).expect(503);
    expect(res.body).toEqual({ code: 'ERR_STORE_UNAVAILABLE' });
    store.late.clear();
    expect(await store.get(idOf(old))).toBeNull();
    expect((await request(app).get('/read').set('Cookie', old).expect(200)).body).toEqual({
      n: null,
      user: null,
    });
  });

  it('a login whose create timed out after it took effect sends no cookie, and indexes no handle twice', async () => {
    const store = new LateStore();
    const app = lateApp(store);
    const old = cookieOf(await request(app).get('/set').expect(200));
    store.late.add('create');
    const failed = await request(app).get('/login').set('Cookie', old).expect(503);
    expect(failed.headers['set-cookie']).toBeUndefined();
    store.late.clear();
    // The old ID was ended first: it is unusable, whatever became of the new record.
    expect((await request(app).get('/read').set('Cookie', old).expect(200)).body).toEqual({
      n: null,
      user: null,
    });
    const again = cookieOf(await request(app).get('/login').expect(200));
    const handles = (await store.listByUser('b22')).map((found) => found.handle);
    expect(new Set(handles).size).toBe(handles.length);
    expect(handles).toContain(storageKey(idOf(again)));
  });
});
