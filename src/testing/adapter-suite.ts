import { channel } from 'node:diagnostics_channel';
import { describe, expect, it } from 'vitest';
import type { CookieOptions } from '../core/cookie.js';
import { type BindingMessage, CHANNELS } from '../core/diagnostics.js';
import { SessionError } from '../core/errors.js';
import { storageKey } from '../core/id.js';
import type { TypedSession } from '../core/session.js';
import { currentUserId, login, logout } from '../core/session.js';
import type { SessionDelta, SessionRecord } from '../core/types.js';
import type { SessionOptions } from '../engine/options.js';
import { MemoryStore } from '../stores/memory.js';

/** What a suite route sees: the session as the framework shows it now, and the request URL. */
export interface SuiteRouteInput {
  /** The framework's own accessor (`req.session`, `request.session`, `ctx.session`, `c.get('session')`), read at each call. */
  session(): TypedSession;
  /** The request's path and query string (an absolute URL is fine too). */
  url: string;
  /**
   * Removes the session the framework's own way (`req.session = null`, `ctx.session = null`,
   * `c.set('session', null)`, `event.locals.session = null`): what the `unset` option decides about.
   */
  unset?(): void;
}

/** A route of the suite: answered by the app with status 200 and the returned value as JSON. */
export type SuiteRoute = (input: SuiteRouteInput) => unknown;

/** The options the suite mounts the adapter with (no request-dependent functions). */
export type SuiteOptions = Omit<SessionOptions, 'cookie' | 'genid' | 'skip'> & { cookie?: CookieOptions };

export interface SuiteResponse {
  status: number;
  /** Every Set-Cookie value, in order. */
  setCookie: string[];
  body: string;
}

export interface SuiteApp {
  /** A GET of `path` (with its query string) with these request headers. */
  request(path: string, headers?: Record<string, string>): Promise<SuiteResponse>;
  close?(): Promise<void> | void;
}

export interface AdapterHarness {
  /** Shown in the test names. */
  name: string;
  /**
   * An app, in the framework's own idiom, with the adapter mounted with `options` and each route of
   * `routes` served on GET at its key (`/read`, `/write`…). A route's error goes to the framework's
   * default error handling (the suite expects a store failure to answer 503). With `trustProxy`, the
   * framework trusts `X-Forwarded-Proto` its own way (Express's "trust proxy", Fastify's `trustProxy`,
   * Koa's `app.proxy`; `proxy: true` where the framework has no such setting), and takes the client's
   * address from `X-Forwarded-For` (where the framework has no such setting, the harness gives the
   * address where the framework reports a client's: Hono's node-server socket, SvelteKit's
   * `getClientAddress()`, as its Node adapter's `ADDRESS_HEADER` does).
   */
  create(
    options: SuiteOptions,
    routes: Record<string, SuiteRoute>,
    settings: { trustProxy: boolean },
  ): Promise<SuiteApp> | SuiteApp;
  /**
   * `false` for a framework that gives a request no client address (Next.js), where the adapter refuses
   * `binding: { ip: true }`: the suite then leaves out the IP binding case.
   */
  clientAddress?: boolean;
  /**
   * `false` for a framework that gives the session no path of its request (Next.js): there a cookie Path
   * is the browser's check alone, and a request outside it still gets a session.
   */
  requestPath?: boolean;
  /** `false` where a session cannot be removed by assignment (Next.js): the `unset` cases are left out. */
  unsettable?: boolean;
}

const SECRET = 'adapter-suite-secret-of-at-least-32-characters';
const NAME = 'sid';

interface View {
  id: string;
  user: string | null;
  data: Record<string, unknown>;
}

/** The suite's routes write ad-hoc keys, which an application's own SessionData need not declare. */
function values(session: TypedSession): Record<string, unknown> {
  return session as unknown as Record<string, unknown>;
}

function view(session: TypedSession): View {
  const data: Record<string, unknown> = {};
  for (const key of Object.keys(session)) if (key !== 'cookie') data[key] = values(session)[key];
  return { id: session.id, user: currentUserId(session), data };
}

function query(url: string): URLSearchParams {
  return new URL(url, 'http://suite.invalid').searchParams;
}

/**
 * What applications do with a request body: copy it into the session, then save before answering. A
 * refusal (a SessionError) is answered with its code, the merge undone so the response stores nothing.
 */
async function merge(session: TypedSession, body: Record<string, unknown>): Promise<unknown> {
  const before = { ...values(session) };
  Object.assign(session, body);
  try {
    await session.save();
  } catch (error) {
    if (!(error instanceof SessionError)) throw error;
    for (const key of Object.keys(body)) delete values(session)[key];
    Object.assign(session, before);
    return { refused: error.code };
  }
  return view(session);
}

/** The `name=value` pair of a Set-Cookie for the session cookie, for a Cookie header. */
function pairOf(response: SuiteResponse): string {
  const header = response.setCookie.find((value) => value.startsWith(`${NAME}=`));
  if (header === undefined) throw new Error(`no ${NAME} cookie in ${JSON.stringify(response.setCookie)}`);
  return header.slice(0, header.indexOf(';'));
}

