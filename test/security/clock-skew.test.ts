/**
 * Why: app servers' clocks drift apart, and one may be stepped back. Users depend on "log out everywhere"
 * (`destroyByUser`) ending every session of the user whatever clock the login and the revoke ran on (it
 * is an epoch counter, not a time), also when the revoking server already takes the session for expired
 * and skips it; and on a server whose clock stepped back (the sessions' times now in its future) serving
 * sessions as before, with a non-negative `authAge`.
 */
import { randomBytes } from 'node:crypto';
import express from 'express';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import session, { authAge, currentUserId, login } from '../../src/index.js';
import type { AnyStore } from '../../src/stores/factory.js';
import { cookieOf, jsonErrors } from '../support/apps.js';
import { install, onClock, skewableTargets, skewed, uninstall } from '../support/skew.js';

const secret = 'clock-skew-secret-0123456789abcdef012345';

function appOn(store: AnyStore, maxAge: number) {
  const app = express();
  app.use(express.json());
  app.use(
    session({
      secret,
      store,
      resave: false,
      saveUninitialized: false,
      renewAfter: 60_000,
      cookie: { maxAge },
    }),
  );
  app.post('/login', async (req, res) => {
    await login(req.session, String((req.body as { user: string }).user));
    res.json({ user: currentUserId(req.session) });
  });
  app.get('/me', (req, res) => {
    res.json({ user: currentUserId(req.session), authAge: authAge(req.session) });
  });
  app.use(jsonErrors);
  return app;
}

const targets = await skewableTargets('clockskew');
beforeAll(install);
afterAll(uninstall);

for (const target of targets) {
  describe.skipIf(target.skip)(`app servers whose clocks differ, ${target.name}`, () => {
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

    it('a login on a server 2 min behind dies with destroyByUser on a server 2 min ahead, which takes it for expired', async () => {
      // maxAge 1 min: on the revoking server's clock the session's deadline has passed already.
      const behind = skewed(appOn(store, 60_000) as never, -120_000);
      const ahead = skewed(appOn(peer, 60_000) as never, 120_000);
      const alice = `u-${randomBytes(6).toString('hex')}`;
      const cookie = cookieOf(await request(behind).post('/login').send({ user: alice }));
      expect((await request(behind).get('/me').set('Cookie', cookie)).body.user).toBe(alice);
      await onClock(120_000, () => peer.destroyByUser!(alice));
      expect((await request(behind).get('/me').set('Cookie', cookie)).body.user).toBeNull();
      expect((await request(ahead).get('/me').set('Cookie', cookie)).body.user).toBeNull();
      expect(await onClock(-120_000, () => store.listByUser!(alice))).toEqual([]);
    });

    it('a clock stepped back 5 min: sessions written "in the future" load, authAge is never negative', async () => {
      const before = skewed(appOn(store, 3_600_000) as never, 300_000);
      const after = skewed(appOn(store, 3_600_000) as never, 0);
      const alice = `u-${randomBytes(6).toString('hex')}`;
      const cookie = cookieOf(await request(before).post('/login').send({ user: alice }));
      for (let i = 0; i < 3; i++) {
        const res = await request(after).get('/me').set('Cookie', cookie);
        expect(res.status).toBe(200);
        expect(res.body.user).toBe(alice);
        expect(res.body.authAge).toBeGreaterThanOrEqual(0);
      }
    });
  });
}
