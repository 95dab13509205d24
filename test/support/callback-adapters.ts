/**
 * Four adapters (Express 5, Fastify 5, Koa 3, Hono) built from raw options (functions allowed), each with
 * the same routes and its manager at hand: for tests of what every framework must do alike.
 */
import type { EventEmitter } from 'node:events';
import type { IncomingMessage } from 'node:http';
import type { NextFunction, Request, Response } from 'express';
import request from 'supertest';

export interface Res {
  status: number;
  setCookie: string[];
  body: string;
}
/** A session's data as a route sees it, with the session's methods. */
export type RouteSession = Record<string, unknown>;
export type Route = (session: RouteSession, current: () => RouteSession) => unknown | Promise<unknown>;
export interface Made {
  manager: EventEmitter;
  request(path: string, headers?: Record<string, string>): Promise<Res>;
  close?(): Promise<void>;
}
export interface Adapter {
  name: string;
  create(options: Record<string, unknown>, routes: Record<string, Route>): Promise<Made>;
}

interface WithManager {
  manager: EventEmitter;
}
interface WithSession {
  session: RouteSession;
}
type HttpError = Error & { status?: number; code?: string };

function cookiesOf(value: unknown): string[] {
  if (value === undefined) return [];
  return Array.isArray(value) ? value.map(String) : [String(value)];
}

export const adapters: Adapter[] = [
  {
    name: 'Express 5',
    async create(options, routes) {
      const { default: express } = await import('express');
      const { default: session } = await import('../../src/index.js');
      const app = express();
      const mw = session(options as never);
      app.use(mw);
      for (const [path, route] of Object.entries(routes))
        app.get(path, async (req, res, next) => {
          const own = req as unknown as WithSession;
          try {
            res.json((await route(own.session, () => own.session)) ?? null);
          } catch (e) {
            next(e);
          }
        });
      app.use((err: HttpError, _req: Request, res: Response, _next: NextFunction) => {
        res.status(err.status ?? 500).json({ code: err.code ?? 'UNKNOWN', message: String(err.message) });
      });
      return {
        manager: (mw as unknown as WithManager).manager,
        async request(path, headers = {}) {
          const r = await request(app).get(path).set(headers).timeout(4000);
          return { status: r.status, setCookie: cookiesOf(r.headers['set-cookie']), body: r.text };
        },
      };
    },
  },
  {
    name: 'Fastify 5',
    async create(options, routes) {
      const { default: fastify } = await import('fastify');
      const { session } = await import('../../src/adapters/fastify.js');
      const app = fastify();
      await app.register(session, options as never);
      for (const [path, route] of Object.entries(routes))
        app.get(path, async (req) => {
          const own = req as unknown as WithSession;
          return (await route(own.session, () => own.session)) ?? null;
        });
      await app.ready();
      return {
        manager: (app as unknown as { sessionManager: EventEmitter }).sessionManager,
        async request(path, headers = {}) {
          const r = await Promise.race([
            app.inject({ method: 'GET', url: path, headers }),
            new Promise<never>((_, rej) => setTimeout(() => rej(new Error('hang')), 4000)),
          ]);
          return { status: r.statusCode, setCookie: cookiesOf(r.headers['set-cookie']), body: r.body };
        },
        close: () => app.close(),
      };
    },
  },
  {
    name: 'Koa 3',
    async create(options, routes) {
      const { default: Koa } = await import('koa');
      const { session } = await import('../../src/adapters/koa.js');
      const app = new Koa();
      app.silent = true;
      const mw = session(options as never);
      app.use(mw);
      app.use(async (ctx) => {
        const route = routes[ctx.path];
        if (!route) return;
        const own = ctx as unknown as WithSession;
        ctx.body = JSON.stringify((await route(own.session, () => own.session)) ?? null);
      });
      const handler = app.callback() as (req: IncomingMessage, res: unknown) => void;
      return {
        manager: (mw as unknown as WithManager).manager,
        async request(path, headers = {}) {
          const r = await request(handler).get(path).set(headers).timeout(4000);
          return { status: r.status, setCookie: cookiesOf(r.headers['set-cookie']), body: r.text };
        },
      };
    },
  },
  {
    name: 'Hono',
    async create(options, routes) {
      const { Hono } = await import('hono');
      const { session } = await import('../../src/adapters/hono.js');
      const app = new Hono<{ Variables: { session: RouteSession } }>();
      const mw = session(options as never);
      app.use(mw as never);
      for (const [path, route] of Object.entries(routes))
        app.get(path, async (c) =>
          c.json(((await route(c.get('session'), () => c.get('session'))) ?? null) as never),
        );
      return {
        manager: (mw as unknown as WithManager).manager,
        async request(path, headers = {}) {
          const r = await Promise.race([
            app.request(path, { headers }),
            new Promise<never>((_, rej) => setTimeout(() => rej(new Error('hang')), 4000)),
          ]);
          return { status: r.status, setCookie: r.headers.getSetCookie(), body: await r.text() };
        },
      };
    },
  },
];

/** Records uncaught exceptions and unhandled rejections while a test runs. */
export function processWatch(): { errors: unknown[]; stop(): void } {
  const errors: unknown[] = [];
  const onErr = (e: unknown) => errors.push(e);
  // First in line, before vitest's own listeners.
  process.prependListener('uncaughtException', onErr);
  process.prependListener('unhandledRejection', onErr);
  return {
    errors,
    stop() {
      process.off('uncaughtException', onErr);
      process.off('unhandledRejection', onErr);
    },
  };
}

export const cookieOf = (setCookie: string[], name = 'connect.sid') =>
  setCookie.find((c) => c.startsWith(`${name}=`))?.split(';')[0];

export const BASE = {
  secret: 'a-test-secret-of-at-least-32-characters!!',
  resave: false,
  saveUninitialized: false,
};
export const tick = (ms = 50) => new Promise((r) => setTimeout(r, ms));