/** A Set-Cookie's attributes, lower-cased, in any order (frameworks order and case them their own way). */
function attributesOf(header: string | undefined): string[] {
  return (header ?? '')
    .split(';')
    .slice(1)
    .map((attribute) => attribute.trim().toLowerCase())
    .sort();
}

/** The session ID inside a signed cookie pair. */
function idOf(pair: string): string {
  const value = decodeURIComponent(pair.slice(pair.indexOf('=') + 1));
  return value.slice(2, value.lastIndexOf('.'));
}

function parsed(response: SuiteResponse): View {
  expect(response.status, response.body).toBe(200);
  return JSON.parse(response.body) as View;
}

/** An error shaped like a refused TCP connection: what a store driver throws when its server is down. */
function refused(): Error {
  return Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' });
}

/** A call that never settles: a store behind a black-holed link (a peer gone without a reset). */
function never<T>(): Promise<T> {
  return new Promise<T>(() => undefined);
}

/**
 * A MemoryStore that can be taken down (every call then fails as a refused connection), black-holed
 * (every call, or every write, then never settles) or slowed.
 */
class SuiteStore extends MemoryStore {
  down = false;
  hangs = false;
  /** Reads fail as a refused connection, or never settle (`'hang'`); writes and destroys still answer. */
  reads: 'ok' | 'down' | 'hang' = 'ok';
  /** Reads answer; every write and destroy never settles. */
  hangsWrites = false;
  /** Delay of each write, in ms; 0 for none. */
  slowWrites = 0;
  /** Writes that finished, counted when the store holds them. */
  writesDone = 0;

  private async gate(): Promise<void> {
    if (this.hangs || this.hangsWrites) await never();
    if (this.down) throw refused();
    if (this.slowWrites > 0) await new Promise((resolve) => setTimeout(resolve, this.slowWrites));
  }

  override async get(id: string): Promise<SessionRecord | null> {
    if (this.hangs || this.reads === 'hang') return never();
    if (this.down || this.reads === 'down') throw refused();
    return super.get(id);
  }

  override async create(id: string, record: SessionRecord): Promise<boolean> {
    await this.gate();
    const created = await super.create(id, record);
    this.writesDone++;
    return created;
  }

  override async update(id: string, delta: SessionDelta): Promise<boolean> {
    await this.gate();
    const updated = await super.update(id, delta);
    this.writesDone++;
    return updated;
  }

  override async touch(id: string, expiresAt: number, lastSeenAt: number): Promise<boolean> {
    await this.gate();
    return super.touch(id, expiresAt, lastSeenAt);
  }

  override async destroy(id: string): Promise<void> {
    if (this.hangs || this.hangsWrites) return never();
    if (this.down) throw refused();
    return super.destroy(id);
  }
}

/** One deferred signal, for ordering concurrent requests without sleeping. */
function signal(): { promise: Promise<void>; fire: () => void } {
  let fire = () => {};
  const promise = new Promise<void>((resolve) => {
    fire = resolve;
  });
  return { promise, fire };
}

const FIREFOX = 'Mozilla/5.0 (X11; Linux x86_64; rv:140.0) Gecko/20100101 Firefox/140.0';
const CURL = 'curl/8.9.1';
const HOME_IP = '203.0.113.7';
const OTHER_IP = '198.51.100.23';

/** Runs `test` with the `sessionkit:session:binding` messages published meanwhile (tests run one at a time). */
async function withBindingSignals(test: (signals: BindingMessage[]) => Promise<void>): Promise<void> {
  const signals: BindingMessage[] = [];
  const listener = (message: unknown): void => {
    signals.push(message as BindingMessage);
  };
  channel(CHANNELS.binding).subscribe(listener);
  try {
    await test(signals);
  } finally {
    channel(CHANNELS.binding).unsubscribe(listener);
  }
}

/** The store as a fault-injecting one: only the tests that run on the asynchronous store call this. */
function faulty(store: MemoryStore): SuiteStore {
  if (!(store instanceof SuiteStore)) throw new Error('this test needs the asynchronous suite store');
  return store;
}

interface Fixture {
  app: SuiteApp;
  store: MemoryStore;
  /** Runs the next `/slow-write` up to its wait, and tells when it got there. */
  slow: { entered: ReturnType<typeof signal>; release: ReturnType<typeof signal> };
}

/** Writes each query parameter into the session. */
const writeQuery: SuiteRoute = ({ session, url }) => {
  const current = session();
  for (const [key, value] of query(url)) values(current)[key] = value;
  return view(current);
};

