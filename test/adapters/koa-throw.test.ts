import Koa from 'koa';
import request from 'supertest';
import { describe, expect, it } from 'vitest';
import { session } from '../../src/adapters/koa.js';
import type { TypedSession } from '../../src/core/session.js';
import { login } from '../../src/index.js';
import { cookieOf, handlesNamedBy, setCookies } from '../support/apps.js';
import { SlowMemoryStore } from '../support/slow-store.js';

/**
 * Koa answers a thrown error with a response of its own, with none of the headers set before it: no cookie
 * of ours goes out. `regenerate({ keep: true })` stores the moved session at once, and `login()` under
 * `maxSessionsPerUser` the signed-in one, each ending the session the browser holds; left in the store,
 * either would be a record no browser can reach, and under the limit it would count against the user's
 * sessions. The throw ends it.
 */
const secret = 'koa-throw-secret-of-at-least-32-characters';

const operations: Array<[string, number | undefined, (s: TypedSession) => Promise<void>]> = [
  ['regenerate({ keep: true })', undefined, (s) => s.regenerate({ keep: true })],
  ['login() under maxSessionsPerUser', 3, (s) => login(s, 'u1')],
];

describe('Koa: a downstream throw after a session operation that stores at once', () => {
  for (const [name, limit, operation] of operations) {
    it(`${name}, then a throw: the store holds no session the browser was not told about`, async () => {
      const store = new SlowMemoryStore(10);
      const app = new Koa();
      app.silent = true;
      app.keys = [secret];
      app.use(session({ secret, store, resave: false, saveUninitialized: false, maxSessionsPerUser: limit }));
      app.use(async (ctx) => {
        const s = ctx.session as unknown as TypedSession;
        if (ctx.path === '/start') {
          s.name = 'ada';
          ctx.body = 'ok';
          return;
        }
        await operation(s);
        ctx.throw(403, 'Forbidden');
      });
      const server = app.callback();
      const cookie = cookieOf(await request(server).get('/start'));
      const failed = await request(server).get('/fail').set('Cookie', cookie);
      expect(failed.status).toBe(403);
      const sent = setCookies(failed);
      expect(Object.keys(await store.all())).toEqual(handlesNamedBy(sent));
      expect(await store.listByUser('u1')).toEqual([]);
    });
  }
});
