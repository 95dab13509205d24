/**
 * Why: express-session stores get `sess.cookie` as express-session's Cookie, whose `expires` and `maxAge`
 * can be assigned, and some assign them: a `set` that gives a browser-session cookie an expiry of its own
 * (`if (!sess.cookie.expires) sess.cookie.expires = new Date(…)`), or a store that keeps the object it was
 * given and turns the stored date back into a Date in `get`. An application moving such a store from
 * express-session to sessionkit depends on it being served as express-session serves it, not with a 500
 * on every write or read of the session.
 */
import type express from 'express';
import expressSession from 'express-session';
import request from 'supertest';
import { describe, expect, it } from 'vitest';
import session from '../../src/index.js';
import { cookieOf, expressVersions } from '../support/apps.js';
import { MisbehavingStore } from '../support/misbehaving-store.js';

const secret = 'bridge-cookie-setters-secret-0123456789a';
type Sess = { cookie: { expires?: unknown; maxAge?: unknown; originalMaxAge?: unknown } };

/** Gives a browser-session cookie an expiry of its own before storing, as some stores do. */
function defaultingStore(): MisbehavingStore {
  const store = new MisbehavingStore();
  const set = store.set.bind(store);
  store.set = (sid, sess, cb) => {
    const s = sess as Sess;
    if (!s.cookie.expires) s.cookie.expires = new Date(Date.now() + 3_600_000);
    return set(sid, sess, cb);
  };
  return store;
}

/** Sets the lifetime through `maxAge` before storing, as stores of connect-redis 3's time could. */
function maxAgeStore(): MisbehavingStore {
  const store = new MisbehavingStore();
  const set = store.set.bind(store);
  store.set = (sid, sess, cb) => {
    const s = sess as Sess;
    if (s.cookie.maxAge === null) s.cookie.maxAge = 3_600_000;
    return set(sid, sess, cb);
  };
  return store;
}

/** Keeps what `set` gave it (no serialization) and normalises the expiry to a Date when reading. */
function byReferenceStore(): MisbehavingStore {
  const store = new MisbehavingStore();
  const kept = new Map<string, Sess>();
  store.set = (sid, sess, cb) => {
    kept.set(sid, sess as Sess);
    setImmediate(() => cb?.());
    return undefined;
  };
  store.get = (sid, cb) => {
    try {
      const sess = kept.get(sid);
      if (sess?.cookie.expires) sess.cookie.expires = new Date(sess.cookie.expires as string);
      setImmediate(() => cb(null, sess ?? null));
    } catch (error) {
      cb(error);
    }
    return undefined;
  };
  return store;
}

const stores: [string, () => MisbehavingStore, { maxAge?: number }][] = [
  ['a store whose set fills in cookie.expires (browser-session cookie)', defaultingStore, {}],
  ['a store whose set fills in cookie.maxAge (browser-session cookie)', maxAgeStore, {}],
  [
    'a store that keeps the object and normalises cookie.expires in get',
    byReferenceStore,
    { maxAge: 60_000 },
  ],
];

describe.each(expressVersions)('$name: a store that assigns sess.cookie.expires or maxAge', ({ create }) => {
  it.each(stores)('%s: served as express-session serves it', async (_, makeStore, cookie) => {
    const results: Record<string, unknown> = {};
    for (const [name, middleware] of [
      [
        'express-session',
        (store: MisbehavingStore) =>
          expressSession({ secret, store: store as never, resave: false, saveUninitialized: false, cookie }),
      ],
      [
        'sessionkit',
        (store: MisbehavingStore) =>
          session({ secret, store: store as never, resave: false, saveUninitialized: false, cookie }),
      ],
    ] as const) {
      const app = create();
      app.use(middleware(makeStore()) as never);
      app.get('/', (req, res) => {
        const s = req.session as unknown as { views?: number };
        s.views = (s.views ?? 0) + 1;
        res.send(String(s.views));
      });
      app.use(((err, _req, res, _next) =>
        res.status(500).send(String(err?.message ?? err))) as express.ErrorRequestHandler);
      const first = await request(app).get('/');
      const second =
        first.status === 200 ? await request(app).get('/').set('Cookie', cookieOf(first)) : first;
      results[name] = [first.status, second.status, second.text];
    }
    expect(results['express-session']).toEqual([200, 200, '2']);
    expect(results.sessionkit).toEqual(results['express-session']);
  });
});
