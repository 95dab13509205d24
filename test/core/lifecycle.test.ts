import express from 'express';
import request from 'supertest';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { storageKey } from '../../src/core/id.js';
import session, {
  currentUserId,
  logout,
  MemoryStore,
  type SessionOptions,
  login as sessionLogin,
} from '../../src/index.js';
import { cookieOf, idOf, jsonErrors, setCookies } from '../support/apps.js';

const secret = 'lifecycle-tests-secret-0123456789abcdef';

function appWith(options: Partial<SessionOptions> = {}, routes?: (app: express.Express) => void) {
  const store = (options.store as MemoryStore | undefined) ?? new MemoryStore();
  const app = express();
  const middleware = session({ secret, store, resave: false, saveUninitialized: false, ...options });
  app.use(middleware);
  app.get('/set/:key/:value', (req, res) => {
    (req.session as unknown as Record<string, string>)[req.params.key] = req.params.value;
    res.json(req.session);
  });
  app.get('/get', (req, res) => res.json({ ...req.session, id: req.session.id }));
  routes?.(app);
  app.use(jsonErrors);
  return { app, store, middleware };
}

describe('saving', () => {
  it('saveUninitialized: false stores nothing and sets no cookie for an untouched session', async () => {
    const { app, store } = appWith();
    const res = await request(app).get('/get').expect(200);
    expect(setCookies(res)).toEqual([]);
    expect(await store.length()).toBe(0);
  });

  it('saveUninitialized: true stores the empty session and sets the cookie', async () => {
    const { app, store } = appWith({ saveUninitialized: true });
    const res = await request(app).get('/get').expect(200);
    expect(setCookies(res)).toHaveLength(1);
    expect(await store.length()).toBe(1);
  });

  it('writes only the changed keys of a loaded session, and nothing when nothing changed', async () => {
    const { app, store } = appWith({ touchAfter: 60_000 });
    const first = await request(app).get('/set/a/1').expect(200);
    const updates: unknown[] = [];
    const update = store.update.bind(store);
    store.update = (id, delta) => {
      updates.push(delta);
      return update(id, delta);
    };
    // Not a touch() spy: a store whose express-session methods are replaced is touched as express-session does.
    const seen = (await store.get(idOf(cookieOf(first))))?.lastSeenAt;
    const unchanged = await request(app).get('/get').set('Cookie', cookieOf(first)).expect(200);
    expect(setCookies(unchanged)).toEqual([]);
    expect(updates).toEqual([]);
    expect((await store.get(idOf(cookieOf(first))))?.lastSeenAt).toBe(seen);
    await request(app).get('/set/b/2').set('Cookie', cookieOf(first)).expect(200);
    expect(updates).toHaveLength(1);
    expect(updates[0]).toMatchObject({ set: { b: '2' }, unset: [] });
  });

  it('notices nested mutation', async () => {
    const { app, store } = appWith({}, (a) => {
      a.get('/cart/init', (req, res) => {
        req.session.cart = { items: [] as string[] };
        res.send('ok');
      });
      a.get('/cart/add', (req, res) => {
        (req.session.cart as { items: string[] }).items.push('apple');
        res.send('ok');
      });
    });
    const first = await request(app).get('/cart/init');
    await request(app).get('/cart/add').set('Cookie', cookieOf(first));
    expect((await store.get(idOf(cookieOf(first))))?.data.cart).toEqual({ items: ['apple'] });
  });

  it('deleting a key removes it from the store', async () => {
    const { app, store } = appWith({}, (a) =>
      a.get('/del', (req, res) => {
        delete req.session.a;
        res.send('ok');
      }),
    );
    const first = await request(app).get('/set/a/1');
    await request(app).get('/set/b/2').set('Cookie', cookieOf(first));
    await request(app).get('/del').set('Cookie', cookieOf(first));
    expect((await store.get(idOf(cookieOf(first))))?.data).toEqual({ b: '2' });
  });

  it('resave: true rewrites the whole session on every request', async () => {
    const { app, store } = appWith({ resave: true });
    const first = await request(app).get('/set/a/1');
    const deltas: unknown[] = [];
    const update = store.update.bind(store);
    store.update = (id, delta) => {
      deltas.push(delta);
      return update(id, delta);
    };
    await request(app).get('/get').set('Cookie', cookieOf(first));
    expect(deltas).toEqual([expect.objectContaining({ set: { a: '1' }, replace: true })]);
  });

  it('save(), reload() and touch() work with callbacks and as promises', async () => {
    const { app } = appWith({}, (a) => {
      a.get('/save-cb', (req, res, next) => {
        req.session.saved = 'cb';
        req.session.save((err) => (err ? next(err) : res.send('saved')));
      });
      a.get('/reload', async (req, res) => {
        req.session.saved = 'local change';
        await req.session.reload();
        res.send(String(req.session.saved));
      });
      a.get('/touch', (req, res) => {
        req.session.touch((err) => res.send(String(err ?? 'touched')));
      });
    });
    const first = await request(app).get('/save-cb').expect(200, 'saved');
    expect(setCookies(first)).toHaveLength(1);
    await request(app).get('/reload').set('Cookie', cookieOf(first)).expect(200, 'cb');
    await request(app).get('/touch').set('Cookie', cookieOf(first)).expect(200, 'touched');
  });

  it('shows only data and cookie to Object.keys and for…in', async () => {
    const { app } = appWith({}, (a) =>
      a.get('/keys', (req, res) => {
        req.session.a = 1;
        const seen: string[] = [];
        for (const key in req.session) seen.push(key);
        res.json({ keys: Object.keys(req.session), seen });
      }),
    );
    const res = await request(app).get('/keys').expect(200);
    expect(res.body).toEqual({ keys: ['cookie', 'a'], seen: ['cookie', 'a'] });
  });
});

