/**
 * sessionkit against express-session 1.19 itself: each test builds the same application twice, once on
 * express-session and once on sessionkit, drives both with the same requests, and compares what a user or
 * a test suite can observe. Each cites the express-session behaviour it pins (index.js unless named).
 */

import cookieParser from 'cookie-parser';
import type { ErrorRequestHandler, RequestHandler } from 'express';
import expressSession from 'express-session';
import request from 'supertest';
import { describe, expect, it } from 'vitest';
import session, { MemoryStore } from '../../src/index.js';
import { type App, cookieOf, expressVersions, setCookies } from '../support/apps.js';

const secret = 'compat-suite-secret-0123456789abcdefgh';

type Factory = 'express-session' | 'sessionkit';
type AnyStore = InstanceType<typeof expressSession.MemoryStore> | MemoryStore;
type Callback = (err?: unknown, value?: unknown) => void;

/** The store each implementation ships, so that express-session's tests' habits apply to both. */
function storeFor(kind: Factory): AnyStore {
  return kind === 'express-session' ? new expressSession.MemoryStore() : new MemoryStore();
}

function middlewareFor(kind: Factory, options: Record<string, unknown>): RequestHandler {
  return kind === 'express-session'
    ? expressSession(options as expressSession.SessionOptions)
    : (session(options as never) as unknown as RequestHandler);
}

/** Errors that reach `next(err)`, also after the response went out (express-session's tests watch for those). */
function errorsOf(app: App): unknown[] {
  const seen: unknown[] = [];
  const handler: ErrorRequestHandler = (err, _req, res, _next) => {
    seen.push(err);
    if (!res.headersSent) res.status(500).send(String((err as Error).message));
  };
  app.use(handler);
  return seen;
}

/** Resolves once `list` has `count` entries (an error reported after the response may trail it). */
async function until(list: unknown[], count: number): Promise<void> {
  for (let i = 0; i < 200 && list.length < count; i++) await new Promise((r) => setImmediate(r));
}

const kinds: Factory[] = ['express-session', 'sessionkit'];

