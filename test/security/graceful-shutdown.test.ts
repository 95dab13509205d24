/**
 * Why: a rolling deploy closes the server (and the store) while requests are in flight. The user depends
 * on a graceful server close (Express server.close(), Fastify app.close(), Koa's server.close()) letting
 * every in-flight request finish with its 200, its cookie and its stored session; on a RedisStore closed
 * mid-login answering each login with a stored 200 or a 503, never an unhandled rejection; and on an app
 * on the default MemoryStore exiting by itself once its server is closed (the sweep timer is unref'd).
 */
import { spawn } from 'node:child_process';
import { request as httpRequest, type Server } from 'node:http';
import express from 'express';
import Fastify from 'fastify';
import { Redis } from 'ioredis';
import Koa from 'koa';
import { describe, expect, it } from 'vitest';
import { session as fastifySession } from '../../src/adapters/fastify.js';
import { session as koaSession } from '../../src/adapters/koa.js';
import { storageKey } from '../../src/core/id.js';
import session, { login } from '../../src/index.js';
import { createStore } from '../../src/stores/factory.js';
import { redisSkipReason } from '../support/redis.js';
import { runNamespace } from '../support/services.js';
import { SlowMemoryStore } from '../support/slow-store.js';

const secret = 'a-long-enough-secret-0123456789abcdef';
const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

function get(port: number, path: string): Promise<{ status: number; cookie?: string }> {
  return new Promise((resolve) => {
    const req = httpRequest({ host: '127.0.0.1', port, path, agent: false }, (res) => {
      res.resume();
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, cookie: res.headers['set-cookie']?.[0]?.split(';')[0] }),
      );
      res.on('error', () => resolve({ status: -2 }));
    });
    req.on('error', () => resolve({ status: -1 }));
    req.end();
  });
}
const idOf = (pair: string) =>
  decodeURIComponent(pair.split('=')[1] as string)
    .slice(2)
    .split('.')[0] as string;

type Made = { server: Server; close: () => Promise<unknown> };
const frameworks: Array<[string, (store: SlowMemoryStore) => Promise<Made>]> = [
  [
    'Express',
    async (store) => {
      const app = express();
      app.use(session({ secret, store, resave: false, saveUninitialized: false }));
      app.get('/w', (req, res) => {
        (req.session as unknown as Record<string, unknown>).i = req.query.i;
        setTimeout(() => res.send('ok'), 50);
      });
      const server = app.listen(0, '127.0.0.1');
      await new Promise((r) => server.once('listening', r));
      return { server, close: () => new Promise((r) => server.close(r)) };
    },
  ],
  [
    'Fastify',
    async (store) => {
      const app = Fastify();
      await app.register(fastifySession, { secret, store, resave: false, saveUninitialized: false });
      app.get('/w', async (request) => {
        (request.session as unknown as Record<string, unknown>).i = (request.query as { i: string }).i;
        await new Promise((r) => setTimeout(r, 50));
        return 'ok';
      });
      await app.listen({ port: 0, host: '127.0.0.1' });
      return { server: app.server, close: () => app.close() };
    },
  ],
  [
    'Koa',
    async (store) => {
      const app = new Koa();
      app.use(koaSession({ secret, store, resave: false, saveUninitialized: false }));
      app.use(async (ctx) => {
        (ctx.session as unknown as Record<string, unknown>).i = ctx.query.i;
        await new Promise((r) => setTimeout(r, 50));
        ctx.body = 'ok';
      });
      const server = app.listen(0, '127.0.0.1');
      await new Promise((r) => server.once('listening', r));
      return { server, close: () => new Promise((r) => server.close(r)) };
    },
  ],
];

describe('a graceful server close while responses wait for a slow store', () => {
  it.each(frameworks)(
    '%s: every in-flight request gets its 200 and cookie, and its session is stored',
    async (_n, make) => {
      const store = new SlowMemoryStore(80);
      const { server, close } = await make(store);
      const port = (server.address() as { port: number }).port;
      const pending = Array.from({ length: 5 }, (_, i) => get(port, `/w?i=${i}`));
      // Every handler done, its session being stored: waited for, as a loaded machine may take longer
      // than any fixed pause to get the requests that far (a close before then refuses them).
      await store.until(() => store.calls >= 5);
      const closing = close();
      const results = await Promise.all(pending);
      await closing;
      for (const [i, r] of results.entries()) {
        expect(r.status).toBe(200);
        expect(r.cookie).toBeDefined();
        expect((await store.get(idOf(r.cookie as string)))?.data).toEqual({ i: String(i) });
      }
    },
  );
});

const redisSkip = await redisSkipReason(REDIS_URL);
describe.skipIf(redisSkip)('RedisStore from a URL closed while logins are in flight', () => {
  it.each(['redis', 'ioredis'])(
    '%s: a 200 whose session is stored, or a 503; nothing unhandled',
    async (client) => {
      const unhandled: unknown[] = [];
      const onUnhandled = (e: unknown) => unhandled.push(e);
      process.on('unhandledRejection', onUnhandled);
      const admin = new Redis(REDIS_URL);
      try {
        for (const delay of [0, 5, 15]) {
          const prefix = `${runNamespace('shutdown')}:`;
          const store = await createStore(`${REDIS_URL}?client=${client}&prefix=${prefix}&timeout=1000`);
          const app = express();
          app.use(session({ secret, store, resave: false, saveUninitialized: false }));
          app.get('/login', async (req, res, next) => {
            try {
              await login(req.session, `u${req.query.i}`);
              res.send('ok');
            } catch (error) {
              next(error);
            }
          });
          app.use((err: { status?: number }, _req: unknown, res: express.Response, _next: unknown) => {
            res.status(err.status ?? 500).end();
          });
          const server = app.listen(0, '127.0.0.1');
          await new Promise((r) => server.once('listening', r));
          const port = (server.address() as { port: number }).port;
          const pending = Array.from({ length: 10 }, (_, i) => get(port, `/login?i=${i}`));
          await new Promise((r) => setTimeout(r, delay));
          await store.close?.();
          const results = await Promise.all(pending);
          const keys = await admin.keys(`${prefix}*`);
          for (const r of results) {
            expect([200, 503]).toContain(r.status);
            if (r.status === 200)
              expect(keys.some((k) => k.includes(storageKey(idOf(r.cookie as string))))).toBe(true);
          }
          if (keys.length) await admin.del(...keys);
          await new Promise((r) => server.close(r));
        }
        expect(unhandled).toEqual([]);
      } finally {
        process.off('unhandledRejection', onUnhandled);
        admin.disconnect();
      }
    },
  );
});

describe('process exit', () => {
  it('an Express app on the default MemoryStore exits by itself once its server is closed', async () => {
    const src = new URL('../../src/index.ts', import.meta.url).pathname;
    const source = `
      import express from 'express';
      import session from '${src}';
      const app = express();
      app.use(session({ secret: '${secret}', resave: false, saveUninitialized: true }));
      app.get('/', (req, res) => { req.session.n = 1; res.send('ok'); });
      const server = app.listen(0, '127.0.0.1', async () => {
        const res = await fetch('http://127.0.0.1:' + server.address().port + '/');
        await res.text();
        server.closeAllConnections();
        server.close();
      });`;
    const code = await new Promise<number | null | 'hung'>((resolve) => {
      const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', source], {
        stdio: ['ignore', 'ignore', 'inherit'],
      });
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        resolve('hung');
      }, 15_000);
      child.on('exit', (c) => {
        clearTimeout(timer);
        resolve(c);
      });
    });
    expect(code).toBe(0);
  }, 20_000);
});
