/**
 * Why: express-session's README (section "req.session.cookie") documents
 *   "we can set `req.session.cookie.expires` to `false` to enable the cookie to remain for only the
 *    duration of the user-agent"
 * — the usual "remember me" unchecked branch on an app whose cookie has a maxAge. A user depends on
 * `req.session.cookie.expires = false` (or `maxAge = false`) logging them in with a browser-session cookie
 * (no Expires), the session readable on later requests, and on `session({ cookie: { expires: false } })`
 * starting, as with express-session.
 */
import { describe, expect, it } from 'vitest';
import { appWith, type Kind, middleware } from '../support/side-by-side.js';

async function rememberMeUnchecked(kind: Kind, field: 'expires' | 'maxAge' = 'expires') {
  const app = await appWith(kind, { cookie: { maxAge: 3_600_000, sameSite: 'lax' } }, (req, res) => {
    const s = (req as unknown as { session: Record<string, unknown> & { cookie: Record<string, unknown> } })
      .session;
    if (req.path === '/login') {
      s.user = 'alice';
      s.cookie[field] = false; // express-session README: browser-session cookie
    }
    res.send(String(s.user ?? 'anonymous'));
  });
  try {
    const login = await app.get('/login');
    const me = login.pair ? await app.get('/me', login.pair) : undefined;
    return {
      status: login.status,
      body: login.body,
      hasExpires: /;\s*expires=/i.test(login.setCookie[0] ?? ''),
      cookieSent: login.setCookie.length,
      next: me?.body,
    };
  } finally {
    await app.close();
  }
}

describe('req.session.cookie.expires = false (express-session README)', () => {
  it('gives a browser-session cookie and keeps the session', async () => {
    const expected = await rememberMeUnchecked('express-session');
    expect(expected).toEqual({ status: 200, body: 'alice', hasExpires: false, cookieSent: 1, next: 'alice' });
    expect(await rememberMeUnchecked('sessionkit')).toEqual(expected);
  });

  it('req.session.cookie.maxAge = false does the same (express-session: a falsy maxAge is no expiry)', async () => {
    const expected = await rememberMeUnchecked('express-session', 'maxAge');
    expect(expected).toEqual({ status: 200, body: 'alice', hasExpires: false, cookieSent: 1, next: 'alice' });
    expect(await rememberMeUnchecked('sessionkit', 'maxAge')).toEqual(expected);
  });

  it('cookie: { expires: false } is accepted by session()', () => {
    expect(() => middleware('express-session', { cookie: { expires: false } })).not.toThrow();
    expect(() => middleware('sessionkit', { cookie: { expires: false } })).not.toThrow();
  });
});
