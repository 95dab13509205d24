/**
 * Why: a third-party express-session store that misbehaves must cost no more on Fastify, Koa, Hono,
 * Next.js or SvelteKit than on Express (test/compat/bridge-misbehaving-stores.test.ts). Through each
 * adapter, each must answer a typed error (its 500/503 idiom), a 503 within
 * storeTimeout, or a fresh session; never a crash, a hang, or one request's data in another's.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SuiteRoute } from '../../src/testing/index.js';
import { cookieFrom, harnesses, sleep } from '../support/misbehaving-adapters.js';
import { MisbehavingStore, type Misbehaviour, misbehaviours } from '../support/misbehaving-store.js';

const secret = 'adapters-misbehaving-secret-0123456789ab';
type Break = (store: MisbehavingStore) => void;

const unhandled: unknown[] = [];
const onUnhandled = (error: unknown) => unhandled.push(error);
beforeAll(() => {
  process.on('unhandledRejection', onUnhandled);
  process.on('uncaughtException', onUnhandled);
});
afterAll(() => {
  process.off('unhandledRejection', onUnhandled);
  process.off('uncaughtException', onUnhandled);
});

const cases: [string, Break, number, string | null][] = (
  [
    ['get calls back twice, the second time with an error', 200, '2'],
    ['get calls back with an error, then with the session', 500, null],
    ['get never calls back', 503, null],
    ['get throws synchronously', 500, null],
    ['get throws a string', 500, null],
    ['get returns a promise and never calls back', 503, null],
    ['get returns a rejected promise', 500, null],
    ['get answers a number', 200, '1'],
    ['get answers an array', 200, '1'],
    ['get answers an unparsable string', 200, '1'],
    ['get answers an object without cookie', 200, '1'],
    ['get answers an invalid expires', 200, '6'],
    ['get answers with a non-Error object', 500, null],
    ['set calls back twice, the second time with an error', 200, '2'],
    ['set throws synchronously', 500, null],
    ['set never calls back', 503, null],
    ['set returns a rejected promise', 500, null],
    ['touch throws (an unchanged session)', 200, '1'],
    ['touch never calls back (an unchanged session)', 200, '1'],
  ] as [Misbehaviour, number, string | null][]
).map(([name, status, body]) => [name, misbehaviours[name], status, body]);

const routes: Record<string, SuiteRoute> = {
  '/': ({ session }) => {
    const s = session() as unknown as { views?: number };
    s.views = (s.views ?? 0) + 1;
    return s.views;
  },
  '/read': ({ session }) => (session() as unknown as { views?: number }).views ?? null,
  '/who': ({ session, url }) => {
    const s = session() as unknown as Record<string, unknown>;
    s.mine = new URL(url, 'http://x').searchParams.get('who');
    return s.views ?? null;
  },
};

describe.concurrent.each(harnesses)('$name', (harness) => {
  it.each(cases)('%s', async (name, breakIt, status, body) => {
    const store = new MisbehavingStore();
    const app = await harness.create(
      {
        secret,
        store: store as never,
        resave: false,
        saveUninitialized: false,
        storeTimeout: 200,
        touchAfter: 0,
      },
      routes,
      { trustProxy: false },
    );
    try {
      const first = await app.request('/');
      expect(first.status).toBe(200);
      const cookie = cookieFrom(first.setCookie);
      await sleep(5);
      breakIt(store);
      const started = Date.now();
      const res = await app.request(name.startsWith('touch') ? '/read' : '/', { cookie });
      expect(Date.now() - started).toBeLessThan(2_000);
      expect({ status: res.status, body: body === null ? null : res.body }).toEqual({ status, body });
      await sleep(30);
      expect(unhandled).toEqual([]);
    } finally {
      await app.close?.();
    }
  });

  it('disconnect: 503 for a cookie, a fresh session without one; connect restores', async () => {
    const store = new MisbehavingStore();
    const app = await harness.create(
      { secret, store: store as never, resave: false, saveUninitialized: false },
      routes,
      { trustProxy: false },
    );
    try {
      const cookie = cookieFrom((await app.request('/')).setCookie);
      store.emit('disconnect');
      expect((await app.request('/', { cookie })).status).toBe(503);
      const anon = await app.request('/');
      expect([anon.status, anon.body]).toEqual([200, '1']);
      store.emit('connect');
      const back = await app.request('/', { cookie });
      expect([back.status, back.body]).toEqual([200, '2']);
    } finally {
      await app.close?.();
    }
  });

  it('a shared object answered for every ID leaks nothing between requests', async () => {
    const store = new MisbehavingStore();
    const shared: Record<string, unknown> = { cookie: { originalMaxAge: null }, views: 10 };
    store.get = (_id, cb) => setImmediate(() => cb(null, shared));
    const app = await harness.create(
      { secret, store: store as never, resave: false, saveUninitialized: false },
      routes,
      { trustProxy: false },
    );
    try {
      const a = cookieFrom((await app.request('/who?who=a')).setCookie);
      const b = await app.request('/who?who=b', { cookie: a });
      expect([b.status, b.body]).toEqual([200, '10']);
      expect(shared.mine).toBeUndefined();
    } finally {
      await app.close?.();
    }
  });

  it('a get that answers after the 503 writes nothing', async () => {
    const store = new MisbehavingStore();
    const app = await harness.create(
      { secret, store: store as never, resave: false, saveUninitialized: false, storeTimeout: 200 },
      routes,
      { trustProxy: false },
    );
    try {
      const cookie = cookieFrom((await app.request('/')).setCookie);
      const get = store.get.bind(store);
      let reads = 0;
      store.get = (sid, cb) => {
        reads++;
        if (reads === 2) setTimeout(() => get(sid, cb), 400);
        else get(sid, cb);
        return undefined;
      };
      const sets = store.calls.filter((c) => c.startsWith('set')).length;
      const res = await app.request('/', { cookie });
      expect(res.status).toBe(503);
      await sleep(600);
      expect(store.calls.filter((c) => c.startsWith('set')).length).toBe(sets);
      expect(JSON.parse([...store.data.values()][0] as string).views).toBe(1);
      // The late answer to the load: nothing either.
      store.get = (sid, cb) => void setTimeout(() => get(sid, cb), 400);
      expect((await app.request('/', { cookie })).status).toBe(503);
      await sleep(600);
      expect(store.calls.filter((c) => c.startsWith('set')).length).toBe(sets);
      expect(unhandled).toEqual([]);
    } finally {
      await app.close?.();
    }
  });

  it('a set that never calls back: the next request is not held 5 s, the lost write does not land', async () => {
    const store = new MisbehavingStore();
    const app = await harness.create(
      { secret, store: store as never, resave: false, saveUninitialized: false, storeTimeout: 300 },
      routes,
      { trustProxy: false },
    );
    try {
      const cookie = cookieFrom((await app.request('/')).setCookie);
      const set = store.set.bind(store);
      let sets = 0;
      store.set = (sid, sess, cb) => {
        sets++;
        if (sets === 1) return undefined;
        return set(sid, sess, cb);
      };
      expect((await app.request('/', { cookie })).status).toBe(503);
      const started = Date.now();
      const next = await app.request('/', { cookie });
      expect(Date.now() - started).toBeLessThan(1_500);
      expect([next.status, next.body]).toEqual([200, '2']);
      expect(JSON.parse([...store.data.values()][0] as string).views).toBe(2);
    } finally {
      await app.close?.();
    }
  });
});