function routes(store: MemoryStore, fixture: () => Fixture['slow']): Record<string, SuiteRoute> {
  return {
    '/read': ({ session }) => view(session()),
    '/write': writeQuery,
    // Under a cookie Path of /app.
    '/app/write': writeQuery,
    '/outside': ({ session }) => ({ session: session() != null }),
    '/unset': ({ unset }) => {
      if (unset === undefined) throw new Error('this harness gives routes no unset()');
      unset();
      return { unset: true };
    },
    '/destroy': async ({ session }) => {
      await session().destroy();
      return { destroyed: true };
    },
    '/regenerate': async ({ session }) => {
      await session().regenerate();
      values(session()).after = 'yes';
      return view(session());
    },
    '/login': async ({ session, url }) => {
      await login(session(), query(url).get('user') ?? 'u1');
      return view(session());
    },
    '/logout': async ({ session }) => {
      await logout(session());
      return view(session());
    },
    '/merge': ({ session, url }) =>
      merge(session(), JSON.parse(query(url).get('json') ?? '{}') as Record<string, unknown>),
    // A body nested too deep for a query string: the same JSON text, made here.
    '/merge-nested': ({ session, url }) => {
      const depth = Number(query(url).get('depth'));
      const text = `{"nested":${'['.repeat(depth)}"constructor"${']'.repeat(depth)}}`;
      return merge(session(), JSON.parse(text) as Record<string, unknown>);
    },
    '/slow-write': async ({ session }) => {
      const { entered, release } = fixture();
      entered.fire();
      await release.promise;
      values(session()).late = 'written';
      return view(session());
    },
    '/hang-then-write': ({ session }) => {
      faulty(store).hangs = true;
      values(session()).after = 'hang';
      return view(session());
    },
    '/down-then-write': ({ session }) => {
      faulty(store).down = true;
      values(session()).after = 'down';
      return view(session());
    },
  };
}

/**
 * The adapter behaviour suite: what every framework adapter must do, checked through the framework's
 * own request path. Call it at the top level of a test file with a harness for the framework.
 */
export function runAdapterSuite(harness: AdapterHarness): void {
  // sessionkit's own MemoryStore answers in the same tick, so no response is ever held; any other store
  // is asynchronous. An adapter must be right on both paths.
  for (const kind of ['an asynchronous store', 'the in-process MemoryStore'] as const) {
    const faults = kind === 'an asynchronous store';
    describe(`adapter behaviour: ${harness.name}, on ${kind}`, () => {
      behaviours(harness, faults);
    });
  }
}

