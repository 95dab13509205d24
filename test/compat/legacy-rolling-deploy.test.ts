/**
 * README "Migrating from express-session", step 2, during a rolling deploy: app servers still on
 * express-session (with connect-redis, connect-pg-simple or express-mysql-session) and new ones on
 * sessionkit, behind one load balancer, on one store.
 *
 * What a user depends on: with the new servers on the bridge (the express-session store itself passed as
 * sessionkit's `store`), a user who logs in on an old server, writes on a new one, then goes back to an
 * old one and on to a new one stays logged in throughout, as when every server still runs
 * express-session.
 *
 * The documented limit: a store's `legacy` option moves a session to the native layout on its first write
 * or touch, which the old servers cannot read. They find no session for the cookie, and with
 * express-session's default `saveUninitialized: true` their response replaces the user's cookie with a
 * fresh session's, so the user is logged out everywhere. Hence the README's advice: keep the bridge while
 * any server runs express-session, switch to `legacy` once every server runs sessionkit.
 */
import type { RequestHandler } from 'express';
import express from 'express';
import expressSession from 'express-session';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import session, { type ExpressStoreLike, type SessionStore } from '../../src/index.js';
import { cookieOf, setCookies } from '../support/apps.js';
import { type Backend, migrationBackends, secret } from '../support/migration-apps.js';

const backends = await migrationBackends();

interface ShopSession {
  user?: string;
  items?: number;
}

// express-session's defaults as most applications leave them (saveUninitialized: true, resave: false).
const options = { secret, resave: false, saveUninitialized: true };

function app(kind: 'express-session' | 'sessionkit', store: ExpressStoreLike | SessionStore) {
  const a = express();
  a.use(
    kind === 'sessionkit'
      ? (session({ ...options, store }) as unknown as RequestHandler)
      : expressSession({ ...options, store: store as ExpressStoreLike }),
  );
  const sessionOf = (req: unknown) => (req as { session: ShopSession }).session;
  a.get('/login', (req, res) => {
    sessionOf(req).user = 'alice';
    res.send('in');
  });
  a.get('/cart', (req, res) => {
    const s = sessionOf(req);
    s.items = (s.items ?? 0) + 1;
    res.send('added');
  });
  a.get('/account', (req, res) => {
    res.send(`user: ${sessionOf(req).user ?? 'anonymous'}`);
  });
  return a;
}

/** A browser: keeps the last session cookie it was given. */
async function visit(jar: { cookie: string }, a: ReturnType<typeof app>, path: string): Promise<string> {
  const res = await request(a).get(path).set('Cookie', jar.cookie);
  const mine = setCookies(res).find((c) => c.startsWith('connect.sid='));
  if (mine) jar.cookie = mine.split(';')[0] as string;
  return res.text;
}

type NewServers = 'express-session' | 'sessionkit (bridge)' | 'sessionkit (legacy)';

for (const { name, skip, open } of backends) {
  describe.skipIf(skip)(`rolling deploy from express-session + ${name}`, () => {
    let backend: Backend;
    beforeAll(async () => {
      backend = await open();
    });
    afterAll(async () => {
      await backend?.close();
    });

    /** Log in on an old server, then a write on a new one, the old one, the new one again. */
    async function journey(newServers: NewServers) {
      const oldServer = app('express-session', backend.anchor);
      const newServer =
        newServers === 'express-session'
          ? app('express-session', backend.anchor)
          : app('sessionkit', newServers === 'sessionkit (bridge)' ? backend.anchor : backend.native);
      const jar = { cookie: cookieOf(await request(oldServer).get('/login').expect(200, 'in')) };
      await visit(jar, newServer, '/cart');
      const onOld = await visit(jar, oldServer, '/account');
      const onNew = await visit(jar, newServer, '/account');
      return { onOld, onNew };
    }

    it('new servers on the bridge: the user stays logged in on old and new servers, as on express-session', async () => {
      const allExpress = await journey('express-session');
      expect(allExpress).toEqual({ onOld: 'user: alice', onNew: 'user: alice' });
      expect(await journey('sessionkit (bridge)')).toEqual(allExpress);
    });

    it('new servers in legacy mode: the old servers lose the user once the session moved (the documented limit)', async () => {
      // README "Migrating from express-session", step 2: while any server still runs express-session,
      // keep the bridge; switch to `legacy` once every server runs sessionkit. This is why.
      expect(await journey('sessionkit (legacy)')).toEqual({
        onOld: 'user: anonymous',
        onNew: 'user: anonymous',
      });
    });
  });
}
