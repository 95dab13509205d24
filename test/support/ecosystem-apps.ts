/**
 * Why: an express-session app switched to sessionkit keeps its handlers, its login flow and its store,
 * and its users depend on those behaving as before. These helpers run one app — built by the test, the
 * way such apps are written — on express-session and on sessionkit, on the MemoryStore, a slow async
 * store and Redis (connect-redis under express-session, sessionkit's RedisStore under sessionkit), and
 * drive it with a cookie-keeping client.
 */
import { RedisStore as ConnectRedisStore } from 'connect-redis';
import express, { type RequestHandler } from 'express';
import expressSession from 'express-session';
import { createClient } from 'redis';
import session, { MemoryStore } from '../../src/index.js';
import { RedisStore } from '../../src/stores/redis.js';
import { type App, listenOnLoopback } from './apps.js';
import { deletePrefixed, redisSkipReason } from './redis.js';
import { runNamespace } from './services.js';
import { SlowMemoryStore } from './slow-store.js';

export type Impl = 'sessionkit' | 'express-session';
export type StoreKind = 'memory' | 'slow' | 'redis';
export const impls: Impl[] = ['sessionkit', 'express-session'];
export const storeKinds: StoreKind[] = ['memory', 'slow', 'redis'];
export const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
export const secret = 'a-long-enough-secret-for-the-ecosystem-tests';

/** Why the Redis at REDIS_URL cannot be used (tests on the 'redis' kind skip), or false. */
export const redisSkip = await redisSkipReason(REDIS_URL);

/** Whether tests on `kind` skip here (no Redis). */
export function skipsHere(kind: StoreKind): boolean {
  return kind === 'redis' && redisSkip !== false;
}

/** What the apps' error handler reads of an error. */
interface HttpError {
  status?: number;
  code?: string;
  message?: string;
}

async function storeFor(impl: Impl, kind: StoreKind): Promise<{ store: unknown; close(): Promise<void> }> {
  if (kind === 'memory')
    return {
      store: impl === 'sessionkit' ? new MemoryStore() : new expressSession.MemoryStore(),
      close: async () => {},
    };
  if (kind === 'slow') return { store: new SlowMemoryStore(25), close: async () => {} };
  const client = createClient({ url: REDIS_URL });
  client.on('error', () => undefined);
  await client.connect();
  const prefix = `${runNamespace('eco')}:`;
  return {
    store:
      impl === 'sessionkit' ? new RedisStore({ client, prefix }) : new ConnectRedisStore({ client, prefix }),
    close: async () => {
      await deletePrefixed(client, prefix).catch(() => {});
      await client.close().catch(() => {});
    },
  };
}

/** The session middleware of `impl`, with `options` (which include the store). */
export function middlewareOf(impl: Impl, options: Record<string, unknown>): RequestHandler {
  return impl === 'sessionkit'
    ? (session(options as never) as unknown as RequestHandler)
    : expressSession(options as expressSession.SessionOptions);
}

/** Answers an error with its status (500 by default) and `error: <code or message>`. */
export const errorAnswer: express.ErrorRequestHandler = (err: HttpError, _req, res, _next) => {
  res.status(err.status ?? 500).send(`error: ${err.code ?? err.message}`);
};

/** Builds the app on one implementation and store, listens, runs `scenario`, closes. */
export async function run<T>(
  impl: Impl,
  kind: StoreKind,
  build: (app: App, mw: RequestHandler) => void,
  scenario: (url: string) => Promise<T>,
  options: Record<string, unknown> = {},
): Promise<T> {
  const { store, close } = await storeFor(impl, kind);
  const mw = middlewareOf(impl, { secret, resave: false, saveUninitialized: false, store, ...options });
  const app = express();
  build(app, mw);
  app.use(errorAnswer);
  const server = await listenOnLoopback(app);
  try {
    return await scenario(server.url);
  } finally {
    await server.close();
    await close();
  }
}

/** A tiny cookie-keeping client on fetch. `base` may be pointed at another server (a redeploy). */
export class Browser {
  cookies = new Map<string, string>();
  constructor(public base: string) {}
  async req(
    path: string,
    init: RequestInit = {},
  ): Promise<{ status: number; body: string; location: string | null; setCookie: string[] }> {
    const headers = new Headers(init.headers);
    if (this.cookies.size) headers.set('cookie', [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; '));
    const res = await fetch(this.base + path, {
      signal: AbortSignal.timeout(3000),
      ...init,
      headers,
      redirect: 'manual',
    }).catch((e) => {
      throw new Error(`${path}: ${e}`);
    });
    const setCookie = res.headers.getSetCookie();
    for (const c of setCookie) {
      const [pair = '', ...attrs] = c.split(';');
      const i = pair.indexOf('=');
      const name = pair.slice(0, i).trim();
      const value = pair.slice(i + 1);
      if (attrs.some((a) => /expires=Thu, 01 Jan 1970/i.test(a)) || value === '') this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
    return { status: res.status, body: await res.text(), location: res.headers.get('location'), setCookie };
  }
  get(path: string) {
    return this.req(path);
  }
  post(path: string, body?: unknown, headers: Record<string, string> = {}) {
    return this.req(path, {
      method: 'POST',
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
      headers: { 'content-type': 'application/json', ...headers },
    });
  }
}

/** Runs the scenario on both implementations for one store kind; returns results keyed by impl. */
export async function both<T>(
  kind: StoreKind,
  build: (app: App, mw: RequestHandler, impl: Impl) => void,
  scenario: (url: string, impl: Impl) => Promise<T>,
  options: Record<string, unknown> = {},
): Promise<Record<Impl, T>> {
  const out = {} as Record<Impl, T>;
  for (const impl of impls)
    out[impl] = await run(
      impl,
      kind,
      (a, m) => build(a, m, impl),
      (u) => scenario(u, impl),
      options,
    );
  return out;
}
