import type { IncomingMessage } from 'node:http';
import express from 'express';
import expressSession from 'express-session';
import { createClient } from 'redis';
import { describe, expect, it } from 'vitest';
import { StoreUnavailableError } from '../../src/core/errors.js';
import session, {
  currentUserId,
  MemoryStore,
  type SessionOptions,
  login as sessionLogin,
} from '../../src/index.js';
import { RedisStore } from '../../src/stores/redis.js';
import { TcpProxy } from '../../src/testing/proxy.js';
import { runNamespace } from '../support/services.js';
import { SlowMemoryStore } from '../support/slow-store.js';
import {
  connected,
  disconnected,
  type EngineMiddleware,
  handshake,
  type SocketRig,
  socketRig,
  upgraded,
} from '../support/socketio-harness.js';

/**
 * socket.io's express-session recipe (https://socket.io/how-to/use-with-express-session) with
 * sessionkit's Express middleware, beside express-session itself: one middleware on the Express app and on
 * `io.engine`, the session read from `socket.request.session`, changed and saved, reloaded and destroyed
 * from socket handlers, on long-polling, on a client upgrading to WebSocket and on WebSocket only.
 *
 * engine.io runs its middlewares on the handshake (and on every later polling request) with a `res` of
 * its own: a real ServerResponse on polling, and on a WebSocket upgrade a stand-in whose headers go into
 * the 101 as soon as engine.io calls its `writeHead()`; and it takes one call of `next` only.
 */

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const secret = 'a-long-enough-secret-for-the-socket-io-tests';

type Impl = 'sessionkit' | 'express-session';
const impls: Impl[] = ['sessionkit', 'express-session'];
type Done = (err?: unknown) => void;

/** What the recipe uses of `req.session`, the same on sessionkit and express-session. */
interface RecipeSession {
  [key: string]: unknown;
  id: string;
  user?: string;
  count?: number;
  save(done: Done): void;
  reload(done: Done): void;
  destroy(done: Done): void;
  regenerate(done: Done): void;
}

type SessionRequest = IncomingMessage & { session?: RecipeSession };

function sessionOf(req: unknown): RecipeSession {
  const current = (req as SessionRequest).session;
  if (current === undefined) throw new Error('no session on the request');
  return current;
}

/** Whether the store holds `id`, asked through its callback API, which both middlewares use. */
function stored(store: unknown, id: string): Promise<boolean> {
  const callbacks = store as { get(id: string, done: (err: unknown, found?: unknown) => void): void };
  return new Promise((resolve, reject) => {
    callbacks.get(id, (err, found) => (err ? reject(err) : resolve(found != null)));
  });
}

/** Registers what to close after the test; run in reverse order (clients and servers before stores). */
type Defer = (cleanup: () => Promise<unknown>) => void;

/**
 * The tests run concurrently (each on its own ports, stores and Redis prefix), so each keeps its own
 * cleanups, run when it finishes.
 */
function scope(onTestFinished: (hook: () => Promise<void>) => void): Defer {
  const cleanups: Array<() => Promise<unknown>> = [];
  onTestFinished(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });
  return (cleanup) => {
    cleanups.push(cleanup);
  };
}

interface StoreKind {
  name: string;
  make(defer: Defer): Promise<MemoryStore | RedisStore>;
}

/** A RedisStore under a prefix of its own, cleared and closed after the test. Redis down fails the test. */
async function redisStore(defer: Defer, prefix = `${runNamespace('sk_sio')}:`): Promise<RedisStore> {
  const client = createClient({
    url: REDIS_URL,
    socket: { connectTimeout: 2_000, reconnectStrategy: false },
  });
  client.on('error', () => undefined);
  await client.connect();
  const store = new RedisStore({ client, closeClient: true, prefix });
  defer(async () => {
    await store.clear();
    await store.close();
  });
  return store;
}

const storeKinds: StoreKind[] = [
  { name: 'MemoryStore', make: async () => new MemoryStore() },
  { name: 'a slow store', make: async () => new SlowMemoryStore(5) },
  { name: 'Redis', make: redisStore },
];

type Transport = 'polling' | 'polling, upgraded' | 'websocket';
const transports: Transport[] = ['polling', 'polling, upgraded', 'websocket'];

function middlewareFor(impl: Impl, store: unknown, options: Record<string, unknown> = {}): EngineMiddleware {
  const base = { secret, store, resave: false, saveUninitialized: false, ...options };
  return (impl === 'sessionkit'
    ? session(base as SessionOptions)
    : expressSession(base as never)) as unknown as EngineMiddleware;
}

