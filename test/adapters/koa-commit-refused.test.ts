/**
 * A commit that sessionkit refuses with its own typed error (a `maxAge` that is no number of ms,
 * ERR_INVALID_COOKIE; a session over `maxSessionBytes`, ERR_SESSION_TOO_LARGE) after a session operation
 * that stores at once (`regenerate({ keep: true })`, `login()` under `maxSessionsPerUser`): the 500
 * carries no cookie, so the record the operation stored is ended. Left, it would be signed in with no
 * cookie naming it, and under `onLimit: 'refuse'` it would keep the user from logging in anywhere
 * (409 ERR_SESSION_LIMIT) until it expired.
 */
import Koa from 'koa';
import request from 'supertest';
import { describe, expect, it } from 'vitest';
import { session } from '../../src/adapters/koa.js';
import type { TypedSession } from '../../src/core/session.js';
import { login } from '../../src/index.js';
import { cookieOf, handlesNamedBy, setCookies } from '../support/apps.js';
import { SlowMemoryStore } from '../support/slow-store.js';

const secret = 'koa-attack4-secret-of-at-least-32-characters';

type KoaS = TypedSession & { maxAge: number | 'session' };

/** Buggy application code after the operation: each makes sessionkit refuse the commit with a typed error. */
const breakers: Array<[string, (s: KoaS) => void]> = [
  [
    'maxAge = NaN (ERR_INVALID_COOKIE)',
    (s) => {
      s.maxAge = Number.NaN;
    },
  ],
  [
    'data over maxSessionBytes (ERR_SESSION_TOO_LARGE)',
    (s) => {
      (s as unknown as Record<string, unknown>).notes = 'x'.repeat(5_000);
    },
  ],
];

const operations: Array<[string, number | undefined, (s: TypedSession) => Promise<void>]> = [
  ['regenerate({ keep: true })', undefined, (s) => s.regenerate({ keep: true })],
  ['login() under maxSessionsPerUser', 3, (s) => login(s, 'u1')],
];

function appFor(
  store: SlowMemoryStore,
  limit: number | undefined,
  onLimit?: 'refuse',
  breaker?: (s: KoaS) => void,
) {
  const app = new Koa();
  app.silent = true;
  app.keys = [secret];
  app.use(
    session({
      secret,
      store,
      resave: false,
      saveUninitialized: false,
      maxSessionsPerUser: limit,
      onLimit,
      maxSessionBytes: 2_000,
    }),
  );
  return { app, breaker };
}

describe('Koa: a commit refused with a typed error after an operation that stored at once', () => {
  for (const [breakerName, breaker] of breakers)
    for (const [name, limit, operation] of operations) {
      it(`${name}, then ${breakerName}: the store holds no session the browser was not told about`, async () => {
        const store = new SlowMemoryStore(10);
        const { app } = appFor(store, limit);
        app.use(async (ctx) => {
          const s = ctx.session as unknown as KoaS;
          if (ctx.path === '/start') {
            s.name = 'ada';
            ctx.body = 'ok';
            return;
          }
          await operation(s);
          breaker(ctx.session as unknown as KoaS);
          ctx.body = 'ok';
        });
        const server = app.callback();
        const cookie = cookieOf(await request(server).get('/start'));
        const failed = await request(server).get('/fail').set('Cookie', cookie);
        // The typed error is answered (that part holds).
        expect(failed.status).toBe(500);
        const sent = setCookies(failed);
        expect(Object.keys(await store.all())).toEqual(handlesNamedBy(sent));
      });
    }

  it("under maxSessionsPerUser: 1, onLimit: 'refuse', the leaked login locks the user out", async () => {
    const store = new SlowMemoryStore(10);
    const { app } = appFor(store, 1, 'refuse');
    app.use(async (ctx) => {
      const s = ctx.session as unknown as KoaS;
      await login(s, 'u1');
      // "Remember me" computed from a form field that was missing: NaN.
      if (ctx.path === '/login-buggy')
        (ctx.session as unknown as KoaS).maxAge = Number(undefined) * 86_400_000;
      ctx.body = 'in';
    });
    const server = app.callback();
    expect((await request(server).get('/login-buggy')).status).toBe(500);
    // The same user, from another browser, with the remember-me bug fixed: refused by the leaked session.
    const again = await request(server).get('/login');
    expect(again.status).toBe(200);
  });
});