function captureError(run: () => unknown): Error {
  try {
    run();
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected a throw');
}

describe.each(expressVersions)('drop-in behaviour on $name', ({ create }) => {
  /** An app with `/set` (modifies), `/get` (reads) and `/` (answers with the session's keys). */
  function counterApp(kind: Factory, options: Record<string, unknown>, before?: RequestHandler) {
    const app = create();
    if (before) app.use(before);
    app.use(middlewareFor(kind, { secret, resave: false, saveUninitialized: false, ...options }));
    app.get('/set', (req, res) => {
      const s = req.session as unknown as Record<string, number>;
      s.n = (s.n ?? 0) + 1;
      res.send(String(s.n));
    });
    app.get('/get', (req, res) => {
      res.send(String((req.session as unknown as Record<string, number> | undefined)?.n));
    });
    const errors = errorsOf(app);
    return { app, errors };
  }

  describe('store methods the application replaced are called as express-session calls them (point 1)', () => {
    it('a wrapped set() counts one whole-session write per save and none for an unchanged request', async () => {
      // index.js: a save is store.set(sid, session, cb); an unchanged session is store.touch'ed instead.
      const counts: Record<Factory, number[]> = { 'express-session': [], sessionkit: [] };
      for (const kind of kinds) {
        const store = storeFor(kind);
        let sets = 0;
        const set = store.set;
        store.set = function (this: AnyStore) {
          sets++;
          // biome-ignore lint/complexity/noArguments: express-session's tests forward arguments this way.
          return (set as (...args: unknown[]) => unknown).apply(this, arguments as unknown as unknown[]);
        } as typeof store.set;
        const { app } = counterApp(kind, { store });
        const first = await request(app).get('/set').expect(200, '1');
        counts[kind].push(sets);
        await request(app).get('/get').set('Cookie', cookieOf(first)).expect(200, '1');
        counts[kind].push(sets);
        await request(app).get('/set').set('Cookie', cookieOf(first)).expect(200, '2');
        counts[kind].push(sets);
      }
      expect(counts.sessionkit).toEqual(counts['express-session']);
      expect(counts.sessionkit).toEqual([1, 1, 2]);
    });

    it("a callback get() that fails gives next(err) the store's own error object", async () => {
      // index.js: `if (err && err.code !== 'ENOENT') next(err)`, the error untouched.
      for (const kind of kinds) {
        const store = storeFor(kind);
        const { app, errors } = counterApp(kind, { store });
        const first = await request(app).get('/set').expect(200);
        const boom = new Error('boom!');
        store.get = ((_sid: string, callback: Callback) => callback(boom)) as typeof store.get;
        await request(app).get('/get').set('Cookie', cookieOf(first)).expect(500, 'boom!');
        expect(errors, kind).toEqual([boom]);
        expect(errors[0], kind).toBe(boom);
      }
    });

    it('a get() error with code ENOENT means "no such session": a fresh one', async () => {
      // index.js: `if (err || !sess) generate()` for ENOENT.
      for (const kind of kinds) {
        const store = storeFor(kind);
        const { app, errors } = counterApp(kind, { store });
        const first = await request(app).get('/set').expect(200, '1');
        store.get = ((_sid: string, callback: Callback) =>
          callback(Object.assign(new Error('gone'), { code: 'ENOENT' }))) as typeof store.get;
        await request(app).get('/get').set('Cookie', cookieOf(first)).expect(200, 'undefined');
        expect(errors, kind).toEqual([]);
      }
    });

    it('a callback touch() that fails: the response is sent, then the error reaches next(err)', async () => {
      // index.js: store.touch(sid, sess, cb) on an unchanged session; `if (err) defer(next, err)` after writing.
      for (const kind of kinds) {
        const store = storeFor(kind);
        const { app, errors } = counterApp(kind, { store, cookie: { maxAge: 60_000 } });
        const first = await request(app).get('/set').expect(200, '1');
        const boom = new Error('boom!');
        (store as unknown as { touch: unknown }).touch = (_sid: string, _sess: unknown, callback: Callback) =>
          callback(boom);
        await request(app).get('/get').set('Cookie', cookieOf(first)).expect(200, '1');
        await until(errors, 1);
        expect(errors[0], kind).toBe(boom);
      }
    });

    it('a callback set() that fails saving an empty new session: sent, then next(err); no hang', async () => {
      // index.js: saveUninitialized saves the new session with store.set; `if (err) defer(next, err)`.
      for (const kind of kinds) {
        const store = storeFor(kind);
        const { app, errors } = counterApp(kind, { store, saveUninitialized: true });
        const boom = new Error('boom!');
        store.set = ((_sid: string, _sess: unknown, callback: Callback) =>
          callback(boom)) as typeof store.set;
        await request(app).get('/get').expect(200, 'undefined');
        await until(errors, 1);
        expect(errors[0], kind).toBe(boom);
      }
    });

    it('async forwarders of every method (instrumentation) keep the atomic merge: no whole set', async () => {
      // Not express-session's kind: an async function answers through its promise (sessionkit only).
      const store = new MemoryStore();
      const calls: string[] = [];
      const methods = store as unknown as Record<string, (...args: unknown[]) => unknown>;
      for (const name of ['get', 'set', 'destroy', 'touch', 'update', 'create']) {
        const original = methods[name] as (...args: unknown[]) => unknown;
        methods[name] = async (...args: unknown[]) => {
          calls.push(name);
          return original.apply(store, args);
        };
      }
      const { app } = counterApp('sessionkit', { store });
      const first = await request(app).get('/set').expect(200, '1');
      await request(app).get('/set').set('Cookie', cookieOf(first)).expect(200, '2');
      expect(calls).toEqual(['create', 'get', 'update']);
    });

    it('a promise-contract wrapper of get() keeps working as one (sessionkit only)', async () => {
      const store = new MemoryStore();
      const { app } = counterApp('sessionkit', { store });
      const first = await request(app).get('/set').expect(200, '1');
      const get = store.get.bind(store);
      let gets = 0;
      store.get = (id: string) => {
        gets++;
        return get(id);
      };
      await request(app).get('/get').set('Cookie', cookieOf(first)).expect(200, '1');
      expect(gets).toBe(1);
    });
  });

  describe('Set-Cookie only when express-session sends it (point 3)', () => {
    it('resave: true with maxAge does not re-send the cookie on unchanged requests, as rolling would', async () => {
      // shouldSetCookie: for a loaded session, `rolling || cookie.expires != null && isModified(session)`.
      const sent: Record<Factory, number[]> = { 'express-session': [], sessionkit: [] };
      for (const kind of kinds) {
        const { app } = counterApp(kind, { resave: true, cookie: { maxAge: 60_000 } });
        const none = await request(app).get('/get');
        const first = await request(app).get('/set');
        const later = [
          await request(app).get('/get').set('Cookie', cookieOf(first)),
          await request(app).get('/get').set('Cookie', cookieOf(first)),
        ];
        sent[kind] = [none, first, ...later].map((res) => setCookies(res).length);
      }
      expect(sent.sessionkit).toEqual(sent['express-session']);
      expect(sent.sessionkit).toEqual([0, 1, 0, 0]);
    });

    it('a request outside cookie.path gets no session and no cookie', async () => {
      // "pathname mismatch": the original URL's path must start with cookie.path, else next() at once.
      for (const kind of kinds) {
        const app = create();
        app.use(
          middlewareFor(kind, { secret, resave: false, saveUninitialized: true, cookie: { path: '/app' } }),
        );
        app.get(/.*/, (req, res) => {
          res.send(typeof req.session);
        });
        const outside = await request(app).get('/other').expect(200, 'undefined');
        expect(setCookies(outside), kind).toEqual([]);
        const inside = await request(app).get('/app/page').expect(200, 'object');
        expect(setCookies(inside), kind).toHaveLength(1);
      }
    });

    it('an ID the application replaced with a non-string: nothing stored, no cookie', async () => {
      // shouldSave/shouldSetCookie: `typeof req.sessionID !== 'string'` → neither.
      for (const kind of kinds) {
        const store = storeFor(kind);
        const app = create();
        app.use(middlewareFor(kind, { secret, resave: false, saveUninitialized: true, store }));
        app.get('/', (req, res) => {
          (req as unknown as { sessionID: unknown }).sessionID = () => undefined;
          (req.session as unknown as Record<string, number>).n = 1;
          res.send('ok');
        });
        const res = await request(app).get('/').expect(200, 'ok');
        expect(setCookies(res), kind).toEqual([]);
        const length = await new Promise((resolve) =>
          (store as unknown as { length(cb: Callback): void }).length((_e, n) => resolve(n)),
        );
        expect(length, kind).toBe(0);
      }
    });
  });

  describe('secrets (point 4)', () => {
    it("without a secret option, cookie-parser's req.secret signs and verifies", async () => {
      // `var secrets = secret || [req.secret]`.
      for (const kind of kinds) {
        const { app } = counterApp(
          kind,
          { secret: undefined },
          cookieParser('parser-secret') as RequestHandler,
        );
        const first = await request(app).get('/set').expect(200, '1');
        await request(app).get('/set').set('Cookie', cookieOf(first)).expect(200, '2');
      }
    });

    it('a request with neither fails with an error naming the secret option', async () => {
      // `next(new Error('secret option required for sessions'))`.
      for (const kind of kinds) {
        const { app, errors } = counterApp(kind, { secret: undefined });
        await request(app)
          .get('/get')
          .expect(500, /secret.*required/);
        if (kind === 'sessionkit') expect(errors[0]).toMatchObject({ code: 'ERR_SECRET_REQUIRED' });
      }
    });

    it('a Buffer secret signs cookies express-session verifies, and the other way round', async () => {
      const bytes = Buffer.from('0123456789abcdef0123456789abcdef');
      const store = new expressSession.MemoryStore();
      const before = counterApp('express-session', { secret: bytes, store }).app;
      const after = counterApp('sessionkit', { secret: [bytes], store }).app;
      const first = await request(before).get('/set').expect(200, '1');
      await request(after).get('/set').set('Cookie', cookieOf(first)).expect(200, '2');
      const mine = await request(after).get('/set').expect(200, '1');
      await request(before).get('/set').set('Cookie', cookieOf(mine)).expect(200, '2');
    });

    it("each option is checked at session() even without a secret, in express-session's words", () => {
      // genid, unset and an empty secret array are refused when session() is called.
      for (const kind of kinds) {
        const make = (options: Record<string, unknown>) => () => middlewareFor(kind, options);
        expect(make({ genid: 'bogus' }), kind).toThrow(/genid.*must/);
        expect(make({ unset: 'bogus' }), kind).toThrow(/unset.*must/);
        expect(make({ secret: [] }), kind).toThrow(/secret option array/);
      }
      // express-session's exact words, with sessionkit's prefix and code.
      for (const options of [{ genid: 'bogus' }, { unset: 'bogus' }, { secret: [] }]) {
        const theirs = captureError(() => middlewareFor('express-session', options));
        expect(captureError(() => middlewareFor('sessionkit', options)).message).toContain(
          theirs.message.split(' strings')[0],
        );
      }
      expect(() => session({ secret: [] })).toThrow(expect.objectContaining({ code: 'ERR_SECRET_REQUIRED' }));
      expect(() => session({ genid: 'bogus' as never })).toThrow(
        expect.objectContaining({ code: 'ERR_INVALID_OPTION', option: 'genid' }),
      );
    });
  });

  describe('a cookie another parser already read (point 5)', () => {
    it('reads req.signedCookies[name] (cookieParser(secret)) when the header lacks it', async () => {
      // getcookie: `if (!val && req.signedCookies) val = req.signedCookies[name]`.
      for (const kind of kinds) {
        const strip: RequestHandler = (req, _res, next) => {
          delete req.headers.cookie;
          next();
        };
        const app = create();
        app.use(cookieParser(secret) as RequestHandler, strip);
        app.use(middlewareFor(kind, { secret, resave: false, saveUninitialized: false }));
        app.get('/', (req, res) => {
          const s = req.session as unknown as Record<string, number>;
          s.n = (s.n ?? 0) + 1;
          res.send(String(s.n));
        });
        const first = await request(app).get('/').expect(200, '1');
        await request(app).get('/').set('Cookie', cookieOf(first)).expect(200, '2');
      }
    });

    it('reads req.cookies[name] but only with our signature', async () => {
      // getcookie: req.cookies[name] is unsigned with the session's secrets; an unsigned value is ignored.
      for (const kind of kinds) {
        const replace: RequestHandler = (req, _res, next) => {
          req.headers.cookie = 'other=1';
          next();
        };
        const app = create();
        app.use(cookieParser() as RequestHandler, replace);
        app.use(middlewareFor(kind, { secret, resave: false, saveUninitialized: false }));
        app.get('/', (req, res) => {
          const s = req.session as unknown as Record<string, number>;
          s.n = (s.n ?? 0) + 1;
          res.send(String(s.n));
        });
        const first = await request(app).get('/').expect(200, '1');
        await request(app).get('/').set('Cookie', cookieOf(first)).expect(200, '2');
        const unsigned = cookieOf(first).replace(/s%3A([^.]*)\..*/, '$1');
        await request(app).get('/').set('Cookie', unsigned).expect(200, '1');
      }
    });
  });

  it('reload() of a session the store lost says "failed to load session" (point 8)', async () => {
    // session/session.js reload: `if (!sess) return fn(new Error('failed to load session'))`.
    for (const kind of kinds) {
      const store = storeFor(kind);
      const app = create();
      app.use(middlewareFor(kind, { secret, resave: false, saveUninitialized: false, store }));
      app.get('/set', (req, res) => {
        (req.session as unknown as Record<string, number>).n = 1;
        res.send('ok');
      });
      app.get('/reload', (req, res) => {
        (store as unknown as { clear(cb: Callback): void }).clear(() => {
          req.session.reload((err?: unknown) => {
            res.status(err ? 500 : 200).send(err ? (err as Error).message : '');
            if (kind === 'sessionkit') expect(err).toMatchObject({ code: 'ERR_SESSION_NOT_FOUND' });
          });
        });
      });
      const first = await request(app).get('/set').expect(200);
      await request(app).get('/reload').set('Cookie', cookieOf(first)).expect(500, 'failed to load session');
    }
  });

  it('reload(): express-session makes a new session object with the stored cookie; sessionkit keeps both (README)', async () => {
    // session/session.js reload: `store.createSession(req, sess)`, a new Session with a Cookie from the
    // record. sessionkit's reload replaces the data of the session the request holds.
    const seen: Record<string, unknown> = {};
    for (const kind of kinds) {
      const app = create();
      app.use(
        middlewareFor(kind, { secret, resave: false, saveUninitialized: false, store: storeFor(kind) }),
      );
      app.get('/set', (req, res) => {
        (req.session as unknown as Record<string, number>).n = 1;
        req.session.cookie.maxAge = 60_000;
        res.send('ok');
      });
      app.get('/reload', (req, res) => {
        const before = req.session;
        req.session.cookie.maxAge = 5_000;
        (req.session as unknown as Record<string, number>).n = 2;
        req.session.reload((err?: unknown) => {
          const data = req.session as unknown as Record<string, number>;
          res.json({
            err: err ?? null,
            same: req.session === before,
            n: data.n,
            maxAge: req.session.cookie.originalMaxAge,
          });
        });
      });
      const first = await request(app).get('/set').expect(200);
      seen[kind] = (await request(app).get('/reload').set('Cookie', cookieOf(first)).expect(200)).body;
    }
    // express-session's originalMaxAge comes from a second clock read (`expires - Date.now()` in its
    // expires setter), so it is 60 s less whatever time passed in between: a millisecond on a quiet
    // machine, more when a collection or another process runs between the two reads.
    expect(seen['express-session']).toEqual({
      err: null,
      same: false,
      n: 1,
      maxAge: expect.toSatisfy((ms: number) => ms <= 60_000 && ms > 59_000),
    });
    expect(seen.sessionkit).toEqual({ err: null, same: true, n: 1, maxAge: 5_000 });
  });

  it("after the store's disconnect then connect events, requests have sessions again (point 9)", async () => {
    // `store.on('connect', () => storeReady = true)`. While disconnected, a request whose cookie needs a
    // read gets a 503 from sessionkit (a documented difference) rather than no req.session.
    const store = new MemoryStore();
    const { app, errors } = counterApp('sessionkit', { store });
    const first = await request(app).get('/set').expect(200, '1');
    store.emit('disconnect');
    await request(app).get('/set').set('Cookie', cookieOf(first)).expect(500);
    expect(errors[0]).toMatchObject({ code: 'ERR_STORE_UNAVAILABLE', status: 503 });
    store.emit('connect');
    await request(app).get('/set').set('Cookie', cookieOf(first)).expect(200, '2');
  });

  it('res.clearCookie(name) after destroy() gives one clearing header, not two (point 12)', async () => {
    for (const kind of kinds) {
      const app = create();
      app.use(middlewareFor(kind, { secret, resave: false, saveUninitialized: false }));
      app.get('/set', (req, res) => {
        (req.session as unknown as Record<string, number>).n = 1;
        res.send('ok');
      });
      app.get('/logout', (req, res) => {
        req.session.destroy(() => {
          res.clearCookie('connect.sid');
          res.send('out');
        });
      });
      const first = await request(app).get('/set');
      const out = await request(app).get('/logout').set('Cookie', cookieOf(first)).expect(200, 'out');
      expect(
        setCookies(out).filter((c) => c.startsWith('connect.sid=')),
        kind,
      ).toHaveLength(1);
    }
  });
});