/** The HTTP side of the app: log in (a new ID, as both libraries recommend), read, set, log out. */
function httpApp(middleware: EngineMiddleware): express.Express {
  const app = express();
  app.use(middleware as unknown as express.RequestHandler);
  app.get('/login', (req, res, next) => {
    sessionOf(req).regenerate((err) => {
      if (err) return next(err);
      sessionOf(req).user = String(req.query.user);
      res.send('in');
    });
  });
  app.get('/me', (req, res) => {
    const { user = null, count = null, a = null, b = null } = sessionOf(req);
    res.json({ user, count, a, b });
  });
  app.get('/set', (req, res) => {
    sessionOf(req)[String(req.query.key)] = String(req.query.value);
    res.send('set');
  });
  app.get('/logout', (req, res, next) => {
    sessionOf(req).destroy((err) => (err ? next(err) : res.send('out')));
  });
  return app;
}

/** The error's code, for acks: what a socket handler would tell its client. */
function codeOf(err: unknown): string {
  return (err as { code?: string } | null)?.code ?? String(err);
}

type Ack = (answer: unknown) => void;

/**
 * The socket side, as the recipe writes it: the session on `socket.request`, a room per user, changes
 * saved with `save()`, and (`reloadEach`) the long-lived variant that reloads before every event and
 * disconnects when the session is gone.
 */
function recipe(rig: SocketRig, reloadEach: boolean): void {
  rig.io.on('connection', (socket) => {
    const req = socket.request as SessionRequest;
    const user = req.session?.user;
    if (user !== undefined) void socket.join(`user:${user}`);
    if (reloadEach)
      socket.use((_packet, next) => {
        sessionOf(req).reload((err) => (err ? socket.disconnect() : next()));
      });
    /** The handler's session, or an answer saying it is gone (after destroy()). */
    const current = (ack: Ack): RecipeSession | undefined => {
      if (req.session === undefined) ack({ error: 'no session' });
      return req.session;
    };
    socket.on('whoami', (ack: Ack) => {
      const held = req.session;
      const { user = null, a = null, b = null } = held ?? ({} as Partial<RecipeSession>);
      ack({ user, a, b, id: held?.id ?? null, rooms: socket.rooms.size });
    });
    socket.on('set', (key: string, value: unknown, ack: Ack) => {
      const held = current(ack);
      if (held === undefined) return;
      held[key] = value;
      held.save((err) => ack(err ? { error: codeOf(err) } : { ok: true }));
    });
    socket.on('inc', (ack: Ack) => {
      const held = current(ack);
      if (held === undefined) return;
      held.count = (held.count ?? 0) + 1;
      held.save((err) => ack(err ? { error: codeOf(err) } : { count: held.count }));
    });
    socket.on('reload', (ack: Ack) => {
      current(ack)?.reload((err) => ack(err ? { error: codeOf(err) } : { user: req.session?.user ?? null }));
    });
    socket.on('regenerate', (ack: Ack) => {
      current(ack)?.regenerate((err) => {
        if (err) return ack({ error: codeOf(err) });
        const fresh = sessionOf(req);
        fresh.user = 'after regenerate';
        fresh.save((saveErr) => ack(saveErr ? { error: codeOf(saveErr) } : { id: fresh.id }));
      });
    });
    socket.on('destroy', (ack: Ack) => {
      current(ack)?.destroy((err) => ack(err ? { error: codeOf(err) } : { session: req.session ?? null }));
    });
  });
}

/** A rig for `impl` on `store`, running the recipe, closed after the test. */
async function rigFor(
  defer: Defer,
  impl: Impl,
  store: unknown,
  options: Record<string, unknown> = {},
  reloadEach = false,
): Promise<SocketRig> {
  const middleware = middlewareFor(impl, store, options);
  const rig = await socketRig(httpApp(middleware), middleware);
  defer(() => rig.close());
  recipe(rig, reloadEach);
  return rig;
}

interface HttpAnswer {
  status: number;
  body: string;
  /** The first Set-Cookie's `name=value`. */
  cookie: string | null;
}

async function get(rig: SocketRig, path: string, cookie?: string): Promise<HttpAnswer> {
  const res = await fetch(`${rig.url}${path}`, { headers: cookie === undefined ? {} : { cookie } });
  const set = res.headers.getSetCookie()[0];
  return { status: res.status, body: await res.text(), cookie: set?.split(';')[0] ?? null };
}

async function me(rig: SocketRig, cookie: string): Promise<Record<string, unknown>> {
  return JSON.parse((await get(rig, '/me', cookie)).body) as Record<string, unknown>;
}

/** Logs `user` in over HTTP and returns the session cookie (`name=value`). */
async function login(rig: SocketRig, user: string): Promise<string> {
  const res = await get(rig, `/login?user=${user}`);
  expect(res.status).toBe(200);
  if (res.cookie === null) throw new Error('the login set no cookie');
  return res.cookie;
}

/** The session ID inside a signed `connect.sid=s%3A<id>.<mac>` cookie pair. */
function idOf(cookiePair: string): string {
  const value = decodeURIComponent(cookiePair.slice(cookiePair.indexOf('=') + 1));
  return value.slice(2, value.lastIndexOf('.'));
}

