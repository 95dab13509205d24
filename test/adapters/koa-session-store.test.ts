/**
 * A koa-session external store (koa-redis and the like: promise-returning `get`, `set`, `destroy`) kept
 * as `store` by a koa-session application that switches. It has get/set/destroy like an express-session
 * store, but answers with promises, never calling back: taken for one, every write waited `storeTimeout`
 * and failed with 503 while the record landed, named by no cookie. It is refused at `session()` with
 * ERR_INVALID_OPTION (every express-session store has express-session's `createSession()`).
 */
import Koa from 'koa';
import request from 'supertest';
import { describe, expect, it } from 'vitest';
import { session } from '../../src/adapters/koa.js';
import { KoaMapStore } from '../support/framework-passport-apps.js';

const secret = 'koa-compat-secret-of-at-least-32-characters';

describe('Koa: a koa-session store passed as store', () => {
  it('works, or is refused at session(): not a 503 after storeTimeout with the write landed', async () => {
    const store = new KoaMapStore(1);
    let middleware: ReturnType<typeof session>;
    try {
      middleware = session({
        secret,
        store: store as never,
        resave: false,
        saveUninitialized: false,
        storeTimeout: 1000,
      });
    } catch (error) {
      expect(error).toMatchObject({ code: 'ERR_INVALID_OPTION', option: 'store' });
      return;
    }
    const app = new Koa();
    app.keys = [secret];
    app.silent = true;
    app.use(middleware);
    app.use(async (ctx) => {
      const s = ctx.session as unknown as Record<string, unknown>;
      if (ctx.path === '/login') s.user = 'alice';
      ctx.body = { user: s.user ?? null };
    });
    const started = Date.now();
    const login = await request(app.callback()).get('/login');
    const took = Date.now() - started;
    // (On the current code the record is in `store.map` by now although the response was a 503.)
    const cookie = ((login.headers['set-cookie'] as string[] | undefined) ?? [])[0]?.split(';')[0] ?? '';
    const me = await request(app.callback()).get('/me').set('Cookie', cookie);
    expect({ status: login.status, user: me.body.user, slow: took >= 1000 }).toEqual({
      status: 200,
      user: 'alice',
      slow: false,
    });
  });
});
