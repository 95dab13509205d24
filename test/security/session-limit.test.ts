import { randomBytes } from 'node:crypto';
import express from 'express';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import session, { currentUserId, login, MemoryStore, type OnLimit, Store } from '../../src/index.js';
import type { AnyStore } from '../../src/stores/factory.js';
import { cookieOf, idOf, jsonErrors, setCookies } from '../support/apps.js';
import { storeTargets } from '../support/interleave.js';

/**
 * The per-user session limit (C31) end to end through Express, on every store: `maxSessionsPerUser` with
 * `onLimit: 'evict-oldest'` ends the user's oldest login, `'refuse'` fails login() with ERR_SESSION_LIMIT
 * and leaves the request's session as it was, and two app servers (two store instances) logging one user
 * in at once never leave more than the limit.
 */

const secret = 'session-limit-secret-0123456789abcdef';
type Data = Record<string, unknown>;

/** A request held inside its handler: `arrive` when it has changed its session, then it waits for `wait`. */
interface Hold {
  arrive(): void;
  wait: Promise<void>;
}

function appOn(store: AnyStore, max: number, onLimit: OnLimit, hold?: Hold) {
  const app = express();
  app.use(express.json());
  app.use(
    session({ secret, store, resave: false, saveUninitialized: false, maxSessionsPerUser: max, onLimit }),
  );
  app.post('/visit', (req, res) => {
    (req.session as unknown as Data).note = (req.body as Data).note;
    res.json({ user: currentUserId(req.session) });
  });
  app.post('/login', async (req, res) => {
    await login(req.session, String((req.body as Data).user));
    res.json({ user: currentUserId(req.session) });
  });
  app.get('/me', (req, res) => {
    res.json({ user: currentUserId(req.session), note: (req.session as unknown as Data).note ?? null });
  });
  app.post('/slow', async (req, res) => {
    (req.session as unknown as Data).late = true;
    hold?.arrive();
    await hold?.wait;
    res.json({ user: currentUserId(req.session) });
  });
  app.use(jsonErrors);
  return app;
}

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve = (): void => undefined;
  const promise = new Promise<void>((done) => {
    resolve = done;
  });
  return { promise, resolve };
}

/** Returns once the clock has moved past the current millisecond: logins then get distinct createdAt. */
async function nextMillisecond(): Promise<void> {
  const start = Date.now();
  while (Date.now() === start) await new Promise((resolve) => setImmediate(resolve));
}

type App = ReturnType<typeof express>;

/** An anonymous visitor with a stored session, then signed in as `user`: the cookie after the login. */
async function signIn(app: App, user: string): Promise<string> {
  const visit = await request(app).post('/visit').send({ note: user });
  const login = await request(app).post('/login').set('Cookie', cookieOf(visit)).send({ user });
  expect(login.status).toBe(200);
  return cookieOf(login);
}

async function whoIs(app: App, cookie: string): Promise<string | null> {
  return ((await request(app).get('/me').set('Cookie', cookie)).body as { user: string | null }).user;
}

const targets = await storeTargets('sklim');

for (const target of targets) {
  describe.skipIf(target.skip)(`maxSessionsPerUser through Express on ${target.name}`, () => {
    let store: AnyStore;
    let peer: AnyStore;
    beforeAll(async () => {
      store = await target.open();
      // Two app servers over one store, each with its own instance where `open` reaches the same data
      // again (the network stores); SQLite's two-connection case is in the conformance suite.
      peer = ['memory', 'sqlite', 'mongodb'].includes(target.name) ? store : await target.open();
    });
    afterAll(async () => {
      if (peer !== store) await peer?.close?.();
      if (store) await target.dispose(store);
    });
    const user = () => `u-${randomBytes(6).toString('hex')}`;

    it("evict-oldest: the earliest login's next request is anonymous; the others stay signed in", async () => {
      const app = appOn(store, 2, 'evict-oldest');
      const alice = user();
      const first = await signIn(app, alice);
      await nextMillisecond();
      const second = await signIn(app, alice);
      await nextMillisecond();
      const third = await signIn(app, alice);
      expect(await whoIs(app, first)).toBeNull();
      expect(await whoIs(app, second)).toBe(alice);
      expect(await whoIs(app, third)).toBe(alice);
      expect(await store.listByUser!(alice)).toHaveLength(2);
    });

    it('refuse: login() fails with 409 ERR_SESSION_LIMIT and the session stays as it was', async () => {
      const app = appOn(store, 1, 'refuse');
      const alice = user();
      const first = await signIn(app, alice);
      const visit = await request(app).post('/visit').send({ note: 'keep me' });
      const cookie = cookieOf(visit);
      const refused = await request(app).post('/login').set('Cookie', cookie).send({ user: alice });
      expect(refused.status).toBe(409);
      expect(refused.body).toEqual({ code: 'ERR_SESSION_LIMIT' });
      expect(setCookies(refused)).toEqual([]);
      const after = await request(app).get('/me').set('Cookie', cookie);
      expect(after.body).toEqual({ user: null, note: 'keep me' });
      expect(await store.get(idOf(cookie))).toMatchObject({ userId: null, data: { note: 'keep me' } });
      expect(await whoIs(app, first)).toBe(alice);
      // Signing in again from the session the user already has is no new session: allowed.
      const again = await request(app).post('/login').set('Cookie', first).send({ user: alice });
      expect(again.status).toBe(200);
      expect(await whoIs(app, cookieOf(again))).toBe(alice);
      expect(await whoIs(app, first)).toBeNull();
    });

    it("an evicted session's request still in flight does not bring it back", async () => {
      const reached = deferred();
      const released = deferred();
      const app = appOn(store, 1, 'evict-oldest', { arrive: reached.resolve, wait: released.promise });
      const alice = user();
      const first = await signIn(app, alice);
      const slow = request(app)
        .post('/slow')
        .set('Cookie', first)
        .send({})
        .then((res) => res);
      await reached.promise;
      await nextMillisecond();
      const second = await signIn(app, alice);
      released.resolve();
      await slow;
      expect(await whoIs(app, first)).toBeNull();
      expect(await store.get(idOf(first))).toBeNull();
      expect(await whoIs(app, second)).toBe(alice);
      expect((await store.listByUser!(alice)).map((s) => s.handle)).toHaveLength(1);
    });

    const trials = 20;
    it(`N+1 concurrent logins of one user through two app servers never leave more than N (${trials} trials each way)`, async () => {
      for (const onLimit of ['evict-oldest', 'refuse'] as const) {
        const apps = [appOn(store, 2, onLimit), appOn(peer, 2, onLimit)];
        for (let trial = 0; trial < trials; trial++) {
          const alice = user();
          const visits = await Promise.all(
            [0, 1, 2].map((i) =>
              request(apps[i % 2] as App)
                .post('/visit')
                .send({ note: i }),
            ),
          );
          const logins = await Promise.all(
            visits.map((visit, i) =>
              request(apps[i % 2] as App)
                .post('/login')
                .set('Cookie', cookieOf(visit))
                .send({ user: alice }),
            ),
          );
          const statuses = logins.map((res) => res.status).sort();
          expect(statuses).toEqual(onLimit === 'refuse' ? [200, 200, 409] : [200, 200, 200]);
          const signedIn = await Promise.all(
            logins.filter((res) => res.status === 200).map((res) => whoIs(apps[0] as App, cookieOf(res))),
          );
          expect(signedIn.filter((u) => u === alice)).toHaveLength(2);
          expect(await store.listByUser!(alice)).toHaveLength(2);
        }
      }
    }, 120_000);
  });
}

