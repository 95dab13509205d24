/**
 * `ctx.respond = false` with a response the application writes a moment later (a proxy:
 * `ctx.respond = false; proxy.web(ctx.req, ctx.res)`). No cookie can join that response, so a new session
 * is not stored (docs/frameworks.md, Koa): stored, its create landing after the response left, it would
 * be a session no cookie names.
 */
import Koa from 'koa';
import request from 'supertest';
import { describe, expect, it } from 'vitest';
import { session } from '../../src/adapters/koa.js';
import { SlowMemoryStore } from '../support/slow-store.js';

const secret = 'koa-attack4-secret-of-at-least-32-characters';

describe('Koa: ctx.respond = false, the response written while the commit waits for the store', () => {
  it('a new session is either sent with the response or not stored: never stored without a cookie', async () => {
    const store = new SlowMemoryStore(20);
    const app = new Koa();
    app.silent = true;
    app.keys = [secret];
    app.use(session({ secret, store, resave: false, saveUninitialized: false }));
    app.use(async (ctx) => {
      (ctx.session as unknown as Record<string, unknown>).user = 'alice';
      ctx.respond = false;
      const { res } = ctx;
      // As a proxy does: the upstream's answer is written a moment later.
      setTimeout(() => {
        res.statusCode = 200;
        res.setHeader('content-type', 'text/plain');
        res.end('proxied');
      }, 5);
    });
    const res = await request(app.callback()).get('/');
    expect(res.text).toBe('proxied');
    // Let the commit's store write finish.
    await new Promise((resolve) => setTimeout(resolve, 80));
    const sent = ((res.headers['set-cookie'] as string[] | undefined) ?? []).filter((line) =>
      line.startsWith('connect.sid='),
    );
    expect(Object.keys(await store.all())).toHaveLength(sent.length);
  });
});
