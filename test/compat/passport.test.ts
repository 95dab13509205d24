/**
 * passport 0.7 (passport-local) and connect-flash on sessionkit's Express middleware, side by side with
 * the same app on express-session: a login form with flash messages, `returnTo`, a protected page and
 * logout, on the MemoryStore, a store that answers asynchronously and Redis, on Express 4 and 5. passport
 * regenerates the session at login and logout and, with `keepSessionInfo`, copies every enumerable key
 * of the old session object (its `cookie` included) into the new one; both must work unchanged, with a
 * new session ID at each step and the old one dead (session fixation). Then the edges: logging in twice,
 * logging out when not logged in, double-submitted logins and logouts, a logout racing a login, a flash
 * message saved without waiting, the store failing in the middle of a login or logout (an error, never a
 * half-logged-in session), and sessionkit's own `login()` with `maxSessionsPerUser`.
 */
import { RedisStore as ConnectRedisStore } from 'connect-redis';
import { createClient } from 'redis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SessionDelta, SessionRecord } from '../../src/core/types.js';
import { login, MemoryStore } from '../../src/index.js';
import { RedisStore } from '../../src/stores/redis.js';
import { withLeads } from '../support/leads.js';
import {
  Browser,
  FaultyStore,
  type Kind,
  type PassportAppOptions,
  type Step,
  startPassportApp,
} from '../support/passport-app.js';
import { runNamespace } from '../support/services.js';
import { SlowMemoryStore } from '../support/slow-store.js';

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const kinds: Kind[] = ['sessionkit', 'express-session'];
const ALICE = { username: 'alice', password: 'wonderland' };
const BOB = { username: 'bob', password: 'builder' };

/** Starts the app, runs `scenario` against it, and closes it. */
async function withApp<T>(
  options: PassportAppOptions,
  scenario: (url: string, errors: unknown[]) => Promise<T>,
): Promise<T> {
  const app = await startPassportApp(options);
  try {
    return await scenario(app.url, app.errors);
  } finally {
    await app.close();
  }
}

/** Runs `scenario` on the app over each middleware (with its own store) and returns both results. */
async function sideBySide<T>(
  options: Omit<PassportAppOptions, 'kind' | 'store'> & { store?: (kind: Kind) => unknown },
  scenario: (url: string, errors: unknown[]) => Promise<T>,
): Promise<Record<Kind, T>> {
  const results = {} as Record<Kind, T>;
  for (const kind of kinds)
    results[kind] = await withApp({ ...options, kind, store: options.store?.(kind) }, scenario);
  return results;
}

/**
 * How long WriteAfterReadStore's first write waits for a read, at most: tried in turn, a longer one when a
 * loaded machine's browser did not follow the redirect within the wait.
 */
const WRITE_WAITS_MS = [400, 1_600, 6_400];

/**
 * A store whose first write lands only after a read that started after it has answered, or after
 * `waitMs`: it tells a response sent before its session is stored (the next request reads the old
 * state) from one sent after (the write waits it out, then lands).
 */
class WriteAfterReadStore extends SlowMemoryStore {
  private firstWrite = true;
  private pendingWrite: ReturnType<typeof gate> | undefined;
  /** What let the first write go: a read, or the end of the wait. */
  released: 'read' | 'wait' | null = null;

  constructor(private readonly waitMs: number) {
    super(1);
  }

  private async waitForRead(): Promise<void> {
    if (!this.firstWrite) return;
    this.firstWrite = false;
    const write = gate();
    this.pendingWrite = write;
    this.released = await Promise.race([
      write.promise.then(() => 'read' as const),
      new Promise<'wait'>((resolve) => setTimeout(() => resolve('wait'), this.waitMs)),
    ]);
  }

  override async get(id: string): Promise<SessionRecord | null> {
    const waiting = this.pendingWrite;
    const record = await super.get(id);
    waiting?.open();
    return record;
  }