describe('IDs and users', () => {
  it('a body merged into req.session cannot change its id or req, nor store them as data', async () => {
    const { app, store } = appWith({}, (a) =>
      a.get('/merge', (req, res) => {
        const before = req.session.id;
        Object.assign(req.session, { id: 'forged-id', req: 'forged', note: 'kept' });
        res.json({ before, after: req.session.id, sessionID: req.sessionID, keys: Object.keys(req.session) });
      }),
    );
    const res = await request(app).get('/merge').expect(200);
    expect(res.body.after).toBe(res.body.before);
    expect(res.body.sessionID).toBe(res.body.before);
    expect(res.body.keys).toEqual(['cookie', 'note']);
    expect((await store.get(res.body.before))?.data).toEqual({ note: 'kept' });
  });

  it('regenerate() issues a new ID, drops the data and destroys the old record first', async () => {
    const { app, store } = appWith({}, (a) =>
      a.get('/regen', (req, res, next) => {
        req.session.regenerate((err) => {
          if (err) return next(err);
          req.session.fresh = true;
          res.json({ ...req.session });
        });
      }),
    );
    const first = await request(app).get('/set/a/1');
    const res = await request(app).get('/regen').set('Cookie', cookieOf(first)).expect(200);
    expect(res.body).toMatchObject({ fresh: true });
    expect(res.body.a).toBeUndefined();
    expect(idOf(cookieOf(res))).not.toBe(idOf(cookieOf(first)));
    expect(await store.get(idOf(cookieOf(first)))).toBeNull();
  });

  it('regenerate({ keep: true }) keeps the data under a new ID', async () => {
    const { app, store } = appWith({}, (a) =>
      a.get('/regen-keep', async (req, res) => {
        await req.session.regenerate({ keep: true });
        res.send('ok');
      }),
    );
    const first = await request(app).get('/set/a/1');
    const res = await request(app).get('/regen-keep').set('Cookie', cookieOf(first)).expect(200);
    // With the time its ID was issued, which `renewAfter` counts from (the session itself is older).
    expect((await store.get(idOf(cookieOf(res))))?.data).toEqual({
      a: '1',
      'sessionkit:renewedAt': expect.any(Number),
    });
    expect(await store.get(idOf(cookieOf(first)))).toBeNull();
  });

  it('login(userId) rotates the ID, keeps data, binds the user; the pre-login cookie is dead (C07, C09)', async () => {
    const { app, store } = appWith({}, (a) => {
      a.post('/login', async (req, res) => {
        await sessionLogin(req.session, 'user-42');
        res.redirect('/account');
      });
      a.get('/whoami', (req, res) => res.send(String(currentUserId(req.session))));
      a.post('/logout', async (req, res) => {
        await logout(req.session);
        res.send('bye');
      });
    });
    const anon = await request(app).get('/set/cart/1');
    const login = await request(app).post('/login').set('Cookie', cookieOf(anon)).expect(302);
    const authed = cookieOf(login);
    expect(idOf(authed)).not.toBe(idOf(cookieOf(anon)));
    expect(await store.get(idOf(authed))).toMatchObject({ userId: 'user-42', data: { cart: '1' } });
    await request(app).get('/whoami').set('Cookie', authed).expect(200, 'user-42');
    await request(app).get('/whoami').set('Cookie', cookieOf(anon)).expect(200, 'null');
    // A listing names sessions by handle: nothing in it could be replayed as a cookie (C19).
    const listed = await store.listByUser('user-42');
    expect(listed.map((summary) => summary.handle)).toEqual([storageKey(idOf(authed))]);
    expect(JSON.stringify(listed)).not.toContain(idOf(authed));
    const out = await request(app).post('/logout').set('Cookie', authed).expect(200);
    // The logout's cookie replaces the one the browser holds: same name, same Path, expired (C15).
    const [cleared] = setCookies(out);
    expect(cleared?.split(';')[0]).toBe(`${authed.split('=')[0]}=`);
    expect(cleared).toMatch(/; Path=\/(;|$)/);
    expect(cleared).toMatch(/Expires=Thu, 01 Jan 1970/);
    expect(await store.get(idOf(authed))).toBeNull();
    await request(app).get('/whoami').set('Cookie', authed).expect(200, 'null');
  });

  it('login() refuses a value that names no user, leaving the session anonymous and as it was', async () => {
    // A misspelt property (`user._id` for `user.id`) gives undefined: made text, every such login would
    // bind the same user "undefined", and each would see the others' sessions as its own.
    const refused: Record<string, unknown> = {
      undefined: undefined,
      null: null,
      empty: '',
      nan: Number.NaN,
      infinity: Number.POSITIVE_INFINITY,
      object: { id: 'u1' },
      array: ['u1'],
      boolean: true,
      symbol: Symbol('u1'),
    };
    const { app, store } = appWith({}, (a) => {
      a.get('/login/:kind', (req, res) => {
        const value = refused[req.params.kind];
        (sessionLogin as (session: unknown, userId: unknown, done: (err?: Error | null) => void) => void)(
          req.session,
          value,
          (error) => {
            res.json({
              code: (error as { code?: string } | null | undefined)?.code ?? null,
              user: currentUserId(req.session),
            });
          },
        );
      });
      a.get('/login-as/:id', async (req, res) => {
        const id = req.params.id;
        await sessionLogin(req.session, id === 'big' ? 12345678901234567890n : Number(id));
        res.json({ user: currentUserId(req.session) });
      });
    });
    const anon = await request(app).get('/set/cart/1');
    for (const kind of Object.keys(refused)) {
      const res = await request(app).get(`/login/${kind}`).set('Cookie', cookieOf(anon)).expect(200);
      expect(res.body, kind).toEqual({ code: 'ERR_INVALID_USER', user: null });
      expect(setCookies(res), kind).toEqual([]);
    }
    expect(await store.get(idOf(cookieOf(anon)))).toMatchObject({ userId: null, data: { cart: '1' } });
    for (const name of ['undefined', 'null', 'NaN', 'Infinity', '[object Object]', 'u1', 'true'])
      expect(await store.listByUser(name), name).toEqual([]);
    // Numbers and bigints are user IDs: kept as their decimal text.
    const numeric = await request(app).get('/login-as/42').set('Cookie', cookieOf(anon)).expect(200);
    expect(numeric.body).toEqual({ user: '42' });
    const big = await request(app).get('/login-as/big').expect(200);
    expect(big.body).toEqual({ user: '12345678901234567890' });
  });

  it('refuses a cookie the application broke with ERR_INVALID_COOKIE, storing nothing unsendable', async () => {
    const breakers: Record<
      string,
      (cookie: Record<string, unknown>, session: Record<string, unknown>) => void
    > = {
      'maxAge NaN': (cookie) => {
        cookie.maxAge = Number.NaN;
      },
      'maxAge Infinity': (cookie) => {
        cookie.maxAge = Number.POSITIVE_INFINITY;
      },
      'maxAge past the last date': (cookie) => {
        cookie.maxAge = 1e300;
      },
      'an invalid Date': (cookie) => {
        cookie.expires = new Date('not a date');
      },
      'a string for expires': (cookie) => {
        cookie.expires = 'tomorrow';
      },
      'the cookie replaced with null': (_cookie, session) => {
        session.cookie = null;
      },
      'the cookie replaced with an object': (_cookie, session) => {
        session.cookie = { maxAge: 1000 };
      },
      'a domain with a semicolon': (cookie) => {
        cookie.domain = 'example.com; Secure';
      },
      'a path with a newline': (cookie) => {
        cookie.path = '/\n';
      },
      'an unknown sameSite': (cookie) => {
        cookie.sameSite = 'sometimes';
      },
      // Browsers ignore an attribute over 1024 bytes (C27): the cookie would land on another scope.
      'a domain over 1024 characters': (cookie) => {
        cookie.domain = `${'a'.repeat(63)}.`.repeat(17).concat('com');
      },
      'a path over 1024 characters': (cookie) => {
        cookie.path = `/${'p'.repeat(1024)}`;
      },
    };
    const { app, store } = appWith({}, (a) => {
      a.get('/break/:kind', (req, res) => {
        req.session.views = 2;
        const breaker = breakers[req.params.kind] as (typeof breakers)[string];
        breaker(
          req.session.cookie as unknown as Record<string, unknown>,
          req.session as unknown as Record<string, unknown>,
        );
        res.send('sent');
      });
    });
    const existing = await request(app).get('/set/views/1');
    for (const kind of Object.keys(breakers)) {
      const fresh = await request(app)
        .get(`/break/${encodeURIComponent(kind)}`)
        .expect(500);
      expect(fresh.body, kind).toMatchObject({ code: 'ERR_INVALID_COOKIE' });
      expect(setCookies(fresh), kind).toEqual([]);
      const loaded = await request(app)
        .get(`/break/${encodeURIComponent(kind)}`)
        .set('Cookie', cookieOf(existing))
        .expect(500);
      expect(loaded.body, kind).toMatchObject({ code: 'ERR_INVALID_COOKIE' });
    }
    // Refused before the write: the loaded session is as it was, and no new session was stored.
    expect(await store.get(idOf(cookieOf(existing)))).toMatchObject({ data: { views: '1' } });
    expect(await store.length()).toBe(1);
  });

  it('a callback that is not a function throws ERR_INVALID_ARGUMENT at the call, before any work', async () => {
    const operations = ['save', 'reload', 'destroy', 'logout', 'touch'] as const;
    const { app, store } = appWith({}, (a) => {
      a.get('/call/:op', (req, res) => {
        const method = (req.session as unknown as Record<string, (done: unknown) => unknown>)[req.params.op];
        try {
          if (req.params.op === 'logout')
            (logout as (session: unknown, done: unknown) => void)(req.session, 'not a function');
          else method?.call(req.session, 'not a function');
          res.json({ threw: null });
        } catch (error) {
          res.json({ threw: (error as { code?: string }).code ?? String(error) });
        }
      });
      a.get('/login-with/:kind', (req, res) => {
        try {
          (sessionLogin as (session: unknown, userId: string, done: unknown) => void)(req.session, 'u1', {
            not: 'a function',
          });
          res.json({ threw: null });
        } catch (error) {
          res.json({ threw: (error as { code?: string }).code ?? String(error) });
        }
      });
    });
    const first = await request(app).get('/set/a/1');
    for (const op of operations) {
      const res = await request(app).get(`/call/${op}`).set('Cookie', cookieOf(first)).expect(200);
      expect(res.body, op).toEqual({ threw: 'ERR_INVALID_ARGUMENT' });
    }
    const login = await request(app).get('/login-with/object').set('Cookie', cookieOf(first)).expect(200);
    expect(login.body).toEqual({ threw: 'ERR_INVALID_ARGUMENT' });
    // Nothing started: the session is still there, anonymous, with its data.
    expect(await store.get(idOf(cookieOf(first)))).toMatchObject({ userId: null, data: { a: '1' } });
  });

  it('uses genid for new IDs', async () => {
    let n = 0;
    const { app } = appWith({ genid: () => `custom-id-${++n}` });
    const res = await request(app).get('/set/a/1');
    expect(idOf(cookieOf(res))).toBe('custom-id-1');
  });

  it("unset: 'destroy' destroys the stored session when req.session is removed", async () => {
    const { app, store } = appWith({ unset: 'destroy' }, (a) =>
      a.get('/unset', (req, res) => {
        (req as unknown as { session: null }).session = null;
        res.send('ok');
      }),
    );
    const first = await request(app).get('/set/a/1');
    await request(app).get('/unset').set('Cookie', cookieOf(first));
    expect(await store.get(idOf(cookieOf(first)))).toBeNull();
  });

  it("unset: 'keep' leaves the stored session alone", async () => {
    const { app, store } = appWith({}, (a) =>
      a.get('/unset', (req, res) => {
        (req as unknown as { session: null }).session = null;
        res.send('ok');
      }),
    );
    const first = await request(app).get('/set/a/1');
    await request(app).get('/unset').set('Cookie', cookieOf(first));
    expect(await store.get(idOf(cookieOf(first)))).not.toBeNull();
  });
});

