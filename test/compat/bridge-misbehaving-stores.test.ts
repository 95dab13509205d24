/**
 * Why: apps pass third-party express-session stores, and some misbehave: callbacks called twice or never,
 * synchronous throws, promises instead of callbacks, odd values from `get`, shared mutable objects,
 * disconnect events. Through the bridge, on Express 4 and 5, each must give a typed error, a 503 within
 * storeTimeout or a fresh session: never a crash, a hang, or one request's data in another's.
 */
import request from 'supertest';
import { describe, expect, it } from 'vitest';
import session from '../../src/index.js';
import { cookieOf, expressVersions } from '../support/apps.js';
import { MisbehavingStore, type Misbehaviour, misbehaviours } from '../support/misbehaving-store.js';

const secret = 'bridge-misbehaving-secret-0123456789abcd';
type Break = (store: MisbehavingStore) => void;

const cases: [string, Break, number, string | RegExp][] = (
  [
    ['get calls back twice, the second time with an error', 200, '2'],
    ['get calls back with an error, then with the session', 500, /first/],
    ['get never calls back', 503, /ERR_STORE_UNAVAILABLE/],
    ['get throws synchronously', 500, /sync/],
    ['get throws a string', 500, /str/],
    ['get returns a promise and never calls back', 503, /ERR_STORE_UNAVAILABLE/],
    ['get returns a rejected promise', 500, /rej/],
    ['get answers a number', 200, '1'],
    ['get answers an array', 200, '1'],
    ['get answers an invalid expires', 200, '6'],
    ['get answers with a non-Error object', 500, /obj/],
    ['set calls back twice, the second time with an error', 200, '2'],
    ['set throws synchronously', 500, /set-sync/],
    ['set never calls back', 503, /ERR_STORE_UNAVAILABLE/],
    ['touch throws (an unchanged session)', 200, '1'],
  ] as [Misbehaviour, number, string | RegExp][]
).map(([name, status, body]) => [name, misbehaviours[name], status, body]);

describe.each(expressVersions)('$name: held', ({ create }) => {
  it.each(cases)('%s', async (_, breakIt, status, body) => {
    const store = new MisbehavingStore();
    const app = create();
    app.use(
      session({
        secret,
        store: store as never,
        resave: false,
        saveUninitialized: false,
        storeTimeout: 200,
        touchAfter: 0,
      }),
    );
    app.get('/', (req, res) => {
      const s = req.session as unknown as { views?: number };
      s.views = (s.views ?? 0) + 1;
      res.send(String(s.views));
    });
    app.get('/read', (req, res) => res.send(String((req.session as unknown as { views?: number }).views)));
    app.use(((err, _req, res, _next) => {
      if (!res.headersSent) res.status(err?.status ?? 500).send(`${err?.code ?? ''} ${err?.message ?? err}`);
    }) as import('express').ErrorRequestHandler);
    const cookie = cookieOf(await request(app).get('/').expect(200));
    await new Promise((r) => setTimeout(r, 5));
    breakIt(store);
    const res = await request(app)
      .get(String(_).startsWith('touch') ? '/read' : '/')
      .set('Cookie', cookie);
    expect(res.status).toBe(status);
    expect(res.text).toMatch(body);
  });

  it('disconnect: 503 for a cookie, a fresh session without one; connect restores', async () => {
    const store = new MisbehavingStore();
    const app = create();
    app.use(session({ secret, store: store as never, resave: false, saveUninitialized: false }));
    app.get('/', (req, res) => {
      const s = req.session as unknown as { views?: number };
      s.views = (s.views ?? 0) + 1;
      res.send(String(s.views));
    });
    app.use(((err, _req, res, _next) =>
      res.status(err?.status ?? 500).send(err?.code)) as import('express').ErrorRequestHandler);
    const cookie = cookieOf(await request(app).get('/').expect(200));
    store.emit('disconnect');
    await request(app).get('/').set('Cookie', cookie).expect(503, 'ERR_STORE_UNAVAILABLE');
    await request(app).get('/').expect(200, '1');
    store.emit('connect');
    await request(app).get('/').set('Cookie', cookie).expect(200, '2');
  });

  it('get answering one shared object to every ID leaks nothing between requests', async () => {
    const store = new MisbehavingStore();
    const shared: Record<string, unknown> = { cookie: { originalMaxAge: null }, views: 10 };
    store.get = (_id, cb) => setImmediate(() => cb(null, shared));
    const app = create();
    app.use(session({ secret, store: store as never, resave: false, saveUninitialized: false }));
    app.get('/', (req, res) => {
      (req.session as unknown as { mine: string }).mine = String(req.query.who);
      res.send(String((req.session as unknown as { views: number }).views));
    });
    const a = cookieOf(await request(app).get('/?who=a'));
    await request(app).get('/?who=b').set('Cookie', a).expect(200, '10');
    expect(shared.mine).toBeUndefined();
  });
});