  override async create(id: string, record: SessionRecord): Promise<boolean> {
    await this.waitForRead();
    return super.create(id, record);
  }

  override async update(id: string, delta: SessionDelta): Promise<boolean> {
    await this.waitForRead();
    return super.update(id, delta);
  }

  override async set(id: string, record: SessionRecord): Promise<void> {
    await this.waitForRead();
    return super.set(id, record);
  }
}

/** A promise and its resolve, to hold one request at a point until another is done. */
function gate(): { promise: Promise<void>; open(): void } {
  let open!: () => void;
  const promise = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { promise, open };
}

/**
 * The whole journey: the protected page sends to the login form (remembering where to return), a wrong
 * password comes back as a flash message shown once, the right one logs in, the account page shows the
 * user, logout ends it. Records every response and whether the session ID changed, and replays the cookies
 * of before the login and before the logout (a fixated or stolen cookie) after each.
 */
async function journey(url: string) {
  const browser = new Browser(url);
  const steps: Record<string, Step | string> = {};
  steps.protected = await browser.get('/account');
  const anonymous = browser.sessionId;
  steps.badLogin = await browser.post('/login', { username: 'alice', password: 'guess' });
  const afterBadLogin = browser.sessionId;
  steps.flash = await browser.get('/login');
  steps.flashAgain = await browser.get('/login');
  const fixated = browser.copy();
  steps.login = await browser.post('/login', ALICE);
  const loggedIn = browser.sessionId;
  steps.account = await browser.get('/account');
  steps.inspect = (await browser.get('/inspect')).body;
  steps.fixatedInspect = (await fixated.get('/inspect')).body;
  steps.fixatedAccount = await fixated.get('/account');
  const stolen = browser.copy();
  steps.logout = await browser.post('/logout');
  const loggedOut = browser.sessionId;
  steps.home = await browser.get('/');
  steps.afterLogout = await browser.get('/account');
  steps.stolenInspect = (await stolen.get('/inspect')).body;
  steps.stolenAccount = await stolen.get('/account');
  return {
    steps,
    ids: {
      stableUntilLogin: anonymous !== null && afterBadLogin === anonymous,
      newAtLogin: loggedIn !== null && loggedIn !== afterBadLogin,
      newAtLogout: loggedOut !== null && loggedOut !== loggedIn,
    },
  };
}

const REDIS_PREFIX = `${runNamespace('passport_sk')}:`;
const CONNECT_REDIS_PREFIX = `${runNamespace('passport_cr')}:`;
let redis: ReturnType<typeof createClient>;
let redisStore: RedisStore;
let connectRedis: InstanceType<typeof ConnectRedisStore>;

beforeAll(async () => {
  // No skip: an unreachable Redis fails the file.
  redis = createClient({ url: REDIS_URL, socket: { reconnectStrategy: false, connectTimeout: 2000 } });
  redis.on('error', () => undefined);
  await redis.connect();
  redisStore = new RedisStore({ client: redis, prefix: REDIS_PREFIX });
  connectRedis = new ConnectRedisStore({ client: redis, prefix: CONNECT_REDIS_PREFIX });
});

afterAll(async () => {
  if (!redis?.isOpen) return;
  await redisStore.clear();
  for await (const keys of redis.scanIterator({ MATCH: `${CONNECT_REDIS_PREFIX}*` }))
    if (keys.length > 0) await redis.del(keys);
  await redis.close();
});

/** Each middleware's store of a kind: its own MemoryStore, one answering later, or Redis. */
const stores = [
  { name: 'the MemoryStore', store: undefined },
  { name: 'an asynchronous store', store: () => new SlowMemoryStore(1) },
  { name: 'Redis', store: (kind: Kind) => (kind === 'sessionkit' ? redisStore : connectRedis) },
] as const;

