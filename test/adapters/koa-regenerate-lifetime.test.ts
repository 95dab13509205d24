/**
 * "Remember me" survives an ID change: a session whose lifetime the application changed
 * (`ctx.session.maxAge = 30 days`, koa-session's API, or `cookie.maxAge`) keeps it through
 * `regenerate({ keep: true })` and `login()`, as through koa-session's `regenerate()` and sessionkit's
 * own renewal (`renewAfter`). The new ID's cookie once went back to the configured two hours, and the
 * user was logged out hours later though asked to be remembered.
 */
import Koa from 'koa';
import koaSession from 'koa-session';
import request from 'supertest';
import { describe, expect, it } from 'vitest';
import { session } from '../../src/adapters/koa.js';
import { KoaMapStore } from '../support/framework-passport-apps.js';
import { SlowMemoryStore } from '../support/slow-store.js';

const secret = 'koa-compat-secret-of-at-least-32-characters';
const HOUR = 3600_000;
const MONTH = 30 * 24 * HOUR;

type Flavor = 'koa-session' | 'sessionkit' | 'sessionkit renewAfter';

function appFor(flavor: Flavor): Koa {
  const app = new Koa();
  app.keys = [secret];
  if (flavor === 'koa-session')
    app.use(koaSession({ store: new KoaMapStore(1), maxAge: 2 * HOUR } as never, app));
  else
    app.use(
      session({
        secret,
        store: new SlowMemoryStore(1),
        resave: false,
        saveUninitialized: false,
        cookie: { maxAge: 2 * HOUR },
        ...(flavor === 'sessionkit renewAfter' ? { renewAfter: 1 } : {}),
      }),
    );
  app.use(async (ctx) => {
    const s = ctx.session as unknown as Record<string, unknown> & {
      maxAge: number;
      regenerate(options?: unknown): Promise<void>;
    };
    if (ctx.path === '/remember-me') {
      s.user = 'alice';
      s.maxAge = MONTH;
    } else if (ctx.path === '/rotate') {
      // koa-session's regenerate() keeps the data; sessionkit's does with { keep: true }. With
      // renewAfter, sessionkit moves the session by itself on this request instead.
      if (flavor === 'koa-session') await s.regenerate();
      else if (flavor === 'sessionkit') await s.regenerate({ keep: true });
    }
    ctx.body = {
      user: (ctx.session as unknown as Record<string, unknown>).user,
      maxAge: (ctx.session as unknown as { maxAge: number }).maxAge,
    };
  });
  return app;
}

/** The pairs for the next request, and the session cookie's days to expiry. */
function cookiesOf(res: { headers: Record<string, unknown> }, name: string) {
  const lines = (res.headers['set-cookie'] as string[] | undefined) ?? [];
  const line = lines.find((l) => l.startsWith(`${name}=`));
  const expires = line && /expires=([^;]+)/i.exec(line)?.[1];
  return {
    jar: lines.map((l) => l.split(';')[0]).join('; '),
    days: expires ? Math.round((Date.parse(expires) - Date.now()) / (24 * HOUR)) : null,
  };
}

describe('a session whose maxAge the application changed, moved to a new ID', () => {
  it('keeps its lifetime through regenerate({ keep: true }), as through koa-session regenerate() and renewAfter', async () => {
    const seen: Record<string, unknown> = {};
    for (const flavor of ['koa-session', 'sessionkit renewAfter', 'sessionkit'] as Flavor[]) {
      const name = flavor === 'koa-session' ? 'koa.sess' : 'connect.sid';
      const server = appFor(flavor).callback();
      const first = cookiesOf(await request(server).get('/remember-me'), name);
      // renewAfter: 1 ms, so the next request renews (an event, not a sleep: a few ms always pass).
      const rotate = await request(server).get('/rotate').set('Cookie', first.jar);
      const moved = cookiesOf(rotate, name);
      const after = await request(server)
        .get('/me')
        .set('Cookie', moved.jar || first.jar);
      seen[flavor] = { firstDays: first.days, movedDays: moved.days, after: after.body };
    }
    const remembered = { firstDays: 30, movedDays: 30, after: { user: 'alice', maxAge: MONTH } };
    expect(seen['koa-session']).toEqual(remembered);
    expect(seen['sessionkit renewAfter']).toEqual(remembered);
    expect(seen.sessionkit).toEqual(remembered);
  });
});