function pairOf(setCookie: string | undefined): string {
  if (setCookie === undefined) throw new Error('no Set-Cookie');
  return setCookie.split(';')[0] as string;
}

/** A socket.io client with `cookie`, connected (and, for 'polling, upgraded', moved to its WebSocket). */
async function connect(rig: SocketRig, transport: Transport, cookie?: string) {
  const socket = rig.client({
    transports: transport === 'polling' ? ['polling'] : transport === 'websocket' ? ['websocket'] : undefined,
    extraHeaders: cookie === undefined ? {} : { cookie },
  });
  await connected(socket);
  if (transport === 'polling, upgraded') await upgraded(socket);
  return socket;
}

type SessionRecord = Parameters<MemoryStore['create']>[1];

/**
 * A slow store that is down while `down` says so: its reads and its writes of new sessions (`create`;
 * express-session writes them with `set`) reject as a store that cannot be reached does.
 */
class DownStore extends SlowMemoryStore {
  down = false;

  override async get(id: string) {
    if (this.down) throw new StoreUnavailableError('get', 'down for the test');
    return super.get(id);
  }

  override async create(id: string, record: SessionRecord) {
    if (this.down) throw new StoreUnavailableError('create', 'down for the test');
    return super.create(id, record);
  }

  override async set(id: string, record: SessionRecord) {
    if (this.down) throw new StoreUnavailableError('set', 'down for the test');
    return super.set(id, record);
  }
}

/** What engine.io's `connection_error` events named as their cause, in order. */
function engineErrors(rig: SocketRig): { codes: string[] } {
  const seen = { codes: [] as string[] };
  rig.io.engine.on('connection_error', (error: { context?: { name?: string } }) => {
    seen.codes.push(error.context?.name ?? 'unknown');
  });
  return seen;
}