describe('time', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('rolling re-sends the cookie on every response', async () => {
    const { app } = appWith({ rolling: true, cookie: { maxAge: 60_000 } });
    const first = await request(app).get('/set/a/1');
    const again = await request(app).get('/get').set('Cookie', cookieOf(first));
    expect(setCookies(again)).toHaveLength(1);
    const { app: still } = appWith({ rolling: false, cookie: { maxAge: 60_000 }, store: new MemoryStore() });
    const f2 = await request(still).get('/set/a/1');
    expect(setCookies(await request(still).get('/get').set('Cookie', cookieOf(f2)))).toEqual([]);
  });

  it('touchAfter: no store write inside the window, a touch after it', async () => {
    const { app, store } = appWith({ touchAfter: 300, cookie: { maxAge: 60_000 } });
    // The clock is set, not waited on: a loaded machine must not push the second request out of the window.
    vi.useFakeTimers({ toFake: ['Date'] });
    const start = Date.now();
    const first = await request(app).get('/set/a/1');
    const stored = async () => store.get(idOf(cookieOf(first)));
    const written = (await stored())?.lastSeenAt;
    vi.setSystemTime(start + 100);
    await request(app).get('/get').set('Cookie', cookieOf(first));
    expect((await stored())?.lastSeenAt).toBe(written);
    vi.setSystemTime(start + 350);
    const before = (await stored())?.expiresAt ?? 0;
    await request(app).get('/get').set('Cookie', cookieOf(first));
    expect((await stored())?.lastSeenAt).toBeGreaterThan(written ?? 0);
    expect((await stored())?.expiresAt).toBeGreaterThan(before);
  });

  it('the idle timeout ends a session nobody used for maxAge', async () => {
    const { app } = appWith({ cookie: { maxAge: 200 } });
    const first = await request(app).get('/set/a/1');
    await new Promise((resolve) => setTimeout(resolve, 300));
    const res = await request(app).get('/get').set('Cookie', cookieOf(first)).expect(200);
    expect(res.body.a).toBeUndefined();
  });

  it('absoluteTimeout ends a session from its creation, however active (C12)', async () => {
    const { app, store } = appWith({
      absoluteTimeout: 400,
      rolling: true,
      touchAfter: 0,
      cookie: { maxAge: 60_000 },
    });
    // The clock is set, not waited on: a loaded machine must not age the session between requests.
    vi.useFakeTimers({ toFake: ['Date'] });
    const start = Date.now();
    const first = await request(app).get('/set/a/1');
    const record = await store.get(idOf(cookieOf(first)));
    expect(record!.expiresAt - record!.createdAt).toBeLessThanOrEqual(400);
    for (let i = 1; i <= 3; i++) {
      vi.setSystemTime(start + i * 100);
      expect((await request(app).get('/get').set('Cookie', cookieOf(first))).body.a).toBe('1');
    }
    vi.setSystemTime(start + 500);
    expect((await request(app).get('/get').set('Cookie', cookieOf(first))).body.a).toBeUndefined();
  });

  it('regenerate({ keep: true }) never extends absoluteTimeout; login() starts a new session (C12)', async () => {
    const { app, store } = appWith({ absoluteTimeout: 400, cookie: { maxAge: 60_000 } }, (a) => {
      a.get('/rotate', (req, res, next) =>
        req.session.regenerate({ keep: true }, (error) => (error ? next(error) : res.send('rotated'))),
      );
      a.get('/login', (req, res, next) =>
        sessionLogin(req.session, 'u1', (error) => (error ? next(error) : res.send('in'))),
      );
    });
    vi.useFakeTimers({ toFake: ['Date'] });
    const start = Date.now();
    let cookie = cookieOf(await request(app).get('/set/a/1'));
    // Rotating the ID every 100 ms, with the data kept, would otherwise keep the session alive forever.
    for (let i = 1; i <= 3; i++) {
      vi.setSystemTime(start + i * 100);
      cookie = cookieOf(await request(app).get('/rotate').set('Cookie', cookie).expect(200));
      expect((await store.get(idOf(cookie)))?.createdAt).toBe(start);
    }
    vi.setSystemTime(start + 500);
    expect((await request(app).get('/get').set('Cookie', cookie)).body.a).toBeUndefined();
    // A login is a new authentication: its session's clock starts then.
    const fresh = cookieOf(await request(app).get('/set/a/2'));
    vi.setSystemTime(start + 800);
    const loggedIn = cookieOf(await request(app).get('/login').set('Cookie', fresh).expect(200));
    expect((await store.get(idOf(loggedIn)))?.createdAt).toBe(start + 800);
  });

  it('req.session.cookie.maxAge can be changed per request ("remember me") and is kept', async () => {
    const { app, store } = appWith({ cookie: { maxAge: 60_000 } }, (a) =>
      a.get('/remember', (req, res) => {
        req.session.cookie.maxAge = 30 * 24 * 3600 * 1000;
        res.send('ok');
      }),
    );
    const first = await request(app).get('/set/a/1');
    const res = await request(app).get('/remember').set('Cookie', cookieOf(first));
    expect(setCookies(res)).toHaveLength(1);
    const record = await store.get(idOf(cookieOf(first)));
    expect(record?.cookie.originalMaxAge).toBe(30 * 24 * 3600 * 1000);
    expect(record!.expiresAt - Date.now()).toBeGreaterThan(29 * 24 * 3600 * 1000);
  });
});

