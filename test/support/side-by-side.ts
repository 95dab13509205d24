/**
 * Why: an application that swaps express-session for sessionkit must see the same thing its users see.
 * One Express app per implementation (express-session / sessionkit), each on its own MemoryStore, driven
 * with fetch; each call returns what a browser observes (status, body, Set-Cookie).
 */
import express, { type RequestHandler } from 'express';
import expressSession from 'express-session';
import session, { MemoryStore } from '../../src/index.js';
import { listenOnLoopback } from './apps.js';

export type Kind = 'express-session' | 'sessionkit';
export const KINDS: Kind[] = ['express-session', 'sessionkit'];
export const SECRET = 'side-by-side-secret-0123456789abcdefghij';

/** The session middleware of `kind`, with `options` over resave/saveUninitialized false. */
export function middleware(kind: Kind, options: Record<string, unknown>): RequestHandler {
  const common = { secret: SECRET, resave: false, saveUninitialized: false, ...options };
  return kind === 'express-session'
    ? (expressSession({ store: new expressSession.MemoryStore(), ...common } as never) as RequestHandler)
    : (session({
        store: new MemoryStore(),
        logger: { warn() {}, error() {} },
        ...common,
      } as never) as unknown as RequestHandler);
}

/** An app: optional middleware before the session, the session, then `handler`, errors as 500 `err:<message>`. */
export async function appWith(
  kind: Kind,
  options: Record<string, unknown>,
  handler: RequestHandler,
  before: RequestHandler[] = [],
) {
  const app = express();
  for (const m of before) app.use(m);
  app.use(middleware(kind, options));
  app.use(handler);
  app.use(((err, _req, res, _next) => {
    if (!res.headersSent) res.status(500).send(`err:${(err as Error).message}`);
  }) as express.ErrorRequestHandler);
  const server = await listenOnLoopback(app);
  return {
    ...server,
    async get(path: string, cookie?: string, headers: Record<string, string> = {}) {
      const res = await fetch(server.url + path, {
        headers: { ...headers, ...(cookie ? { cookie } : {}) },
        redirect: 'manual',
      });
      const body = await res.text();
      const setCookie = res.headers.getSetCookie();
      return { status: res.status, body, setCookie, pair: setCookie[0]?.split(';')[0] };
    },
  };
}
