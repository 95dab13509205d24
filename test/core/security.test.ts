import express from 'express';
import expressSession from 'express-session';
import request from 'supertest';
import { describe, expect, it } from 'vitest';
import { sign } from '../../src/core/signature.js';
import session, { MemoryStore, type SessionOptions } from '../../src/index.js';
import { cookieOf, idOf, jsonErrors, setCookies } from '../support/apps.js';
import { overwriteEntry } from '../support/memory-internals.js';

const secret = 'security-tests-secret-0123456789abcdef';

function appWith(options: Partial<SessionOptions> = {}) {
  const store = (options.store as MemoryStore | undefined) ?? new MemoryStore();
  const middleware = session({ secret, store, resave: false, saveUninitialized: false, ...options });
  const app = express();
  app.use(middleware);
  app.get('/set/:key/:value', (req, res) => {
    (req.session as unknown as Record<string, string>)[req.params.key] = req.params.value;
    res.send('ok');
  });
  app.get('/get', (req, res) => res.json({ ...req.session }));
  app.use(jsonErrors);
  return { app, store, middleware };
}

const cookieFor = (id: string, key = secret, name = 'connect.sid') =>
  `${name}=${encodeURIComponent(`s:${sign(id, key)}`)}`;

describe('cookies that must not load a session', () => {
  it('rejects forged, truncated, extended and unsigned values with a fresh session (B07, C03)', async () => {
    const { app } = appWith();
    const real = await request(app).get('/set/secret/1');
    const id = idOf(cookieOf(real));
    const value = decodeURIComponent(cookieOf(real).split('=')[1] as string);
    const forgeries = [
      cookieFor(id, 'wrong secret'),
      `connect.sid=${encodeURIComponent(value.slice(0, -3))}`,
      `connect.sid=${encodeURIComponent(`${value}AAAA`)}`,
      `connect.sid=${encodeURIComponent(`garbage${value}`)}`,
      `connect.sid=${id}`,
      `connect.sid=${encodeURIComponent(`s:${id}`)}`,
      `connect.sid=${encodeURIComponent(value.replace('s:', 's:x'))}`,
    ];
    for (const cookie of forgeries) {
      const res = await request(app).get('/get').set('Cookie', cookie).expect(200);
      expect(res.body.secret).toBeUndefined();
    }
  });

  it('ignores the ID in the query string, body or a custom header (C28, B11)', async () => {
    const { app } = appWith();
    const real = await request(app).get('/set/secret/1');
    const id = idOf(cookieOf(real));
    const res = await request(app)
      .get(`/get?sid=${id}&connect.sid=${id}`)
      .set('X-Session-Id', id)
      .expect(200);
    expect(res.body.secret).toBeUndefined();
  });

  it('survives malformed, huge and hostile headers (B02, B03, B06, B09)', async () => {
    const { app } = appWith();
    const hostile = [
      'connect.sid=%zz%',
      'connect.sid=',
      `connect.sid=s%3A${'A'.repeat(8000)}.x`,
      `${'a=b;'.repeat(2000)}`,
      '__proto__=x; constructor=y; hasOwnProperty=z; connect.sid=s%3A%00',
      'connect.sid="s%3A"',
      ';;;;====;;;',
    ];
    for (const cookie of hostile) await request(app).get('/get').set('Cookie', cookie).expect(200);
    expect(({} as Record<string, unknown>).x).toBeUndefined();
  });

  it('with duplicate cookie names, uses the first that verifies and exists (B04)', async () => {
    const { app } = appWith();
    const real = await request(app).get('/set/who/real');
    const stale = cookieFor('mFfjmzxMtP4lFBJ5RPgRmNa9e8f2bM3n');
    const res = await request(app)
      .get('/get')
      .set('Cookie', `${stale}; connect.sid=s%3Abad.sig; ${cookieOf(real)}`);
    expect(res.body.who).toBe('real');
  });
});

describe('lifecycle events for monitoring (C30, C34)', () => {
  it('reports bad signatures as invalid and signed-but-unknown IDs as unknown, by handle only', async () => {
    const { app, middleware } = appWith();
    const events: [string, unknown][] = [];
    middleware.manager.on('invalid', (e) => events.push(['invalid', e]));
    middleware.manager.on('unknown', (e) => events.push(['unknown', e]));
    const unknownId = 'mFfjmzxMtP4lFBJ5RPgRmNa9e8f2bM3n';
    await request(app).get('/get').set('Cookie', cookieFor(unknownId, 'wrong secret'));
    await request(app).get('/get').set('Cookie', cookieFor(unknownId));
    const { storageKey } = await import('../../src/core/id.js');
    expect(events).toEqual([
      ['invalid', { reason: 'bad-signature' }],
      ['unknown', { handle: storageKey(unknownId) }],
    ]);
    expect(JSON.stringify(events)).not.toContain(unknownId);
  });
});

