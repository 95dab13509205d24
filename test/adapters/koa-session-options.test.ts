/**
 * koa-session's top-level options on sessionkit/koa (its README's CONFIG: `maxAge`, `secure`,
 * `sameSite`, `httpOnly`, …), kept by an application that switches. Ignored, an HTTPS site's cookie lost
 * Secure, SameSite dropped from Strict to Lax and a week's cookie became a browser-session one. They
 * mean what they meant under koa-session (into `cookie`); the options sessionkit has no counterpart for
 * are refused at `session()`, naming the option. koa-session on the same app is the reference.
 */
import Koa from 'koa';
import koaSession from 'koa-session';
import request from 'supertest';
import { describe, expect, it } from 'vitest';
import { session } from '../../src/adapters/koa.js';
import { KoaMapStore } from '../support/framework-passport-apps.js';
import { SlowMemoryStore } from '../support/slow-store.js';

const secret = 'koa-compat-secret-of-at-least-32-characters';
const WEEK = 7 * 24 * 3600_000;
/** koa-session's README CONFIG, with a week's lifetime and the security attributes a site sets. */
const CONFIG = { maxAge: WEEK, secure: true, sameSite: 'strict', httpOnly: true };

interface Attributes {
  secure: boolean;
  sameSite: string | null;
  /** Days until Expires, rounded; null for a browser-session cookie. */
  days: number | null;
}

function attributesOf(res: { headers: Record<string, unknown> }, name: string): Attributes {
  const line = ((res.headers['set-cookie'] as string[] | undefined) ?? []).find((l) =>
    l.startsWith(`${name}=`),
  );
  if (line === undefined) throw new Error(`no ${name} cookie`);
  const parts = line.split(';').map((p) => p.trim().toLowerCase());
  const expires = /expires=([^;]+)/i.exec(line)?.[1];
  return {
    secure: parts.includes('secure'),
    sameSite: parts.find((p) => p.startsWith('samesite='))?.split('=')[1] ?? null,
    days: expires ? Math.round((Date.parse(expires) - Date.now()) / (24 * 3600_000)) : null,
  };
}

function handler(app: Koa): Koa {
  app.proxy = true; // the site is behind a TLS-terminating proxy
  app.use(async (ctx) => {
    (ctx.session as unknown as Record<string, unknown>).user = 'alice';
    ctx.body = 'signed in';
  });
  return app;
}

describe("Koa: koa-session's top-level options on sessionkit/koa", () => {
  it('are honoured as koa-session honours them, or refused at session() with ERR_INVALID_OPTION', async () => {
    const ksApp = new Koa();
    ksApp.keys = [secret];
    ksApp.use(koaSession({ store: new KoaMapStore(1), ...CONFIG } as never, ksApp));
    const ks = await request(handler(ksApp).callback()).get('/login').set('X-Forwarded-Proto', 'https');
    const expected = attributesOf(ks, 'koa.sess');
    // What the user relies on, as koa-session gives it:
    expect(expected).toEqual({ secure: true, sameSite: 'strict', days: 7 });

    const skApp = new Koa();
    skApp.keys = [secret];
    let middleware: ReturnType<typeof session>;
    try {
      middleware = session({
        secret,
        store: new SlowMemoryStore(1),
        resave: false,
        saveUninitialized: false,
        ...CONFIG,
      } as never);
    } catch (error) {
      // Refused at start-up: the configuration error surfaces once, naming the option. Acceptable.
      expect(error).toMatchObject({ code: 'ERR_INVALID_OPTION' });
      return;
    }
    skApp.use(middleware);
    const sk = await request(handler(skApp).callback()).get('/login').set('X-Forwarded-Proto', 'https');
    // Accepted: then it must mean what it meant.
    expect(attributesOf(sk, 'connect.sid')).toEqual(expected);
  });
});

describe('koa-session options sessionkit has no counterpart for', () => {
  const base = { secret, store: new SlowMemoryStore(1), resave: false, saveUninitialized: false };

  it('are refused at session(), naming the option; the ones that change nothing are accepted', () => {
    for (const [name, value] of [
      ['renew', true],
      ['signed', false],
      ['overwrite', false],
      ['encode', (x: unknown) => x],
      ['prefix', 'koa:sess:'],
      ['externalKey', {}],
      ['valid', () => true],
      ['beforeSave', () => undefined],
    ] as const)
      expect(() => session({ ...base, [name]: value } as never), name).toThrow(
        expect.objectContaining({ code: 'ERR_INVALID_OPTION', option: name }),
      );
    expect(() => session({ ...base, signed: true, overwrite: true } as never)).not.toThrow();
    // Beside a cookie function, a top-level attribute would be ambiguous.
    expect(() => session({ ...base, maxAge: 1000, cookie: () => ({}) } as never)).toThrow(
      expect.objectContaining({ code: 'ERR_INVALID_OPTION', option: 'maxAge' }),
    );
  });

  it("maxAge: 'session' is a browser-session cookie, and an attribute given in `cookie` wins", async () => {
    const app = new Koa();
    app.use(session({ ...base, maxAge: 'session', httpOnly: false, cookie: { httpOnly: true } }));
    app.use(async (ctx) => {
      (ctx.session as unknown as Record<string, unknown>).n = 1;
      ctx.body = 'ok';
    });
    const line = ((await request(app.callback()).get('/')).headers['set-cookie'] as unknown as string[])[0];
    expect(line).not.toMatch(/expires=/i);
    expect(line).toMatch(/; HttpOnly/);
  });
});
