/**
 * An un-awaited `ctx.session.manuallyCommit()` (as koa-session's README writes it), then a downstream
 * throw that the application's own error middleware answers. The session middleware waits for the
 * manual commit before the error goes on, so its cookie reaches the error response the application
 * sends, and the session is stored before the response leaves, not after it with no cookie naming it.
 */
import Koa from 'koa';
import request from 'supertest';
import { describe, expect, it } from 'vitest';
import { session } from '../../src/adapters/koa.js';
import { SlowMemoryStore } from '../support/slow-store.js';

const secret = 'koa-attack4-secret-of-at-least-32-characters';

describe('Koa: an un-awaited manuallyCommit(), then a throw answered by an error middleware', () => {
  for (const autoCommit of [false, true])
    it(`autoCommit ${autoCommit}: every stored session is named by a cookie of the response`, async () => {
      const store = new SlowMemoryStore(20);
      const app = new Koa();
      app.silent = true;
      app.keys = [secret];
      // The application's error handler, outside the session middleware, as Koa apps write it.
      app.use(async (ctx, next) => {
        try {
          await next();
        } catch (error) {
          ctx.status = (error as { status?: number }).status ?? 500;
          ctx.body = 'handled';
        }
      });
      app.use(session({ secret, store, resave: false, saveUninitialized: false, autoCommit }));
      app.use(async (ctx) => {
        const s = ctx.session as unknown as Record<string, unknown> & { manuallyCommit(): Promise<void> };
        s.user = 'alice';
        void s.manuallyCommit();
        ctx.throw(403, 'nope');
      });
      const res = await request(app.callback()).get('/');
      expect(res.status).toBe(403);
      await new Promise((resolve) => setTimeout(resolve, 80));
      const sent = ((res.headers['set-cookie'] as string[] | undefined) ?? []).filter((line) =>
        line.startsWith('connect.sid='),
      );
      expect(Object.keys(await store.all())).toHaveLength(sent.length);
    });
});