describe('secure cookies', () => {
  it("secure: 'auto' follows the request's protocol, trusting X-Forwarded-Proto only with proxy: true", async () => {
    const { app } = appWith({ proxy: true, cookie: { secure: 'auto', sameSite: 'auto' } });
    const https = await request(app).get('/set/a/1').set('X-Forwarded-Proto', 'https');
    expect(setCookies(https)[0]).toMatch(/; Secure; SameSite=None$/);
    const http = await request(app).get('/set/a/1');
    expect(setCookies(http)[0]).not.toMatch(/Secure/);
    expect(setCookies(http)[0]).toMatch(/SameSite=Lax$/);
    const { app: untrusting } = appWith({ proxy: false, cookie: { secure: 'auto' } });
    expect(
      setCookies(await request(untrusting).get('/set/a/1').set('X-Forwarded-Proto', 'https'))[0],
    ).not.toMatch(/Secure/);
  });

  it("clears the cookie with the same resolved flags it was set with (sameSite: 'auto' over HTTPS)", async () => {
    const { app } = appWith({ proxy: true, cookie: { secure: 'auto', sameSite: 'auto' } }, (a) =>
      a.get('/out', (req, res) => req.session.destroy(() => res.send('out'))),
    );
    const first = await request(app).get('/set/a/1').set('X-Forwarded-Proto', 'https');
    const out = await request(app)
      .get('/out')
      .set('X-Forwarded-Proto', 'https')
      .set('Cookie', cookieOf(first));
    expect(setCookies(out)[0]).toMatch(
      /^connect\.sid=; Path=\/; Expires=Thu, 01 Jan 1970 [^;]+; HttpOnly; Secure; SameSite=None$/,
    );
  });

  it('follows Express’s trust proxy when proxy is not set', async () => {
    const { app } = appWith({ cookie: { secure: true } });
    app.set('trust proxy', 1);
    expect(setCookies(await request(app).get('/set/a/1').set('X-Forwarded-Proto', 'https'))[0]).toMatch(
      /Secure/,
    );
    expect(setCookies(await request(app).get('/set/a/1'))).toEqual([]);
  });
});