describe('secret rotation', () => {
  it('accepts a cookie signed by an older secret and re-signs it with the newest (C35, B08)', async () => {
    const { app: oldApp, store } = appWith({ secret: 'old-secret-0123456789abcdef0123456789' });
    const first = await request(oldApp).get('/set/a/1');
    const { app } = appWith({ secret: [secret, 'old-secret-0123456789abcdef0123456789'], store });
    const rotated = await request(app).get('/get').set('Cookie', cookieOf(first)).expect(200);
    expect(rotated.body.a).toBe('1');
    expect(cookieOf(rotated)).toBe(cookieFor(idOf(cookieOf(first))));
    const { app: removed } = appWith({ secret, store });
    expect((await request(removed).get('/get').set('Cookie', cookieOf(first))).body.a).toBeUndefined();
  });

  it('stops verifying a secret removed from the secret array in place, as express-session does (C39)', async () => {
    const old = 'old-secret-0123456789abcdef0123456789';
    /** Whether each middleware, over a ring changed in place between requests, loads the cookie. */
    const loads = async (middleware: typeof expressSession, store: expressSession.Store) => {
      const oldApp = express();
      oldApp.use(middleware({ secret: old, store, resave: false, saveUninitialized: false }));
      oldApp.get('/set', (req, res) => {
        (req.session as unknown as Record<string, string>).a = '1';
        res.send('ok');
      });
      const ring = [secret, old];
      const app = express();
      app.use(middleware({ secret: ring, store, resave: false, saveUninitialized: false }));
      app.get('/get', (req, res) => res.json({ a: (req.session as unknown as Record<string, string>).a }));
      const cookie = cookieOf(await request(oldApp).get('/set'));
      const load = async () => (await request(app).get('/get').set('Cookie', cookie)).body.a === '1';
      // Loaded twice first: nothing remembered from earlier requests may outlive the secret.
      const seen = [await load(), await load()];
      ring.pop();
      const removed = await load();
      ring.push(old);
      return [...seen, removed, await load()];
    };
    const expected = await loads(expressSession, new expressSession.MemoryStore());
    expect(expected).toEqual([true, true, false, true]);
    expect(await loads(session as unknown as typeof expressSession, new MemoryStore() as never)).toEqual(
      expected,
    );
  });
});

describe('session data', () => {
  it('never lets __proto__ in session data pollute prototypes (B17)', async () => {
    const { app, store } = appWith();
    app.get('/evil', (req, res) => {
      Object.assign(req.session, JSON.parse('{"__proto__":{"polluted":"yes"},"ok":1}'));
      res.send('ok');
    });
    const first = await request(app).get('/evil');
    const res = await request(app).get('/get').set('Cookie', cookieOf(first)).expect(200);
    expect(res.body.ok).toBe(1);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(Object.hasOwn((await store.get(idOf(cookieOf(first))))?.data ?? {}, '__proto__')).toBe(false);
  });

  it('refuses data over maxSessionBytes with ERR_SESSION_TOO_LARGE (B14)', async () => {
    const { app } = appWith({ maxSessionBytes: 1000 });
    const res = await request(app)
      .get(`/set/big/${'x'.repeat(2000)}`)
      .expect(500);
    expect(res.body.code).toBe('ERR_SESSION_TOO_LARGE');
  });

  it('refuses a stored session that grows past maxSessionBytes, in bytes, and keeps what was stored', async () => {
    const { app, store } = appWith({ maxSessionBytes: 1000 });
    app.get('/grow/:n', (req, res) => {
      const list = (req.session.list as string[] | undefined) ?? [];
      // 'é' is one UTF-16 unit but two bytes of UTF-8: 450 of them are 900 bytes.
      list.push('é'.repeat(Number(req.params.n)));
      req.session.list = list;
      res.send('ok');
    });
    app.use(jsonErrors);
    const first = await request(app).get('/grow/10').expect(200);
    const id = idOf(cookieOf(first));
    await request(app).get('/grow/300').set('Cookie', cookieOf(first)).expect(200);
    const res = await request(app).get('/grow/450').set('Cookie', cookieOf(first)).expect(500);
    expect(res.body.code).toBe('ERR_SESSION_TOO_LARGE');
    const stored = (await store.get(id))?.data.list as string[] | undefined;
    expect(stored?.map((s) => s.length)).toEqual([10, 300]);
  });

  it('reports a BigInt written into a stored session with ERR_SESSION_DATA (B15)', async () => {
    const { app } = appWith();
    app.get('/bigint', (req, res) => {
      req.session.n = 10n;
      res.send('ok');
    });
    app.use(jsonErrors);
    const first = await request(app).get('/set/a/1').expect(200);
    const res = await request(app).get('/bigint').set('Cookie', cookieOf(first)).expect(500);
    expect(res.body.code).toBe('ERR_SESSION_DATA');
  });

  it('reports unserializable data with ERR_SESSION_DATA (B15)', async () => {
    const { app } = appWith();
    app.get('/bigint', (req, res) => {
      req.session.n = 10n;
      res.send('ok');
    });
    app.use(jsonErrors); // after the route, so the route's error reaches it
    expect((await request(app).get('/bigint').expect(500)).body.code).toBe('ERR_SESSION_DATA');
  });

  it('turns corrupted store data into a fresh session plus an error event (B18)', async () => {
    const { app, store, middleware } = appWith();
    const errors: { code?: string }[] = [];
    middleware.manager.on('error', (error) => errors.push(error));
    const first = await request(app).get('/set/a/1');
    overwriteEntry(store, idOf(cookieOf(first)), '{not json');
    const res = await request(app).get('/get').set('Cookie', cookieOf(first)).expect(200);
    expect(res.body.a).toBeUndefined();
    expect(errors.map((e) => e.code)).toEqual(['ERR_SESSION_CORRUPT']);
    expect(await store.get(idOf(cookieOf(first)))).toBeNull();
  });
});

