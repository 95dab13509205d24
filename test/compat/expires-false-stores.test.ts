/**
 * Why: express-session's README ("req.session.cookie") says "we can set `req.session.cookie.expires` to
 * `false` to enable the cookie to remain for only the duration of the user-agent". The "remember me"
 * checkbox of countless passport apps does exactly that on login:
 *
 *   if (req.body.remember) req.session.cookie.maxAge = 30 * 24 * 3600 * 1000;
 *   else req.session.cookie.expires = false;          // (or `req.session.cookie.maxAge = false`)
 *
 * Everybody who does not tick "remember me" depends on that login succeeding with a browser-session
 * cookie (no Expires) and staying logged in, as on express-session: on the MemoryStore, a slow async
 * store and Redis.
 */
import express from 'express';
import { describe, expect, it } from 'vitest';
import type { App } from '../support/apps.js';
import { Browser, both, type StoreKind, skipsHere, storeKinds } from '../support/ecosystem-apps.js';

function build(app: App, mw: express.RequestHandler) {
  app.use(express.json());
  app.use(mw);
  app.post('/login', (req, res) => {
    req.session.user = 'alice';
    if (req.body.remember) req.session.cookie.maxAge = 30 * 24 * 3600 * 1000;
    else if (req.body.how === 'maxAge') req.session.cookie.maxAge = false;
    else req.session.cookie.expires = false;
    res.redirect('/account');
  });
  app.get('/account', (req, res) => {
    res.send(`user: ${req.session.user ?? 'anonymous'}`);
  });
}

async function loginWithout(url: string, how: 'expires' | 'maxAge') {
  const browser = new Browser(url);
  const login = await browser.post('/login', { remember: false, how });
  const cookie = login.setCookie.find((c) => c.startsWith('connect.sid='));
  return {
    status: login.status,
    cookieSent: cookie !== undefined,
    persistent: cookie !== undefined && /;\s*(expires|max-age)=/i.test(cookie),
    account: (await browser.get('/account')).body,
  };
}

describe.each(storeKinds)(
  '"remember me" unticked: a browser-session cookie (%s store)',
  (kind: StoreKind) => {
    // The app's session() sets a one-day cookie; the login turns it into a browser-session one.
    const options = { cookie: { maxAge: 24 * 3600 * 1000 } };

    it.skipIf(skipsHere(kind)).each([
      {
        field: 'expires',
        title:
          'req.session.cookie.expires = false logs in with a browser-session cookie, as on express-session',
      },
      { field: 'maxAge', title: 'req.session.cookie.maxAge = false does the same, as on express-session' },
    ] as const)('$title', async ({ field }) => {
      const results = await both(kind, build, (url) => loginWithout(url, field), options);
      expect(results['express-session']).toEqual({
        status: 302,
        cookieSent: true,
        persistent: false,
        account: 'user: alice',
      });
      expect(results.sessionkit).toEqual(results['express-session']);
    });
  },
);