/** Resolves once `check` holds (engine.io reports a given-up handshake only when its middleware ends). */
async function until(check: () => boolean): Promise<void> {
  // Ten seconds of the clock: a starved machine has taken more than two to report a handshake's error.
  const deadline = Date.now() + 10_000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('timed out waiting');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/**
 * Resolves once `check` resolves true; with `never`, checks a few times that it stays false (a write
 * express-session never makes cannot be awaited).
 */
async function untilAsync(check: () => Promise<boolean>, never = false): Promise<void> {
  for (let tries = 0; tries < (never ? 5 : 200); tries++) {
    if (await check()) return;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  if (!never) throw new Error('timed out waiting');
}

describe.concurrent('socket.io’s express-session recipe', () => {
  for (const kind of storeKinds) {
    describe(`the recipe on ${kind.name}`, () => {
      for (const impl of impls) {
        it.concurrent(`${impl}: the logged-in user is in socket.request.session; save() from a handler is seen over HTTP`, async ({
          onTestFinished,
        }) => {
          const defer = scope(onTestFinished);
          const rig = await rigFor(defer, impl, await kind.make(defer));
          const cookie = await login(rig, 'alice');
          let count = 0;
          for (const transport of transports) {
            const socket = await connect(rig, transport, cookie);
            const who = await socket.timeout(2_000).emitWithAck('whoami');
            expect(who, transport).toMatchObject({ user: 'alice', id: idOf(cookie), rooms: 2 });
            count++;
            expect(await socket.timeout(2_000).emitWithAck('inc'), transport).toEqual({ count });
            expect(await me(rig, cookie)).toMatchObject({ user: 'alice', count });
            // The user's room reaches the socket.
            const gone = disconnected(socket);
            rig.io.in('user:alice').disconnectSockets();
            expect(await gone).toBe('io server disconnect');
          }
        });
      }

      it.concurrent('a logout over HTTP: the long-lived recipe reload()s and disconnects; a handler’s save() does not bring the session back (express-session does)', async ({
        onTestFinished,
      }) => {
        const defer = scope(onTestFinished);
        const outcomes: Record<Impl, unknown> = { sessionkit: null, 'express-session': null };
        for (const impl of impls) {
          const store = await kind.make(defer);
          const rig = await rigFor(defer, impl, store);
          const cookie = await login(rig, 'bob');
          const reloading = await rigFor(defer, impl, store, {}, true);
          const plain = await connect(rig, 'websocket', cookie);
          const longLived = await connect(reloading, 'polling', cookie);
          expect(await longLived.timeout(2_000).emitWithAck('whoami')).toMatchObject({ user: 'bob' });
          await get(rig, '/logout', cookie);

          const gone = disconnected(longLived);
          longLived.emit('whoami', () => undefined);
          expect(await gone).toBe('io server disconnect');

          // The plain recipe's handler saves the session its socket still holds.
          await plain.timeout(2_000).emitWithAck('inc');
          outcomes[impl] = (await me(rig, cookie)).user;
          expect(await plain.timeout(2_000).emitWithAck('reload')).toEqual(
            impl === 'sessionkit' ? { error: 'ERR_SESSION_NOT_FOUND' } : { user: 'bob' },
          );
        }
        expect(outcomes).toEqual({ sessionkit: null, 'express-session': 'bob' });
      });

      for (const impl of impls) {
        it.concurrent(`${impl}: destroy() from a socket handler ends the session over HTTP too`, async ({
          onTestFinished,
        }) => {
          const defer = scope(onTestFinished);
          const store = await kind.make(defer);
          const rig = await rigFor(defer, impl, store);
          const cookie = await login(rig, 'carol');
          const socket = await connect(rig, 'websocket', cookie);
          expect(await socket.timeout(2_000).emitWithAck('destroy')).toEqual({ session: null });
          expect(await stored(store, idOf(cookie))).toBe(false);
          expect(await me(rig, cookie)).toMatchObject({ user: null });
          expect(await socket.timeout(2_000).emitWithAck('inc')).toEqual({ error: 'no session' });
        });
      }

      it.concurrent('a session created by the handshake (saveUninitialized: true): the cookie reaches the client on both transports, and names a stored session (express-session stores none on WebSocket)', async ({
        onTestFinished,
      }) => {
        const defer = scope(onTestFinished);
        const seen: Record<string, unknown> = {};
        for (const impl of impls) {
          const store = await kind.make(defer);
          const rig = await rigFor(defer, impl, store, { saveUninitialized: true });
          for (const transport of ['polling', 'websocket'] as const) {
            const answer = await handshake(rig.url, transport);
            answer.socket?.destroy();
            expect(answer.status).toBe(transport === 'polling' ? 200 : 101);
            expect(answer.cookies).toHaveLength(1);
            // Asked as soon as the client has the cookie: sessionkit stores before it sends.
            seen[`${impl} ${transport}`] = await stored(store, idOf(pairOf(answer.cookies[0])));
          }
        }
        expect(seen).toEqual({
          'sessionkit polling': true,
          'sessionkit websocket': true,
          'express-session polling': true,
          'express-session websocket': false,
        });
      });

      it.concurrent('saveUninitialized: false: a handshake without a cookie stores nothing and sets none', async ({
        onTestFinished,
      }) => {
        const defer = scope(onTestFinished);
        for (const impl of impls) {
          const store = await kind.make(defer);
          const rig = await rigFor(defer, impl, store);
          for (const transport of ['polling', 'websocket'] as const) {
            const answer = await handshake(rig.url, transport);
            answer.socket?.destroy();
            expect(answer.cookies, `${impl} ${transport}`).toEqual([]);
          }
        }
      });
    });
  }

  describe('what the browser cannot learn', () => {
    it.concurrent('regenerate() in a socket handler moves the session to an ID no cookie names: over HTTP the user is logged out, as with express-session', async ({
      onTestFinished,
    }) => {
      const defer = scope(onTestFinished);
      for (const impl of impls) {
        const store = new SlowMemoryStore(5);
        const rig = await rigFor(defer, impl, store);
        const cookie = await login(rig, 'nina');
        const socket = await connect(rig, 'websocket', cookie);
        const { id } = (await socket.timeout(2_000).emitWithAck('regenerate')) as { id: string };
        expect(id).not.toBe(idOf(cookie));
        expect(await stored(store, id), impl).toBe(true);
        expect(await stored(store, idOf(cookie)), impl).toBe(false);
        expect(await me(rig, cookie), impl).toMatchObject({ user: null });
      }
    });

    it.concurrent('a change a later io.engine middleware makes is stored on both transports (express-session: on polling only)', async ({
      onTestFinished,
    }) => {
      const defer = scope(onTestFinished);
      const seen: Record<string, unknown> = {};
      for (const impl of impls) {
        const rig = await rigFor(defer, impl, new SlowMemoryStore(5));
        rig.io.engine.use((req: SessionRequest, _res: unknown, next: () => void) => {
          if (req.session !== undefined) req.session.a = 'set by a later middleware';
          next();
        });
        for (const transport of ['polling', 'websocket'] as const) {
          const cookie = await login(rig, 'olga');
          const answer = await handshake(rig.url, transport, { cookie });
          answer.socket?.destroy();
          // sessionkit stores it when engine.io answers, without holding the answer: wait for it.
          await untilAsync(
            async () => (await me(rig, cookie)).a !== null,
            impl === 'express-session' && transport === 'websocket',
          );
          seen[`${impl} ${transport}`] = (await me(rig, cookie)).a;
        }
      }
      expect(seen).toEqual({
        'sessionkit polling': 'set by a later middleware',
        'sessionkit websocket': 'set by a later middleware',
        'express-session polling': 'set by a later middleware',
        'express-session websocket': null,
      });
    });
  });

  describe('two sockets of one session', () => {
    it.concurrent('saving different keys: sessionkit keeps both (express-session writes whole sessions: the last wins)', async ({
      onTestFinished,
    }) => {
      const defer = scope(onTestFinished);
      const kept: Record<string, unknown> = {};
      for (const impl of impls) {
        const rig = await rigFor(defer, impl, new SlowMemoryStore(5));
        const cookie = await login(rig, 'dora');
        const [first, second] = await Promise.all([
          connect(rig, 'websocket', cookie),
          connect(rig, 'polling', cookie),
        ]);
        await Promise.all([
          first.timeout(2_000).emitWithAck('set', 'a', 'from the first'),
          second.timeout(2_000).emitWithAck('set', 'b', 'from the second'),
        ]);
        const { a, b } = await me(rig, cookie);
        kept[impl] = [a, b].filter((value) => value !== null).length;
      }
      expect(kept).toEqual({ sessionkit: 2, 'express-session': 1 });
    });

    it.concurrent('the long-lived recipe sees a change made over HTTP at its next event', async ({
      onTestFinished,
    }) => {
      const defer = scope(onTestFinished);
      for (const impl of impls) {
        const rig = await rigFor(defer, impl, await redisStore(defer), {}, true);
        const cookie = await login(rig, 'erin');
        const socket = await connect(rig, 'polling, upgraded', cookie);
        expect(await socket.timeout(2_000).emitWithAck('whoami')).toMatchObject({ user: 'erin', a: null });
        await get(rig, '/set?key=a&value=changed', cookie);
        expect(await socket.timeout(2_000).emitWithAck('whoami'), impl).toMatchObject({
          user: 'erin',
          a: 'changed',
        });
      }
    });
  });
  describe('a store that fails during the handshake', () => {
    it.concurrent('sessionkit refuses the connection (engine.io answers 400) on both transports, whether the load or the create failed', async ({
      onTestFinished,
    }) => {
      const defer = scope(onTestFinished);
      const store = new DownStore(5);
      const rig = await rigFor(defer, 'sessionkit', store, { saveUninitialized: true });
      const errors = engineErrors(rig);
      const cookie = await login(rig, 'fred');
      store.down = true;
      const answers = await Promise.all(
        (['polling', 'websocket'] as const).flatMap((transport) => [
          handshake(rig.url, transport, { cookie }),
          handshake(rig.url, transport),
        ]),
      );
      expect(answers.map(({ status, cookies }) => ({ status, cookies }))).toEqual(
        Array(4).fill({ status: 400, cookies: [] }),
      );
      expect(errors.codes).toEqual(Array(4).fill('MIDDLEWARE_FAILURE'));
      expect(rig.io.engine.clientsCount).toBe(0);
      // The socket.io client sees a connect_error, on either transport.
      for (const transports of [['polling'], ['websocket']]) {
        const socket = rig.client({ transports, extraHeaders: { cookie } });
        await expect(connected(socket)).rejects.toThrow();
      }
      // Back up: the same cookie connects as its user.
      store.down = false;
      const socket = await connect(rig, 'websocket', cookie);
      expect(await socket.timeout(2_000).emitWithAck('whoami')).toMatchObject({ user: 'fred' });
    });

    it.concurrent("with onStoreError: 'anonymous' the connection proceeds anonymously, with no cookie", async ({
      onTestFinished,
    }) => {
      const defer = scope(onTestFinished);
      const store = new DownStore(5);
      const rig = await rigFor(defer, 'sessionkit', store, {
        saveUninitialized: true,
        onStoreError: 'anonymous',
      });
      const cookie = await login(rig, 'gina');
      store.down = true;
      for (const transport of transports) {
        const socket = await connect(rig, transport, cookie);
        expect(await socket.timeout(2_000).emitWithAck('whoami'), transport).toMatchObject({ user: null });
        socket.close();
      }
      for (const transport of ['polling', 'websocket'] as const) {
        const answer = await handshake(rig.url, transport);
        answer.socket?.destroy();
        expect(answer.cookies, transport).toEqual([]);
      }
    });

    it.concurrent('express-session, for comparison: a failed load refuses too, a failed create connects with a cookie naming no session', async ({
      onTestFinished,
    }) => {
      const defer = scope(onTestFinished);
      const store = new DownStore(5);
      const rig = await rigFor(defer, 'express-session', store, { saveUninitialized: true });
      const cookie = await login(rig, 'hugo');
      store.down = true;
      const given: string[] = [];
      for (const transport of ['polling', 'websocket'] as const) {
        expect((await handshake(rig.url, transport, { cookie })).status).toBe(400);
        const fresh = await handshake(rig.url, transport);
        fresh.socket?.destroy();
        expect(fresh.status).toBe(transport === 'polling' ? 200 : 101);
        given.push(pairOf(fresh.cookies[0]));
      }
      store.down = false;
      for (const pair of given) expect(await stored(store, idOf(pair))).toBe(false);
    });

    it.concurrent('Redis down (the proxy drops every connection): refused at once', async ({
      onTestFinished,
    }) => {
      const defer = scope(onTestFinished);
      const target = new URL(REDIS_URL);
      const proxy = new TcpProxy(target.hostname, Number(target.port || 6379));
      const port = await proxy.start();
      const client = createClient({
        url: `redis://127.0.0.1:${port}`,
        socket: { reconnectStrategy: () => 50 },
      });
      client.on('error', () => undefined);
      await client.connect();
      const prefix = `${runNamespace('sk_sio_down')}:`;
      // Straight to Redis, to clear what the test wrote through the proxy.
      await redisStore(defer, prefix);
      const store = new RedisStore({ client, closeClient: true, prefix });
      defer(() => store.close());
      defer(() => proxy.stop());
      const rig = await rigFor(defer, 'sessionkit', store, { saveUninitialized: true, storeTimeout: 1_000 });
      const cookie = await login(rig, 'jack');
      proxy.cut();
      for (const transport of transports) {
        for (const headers of [{ cookie }, {}] as Record<string, string>[]) {
          const socket = rig.client({
            transports: transport === 'polling' ? ['polling'] : ['websocket'],
            extraHeaders: headers,
          });
          await expect(connected(socket), transport).rejects.toThrow();
        }
      }
      expect(rig.io.engine.clientsCount).toBe(0);
    });
  });

  describe('forged and oversized cookies on the handshake', () => {
    it.concurrent('are ignored: the connection proceeds anonymously on both transports, as with express-session', async ({
      onTestFinished,
    }) => {
      const defer = scope(onTestFinished);
      for (const impl of impls) {
        const store = new SlowMemoryStore(5);
        const rig = await rigFor(defer, impl, store);
        const good = await login(rig, 'judy');
        const forged = [
          'connect.sid=s%3Aabc.def',
          `${good.slice(0, -3)}xyz`,
          `connect.sid=s%3A${'A'.repeat(8_000)}.x`,
          Array.from({ length: 60 }, (_, i) => `connect.sid=s%3A${i}.x`).join('; '),
          `connect.sid=${'%'.repeat(3_000)}`,
          'connect.sid=%E0%A4%A',
          `connect.sid=s%3A${idOf(good)}`,
          'connect.sid=s%3A__proto__.x; __proto__=1; constructor=2',
        ];
        for (const cookie of forged) {
          for (const transport of ['polling', 'websocket'] as const) {
            const answer = await handshake(rig.url, transport, { cookie });
            answer.socket?.destroy();
            expect(answer, `${impl} ${transport} ${cookie.slice(0, 40)}`).toMatchObject({
              status: transport === 'polling' ? 200 : 101,
              cookies: [],
            });
          }
        }
        // Through the client too, with the first two.
        for (const cookie of forged.slice(0, 2)) {
          const socket = await connect(rig, 'websocket', cookie);
          expect(await socket.timeout(2_000).emitWithAck('whoami')).toMatchObject({ user: null });
          socket.close();
        }
        // Past Node's header limit the request never reaches engine.io.
        for (const transport of ['polling', 'websocket'] as const) {
          const answer = await handshake(rig.url, transport, { cookie: `connect.sid=${'A'.repeat(20_000)}` });
          expect(answer.status).toBe(431);
        }
        // A genuine cookie after a forged one of the same name: sessionkit tries the next duplicate when
        // one fails its check, express-session only the first.
        const socket = await connect(rig, 'polling', `${forged[0]}; ${good}`);
        expect(await socket.timeout(2_000).emitWithAck('whoami'), impl).toMatchObject({
          user: impl === 'sessionkit' ? 'judy' : null,
        });
      }
    });
  });

  describe('engine.io’s own Set-Cookie', () => {
    it.concurrent('on polling the session cookie goes beside engine.io’s own (its `cookie` option) and one an initial_headers listener adds (with express-session, that listener’s replaces engine.io’s)', async ({
      onTestFinished,
    }) => {
      const defer = scope(onTestFinished);
      const seen: Record<string, string[]> = {};
      for (const impl of impls) {
        const middleware = middlewareFor(impl, new SlowMemoryStore(5), { saveUninitialized: true });
        const rig = await socketRig(httpApp(middleware), middleware, { cookie: { name: 'io', path: '/' } });
        defer(() => rig.close());
        rig.io.engine.on('initial_headers', (headers: Record<string, string>) => {
          headers['set-cookie'] = 'app=1; Path=/';
        });
        for (const transport of ['polling', 'websocket'] as const) {
          const answer = await handshake(rig.url, transport);
          answer.socket?.destroy();
          seen[`${impl} ${transport}`] = answer.cookies
            .map((cookie) => pairOf(cookie).split('=')[0] as string)
            .sort();
        }
      }
      expect(seen).toEqual({
        'sessionkit polling': ['app', 'connect.sid', 'io'],
        'sessionkit websocket': ['app', 'connect.sid'],
        'express-session polling': ['app', 'connect.sid'],
        'express-session websocket': ['app', 'connect.sid'],
      });
    });
  });

  describe('a store that fails after the connection', () => {
    it.concurrent('the long-lived recipe disconnects when reload() fails; a handler’s save() answers with the error', async ({
      onTestFinished,
    }) => {
      const defer = scope(onTestFinished);
      const codes: Record<Impl, unknown[]> = { sessionkit: [], 'express-session': [] };
      for (const impl of impls) {
        const store = new DownStore(5);
        const rig = await rigFor(defer, impl, store);
        const reloading = await rigFor(defer, impl, store, {}, true);
        const cookie = await login(rig, 'lena');
        const plain = await connect(rig, 'websocket', cookie);
        const longLived = await connect(reloading, 'polling, upgraded', cookie);
        store.down = true;
        const gone = disconnected(longLived);
        longLived.emit('whoami', () => undefined);
        expect(await gone).toBe('io server disconnect');
        codes[impl].push(await plain.timeout(2_000).emitWithAck('reload'));
      }
      expect(codes).toEqual({
        sessionkit: [{ error: 'ERR_STORE_UNAVAILABLE' }],
        'express-session': [{ error: 'ERR_STORE_UNAVAILABLE' }],
      });
    });

    it.concurrent('a quiet write that an express-session store fails at the handshake is reported on the manager, and the connection proceeds', async ({
      onTestFinished,
    }) => {
      const defer = scope(onTestFinished);
      const store = new expressSession.MemoryStore();
      // An express-session store whose writes fail: an empty new session's write is quiet (express-session
      // does not fail a response for it either).
      store.set = (_sid: string, _session: unknown, done?: (err?: unknown) => void) => {
        done?.(new Error('set failed'));
      };
      const middleware = session({ secret, store, resave: false, saveUninitialized: true });
      const reported: unknown[] = [];
      middleware.manager.on('error', (error: unknown) => reported.push(error));
      const rig = await socketRig(
        httpApp(middleware as unknown as EngineMiddleware),
        middleware as unknown as EngineMiddleware,
      );
      defer(() => rig.close());
      recipe(rig, false);
      for (const transport of transports) {
        const socket = await connect(rig, transport);
        expect(await socket.timeout(2_000).emitWithAck('whoami')).toMatchObject({ user: null });
        socket.close();
      }
      expect(reported.length).toBeGreaterThanOrEqual(transports.length);
      expect(reported.every((error) => error instanceof Error && error.message === 'set failed')).toBe(true);
    });
  });

  describe('the older recipe: io.use(wrap(sessionMiddleware)), with `{}` as the response', () => {
    it.concurrent('a logged-in user is seen, and a handler’s save() stores a new session, on every store kind', async ({
      onTestFinished,
    }) => {
      const defer = scope(onTestFinished);
      for (const impl of impls) {
        for (const kind of storeKinds) {
          const store = await kind.make(defer);
          const middleware = middlewareFor(impl, store, { saveUninitialized: true });
          const rig = await socketRig(httpApp(middleware), null);
          defer(() => rig.close());
          rig.io.use((socket, next) =>
            middleware(socket.request, {} as never, (err) => next(err as Error | undefined)),
          );
          recipe(rig, false);
          const cookie = await login(rig, 'mona');
          for (const transport of transports) {
            const socket = await connect(rig, transport, cookie);
            expect(await socket.timeout(2_000).emitWithAck('whoami'), `${impl} ${kind.name}`).toMatchObject({
              user: 'mona',
            });
            socket.close();
          }
          const anonymous = await connect(rig, 'websocket');
          const { id } = (await anonymous.timeout(2_000).emitWithAck('whoami')) as { id: string };
          expect(await anonymous.timeout(2_000).emitWithAck('set', 'a', 1)).toEqual({ ok: true });
          expect(await stored(store, id), `${impl} ${kind.name}`).toBe(true);
        }
      }
    });
  });

  describe('many clients at once', () => {
    it.concurrent('each handshake on a slow store gets its own stored session, with no listener warning', async ({
      onTestFinished,
    }) => {
      const defer = scope(onTestFinished);
      const warnings: string[] = [];
      const onWarning = (warning: Error): void => {
        warnings.push(warning.name);
      };
      process.on('warning', onWarning);
      defer(async () => {
        process.off('warning', onWarning);
      });
      const store = new SlowMemoryStore(5);
      const rig = await rigFor(defer, 'sessionkit', store, { saveUninitialized: true });
      const answers = await Promise.all(
        Array.from({ length: 40 }, (_, i) => handshake(rig.url, i % 2 === 0 ? 'polling' : 'websocket')),
      );
      for (const answer of answers) answer.socket?.destroy();
      const ids = answers.map((answer) => idOf(pairOf(answer.cookies[0])));
      expect(new Set(ids).size).toBe(40);
      expect(await Promise.all(ids.map((id) => stored(store, id)))).toEqual(Array(40).fill(true));
      expect(warnings).toEqual([]);
    });
  });

  describe('telling engine.io’s requests from the app’s', () => {
    it.concurrent('an Express request whose `req._query` names EIO (another middleware set it) is held and stored as any other', async ({
      onTestFinished,
    }) => {
      const defer = scope(onTestFinished);
      const middleware = middlewareFor('sessionkit', new SlowMemoryStore(5));
      const app = express();
      app.use((req, _res, next) => {
        (req as { _query?: unknown })._query = { EIO: '4', transport: 'polling' };
        next();
      });
      app.use(httpApp(middleware));
      const rig = await socketRig(app, middleware);
      defer(() => rig.close());
      const cookie = await login(rig, 'pia');
      expect(await me(rig, cookie)).toMatchObject({ user: 'pia' });
    });
  });

  describe('sessionkit’s own API from socket handlers', () => {
    it.concurrent('a user bound by login() over HTTP is currentUserId() on socket.request.session', async ({
      onTestFinished,
    }) => {
      const defer = scope(onTestFinished);
      const store = new SlowMemoryStore(5);
      const middleware = session({ secret, store, resave: false, saveUninitialized: false });
      const app = express();
      app.use(middleware);
      app.get('/login', async (req, res) => {
        await sessionLogin(middleware.get(req), 'kim');
        res.send('in');
      });
      const rig = await socketRig(app, middleware as unknown as EngineMiddleware);
      defer(() => rig.close());
      rig.io.on('connection', (socket) => {
        socket.on('whoami', (ack: Ack) => ack(currentUserId(middleware.get(socket.request))));
      });
      const cookie = await login(rig, 'ignored');
      for (const transport of transports) {
        const socket = await connect(rig, transport, cookie);
        expect(await socket.timeout(2_000).emitWithAck('whoami')).toBe('kim');
      }
    });
  });
});

describe('a store that never answers', () => {
  // Alone, not beside the concurrent tests: it counts the process's timers.
  it('Redis black-holed (a proxy that stops forwarding): refused within storeTimeout on both transports, with no timer left behind', async ({
    onTestFinished,
  }) => {
    const defer = scope(onTestFinished);
    const target = new URL(REDIS_URL);
    const proxy = new TcpProxy(target.hostname, Number(target.port || 6379));
    const port = await proxy.start();
    const client = createClient({ url: `redis://127.0.0.1:${port}`, socket: { reconnectStrategy: false } });
    client.on('error', () => undefined);
    await client.connect();
    const prefix = `${runNamespace('sk_sio_hole')}:`;
    // Straight to Redis, to clear what the test wrote through the proxy.
    await redisStore(defer, prefix);
    const store = new RedisStore({
      client,
      closeClient: true,
      prefix,
      // Also bounds close(), whose QUIT waits behind the commands the stall swallowed.
      timeout: 300,
    });
    defer(() => store.close());
    defer(() => proxy.stop());
    const rig = await rigFor(defer, 'sessionkit', store, { saveUninitialized: true, storeTimeout: 150 });
    const errors = engineErrors(rig);
    const cookie = await login(rig, 'ivan');
    proxy.stall();
    const timers = (): number => process.getActiveResourcesInfo().filter((kind) => kind === 'Timeout').length;
    const timersBefore = timers();

    // Six handshakes bounded by storeTimeout (150 ms): the bound leaves a loaded machine room, and the
    // clients wait longer still, so one left waiting on the stalled link fails on the bound.
    const started = performance.now();
    const answers = await Promise.all(
      (['polling', 'websocket'] as const).flatMap((transport) => [
        handshake(rig.url, transport, { cookie }, 5_000),
        handshake(rig.url, transport, {}, 5_000),
        // A client that gives up while its handshake waits for the store: late enough that its request
        // has reached the middleware on a busy machine, before the store's 150 ms are out.
        handshake(rig.url, transport, { cookie }, 100).catch((error: Error) => error.message),
      ]),
    );
    expect(performance.now() - started).toBeLessThan(3_000);
    expect(answers.map((answer) => (typeof answer === 'string' ? answer : answer.status))).toEqual([
      400,
      400,
      'no answer to the polling handshake within 100 ms',
      400,
      400,
      'no answer to the websocket handshake within 100 ms',
    ]);
    // engine.io reports the given-up handshakes too, once their store call timed out.
    await until(() => errors.codes.length === 6);
    expect(errors.codes).toEqual(Array(6).fill('MIDDLEWARE_FAILURE'));
    expect(rig.io.engine.clientsCount).toBe(0);
    expect(timers()).toBeLessThanOrEqual(timersBefore);
  });
});
