import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { connect } from 'node:net';
import express from 'express';
import expressSession from 'express-session';
import { createClient } from 'redis';
import session from '../../src/index.js';
import { RedisStore } from '../../src/stores/redis.js';
import type { App } from './apps.js';
import { redisSkipReason } from './redis.js';
import { runNamespace } from './services.js';
import { SlowMemoryStore } from './slow-store.js';

export const secret = 'a-long-enough-secret-for-the-hold-tests-0123456789';

/** The two middlewares every hold test runs side by side: express-session itself, and sessionkit. */
export const flavors = ['express-session', 'sessionkit'] as const;
export type Flavor = (typeof flavors)[number];

/** A store both middlewares can use (every sessionkit store also serves express-session). */
export type AnyStore = SlowMemoryStore | RedisStore;

export interface Backend {
  name: string;
  /** Why the backend is unavailable here, or false. */
  skip: string | false;
  make(): AnyStore;
  /** Ends what `make` opened (Redis: the keys under this run's prefix and the client). */
  close(): Promise<void>;
}

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

/** The slowed in-process store (every call waits ~25 ms) and real Redis, when it answers. */
export async function backends(): Promise<Backend[]> {
  const slow: Backend = {
    name: 'a slow store',
    skip: false,
    make: () => new SlowMemoryStore(25),
    close: async () => undefined,
  };
  const redisSkip = await redisSkipReason(REDIS_URL);
  const stores: RedisStore[] = [];
  const client = redisSkip ? null : createClient({ url: REDIS_URL, disableOfflineQueue: true });
  client?.on('error', () => undefined);
  if (client) await client.connect();
  const redis: Backend = {
    name: 'Redis',
    skip: redisSkip,
    make: () => {
      const store = new RedisStore({
        client: client as NonNullable<typeof client>,
        prefix: `${runNamespace('sk_hold')}:`,
      });
      stores.push(store);
      return store;
    },
    close: async () => {
      for (const store of stores.splice(0)) await store.clear();
      await client?.quit();
    },
  };
  return [slow, redis];
}

/** Runs `scenario` on express-session, then on sessionkit, each with a fresh store of `backend`. */
export async function side<T>(
  backend: Backend,
  scenario: (flavor: Flavor, store: AnyStore) => Promise<T>,
): Promise<Record<Flavor, T>> {
  const results = {} as Record<Flavor, T>;
  for (const flavor of flavors) results[flavor] = await scenario(flavor, backend.make());
  return results;
}

export interface AppOptions {
  /** The Express major to build on (Express 5 unless given). */
  create?: () => App;
  /** Mounted right after the session middleware (compression, helmet…). */
  after?: express.RequestHandler[];
  saveUninitialized?: boolean;
}

/** A middleware of either flavor, called directly (HTTP/2 and upgrade requests never reach Express). */
export function middlewareFor(flavor: Flavor, store: AnyStore) {
  const options = { secret, resave: false, saveUninitialized: false };
  return (flavor === 'sessionkit'
    ? session({ ...options, store })
    : expressSession({ ...options, store: store as unknown as expressSession.Store })) as unknown as (
    req: IncomingMessage,
    res: ServerResponse,
    next: (err?: unknown) => void,
  ) => void;
}

/** An Express app on `flavor` over `store`, with `/read` (the session's data as JSON) and `/alive`. */
export function appFor(
  flavor: Flavor,
  store: AnyStore,
  routes: (app: App) => void,
  options: AppOptions = {},
): App {
  const app = options.create ? options.create() : express();
  const common = { secret, resave: false, saveUninitialized: options.saveUninitialized ?? false };
  app.use(
    flavor === 'sessionkit'
      ? session({ ...common, store })
      : expressSession({ ...common, store: store as unknown as expressSession.Store }),
  );
  for (const middleware of options.after ?? []) app.use(middleware);
  app.get('/read', (req, res) => {
    const data = Object.fromEntries(Object.entries(req.session).filter(([key]) => key !== 'cookie'));
    res.json(data);
  });
  app.get('/alive', (_req, res) => {
    res.send('alive');
  });
  routes(app);
  return app;
}

export interface Served {
  server: Server;
  port: number;
  url: string;
  close(): Promise<void>;
}

/** Listens on a loopback port (keep-alive and raw-socket tests need a real server, not supertest's). */
export async function serve(handler: Parameters<typeof createServer>[1]): Promise<Served> {
  const server = createServer(handler);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return {
    server,
    port,
    url: `http://127.0.0.1:${port}`,
    close: async () => {
      server.closeAllConnections();
      server.close();
      await once(server, 'close');
    },
  };
}

/**
 * Writes `raw` on one connection and returns every byte the server sent until it closed the connection
 * (or `waitMs` passed, when it kept it open: `closed` says which).
 */
export async function rawExchange(
  port: number,
  raw: string,
  waitMs = 3_000,
): Promise<{ text: string; closed: boolean }> {
  const socket = connect(port, '127.0.0.1');
  const chunks: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  socket.on('error', () => undefined);
  socket.write(raw);
  let closed = false;
  await new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, waitMs);
    socket.once('close', () => {
      closed = true;
      clearTimeout(timer);
      resolve();
    });
  });
  socket.destroy();
  return { text: Buffer.concat(chunks).toString('latin1'), closed };
}

/** How many HTTP/1.1 status lines a raw exchange carried. */
export function statusLines(text: string): string[] {
  return text.match(/HTTP\/1\.1 \d{3}[^\r\n]*/g) ?? [];
}
