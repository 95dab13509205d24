/**
 * Why: with `renewAfter`, a browser's requests sent with the old cookie just before the renewed one
 * arrived (a page and its XHR) reach any app server behind the load balancer. Users depend on such a
 * request being served the renewed session and told its cookie, whichever server it lands on, as long as
 * the app servers' clocks agree to within `renewGrace` (README, `renewGrace`): otherwise it runs
 * anonymous, and its fresh session's cookie can replace the renewed one (the user is logged out). The
 * marker the old ID left must stay for every such request, not be removed by the first server that
 * judges it by a clock ahead of the renewing one's.
 */
import { randomBytes } from 'node:crypto';
import express from 'express';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import session, { currentUserId, login } from '../../src/index.js';
import type { AnyStore } from '../../src/stores/factory.js';
import { cookieOf, idOf, jsonErrors, setCookies } from '../support/apps.js';
import { install, skewableTargets, skewed, uninstall } from '../support/skew.js';

const secret = 'renewal-clock-skew-secret-0123456789abcd';
const RENEW_AFTER = 20_000;

function appOn(store: AnyStore) {
  const app = express();
  app.use(express.json());
  // renewGrace left at its default: the documented bound is the default's.
  app.use(session({ secret, store, resave: false, saveUninitialized: true, renewAfter: RENEW_AFTER }));
  app.post('/login', async (req, res) => {
    await login(req.session, String((req.body as { user: string }).user));
    res.json({ user: currentUserId(req.session) });
  });
  app.get('/me', (req, res) => {
    res.json({ user: currentUserId(req.session) });
  });
  app.use(jsonErrors);
  return app;
}

const targets = await skewableTargets('renewskew');

beforeAll(install);
afterAll(uninstall);

for (const target of targets) {
  describe.skipIf(target.skip)(`renewGrace across app servers whose clocks differ, ${target.name}`, () => {
    let store: AnyStore;
    let peer: AnyStore;
    beforeAll(async () => {
      store = await target.open();
      peer = ['memory', 'sqlite'].includes(target.name) ? store : await target.open();
    });
    afterAll(async () => {
      if (peer !== store) await peer?.close?.();
      if (store) await target.dispose(store);
    });

    // Ahead within the default renewGrace (10 s), and ahead by more than the grace (the request itself is
    // well inside it).
    for (const offset of [9_000, 15_000])
      it(`the old cookie on a server ${offset / 1000} s ahead of the renewing one leads to the renewed session, for every request in flight`, async () => {
        // Signed in on a server whose clock is behind, so that the session is due on the renewing one
        // (clock 0) and, renewed there, not due again on the other.
        const signIn = skewed(appOn(store) as never, -2 * RENEW_AFTER);
        const renewing = skewed(appOn(store) as never, 0);
        const other = skewed(appOn(peer) as never, offset);
        const alice = `u-${randomBytes(6).toString('hex')}`;
        const old = cookieOf(await request(signIn).post('/login').send({ user: alice }).expect(200));
        const renewed = await request(renewing).get('/me').set('Cookie', old).expect(200);
        expect(renewed.body.user).toBe(alice);
        const fresh = idOf(cookieOf(renewed));
        expect(fresh).not.toBe(idOf(old));
        // Several requests sent with the old cookie before the renewed one reached the browser.
        for (let i = 0; i < 3; i++) {
          const inFlight = await request(other).get('/me').set('Cookie', old).expect(200);
          expect(inFlight.body.user).toBe(alice);
          expect(setCookies(inFlight).map((c) => idOf(c.split(';')[0] as string))).toEqual([fresh]);
        }
        const back = await request(renewing).get('/me').set('Cookie', old).expect(200);
        expect(back.body.user).toBe(alice);
      });
  });
}