describe('maxSessionsPerUser options', () => {
  it('refuses a limit that is not a positive integer, an unknown onLimit, and onLimit alone', () => {
    const bad: Array<[Data, string]> = [
      [{ maxSessionsPerUser: 0 }, 'maxSessionsPerUser'],
      [{ maxSessionsPerUser: -1 }, 'maxSessionsPerUser'],
      [{ maxSessionsPerUser: 1.5 }, 'maxSessionsPerUser'],
      [{ maxSessionsPerUser: '2' }, 'maxSessionsPerUser'],
      [{ maxSessionsPerUser: Number.POSITIVE_INFINITY }, 'maxSessionsPerUser'],
      [{ maxSessionsPerUser: 2, onLimit: 'oldest' }, 'onLimit'],
      [{ onLimit: 'refuse' }, 'onLimit'],
    ];
    for (const [options, option] of bad) {
      expect(() => session({ secret, resave: false, saveUninitialized: false, ...options })).toThrow(
        expect.objectContaining({ code: 'ERR_INVALID_OPTION', option }),
      );
    }
    expect(() =>
      session({ secret, resave: false, saveUninitialized: false, maxSessionsPerUser: 3, onLimit: 'refuse' }),
    ).not.toThrow();
  });

  it('refuses an express-session store, which cannot apply the limit atomically', () => {
    // An express-session store in the ES5 style: get/set/destroy with callbacks, nothing more.
    function PlainStore(this: Store) {
      Store.call(this);
    }
    Object.setPrototypeOf(PlainStore.prototype, Store.prototype);
    Object.assign(PlainStore.prototype, {
      get: (_sid: string, cb: (err: unknown, s?: unknown) => void) => cb(null, undefined),
      set: (_sid: string, _s: unknown, cb?: (err?: unknown) => void) => cb?.(),
      destroy: (_sid: string, cb?: (err?: unknown) => void) => cb?.(),
    });
    const plain = new (PlainStore as unknown as new () => Store)();
    expect(() =>
      session({
        secret,
        store: plain as never,
        resave: false,
        saveUninitialized: false,
        maxSessionsPerUser: 2,
      }),
    ).toThrow(expect.objectContaining({ code: 'ERR_INVALID_OPTION', option: 'maxSessionsPerUser' }));
    expect(() =>
      session({ secret, store: plain as never, resave: false, saveUninitialized: false }),
    ).not.toThrow();
  });

  it('applies through encryption at rest: the limit holds and the data stays sealed', async () => {
    const store = new MemoryStore();
    const key = randomBytes(32).toString('base64');
    const app = express();
    app.use(express.json());
    app.use(
      session({
        secret,
        store,
        resave: false,
        saveUninitialized: false,
        maxSessionsPerUser: 1,
        onLimit: 'refuse',
        encryption: { keys: [{ id: 'k1', key }] },
      }),
    );
    app.post('/login', async (req, res) => {
      (req.session as unknown as Data).secretNote = 'plain text';
      await login(req.session, 'bob');
      res.json({ user: currentUserId(req.session) });
    });
    app.use(jsonErrors);
    const first = await request(app).post('/login').send({});
    expect(first.status).toBe(200);
    const stored = await store.get(idOf(cookieOf(first)));
    expect(stored?.userId).toBe('bob');
    expect(JSON.stringify(stored?.data)).not.toContain('plain text');
    const second = await request(app).post('/login').send({});
    expect(second.body).toEqual({ code: 'ERR_SESSION_LIMIT' });
  });
});