describe.each([4, 5] as const)('passport-local on Express %s', (express) => {
  describe.each(stores)('on $name', ({ store }) => {
    it.each([false, true])(
      'keepSessionInfo: %s — the same redirects, bodies, cookies and new IDs as on express-session',
      async (keepSessionInfo) => {
        const results = await sideBySide({ express, keepSessionInfo, store }, journey);
        expect(results.sessionkit).toEqual(results['express-session']);
        const { steps, ids } = results.sessionkit;
        expect(ids).toEqual({ stableUntilLogin: true, newAtLogin: true, newAtLogout: true });
        expect(steps.protected).toMatchObject({ status: 302, location: '/login', cookie: 'set' });
        expect(steps.badLogin).toMatchObject({ status: 302, location: '/login' });
        expect(steps.flash).toMatchObject({ status: 200, body: expect.stringContaining('error: Incorrect') });
        expect(steps.flashAgain).toMatchObject({ status: 200, body: expect.stringContaining('error: ;') });
        // passport drops `returnTo` with the old session unless it keeps the session's info.
        expect(steps.login).toMatchObject({
          status: 302,
          location: keepSessionInfo ? '/account' : '/',
          cookie: 'set',
          hours: 1,
        });
        expect(steps.account).toMatchObject({ status: 200, body: 'account of alice' });
        expect(JSON.parse(steps.inspect as string)).toEqual({
          keys: keepSessionInfo ? ['cookie', 'flash', 'messages', 'passport'] : ['cookie', 'passport'],
          passport: { user: '1' },
          user: 'alice',
          bound: null,
          hours: 1,
        });
        // Session fixation: the cookie from before the login leads to no session, anonymous or logged in.
        expect(steps.fixatedAccount).toMatchObject({ status: 302, location: '/login' });
        expect(JSON.parse(steps.fixatedInspect as string)).toEqual({
          keys: ['cookie'],
          passport: null,
          user: null,
          bound: null,
          hours: 1,
        });
        expect(steps.logout).toMatchObject({ status: 302, location: '/', cookie: 'set' });
        expect(steps.home).toMatchObject({ body: 'home: anonymous; info: Logged out.' });
        expect(steps.afterLogout).toMatchObject({ status: 302, location: '/login' });
        expect(steps.stolenAccount).toMatchObject({ status: 302, location: '/login' });
        expect(JSON.parse(steps.stolenInspect as string)).toEqual({
          keys: ['cookie'],
          passport: null,
          user: null,
          bound: null,
          hours: 1,
        });
      },
    );
  });
});

/** What `/inspect` answers, parsed. */
async function inspect(browser: Browser): Promise<Record<string, unknown>> {
  return JSON.parse((await browser.get('/inspect')).body) as Record<string, unknown>;
}

/**
 * A `pause` hook for the app that holds the first request reaching `route` (once its session is loaded)
 * until `release` is called; `reached` settles when it is held.
 */
function holdFirst(route: 'login' | 'logout') {
  const reached = gate();
  const released = gate();
  let held = false;
  return {
    reached: reached.promise,
    release: released.open,
    pause: (at: 'login' | 'logout'): Promise<void> => {
      if (at !== route || held) return Promise.resolve();
      held = true;
      reached.open();
      return released.promise;
    },
  };
}

