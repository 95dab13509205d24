/**
 * `ctx.session` assigned a value that is neither `null` nor an object (`false`, `undefined`, `0`, a
 * string). koa-session refuses it ("this.session can only be set as null or an object", a 500 the
 * developer sees); so does sessionkit, with ERR_INVALID_ARGUMENT. Taken silently, `ctx.session = false`
 * as a logout would keep the session signed in, and after `regenerate({ keep: true })` the moved record
 * would stay with no cookie naming it; an `undefined` from a lookup that found nothing
 * (`ctx.session = ctx.state.restored`) would log the user out without an error anywhere.
 */
import request from 'supertest';
import { describe, expect, it } from 'vitest';
import type { TypedSession } from '../../src/core/session.js';
import { cookieOf } from '../support/apps.js';
import { type KoaFlavor, koaApp } from '../support/koa-flavors.js';
import { SlowMemoryStore } from '../support/slow-store.js';

/** Every cookie pair a response set (koa-session signs with a second cookie). */
function pairs(res: { headers: Record<string, unknown> }): string {
  return ((res.headers['set-cookie'] as string[] | undefined) ?? []).map((l) => l.split(';')[0]).join('; ');
}

describe('Koa: ctx.session assigned neither null nor an object', () => {
  for (const value of [false, undefined])
    it(`ctx.session = ${value}: refused as koa-session refuses it, and the session stays`, async () => {
      const seen: Record<string, unknown> = {};
      for (const flavor of ['koa-session', 'sessionkit'] as KoaFlavor[]) {
        const app = koaApp(flavor);
        app.silent = true;
        app.use(async (ctx) => {
          const s = ctx.session as unknown as Record<string, unknown>;
          if (ctx.path === '/login') {
            s.user = 'alice';
            ctx.body = 'in';
          } else if (ctx.path === '/logout') {
            (ctx as { session: unknown }).session = value;
            ctx.body = 'out';
          } else ctx.body = String(s?.user ?? 'nobody');
        });
        const server = app.callback();
        const jar = pairs(await request(server).get('/login'));
        const logout = await request(server).get('/logout').set('Cookie', jar);
        const me = await request(server).get('/me').set('Cookie', jar);
        seen[flavor] = { logoutStatus: logout.status, signedInAfter: me.text === 'alice' };
      }
      expect(seen['koa-session']).toEqual({ logoutStatus: 500, signedInAfter: true });
      expect(seen.sessionkit).toEqual(seen['koa-session']);
    });

  it('regenerate({ keep: true }), then ctx.session = false: no stored session without a cookie', async () => {
    const store = new SlowMemoryStore(5);
    const app = koaApp('sessionkit', { sessionkit: { store } });
    app.silent = true;
    app.use(async (ctx) => {
      const s = ctx.session as unknown as TypedSession & Record<string, unknown>;
      if (ctx.path === '/start') {
        s.user = 'alice';
        ctx.body = 'ok';
        return;
      }
      await s.regenerate({ keep: true });
      (ctx as { session: unknown }).session = false;
      ctx.body = 'x';
    });
    const server = app.callback();
    const cookie = cookieOf(await request(server).get('/start'));
    const res = await request(server).get('/reset').set('Cookie', cookie);
    const named = ((res.headers['set-cookie'] as string[] | undefined) ?? []).filter((l) =>
      /^connect\.sid=[^;]+/.test(l),
    );
    expect(Object.keys(await store.all())).toHaveLength(named.length);
  });
});
