/**
 * Why: express-session's `req.session` is a plain bag for application data apart from its own few
 * methods (regenerate, destroy, reload, save, touch, resetMaxAge). Countless express-session apps keep
 * their login flag under the key `login` (`req.session.login = true`, then
 * `if (req.session.login == null) return res.redirect('/login')`, common in tutorial and production
 * apps), or a `logout` timestamp. sessionkit keeps `req.session` to express-session's own methods — its
 * user operations are free functions (`login(req.session, userId)`, `logout(req.session)`,
 * `currentUserId(req.session)`) — so an app's `login` / `logout` data keys behave as on express-session:
 * an anonymous visitor's `req.session.login` is undefined (the guard redirects them), and a value stored
 * under `login` or `logout` loads back on the next request.
 * Same app, express-session side by side, on the MemoryStore, a slow async store and Redis.
 */
import type { RequestHandler } from 'express';
import { describe, expect, it } from 'vitest';
import type { App } from '../support/apps.js';
import { Browser, both, type StoreKind, skipsHere, storeKinds } from '../support/ecosystem-apps.js';

function build(app: App, mw: RequestHandler) {
  app.use(mw);
  // The tutorial guard.
  app.get('/', (req, res) => {
    if (req.session.login == null || req.session.login === false) return res.redirect('/login');
    res.send(`welcome ${req.session.login.username}`);
  });
  app.get('/login', (_req, res) => {
    res.send('login form');
  });
  app.post('/login', (req, res) => {
    req.session.login = { username: 'alice' };
    res.redirect('/');
  });
  app.post('/logout', (req, res) => {
    req.session.logout = Date.now(); // "when did they last log out", a plain data key in express-session
    req.session.login = null;
    res.redirect('/login');
  });
  app.get('/last-logout', (req, res) => {
    res.send(typeof req.session.logout);
  });
}

async function scenario(url: string) {
  const anonymous = new Browser(url);
  const guardForAnonymous = await anonymous.get('/');
  const user = new Browser(url);
  const login = await user.post('/login');
  const home = await user.get('/');
  await user.post('/logout');
  const lastLogout = await user.get('/last-logout');
  return {
    guardForAnonymous: { status: guardForAnonymous.status, location: guardForAnonymous.location },
    login: login.status,
    home: home.body,
    lastLogout: lastLogout.body,
  };
}

describe.each(storeKinds)('a session key named `login` / `logout` (%s store)', (kind: StoreKind) => {
  it.skipIf(skipsHere(kind))(
    'behaves as on express-session: the guard redirects anonymous visitors, the value survives',
    async () => {
      const results = await both(kind, build, scenario);
      expect(results['express-session']).toEqual({
        guardForAnonymous: { status: 302, location: '/login' },
        login: 302,
        home: 'welcome alice',
        lastLogout: 'number',
      });
      expect(results.sessionkit).toEqual(results['express-session']);
    },
  );
});
