/**
 * Why: Koa apps put their error-handling middleware first (`try { await next() } catch (err) { ctx.status
 * = …; ctx.body = … }`), and routes change the session and then throw: a login form that counts failed
 * attempts (`ctx.session.failedLogins += 1; ctx.throw(401)`), a flash message before `ctx.throw(400)`.
 * As with koa-session (a commit in `finally`) and express-session (`next(err)`), run side by side, the
 * change is stored and its cookie goes out on the page the error middleware sends: a brute-force limiter
 * built on the counter trips. When the error reaches Koa's own error response instead (which drops every
 * header), a session the browser was never told about is not left in the store.
 */
import express from 'express';
import expressSession from 'express-session';
import Koa from 'koa';
import koaSession from 'koa-session';
import request from 'supertest';
import { describe, expect, it } from 'vitest';
import { session } from '../../src/adapters/koa.js';
import { KoaMapStore } from '../support/framework-passport-apps.js';
import { SlowMemoryStore } from '../support/slow-store.js';

const secret = 'koa-caught-throw-secret-of-at-least-32-chars';
type Flavor = 'koa-session' | 'sessionkit' | 'express-session';

function server(flavor: Flavor) {
  if (flavor === 'express-session') {
    const app = express();
    app.use(
      expressSession({
        secret,
        resave: false,
        saveUninitialized: false,
        store: new SlowMemoryStore(10) as never,
      }),
    );
    app.post('/login', (req, _res, next) => {
      const s = req.session as unknown as { failedLogins?: number };
      s.failedLogins = (s.failedLogins ?? 0) + 1;
      next(Object.assign(new Error('Invalid password'), { status: 401 }));
    });
    app.get('/read', (req, res) => {
      res.json({ failedLogins: (req.session as unknown as { failedLogins?: number }).failedLogins ?? 0 });
    });
    app.use((err: Error & { status?: number }, _req: unknown, res: express.Response, _next: unknown) => {
      res.status(err.status ?? 500).send(`Sorry: ${err.message}`);
    });
    return app;
  }
  const app = new Koa();
  app.keys = [secret];
  // Koa's documented error-handling pattern, first in the chain.
  app.use(async (ctx, next) => {
    try {
      await next();
    } catch (err) {
      const e = err as { status?: number; message: string };
      ctx.status = e.status ?? 500;
      ctx.body = `Sorry: ${e.message}`;
    }
  });
  if (flavor === 'koa-session')
    app.use(koaSession({ store: new KoaMapStore(10), key: 'connect.sid' } as never, app));
  else app.use(session({ secret, store: new SlowMemoryStore(10), resave: false, saveUninitialized: false }));
  app.use(async (ctx) => {
    const s = ctx.session as unknown as { failedLogins?: number };
    if (ctx.path === '/read') {
      ctx.body = { failedLogins: s.failedLogins ?? 0 };
      return;
    }
    s.failedLogins = (s.failedLogins ?? 0) + 1;
    ctx.throw(401, 'Invalid password');
  });
  return app.callback();
}

async function threeFailedLogins(flavor: Flavor) {
  const agent = request.agent(server(flavor));
  const statuses: number[] = [];
  for (let i = 0; i < 3; i++) statuses.push((await agent.post('/login')).status);
  const read = await agent.get('/read');
  return { statuses, failedLogins: read.body.failedLogins };
}

describe('Koa: a session change before a throw that an upstream error-handling middleware answers', () => {
  it('koa-session and express-session: the reference (the counter reaches 3)', async () => {
    expect(await threeFailedLogins('koa-session')).toEqual({ statuses: [401, 401, 401], failedLogins: 3 });
    expect(await threeFailedLogins('express-session')).toEqual({
      statuses: [401, 401, 401],
      failedLogins: 3,
    });
  });

  it('sessionkit/koa: the change is stored and its cookie sent, as on koa-session', async () => {
    expect(await threeFailedLogins('sessionkit')).toEqual(await threeFailedLogins('koa-session'));
  });

  it("an error that reaches Koa's own error response: no session is left that no cookie names", async () => {
    const store = new SlowMemoryStore(10);
    const app = new Koa();
    app.silent = true;
    app.use(session({ secret, store, resave: false, saveUninitialized: false }));
    app.use(async (ctx) => {
      (ctx.session as unknown as { failedLogins?: number }).failedLogins = 1;
      ctx.throw(401, 'Invalid password');
    });
    const res = await request(app.callback()).post('/login');
    expect(res.status).toBe(401);
    expect(res.headers['set-cookie']).toBeUndefined();
    expect(await store.all()).toEqual({});
  });
});