describe('concurrency', () => {
  it('overlapping requests changing different keys both persist', async () => {
    const { app, store } = appWith();
    app.get('/slow/:key', async (req, res) => {
      (req.session as unknown as Record<string, string>)[req.params.key] = 'set';
      await new Promise((resolve) => setTimeout(resolve, 50));
      res.send('ok');
    });
    const first = await request(app).get('/set/start/1');
    await Promise.all(
      ['a', 'b', 'c', 'd', 'e'].map((key) => request(app).get(`/slow/${key}`).set('Cookie', cookieOf(first))),
    );
    expect((await store.get(idOf(cookieOf(first))))?.data).toEqual({
      start: '1',
      a: 'set',
      b: 'set',
      c: 'set',
      d: 'set',
      e: 'set',
    });
  });

  it('a slow request that loaded a session destroyed meanwhile does not bring it back (C16)', async () => {
    const { app, store } = appWith();
    let release!: () => void;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    let entered!: () => void;
    const loaded = new Promise<void>((resolve) => {
      entered = resolve;
    });
    app.get('/slow', async (req, res) => {
      req.session.late = 'write';
      entered();
      await gate;
      res.send('late');
    });
    app.get('/logout', (req, res) => req.session.destroy(() => res.send('out')));
    const first = await request(app).get('/set/user/u1');
    const slow = request(app)
      .get('/slow')
      .set('Cookie', cookieOf(first))
      .then((r) => r);
    // The slow request has loaded the session (its handler runs) before the logout: an event, not a pause.
    await loaded;
    await request(app).get('/logout').set('Cookie', cookieOf(first)).expect(200, 'out');
    release();
    const late = await slow;
    expect(late.status).toBe(200);
    expect(setCookies(late)).toEqual([]);
    expect(await store.get(idOf(cookieOf(first)))).toBeNull();
  });
});

describe('options are validated at session() time, naming the option', () => {
  const cases: [Partial<SessionOptions>, string][] = [
    [{ secret: [] }, 'ERR_SECRET_REQUIRED'],
    [{ preset: 'owasp', secret: undefined }, 'ERR_SECRET_REQUIRED'],
    [{ secret: [''] }, 'ERR_INVALID_OPTION'],
    [{ name: 'bad name;' }, 'ERR_INVALID_OPTION'],
    [{ cookie: { maxAge: -1 } }, 'ERR_INVALID_OPTION'],
    [{ cookie: { maxAge: Number.NaN } }, 'ERR_INVALID_OPTION'],
    [{ cookie: { domain: 'evil.com; Path=/' } }, 'ERR_INVALID_OPTION'],
    [{ cookie: { sameSite: 'sideways' as never } }, 'ERR_INVALID_OPTION'],
    [{ cookie: { domain: 5 as never } }, 'ERR_INVALID_OPTION'],
    [{ cookie: { path: 5 as never } }, 'ERR_INVALID_OPTION'],
    [{ cookie: { httpOnly: 'yes' as never } }, 'ERR_INVALID_OPTION'],
    [{ cookie: { partitioned: 1 as never } }, 'ERR_INVALID_OPTION'],
    [{ cookie: { expires: new Date('nope') } }, 'ERR_INVALID_OPTION'],
    [{ name: '__Host-sid', cookie: { domain: 'example.com' } }, 'ERR_INVALID_OPTION'],
    [{ unset: 'drop' as never }, 'ERR_INVALID_OPTION'],
    [{ onStoreError: 'ignore' as never }, 'ERR_INVALID_OPTION'],
    [{ store: {} as never }, 'ERR_INVALID_OPTION'],
    [{ touchAfter: -5 }, 'ERR_INVALID_OPTION'],
    [{ resave: 'yes' as never }, 'ERR_INVALID_OPTION'],
  ];
  for (const [options, code] of cases) {
    it(`${JSON.stringify(options, (_k, v) => (v instanceof Date ? 'Invalid Date' : v))} → ${code}`, () => {
      expect(() => session({ secret, ...options } as SessionOptions)).toThrow(
        expect.objectContaining({ code }),
      );
    });
  }

  it('clamps a maxAge over 400 days (B13)', async () => {
    const { app } = appWith({ cookie: { maxAge: 10 * 365 * 24 * 3600 * 1000 } });
    const res = await request(app).get('/set/a/1');
    const expires = Date.parse(/Expires=([^;]+)/.exec(setCookies(res)[0] as string)?.[1] ?? '');
    expect(expires - Date.now()).toBeLessThanOrEqual(400 * 24 * 3600 * 1000 + 1000);
  });
});
