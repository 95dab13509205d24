/**
 * koa-session's idioms on sessionkit/koa beside koa-session itself: `ctx.session = null` logs out (the
 * stored session ends, and neither the cookie the browser keeps nor a copy taken before can sign in), and
 * `ctx.session = { … }` replaces the data.
 */
import type Koa from 'koa';
import request from 'supertest';
import { describe, expect, it } from 'vitest';
import { cookieOf } from '../support/apps.js';
import { type KoaFlavor, koaApp } from '../support/koa-flavors.js';

function appFor(flavor: KoaFlavor, unset?: 'keep' | 'destroy'): Koa {
  const app = koaApp(flavor, { sessionkit: unset ? { unset } : {} });
  app.use(async (ctx) => {
    const data = ctx.session as unknown as Record<string, unknown> | null;
    if (ctx.path === '/login') {
      (data as Record<string, unknown>).user = 'alice';
      ctx.body = 'in';
    } else if (ctx.path === '/as-bob') {
      ctx.session = { user: 'bob' } as never;
      ctx.body = 'bob';
    } else if (ctx.path === '/logout') {
      ctx.session = null as never;
      ctx.body = 'out';
    } else ctx.body = String(data?.user ?? 'nobody');
  });
  return app;
}

/** The cookie pairs a response set, joined as a browser sends them back. */
function jar(res: { headers: Record<string, unknown> }, previous = ''): string {
  const pairs = new Map(previous ? previous.split('; ').map((p) => [p.split('=')[0], p] as const) : []);
  for (const line of (res.headers['set-cookie'] as string[] | undefined) ?? []) {
    const pair = line.split(';')[0] as string;
    pairs.set(pair.split('=')[0], pair);
  }
  return [...pairs.values()].join('; ');
}

describe('Koa: assigning ctx.session, as koa-session applications do', () => {
  it('with unset left to its default: the stored session ends, for the browser and for an old copy', async () => {
    const outcome: Record<string, unknown> = {};
    for (const flavor of ['koa-session', 'sessionkit'] as const) {
      const server = appFor(flavor).callback();
      const login = await request(server).get('/login').expect(200, 'in');
      const before = jar(login);
      expect(
        await request(server)
          .get('/me')
          .set('Cookie', before)
          .then((r) => r.text),
      ).toBe('alice');
      const logout = await request(server).get('/logout').set('Cookie', before).expect(200, 'out');
      const after = jar(logout, before);
      outcome[flavor] = {
        browser: (await request(server).get('/me').set('Cookie', after)).text,
        oldCopy: (await request(server).get('/me').set('Cookie', before)).text,
      };
    }
    expect(outcome.sessionkit).toEqual({ browser: 'nobody', oldCopy: 'nobody' });
    expect(outcome.sessionkit).toEqual(outcome['koa-session']);
  });

  it("unset: 'keep' keeps express-session's meaning: the stored session stays", async () => {
    const server = appFor('sessionkit', 'keep').callback();
    const cookie = cookieOf(await request(server).get('/login').expect(200));
    await request(server).get('/logout').set('Cookie', cookie).expect(200, 'out');
    expect((await request(server).get('/me').set('Cookie', cookie)).text).toBe('alice');
  });

  it('ctx.session = { … } replaces the data, for a new visitor and for a signed-in one, as with koa-session', async () => {
    const outcome: Record<string, unknown> = {};
    for (const flavor of ['koa-session', 'sessionkit'] as const) {
      const server = appFor(flavor).callback();
      const fresh = await request(server).get('/as-bob').expect(200, 'bob');
      const freshCookie = jar(fresh);
      const login = await request(server).get('/login').expect(200, 'in');
      const aliceCookie = jar(login);
      const switched = await request(server).get('/as-bob').set('Cookie', aliceCookie).expect(200, 'bob');
      outcome[flavor] = {
        newVisitor: (await request(server).get('/me').set('Cookie', freshCookie)).text,
        signedIn: (await request(server).get('/me').set('Cookie', jar(switched, aliceCookie))).text,
      };
    }
    expect(outcome.sessionkit).toEqual({ newVisitor: 'bob', signedIn: 'bob' });
    expect(outcome.sessionkit).toEqual(outcome['koa-session']);
  });
});
