/**
 * Why: an application on an express-session store (a file store, connect-redis, …) depends on a record
 * the store cannot give back whole (a truncated or half-written JSON string, a value JSON cannot hold
 * such as a BigInt from a driver, a record without a `cookie` object that some other program wrote)
 * costing that user a fresh session, reported on the `error` event, never served with its data, and
 * never a 500 on every request that carries the cookie for as long as it lives (SECURITY.md B18; README
 * "Differences from express-session", row 1).
 */
import type express from 'express';
import Koa from 'koa';
import request from 'supertest';
import { describe, expect, it } from 'vitest';
import { session as koaSession } from '../../src/adapters/koa.js';
import session from '../../src/index.js';
import { cookieOf, expressVersions } from '../support/apps.js';
import { MisbehavingStore } from '../support/misbehaving-store.js';

const secret = 'bridge-corrupt-secret-0123456789abcdefgh';

/** A store that answers the session's own record until `corrupt` is set, then `corrupt` as it is. */
function corruptible(): MisbehavingStore & { corrupt?: unknown } {
  const store = new MisbehavingStore() as MisbehavingStore & { corrupt?: unknown };
  const get = store.get.bind(store);
  store.get = (sid, cb) => {
    if (store.corrupt === undefined) return get(sid, cb);
    setImmediate(() => cb(null, store.corrupt));
    return undefined;
  };
  return store;
}

const circular: Record<string, unknown> = { cookie: { originalMaxAge: null } };
circular.self = circular;

const corruptValues: [string, unknown][] = [
  ['a truncated JSON string', '{"cookie":{"originalMaxAge":null},"user":"al'],
  ['a string that is no JSON', 'garbage'],
  ['an object holding a BigInt', { cookie: { originalMaxAge: null }, n: 10n }],
  ['an object holding itself', circular],
  // Not written by express-session (nor sessionkit): one holding only a user ID would be a login.
  ['a record without a cookie field', { user: 'alice' }],
  ['a record whose cookie is no object', { user: 'alice', cookie: 'x' }],
  ['a record with a null cookie', { user: 'alice', cookie: null }],
];

describe.each(expressVersions)('$name: an express-session store answering a corrupt record', ({ create }) => {
  it.each(corruptValues)(
    '%s is a fresh session plus an error event, not a 500 on every request',
    async (_, value) => {
      const store = corruptible();
      const middleware = session({ secret, store: store as never, resave: false, saveUninitialized: false });
      const errors: { code?: string }[] = [];
      middleware.manager.on('error', (error) => errors.push(error as { code?: string }));
      const app = create();
      app.use(middleware);
      app.get('/login', (req, res) => {
        (req.session as unknown as { user: string }).user = 'alice';
        res.send('ok');
      });
      app.get('/me', (req, res) =>
        res.json({ user: (req.session as unknown as { user?: string }).user ?? null }),
      );
      app.use(((err, _req, res, _next) =>
        res.status(500).json({ error: String(err?.message ?? err) })) as express.ErrorRequestHandler);
      const cookie = cookieOf(await request(app).get('/login').expect(200));
      store.corrupt = value;
      const first = await request(app).get('/me').set('Cookie', cookie);
      const second = await request(app).get('/me').set('Cookie', cookie);
      expect([first.status, first.body, second.status]).toEqual([200, { user: null }, 200]);
      expect(errors.map((e) => e.code)).toContain('ERR_SESSION_CORRUPT');
    },
  );
});

describe('Koa: an express-session store answering a string that is no JSON', () => {
  it('is a fresh session, not a 500', async () => {
    const store = corruptible();
    const app = new Koa();
    app.keys = [secret];
    app.silent = true;
    app.use(koaSession({ secret, store: store as never, resave: false, saveUninitialized: false }));
    app.use(async (ctx) => {
      const s = ctx.session as unknown as { user?: string };
      if (ctx.path === '/login') s.user = 'alice';
      ctx.body = { user: s.user ?? null };
    });
    const login = await request(app.callback()).get('/login').expect(200);
    const cookie = ((login.headers['set-cookie'] as unknown as string[]) ?? [])
      .map((c) => c.split(';')[0])
      .join('; ');
    store.corrupt = '{"cookie":{"originalMaxAge":null},"user":"al';
    const res = await request(app.callback()).get('/me').set('Cookie', cookie);
    expect([res.status, res.body]).toEqual([200, { user: null }]);
  });
});
