/**
 * What a user depends on: README "Migrating from express-session": "Replace the import. Keep `secret`
 * (and `name`): existing cookies verify and load … nobody is logged out."
 *
 * express-session takes cookie options "as they come" (README, Differences table): a common configuration
 * reads flags from the environment, `cookie: { secure: process.env.COOKIE_SECURE }`, so express-session
 * stores every session with `"cookie": { "secure": "true", "httpOnly": "true", … }` (strings). sessionkit
 * refuses such an option at `session()`, so the migrating team fixes the option to a boolean and deploys;
 * the records already stored keep their strings. sessionkit reads a stored cookie flag that is a string by
 * its truthiness, as express-session does, so every such user is still logged in after the swap.
 *
 * Through the bridge the record stays in express-session's layout, and the old servers of a rolling deploy
 * still have the session. In `legacy` mode the native store moves the session to its own layout on its
 * first write or touch, which the old servers cannot read: README "Migrating from express-session" step 2
 * says to keep the bridge during a rolling deploy (test/compat/legacy-rolling-deploy.test.ts), so there
 * only the swapped server is checked.
 */
import type { RequestHandler } from 'express';
import express from 'express';
import expressSession from 'express-session';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import session, { type ExpressStoreLike, type SessionStore } from '../../src/index.js';
import { cookieOf, idOf } from '../support/apps.js';
import { type Backend, migrationBackends, secret } from '../support/migration-apps.js';

const backends = await migrationBackends();

interface UserSession {
  user?: string;
}

function sessionkitApp(
  store: ExpressStoreLike | SessionStore,
  cookie: { secure: boolean; httpOnly: boolean },
) {
  const a = express();
  a.set('trust proxy', true);
  a.use(
    session({
      secret,
      resave: false,
      saveUninitialized: false,
      proxy: true,
      store,
      cookie,
    }) as unknown as RequestHandler,
  );
  return routes(a);
}

function expressSessionApp(store: ExpressStoreLike, cookie: Record<string, unknown>) {
  const a = express();
  a.set('trust proxy', true);
  a.use(expressSession({ secret, resave: false, saveUninitialized: false, proxy: true, store, cookie }));
  return routes(a);
}

function routes(a: ReturnType<typeof express>) {
  a.get('/login', (req, res) => {
    (req as unknown as { session: UserSession }).session.user = 'alice';
    res.send('in');
  });
  a.get('/account', (req, res) => {
    res.send(`user: ${(req as unknown as { session: UserSession }).session.user ?? 'anonymous'}`);
  });
  return a;
}

/** The flags as process.env gives them. */
const env = { COOKIE_SECURE: 'true', COOKIE_HTTP_ONLY: 'true' };

for (const { name, skip, open } of backends) {
  describe.skipIf(skip)(`express-session + ${name} with cookie flags from the environment`, () => {
    let backend: Backend;
    beforeAll(async () => {
      backend = await open();
    });
    afterAll(async () => {
      await backend?.close();
    });

    for (const mode of ['bridge', 'legacy'] as const) {
      it(`a logged-in user is still logged in after the swap (${mode})`, async () => {
        // Before: express-session, the flags as strings.
        const before = expressSessionApp(backend.anchor, {
          secure: env.COOKIE_SECURE,
          httpOnly: env.COOKIE_HTTP_ONLY,
        });
        const login = await request(before).get('/login').set('X-Forwarded-Proto', 'https').expect(200);
        const cookie = cookieOf(login);
        const stayed = await request(before)
          .get('/account')
          .set('X-Forwarded-Proto', 'https')
          .set('Cookie', cookie);
        expect(stayed.text).toBe('user: alice');
        // After: sessionkit, with the option fixed to a boolean (a string is refused at session()).
        const after = sessionkitApp(mode === 'bridge' ? backend.anchor : backend.native, {
          secure: env.COOKIE_SECURE === 'true',
          httpOnly: env.COOKIE_HTTP_ONLY === 'true',
        });
        const visit = (a: ReturnType<typeof express>) =>
          request(a).get('/account').set('X-Forwarded-Proto', 'https').set('Cookie', cookie);
        expect((await visit(after)).text).toBe('user: alice');
        if (mode === 'bridge') {
          // The old servers of a rolling deploy (same store) still have the session.
          expect((await visit(before)).text).toBe('user: alice');
        } else {
          // Moved to the native layout by the first visit's touch: the swapped server keeps the user.
          expect(await backend.legacyRaw(idOf(cookie))).toBeNull();
          expect(await backend.native.get(idOf(cookie))).not.toBeNull();
          expect((await visit(after)).text).toBe('user: alice');
        }
      });
    }
  });
}