function behaviours(harness: AdapterHarness, faults: boolean): void {
  async function fixture(options: Partial<SuiteOptions> = {}, trustProxy = false): Promise<Fixture> {
    const store = faults ? new SuiteStore() : new MemoryStore();
    const slow = { entered: signal(), release: signal() };
    const made: Fixture = {
      store,
      slow,
      app: await harness.create(
        { name: NAME, secret: SECRET, resave: false, saveUninitialized: false, store, ...options },
        routes(store, () => made.slow),
        { trustProxy },
      ),
    };
    return made;
  }

  async function withFixture(
    test: (f: Fixture) => Promise<void>,
    options?: Partial<SuiteOptions>,
    trustProxy?: boolean,
  ): Promise<void> {
    const f = await fixture(options, trustProxy);
    try {
      await test(f);
    } finally {
      await f.app.close?.();
    }
  }

  it('creates a session on the first write and stores it', () =>
    withFixture(async ({ app, store }) => {
      const response = await app.request('/write?a=1');
      const body = parsed(response);
      expect(response.setCookie).toHaveLength(1);
      expect(response.setCookie[0]).toMatch(/^sid=s%3A[\w-]+\.[\w%+/]+;/);
      expect(attributesOf(response.setCookie[0])).toEqual(['httponly', 'path=/', 'samesite=lax']);
      expect(idOf(pairOf(response))).toBe(body.id);
      expect((await store.get(body.id))?.data).toEqual({ a: '1' });
    }));

  it('stores nothing and sends no cookie for a request that wrote nothing', () =>
    withFixture(async ({ app, store }) => {
      const response = await app.request('/read');
      expect(parsed(response).data).toEqual({});
      expect(response.setCookie).toEqual([]);
      expect(await store.length()).toBe(0);
    }));

  it('reads the session back from its cookie, without sending the cookie again', () =>
    withFixture(async ({ app }) => {
      const created = await app.request('/write?a=1');
      const cookie = pairOf(created);
      const read = await app.request('/read', { cookie });
      expect(parsed(read)).toEqual({ id: idOf(cookie), user: null, data: { a: '1' } });
      expect(read.setCookie).toEqual([]);
    }));

  it('writes a change to a loaded session', () =>
    withFixture(async ({ app, store }) => {
      const cookie = pairOf(await app.request('/write?a=1'));
      parsed(await app.request('/write?b=2', { cookie }));
      expect((await store.get(idOf(cookie)))?.data).toEqual({ a: '1', b: '2' });
      expect(parsed(await app.request('/read', { cookie })).data).toEqual({ a: '1', b: '2' });
    }));

  it("gives a session within the cookie's Path and none outside it, as express-session", () =>
    withFixture(
      async ({ app, store }) => {
        const inside = await app.request('/app/write?a=1');
        const body = parsed(inside);
        expect(inside.setCookie).toHaveLength(1);
        expect(attributesOf(inside.setCookie[0])).toContain('path=/app');
        expect((await store.get(body.id))?.data).toEqual({ a: '1' });
        const outside = await app.request('/outside', { cookie: pairOf(inside) });
        expect(JSON.parse(outside.body)).toEqual({ session: harness.requestPath === false });
        expect(outside.setCookie).toEqual([]);
        expect(await store.length()).toBe(1);
      },
      { cookie: { path: '/app' } },
    ));

  it.skipIf(harness.unsettable === false)(
    "unset: 'destroy': a session the application removes is ended, its cookie cleared",
    () =>
      withFixture(
        async ({ app, store }) => {
          const cookie = pairOf(await app.request('/write?a=1'));
          const removed = await app.request('/unset', { cookie });
          expect(removed.status, removed.body).toBe(200);
          expect(removed.setCookie.every((header) => /expires=thu, 01 jan 1970/i.test(header))).toBe(true);
          expect(await store.get(idOf(cookie))).toBeNull();
          expect(parsed(await app.request('/read', { cookie })).data).toEqual({});
        },
        { unset: 'destroy', rolling: true },
      ),
  );

  it.skipIf(harness.unsettable === false)(
    "unset: 'keep': a session the application removes is kept as stored, with no cookie sent",
    () =>
      withFixture(
        async ({ app, store }) => {
          const cookie = pairOf(await app.request('/write?a=1'));
          const removed = await app.request('/unset', { cookie });
          expect(removed.status, removed.body).toBe(200);
          // `rolling` would send the cookie again for any session still in place.
          expect(removed.setCookie).toEqual([]);
          expect((await store.get(idOf(cookie)))?.data).toEqual({ a: '1' });
          expect(parsed(await app.request('/read', { cookie })).data).toEqual({ a: '1' });
        },
        { unset: 'keep', rolling: true },
      ),
  );

  it('destroys: the record is gone and the response clears the cookie', () =>
    withFixture(async ({ app, store }) => {
      const cookie = pairOf(await app.request('/write?a=1'));
      const destroyed = await app.request('/destroy', { cookie });
      expect(destroyed.status).toBe(200);
      expect(destroyed.setCookie).toHaveLength(1);
      expect(destroyed.setCookie[0]).toMatch(/^sid=;/);
      expect(attributesOf(destroyed.setCookie[0])).toContain('expires=thu, 01 jan 1970 00:00:00 gmt');
      expect(await store.get(idOf(cookie))).toBeNull();
      const after = parsed(await app.request('/read', { cookie }));
      expect(after.data).toEqual({});
      expect(after.id).not.toBe(idOf(cookie));
    }));

  it('regenerates: a new ID, the old record gone, and handlers see the new session', () =>
    withFixture(async ({ app, store }) => {
      const cookie = pairOf(await app.request('/write?a=1'));
      const response = await app.request('/regenerate', { cookie });
      const body = parsed(response);
      expect(body.id).not.toBe(idOf(cookie));
      expect(body.data).toEqual({ after: 'yes' });
      expect(idOf(pairOf(response))).toBe(body.id);
      expect(await store.get(idOf(cookie))).toBeNull();
      expect((await store.get(body.id))?.data).toEqual({ after: 'yes' });
    }));

  it('logs in under a new ID, keeping the data, and logs out to a fresh session', () =>
    withFixture(async ({ app, store }) => {
      const anonymous = pairOf(await app.request('/write?cart=3'));
      const loginResponse = await app.request('/login?user=u1', { cookie: anonymous });
      const login = parsed(loginResponse);
      expect(login.user).toBe('u1');
      expect(login.data).toEqual({ cart: '3' });
      expect(login.id).not.toBe(idOf(anonymous));
      expect(await store.get(idOf(anonymous))).toBeNull();
      const cookie = pairOf(loginResponse);
      expect((await store.get(idOf(cookie)))?.userId).toBe('u1');
      expect(parsed(await app.request('/read', { cookie })).user).toBe('u1');

      const logout = parsed(await app.request('/logout', { cookie }));
      expect(logout.user).toBeNull();
      expect(logout.data).toEqual({});
      expect(await store.get(idOf(cookie))).toBeNull();
      expect(parsed(await app.request('/read', { cookie })).user).toBeNull();
    }));

  it('merges hostile request bodies: no pollution, no privilege, a typed refusal or a store, and the session loads', () =>
    withFixture(
      async ({ app, store }) => {
        const cookie = pairOf(await app.request('/login?user=u1'));
        const id = idOf(cookie);
        const before = (await store.get(id)) as SessionRecord;
        const future = Date.now() + 10 * 365 * 86_400_000;
        const claims = { userId: 'admin', createdAt: future, reserved: { 'sessionkit:authTime': future } };
        const body = (json: string) => `/merge?json=${encodeURIComponent(json)}`;
        // Keys that mean something to sessionkit or to JavaScript, then values no store can keep: each is
        // stored, or refused with its code, and nothing else about the session moves.
        const attempts: [path: string, refused?: string][] = [
          [body('{"__proto__":{"id":"forged","polluted":1}}')],
          [body('{"constructor":{"prototype":{"polluted":1}},"prototype":{"polluted":1}}')],
          [body('{"id":"forged","req":"forged"}')],
          [body(`{"__sessionkit":${JSON.stringify(claims)}}`)],
          [body(`{"sessionkit:authTime":${future},"sessionkit:renewed":1}`)],
          [body('{"regenerate":1,"destroy":1,"touch":1,"reload":1,"login":1,"toJSON":"x"}')],
          [body('{"cart":3}')],
          [body('{"cookie":null}'), 'ERR_INVALID_COOKIE'],
          [body('{"cookie":{"expires":"2100-01-01T00:00:00Z"}}'), 'ERR_INVALID_COOKIE'],
          // JSON.stringify stores this depth; a parse that recurses overflows the stack reading it back.
          ['/merge-nested?depth=3500', 'ERR_SESSION_DATA'],
        ];
        for (const [path, refused] of attempts) {
          const label = decodeURIComponent(path);
          const merged = parsed(await app.request(path, { cookie }));
          if (refused) expect(merged, label).toEqual({ refused });
          else expect(merged, label).toMatchObject({ id, user: 'u1' });
          const after = (await store.get(id)) as SessionRecord;
          expect(after, label).toMatchObject({ userId: 'u1', createdAt: before.createdAt });
          expect(after.data['sessionkit:authTime'], label).toBe(before.data['sessionkit:authTime']);
          // An express-session server sharing the store would read this key back as the bound user.
          expect(after.data, label).not.toHaveProperty('__sessionkit');
          expect(after.expiresAt, label).toBeLessThanOrEqual(before.createdAt + 3_600_000);
          expect(parsed(await app.request('/read', { cookie })), label).toMatchObject({ id, user: 'u1' });
        }
        // `login` is the application's data, as on express-session (the user operations are functions of
        // the session, not methods on it): stored, read back, and it binds nobody (`user` stayed 'u1').
        expect(parsed(await app.request('/read', { cookie })).data).toEqual({
          login: 1,
          toJSON: 'x',
          cart: 3,
        });
        expect(({} as Record<string, unknown>).polluted).toBeUndefined();
        expect(Object.keys(Object.prototype)).toEqual([]);
      },
      { absoluteTimeout: 3_600_000 },
    ));

  it('rolling: every response carries the cookie, with a fresh expiry', () =>
    withFixture(
      async ({ app }) => {
        const cookie = pairOf(await app.request('/write?a=1'));
        const read = await app.request('/read', { cookie });
        expect(parsed(read).data).toEqual({ a: '1' });
        expect(read.setCookie).toHaveLength(1);
        expect(attributesOf(read.setCookie[0]).some((attribute) => attribute.startsWith('expires='))).toBe(
          true,
        );
        expect(pairOf(read)).toBe(cookie);
      },
      { rolling: true, cookie: { maxAge: 60_000 } },
    ));

  it('absolute timeout: a session older than the limit is gone, however active', () =>
    withFixture(
      async ({ app, store }) => {
        const cookie = pairOf(await app.request('/write?a=1'));
        const id = idOf(cookie);
        const stored = (await store.get(id)) as SessionRecord;
        // Make the session older than its absolute limit: the same record, created long ago.
        await store.destroy(id);
        await store.create(id, { ...stored, createdAt: Date.now() - 3_600_000 - 1_000 });
        const read = parsed(await app.request('/read', { cookie }));
        expect(read.id).not.toBe(id);
        expect(read.data).toEqual({});
        expect(await store.get(id)).toBeNull();
      },
      { absoluteTimeout: 3_600_000 },
    ));

  it.runIf(faults)('answers 503 when the store is down while loading the session', () =>
    withFixture(async ({ app, store }) => {
      const cookie = pairOf(await app.request('/write?a=1'));
      faulty(store).down = true;
      const response = await app.request('/read', { cookie });
      expect(response.status).toBe(503);
      expect(response.body).not.toContain(idOf(cookie));
      expect(response.setCookie).toEqual([]);
    }),
  );

  it.runIf(faults)('answers 503, not the handler’s answer, when the store is down while saving', () =>
    withFixture(async ({ app }) => {
      const cookie = pairOf(await app.request('/write?a=1'));
      const response = await app.request('/down-then-write', { cookie });
      expect(response.status).toBe(503);
      expect(response.body).not.toContain('down');
      expect(response.setCookie).toEqual([]);
    }),
  );

  // A black-holed store is bounded by `storeTimeout`; the bound below is that timeout many times over,
  // so only a request that waits for the store itself (no timer) can miss it.
  const HANG_TIMEOUT = 150;
  const HANG_BOUND = 3_000;

  /** A request the black-holed store fails: a 503 within the bound. */
  async function refusedInTime(app: SuiteApp, path: string, cookie: string): Promise<SuiteResponse> {
    const started = Date.now();
    const response = await app.request(path, { cookie });
    expect(Date.now() - started).toBeLessThan(HANG_BOUND);
    expect(response.status).toBe(503);
    return response;
  }

  it.runIf(faults)('answers 503 within storeTimeout when the store hangs while loading', () =>
    withFixture(
      async ({ app, store }) => {
        const cookie = pairOf(await app.request('/write?a=1'));
        faulty(store).hangs = true;
        const response = await refusedInTime(app, '/read', cookie);
        expect(response.body).not.toContain(idOf(cookie));
        expect(response.setCookie).toEqual([]);
        // The link comes back: the session was neither lost nor left locked.
        faulty(store).hangs = false;
        expect(parsed(await app.request('/read', { cookie })).data).toEqual({ a: '1' });
      },
      { storeTimeout: HANG_TIMEOUT },
    ),
  );

  it.runIf(faults)('answers 503 within storeTimeout when the store hangs while saving', () =>
    withFixture(
      async ({ app, store }) => {
        const cookie = pairOf(await app.request('/write?a=1'));
        const response = await refusedInTime(app, '/hang-then-write', cookie);
        expect(response.body).not.toContain('hang');
        expect(response.setCookie).toEqual([]);
        faulty(store).hangs = false;
        expect(parsed(await app.request('/read', { cookie })).data).toEqual({ a: '1' });
      },
      { storeTimeout: HANG_TIMEOUT },
    ),
  );

  it.runIf(faults)('answers 503 within storeTimeout when the store hangs on destroy', () =>
    withFixture(
      async ({ app, store }) => {
        const cookie = pairOf(await app.request('/write?a=1'));
        // Loading answers; the destroy goes into the black hole.
        faulty(store).hangsWrites = true;
        const response = await refusedInTime(app, '/destroy', cookie);
        expect(response.body).not.toContain('destroyed');
      },
      { storeTimeout: HANG_TIMEOUT },
    ),
  );

  it.runIf(faults)(
    'answers 503 within storeTimeout when the store hangs during login, leaving no user bound',
    () =>
      withFixture(
        async ({ app, store }) => {
          const cookie = pairOf(await app.request('/write?a=1'));
          faulty(store).hangsWrites = true;
          const response = await refusedInTime(app, '/login?user=u1', cookie);
          expect(response.body).not.toContain('u1');
          expect(response.setCookie.filter((header) => header.startsWith(`${NAME}=`))).toEqual([]);
          // The link comes back: the old session is as it was, and nobody is logged in on it.
          faulty(store).hangsWrites = false;
          const after = parsed(await app.request('/read', { cookie }));
          expect(after).toMatchObject({ id: idOf(cookie), user: null, data: { a: '1' } });
        },
        { storeTimeout: HANG_TIMEOUT },
      ),
  );

  it.runIf(faults)(
    "onStoreError 'anonymous': a store outage gives a fresh session that is never stored",
    () =>
      withFixture(
        async ({ app, store }) => {
          const cookie = pairOf(await app.request('/write?a=1'));
          faulty(store).down = true;
          const response = await app.request('/write?b=2', { cookie });
          const body = parsed(response);
          expect(body.data).toEqual({ b: '2' });
          expect(body.id).not.toBe(idOf(cookie));
          expect(response.setCookie).toEqual([]);
        },
        { onStoreError: 'anonymous' },
      ),
  );

  /** The clearing Set-Cookie of the session cookie, and no other Set-Cookie for it. */
  function expectCleared(response: SuiteResponse, label: string): void {
    const ours = response.setCookie.filter((header) => header.startsWith(`${NAME}=`));
    expect(ours, label).toHaveLength(1);
    expect(ours[0], label).toMatch(/^sid=;/);
    expect(attributesOf(ours[0]), label).toContain('expires=thu, 01 jan 1970 00:00:00 gmt');
  }

  // What a session operation on the stand-in session ends: the session the cookie named. Each runs on a
  // fresh login; the store's reads fail (refused at once, or black-holed up to `storeTimeout`) while its
  // destroy answers.
  const standInOperations: [path: string, user: string | null][] = [
    ['/logout', null],
    ['/destroy', null],
    ['/regenerate', null],
    ['/login?user=u2', 'u2'],
  ];

  for (const reads of ['down', 'hang'] as const)
    it.runIf(faults)(
      reads === 'down'
        ? "onStoreError 'anonymous', reads refused: logout(), destroy(), regenerate() and login() on the stand-in end the session the cookie named, and clear the cookie"
        : "onStoreError 'anonymous', reads timing out: logout() on the stand-in ends the session the cookie named, and clears the cookie",
      () =>
        withFixture(
          async ({ app, store }) => {
            // A black-holed read costs `storeTimeout` a request: logout() alone stands for the four there.
            for (const [path, user] of reads === 'down' ? standInOperations : standInOperations.slice(0, 1)) {
              const cookie = pairOf(await app.request('/login?user=u1'));
              const id = idOf(cookie);
              faulty(store).reads = reads;
              const response = await app.request(path, { cookie });
              expect(response.status, `${path}: ${response.body}`).toBe(200);
              if (path !== '/destroy') {
                const body = JSON.parse(response.body) as View;
                expect(body.id, path).not.toBe(id);
                expect(body.user, path).toBe(user);
              }
              // The stand-in is never stored: the only cookie is the one that clears the named session.
              expectCleared(response, path);
              faulty(store).reads = 'ok';
              expect(await store.get(id), path).toBeNull();
              const after = parsed(await app.request('/read', { cookie }));
              expect(after.id, path).not.toBe(id);
              expect(after.user, path).toBeNull();
              expect(after.data, path).toEqual({});
            }
          },
          { onStoreError: 'anonymous', storeTimeout: HANG_TIMEOUT },
        ),
    );

  it.runIf(faults)(
    "onStoreError 'anonymous', reads and destroy both failing: logout(), destroy(), regenerate() and login() on the stand-in fail, and the session is still there only because they did",
    () =>
      withFixture(
        async ({ app, store }) => {
          const cookie = pairOf(await app.request('/login?user=u1'));
          const id = idOf(cookie);
          for (const [path] of standInOperations) {
            faulty(store).down = true;
            const response = await app.request(path, { cookie });
            // Never an answer as if done: the application's error path (the suite's harnesses: 503).
            expect(response.status, `${path}: ${response.body}`).toBe(503);
            expect(response.body, path).not.toContain('destroyed');
            expect(response.body, path).not.toContain('u2');
            // No session cookie, and none clearing it: the session lives on, and the browser keeps its cookie
            // to try the logout again.
            expect(
              response.setCookie.filter((header) => header.startsWith(`${NAME}=`)),
              path,
            ).toEqual([]);
            faulty(store).down = false;
            // The store comes back: the session the call failed to end is still there, still logged in.
            expect((await store.get(id))?.userId, path).toBe('u1');
            expect(parsed(await app.request('/read', { cookie })), path).toMatchObject({ id, user: 'u1' });
          }
        },
        { onStoreError: 'anonymous' },
      ),
  );

  it('never resurrects a session logged out while another request on it was running', () =>
    withFixture(async (f) => {
      for (let trial = 0; trial < 10; trial++) {
        f.slow = { entered: signal(), release: signal() };
        const cookie = pairOf(await f.app.request('/login?user=u1'));
        const id = idOf(cookie);
        const slow = f.app.request('/slow-write', { cookie });
        await f.slow.entered.promise;
        const logout = await f.app.request('/logout', { cookie });
        expect(parsed(logout).user).toBeNull();
        f.slow.release.fire();
        const late = await slow;
        expect(await f.store.get(id)).toBeNull();
        expect(late.setCookie.filter((value) => value.startsWith(`${NAME}=s`))).toEqual([]);
      }
    }));

  it.runIf(faults)('stores the session before the response arrives (a slow store)', () =>
    withFixture(async ({ app, store }) => {
      const slow = faulty(store);
      slow.slowWrites = 20;
      const created = await app.request('/write?a=1');
      // The response is complete: the store must already hold what it answered about.
      expect(slow.writesDone).toBe(1);
      const cookie = pairOf(created);
      await app.request('/write?b=2', { cookie });
      expect(slow.writesDone).toBe(2);
      slow.slowWrites = 0;
      expect((await store.get(idOf(cookie)))?.data).toEqual({ a: '1', b: '2' });
    }),
  );

  it('gives a forged, tampered, malformed or oversized cookie a fresh session, never an error', () =>
    withFixture(async ({ app }) => {
      const cookie = pairOf(await app.request('/write?a=1'));
      const id = idOf(cookie);
      const value = cookie.slice(NAME.length + 1);
      // The last MAC character changed (to another base64 character, so the format still holds).
      const tampered = `${NAME}=${value.slice(0, -1)}${value.endsWith('A') ? 'B' : 'A'}`;
      const unsigned = `${NAME}=${encodeURIComponent(id)}`;
      const forged = `${NAME}=${encodeURIComponent(`s:${id}.${'A'.repeat(43)}`)}`;
      const malformed = `${NAME}=%E0%A4%A`;
      const oversized = `${NAME}=s%3A${'x'.repeat(4_000)}.${'A'.repeat(43)}`;
      for (const bad of [tampered, unsigned, forged, malformed, oversized]) {
        const response = await app.request('/read', { cookie: bad });
        const body = parsed(response);
        expect(body.id, bad.slice(0, 80)).not.toBe(id);
        expect(body.data).toEqual({});
        expect(response.setCookie).toEqual([]);
      }
      // A tossed cookie beside the real one does not hide it, whichever comes first.
      for (const header of [`${forged}; ${cookie}`, `${cookie}; ${forged}`])
        expect(parsed(await app.request('/read', { cookie: header })).data).toEqual({ a: '1' });
    }));

  it("binding (C33): another User-Agent is signalled once and, under 'report', the session is kept", () =>
    withFixture(
      ({ app, store }) =>
        withBindingSignals(async (signals) => {
          const cookie = pairOf(await app.request('/login?user=u1', { 'user-agent': FIREFOX }));
          const id = idOf(cookie);
          expect(parsed(await app.request('/read', { cookie, 'user-agent': FIREFOX }))).toMatchObject({
            id,
            user: 'u1',
          });
          expect(signals).toEqual([]);
          const moved = await app.request('/read', { cookie, 'user-agent': CURL });
          expect(parsed(moved)).toMatchObject({ id, user: 'u1' });
          expect(moved.setCookie.filter((header) => header.startsWith(`${NAME}=`))).toEqual([]);
          expect(signals).toMatchObject([
            { handle: storageKey(id), changed: ['userAgent'], action: 'report', userId: 'u1' },
          ]);
          // Bound to the new User-Agent: it raises nothing more.
          expect(parsed(await app.request('/read', { cookie, 'user-agent': CURL }))).toMatchObject({
            id,
            user: 'u1',
          });
          expect(signals).toHaveLength(1);
          const stored = JSON.stringify(await store.get(id));
          expect(stored).toContain('sessionkit:binding');
          for (const raw of [FIREFOX, CURL]) expect(stored).not.toContain(raw);
        }),
      { binding: { userAgent: true } },
    ));

  it("binding (C33), onChange 'end': another User-Agent ends the session: its record gone, the cookie cleared, a fresh session", () =>
    withFixture(
      ({ app, store }) =>
        withBindingSignals(async (signals) => {
          const cookie = pairOf(await app.request('/login?user=u1', { 'user-agent': FIREFOX }));
          const id = idOf(cookie);
          const ended = await app.request('/read', { cookie, 'user-agent': CURL });
          const body = parsed(ended);
          expect(body.id).not.toBe(id);
          expect(body.user).toBeNull();
          expect(body.data).toEqual({});
          expectCleared(ended, 'ended');
          expect(await store.get(id)).toBeNull();
          expect(signals).toMatchObject([
            { handle: storageKey(id), changed: ['userAgent'], action: 'end', userId: 'u1' },
          ]);
          const back = parsed(await app.request('/read', { cookie, 'user-agent': FIREFOX }));
          expect(back.id).not.toBe(id);
          expect(back.user).toBeNull();
          expect(signals).toHaveLength(1);
        }),
      { binding: { userAgent: true, onChange: 'end' } },
    ));

  it.runIf(harness.clientAddress !== false)(
    "binding (C33), IP: the client's address as the framework resolves it; a change ends the session under 'end'",
    () =>
      withFixture(
        ({ app, store }) =>
          withBindingSignals(async (signals) => {
            const cookie = pairOf(await app.request('/login?user=u1', { 'x-forwarded-for': HOME_IP }));
            const id = idOf(cookie);
            expect(JSON.stringify(await store.get(id))).not.toContain(HOME_IP);
            const same = await app.request('/read', { cookie, 'x-forwarded-for': HOME_IP });
            expect(parsed(same)).toMatchObject({ id, user: 'u1' });
            expect(signals).toEqual([]);
            const ended = await app.request('/read', { cookie, 'x-forwarded-for': OTHER_IP });
            expect(parsed(ended).user).toBeNull();
            expectCleared(ended, 'ended');
            expect(await store.get(id)).toBeNull();
            expect(signals).toMatchObject([
              { handle: storageKey(id), changed: ['ip'], action: 'end', userId: 'u1' },
            ]);
          }),
        { binding: { ip: true, onChange: 'end' } },
        true,
      ),
  );

  it('sends a Secure cookie behind a trusted proxy, and none over plain HTTP', () =>
    withFixture(
      async ({ app }) => {
        const behindProxy = await app.request('/write?a=1', { 'x-forwarded-proto': 'https' });
        expect(behindProxy.setCookie).toHaveLength(1);
        expect(attributesOf(behindProxy.setCookie[0])).toContain('secure');
        const plain = await app.request('/write?a=1');
        expect(plain.status).toBe(200);
        expect(plain.setCookie).toEqual([]);
      },
      { cookie: { secure: true } },
      true,
    ));

  it('does not trust X-Forwarded-Proto unless told to', () =>
    withFixture(
      async ({ app }) => {
        const spoofed = await app.request('/write?a=1', { 'x-forwarded-proto': 'https' });
        expect(spoofed.status).toBe(200);
        expect(spoofed.setCookie).toEqual([]);
      },
      { cookie: { secure: true } },
      false,
    ));
}