// The edges on Express 5 only: what they exercise is the session engine, and the journey above runs
// every store on both majors.
describe('passport-local on Express 5, the edges', () => {
  const express = 5;
  const slow = () => new SlowMemoryStore(1);

  it.each([false, true])(
    'logging in twice in a row: a new ID each time, the first login dead, as on express-session (keepSessionInfo: %s)',
    async (keepSessionInfo) => {
      const results = await sideBySide({ express, keepSessionInfo, store: slow }, async (url) => {
        const browser = new Browser(url);
        const first = await browser.post('/login', ALICE);
        const asAlice = browser.copy();
        const second = await browser.post('/login', BOB);
        return {
          first,
          second,
          moved: asAlice.sessionId !== browser.sessionId,
          now: await inspect(browser),
          old: await inspect(asAlice),
        };
      });
      expect(results.sessionkit).toEqual(results['express-session']);
      expect(results.sessionkit).toMatchObject({
        second: { status: 302, location: '/', cookie: 'set' },
        moved: true,
        now: { user: 'bob', passport: { user: '2' } },
        old: { user: null, passport: null },
      });
    },
  );

  it('logging out when not logged in, with no cookie or an anonymous one, as on express-session', async () => {
    const results = await sideBySide({ express, keepSessionInfo: false, store: slow }, async (url) => {
      const fresh = new Browser(url);
      const noCookie = await fresh.post('/logout');
      const anonymous = new Browser(url);
      await anonymous.get('/account');
      const before = anonymous.sessionId;
      const withCookie = await anonymous.post('/logout');
      return { noCookie, withCookie, moved: anonymous.sessionId !== before, home: await anonymous.get('/') };
    });
    expect(results.sessionkit).toEqual(results['express-session']);
    expect(results.sessionkit).toMatchObject({
      noCookie: { status: 302, location: '/' },
      withCookie: { status: 302, location: '/' },
      moved: true,
      home: { body: 'home: anonymous; info: Logged out.' },
    });
  });

  it('keepSessionInfo carries the old session’s cookie (a "remember me" maxAge) into the new one, as on express-session', async () => {
    for (const keepSessionInfo of [false, true]) {
      const results = await sideBySide({ express, keepSessionInfo, store: slow }, async (url) => {
        const browser = new Browser(url);
        const remember = await browser.get('/remember');
        const login = await browser.post('/login', ALICE);
        return { remember, login, session: await inspect(browser) };
      });
      expect(results.sessionkit).toEqual(results['express-session']);
      const hours = keepSessionInfo ? 168 : 1;
      expect(results.sessionkit).toMatchObject({
        remember: { cookie: 'set', hours: 168 },
        login: { status: 302, cookie: 'set', hours },
        session: { user: 'alice', hours },
      });
    }
  });

  it('a flash message saved without waiting before a redirect is shown on the next page; express-session can lose it', async () => {
    // The un-awaited save's write lands only once the store has answered another read of the session (or
    // after the wait): a store across a network, slower than the browser following the redirect.
    await withLeads(
      WRITE_WAITS_MS,
      async (waitMs) => {
        const stores = new Map<string, WriteAfterReadStore>();
        const results = await sideBySide(
          {
            express,
            keepSessionInfo: false,
            store: (kind) => {
              const store = new WriteAfterReadStore(waitMs);
              stores.set(kind, store);
              return store;
            },
          },
          async (url) => {
            const browser = new Browser(url);
            const note = await browser.post('/note');
            return { note, shown: await browser.get('/'), again: await browser.get('/') };
          },
        );
        expect(results.sessionkit).toMatchObject({
          note: { status: 302, location: '/', cookie: 'set' },
          shown: { body: 'home: anonymous; info: Noted.' },
          again: { body: 'home: anonymous; info: ' },
        });
        // Under express-session the write waits for the next page's read: when the wait ran out first,
        // the browser was slower than the store, not what this compares.
        const released = stores.get('express-session')?.released;
        expect(released, 'express-session wrote the session').not.toBeNull();
        if (released === 'wait') return false;
        // express-session sends the redirect while the save is still on its way: the page it leads to
        // loads the session before it is stored, and the message is lost.
        expect(results['express-session']).toMatchObject({
          note: { status: 302, location: '/', cookie: 'set' },
          shown: { body: 'home: anonymous; info: ' },
        });
        return true;
      },
      'the browser following the redirect within the store write',
    );
  });

  for (const [name, store] of [
    ['the MemoryStore', undefined],
    ['an asynchronous store', slow],
  ] as const) {
    it(`a double-submitted login: both log in, the anonymous session ends, as on express-session (${name})`, async () => {
      let pause: ReturnType<typeof holdFirst>['pause'] = () => Promise.resolve();
      const results = await sideBySide(
        { express, keepSessionInfo: true, store, pause: (route) => pause(route) },
        async (url, errors) => {
          const browser = new Browser(url);
          await browser.get('/account');
          const [first, second] = [browser.copy(), browser.copy()];
          const hold = holdFirst('login');
          pause = hold.pause;
          const late = second.post('/login', ALICE);
          await hold.reached;
          const early = await first.post('/login', ALICE);
          hold.release();
          return {
            early,
            late: await late,
            errors: errors.length,
            distinct: first.sessionId !== second.sessionId,
            anonymous: await inspect(browser),
            first: await inspect(first),
            second: await inspect(second),
          };
        },
      );
      expect(results.sessionkit).toEqual(results['express-session']);
      expect(results.sessionkit).toMatchObject({
        early: { status: 302, location: '/account' },
        late: { status: 302, location: '/account' },
        errors: 0,
        distinct: true,
        anonymous: { keys: ['cookie'], user: null },
        first: { user: 'alice' },
        second: { user: 'alice' },
      });
    });

    it(`a double-submitted logout: both answer 302 and the session ends, as on express-session (${name})`, async () => {
      let pause: ReturnType<typeof holdFirst>['pause'] = () => Promise.resolve();
      const results = await sideBySide(
        { express, keepSessionInfo: false, store, pause: (route) => pause(route) },
        async (url, errors) => {
          const browser = new Browser(url);
          await browser.post('/login', ALICE);
          const [first, second] = [browser.copy(), browser.copy()];
          const hold = holdFirst('logout');
          pause = hold.pause;
          // The second submit has loaded the logged-in session when the first one ends it.
          const late = second.post('/logout');
          await hold.reached;
          const early = await first.post('/logout');
          hold.release();
          return {
            early,
            late: await late,
            errors: errors.length,
            old: await inspect(browser),
            first: await inspect(first),
            second: await inspect(second),
          };
        },
      );
      expect(results.sessionkit).toEqual(results['express-session']);
      expect(results.sessionkit).toMatchObject({
        early: { status: 302, location: '/' },
        late: { status: 302, location: '/' },
        errors: 0,
        old: { user: null, passport: null },
        first: { user: null },
        second: { user: null },
      });
    });

    it(`a logout racing a login of the same session, either way round, as on express-session (${name})`, async () => {
      let pause: ReturnType<typeof holdFirst>['pause'] = () => Promise.resolve();
      const results = await sideBySide(
        { express, keepSessionInfo: true, store, pause: (route) => pause(route) },
        async (url, errors) => {
          const outcome: Record<string, unknown> = {};
          for (const held of ['logout', 'login'] as const) {
            const browser = new Browser(url);
            await browser.post('/login', ALICE);
            const [logoutTab, loginTab] = [browser.copy(), browser.copy()];
            const hold = holdFirst(held);
            pause = hold.pause;
            const late = held === 'logout' ? logoutTab.post('/logout') : loginTab.post('/login', BOB);
            await hold.reached;
            const early =
              held === 'logout' ? await loginTab.post('/login', BOB) : await logoutTab.post('/logout');
            hold.release();
            outcome[`${held} held`] = {
              early,
              late: await late,
              loginTab: await inspect(loginTab),
              logoutTab: await inspect(logoutTab),
              old: await inspect(browser),
            };
          }
          return { ...outcome, errors: errors.length };
        },
      );
      expect(results.sessionkit).toEqual(results['express-session']);
      for (const held of ['logout held', 'login held'])
        expect(results.sessionkit).toMatchObject({
          [held]: {
            early: { status: 302 },
            late: { status: 302 },
            // The login's new session is bob's; the logout's and the old cookie are logged out.
            loginTab: { user: 'bob' },
            logoutTab: { user: null },
            old: { user: null, passport: null },
          },
          errors: 0,
        });
    });
  }
});

describe.each([4, 5] as const)('passport-local on Express %s, the store failing', (express) => {
  /** The app over sessionkit on a FaultyStore, whose faults the scenario plans (`store.fail(…)`). */
  async function failing(
    keepSessionInfo: boolean,
    scenario: (browser: Browser, store: FaultyStore, errors: unknown[]) => Promise<void>,
  ): Promise<void> {
    const store = new FaultyStore(1);
    await withApp({ kind: 'sessionkit', express, keepSessionInfo, store }, (url, errors) =>
      scenario(new Browser(url), store, errors),
    );
  }

  it.each([false, true])(
    'while passport saves the new session at login: the login answers 503, and the response stores what passport set, as express-session does (keepSessionInfo: %s)',
    (keepSessionInfo) =>
      failing(keepSessionInfo, async (browser, store, errors) => {
        await browser.get('/account');
        const anonymous = browser.copy();
        store.fail('write');
        const login = await browser.post('/login', ALICE);
        expect(store.failed).toEqual(['create']);
        expect(errors).toEqual([expect.objectContaining({ code: 'ERR_STORE_UNAVAILABLE' })]);
        // The response writes the session the application holds, as express-session does: a store that
        // failed once is tried again, so an application that ignored the save's error loses nothing.
        expect(login).toMatchObject({ status: 503, body: 'error: ERR_STORE_UNAVAILABLE', cookie: 'set' });
        expect(await inspect(browser)).toMatchObject({ user: 'alice' });
        // The pre-login ID stays dead: passport's regenerate() ended it before the save.
        expect(await inspect(anonymous)).toMatchObject({ user: null, passport: null });
      }),
  );

  it('while passport regenerates at login: the login fails with a 503 and the anonymous session stays as it was', () =>
    failing(true, async (browser, store, errors) => {
      await browser.get('/account');
      const before = browser.sessionId;
      store.fail('destroy');
      const login = await browser.post('/login', ALICE);
      expect(errors).toEqual([expect.objectContaining({ code: 'ERR_STORE_UNAVAILABLE' })]);
      expect(login).toMatchObject({ status: 503, cookie: 'none' });
      expect(browser.sessionId).toBe(before);
      expect(await inspect(browser)).toMatchObject({
        keys: ['cookie', 'returnTo'],
        user: null,
        passport: null,
      });
      expect(await browser.post('/login', ALICE)).toMatchObject({ status: 302, location: '/account' });
    }));

  it('while passport saves the session at logout: the logout answers 503, and the response stores the session without its user', () =>
    failing(false, async (browser, store, errors) => {
      await browser.post('/login', ALICE);
      const stolen = browser.copy();
      store.fail('write');
      const logout = await browser.post('/logout');
      expect(store.failed).toEqual(['update']);
      expect(errors).toEqual([expect.objectContaining({ code: 'ERR_STORE_UNAVAILABLE' })]);
      expect(logout).toMatchObject({ status: 503 });
      // The error page is no logout in the application's eyes, but the store no longer holds the user: a
      // copy of the cookie taken before is logged out too.
      expect(await inspect(browser)).toMatchObject({ user: null });
      expect(await inspect(stolen)).toMatchObject({ user: null });
      expect(await browser.post('/logout')).toMatchObject({ status: 302, location: '/' });
    }));

  it('while a flash message saved without waiting is stored: a 503, no unhandled rejection, nothing stored', () =>
    failing(false, async (browser, store, errors) => {
      store.fail('write');
      const note = await browser.post('/note');
      // express-session answers 302 with a cookie naming a session it never stored (the error is dropped).
      expect(note).toMatchObject({ status: 503, body: 'error: ERR_STORE_UNAVAILABLE', cookie: 'none' });
      expect(errors).toEqual([expect.objectContaining({ code: 'ERR_STORE_UNAVAILABLE' })]);
      expect(store.failed).toEqual(['create']);
      expect(await browser.get('/')).toMatchObject({ body: 'home: anonymous; info: ' });
    }));

  it('while passport regenerates at logout: a 503, but the user is logged out already (passport saved that first)', () =>
    failing(false, async (browser, store, errors) => {
      await browser.post('/login', ALICE);
      const stolen = browser.copy();
      store.fail('destroy');
      const logout = await browser.post('/logout');
      expect(errors).toEqual([expect.objectContaining({ code: 'ERR_STORE_UNAVAILABLE' })]);
      expect(logout).toMatchObject({ status: 503 });
      expect(await inspect(browser)).toMatchObject({ user: null });
      expect(await inspect(stolen)).toMatchObject({ user: null });
    }));
});

describe('passport with sessionkit’s own login() and maxSessionsPerUser', () => {
  /**
   * The app binds the user with `login(req.session)` inside passport's serializeUser, which passport calls
   * after its regenerate() and before its save(): the session passport then saves is the one login() made,
   * bound to the user and counted under the limit.
   */
  async function limited(
    onLimit: 'refuse' | 'evict-oldest',
    scenario: (url: string, store: MemoryStore, errors: unknown[]) => Promise<void>,
  ): Promise<void> {
    const store = new MemoryStore();
    await withApp(
      {
        kind: 'sessionkit',
        express: 5,
        keepSessionInfo: true,
        store,
        session: { maxSessionsPerUser: 1, onLimit },
        onSerialize: (req, user) => login(req.session, user.id),
      },
      (url, errors) => scenario(url, store, errors),
    );
  }

  it("'refuse': a second login of the user fails with 409 and logs nobody in; after a logout it works", () =>
    limited('refuse', async (url, store, errors) => {
      const [laptop, phone] = [new Browser(url), new Browser(url)];
      await phone.get('/account');
      expect(await laptop.post('/login', ALICE)).toMatchObject({ status: 302, location: '/', cookie: 'set' });
      expect(await inspect(laptop)).toMatchObject({ user: 'alice', bound: '1', passport: { user: '1' } });
      const refused = await phone.post('/login', ALICE);
      expect(errors).toEqual([expect.objectContaining({ code: 'ERR_SESSION_LIMIT', status: 409 })]);
      expect(refused).toMatchObject({ status: 409, body: 'error: ERR_SESSION_LIMIT' });
      expect(await inspect(phone)).toMatchObject({ user: null, bound: null, passport: null });
      expect(await phone.get('/account')).toMatchObject({ status: 302, location: '/login' });
      expect(await inspect(laptop)).toMatchObject({ user: 'alice', bound: '1' });
      expect(await store.listByUser('1')).toHaveLength(1);
      // passport's logout ends the bound session, and with it the user's place under the limit.
      const stolen = laptop.copy();
      expect(await laptop.post('/logout')).toMatchObject({ status: 302, location: '/' });
      expect(await inspect(stolen)).toMatchObject({ user: null, bound: null });
      // keepSessionInfo copies passport's data into the new session, never sessionkit's binding.
      expect(await inspect(laptop)).toMatchObject({ user: null, bound: null, passport: {} });
      expect(await store.listByUser('1')).toHaveLength(0);
      expect(await phone.post('/login', ALICE)).toMatchObject({ status: 302, location: '/account' });
      expect(await inspect(phone)).toMatchObject({ user: 'alice', bound: '1' });
    }));

  it("'evict-oldest': a login on another device logs the first one out, in passport's eyes too", () =>
    limited('evict-oldest', async (url, store) => {
      const [laptop, phone] = [new Browser(url), new Browser(url)];
      await laptop.post('/login', ALICE);
      await phone.post('/login', ALICE);
      expect(await inspect(phone)).toMatchObject({ user: 'alice', bound: '1' });
      expect(await inspect(laptop)).toMatchObject({ user: null, bound: null, passport: null });
      expect(await store.listByUser('1')).toHaveLength(1);
    }));
});
