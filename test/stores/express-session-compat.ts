import express from 'express';
import expressSession from 'express-session';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ConformanceStore } from './conformance.js';

/**
 * The `originalMaxAge` of a session express-session wrote with `maxAge: 60_000`. express-session computes
 * it from a clock read after it set the expiry: 60,000 or, when a millisecond ticked in between, 59,999.
 */
function expectExpressSessionMaxAge(originalMaxAge: number | null | undefined) {
  expect(originalMaxAge).toBeGreaterThanOrEqual(59_990);
  expect(originalMaxAge).toBeLessThanOrEqual(60_000);
}

/** The cookie of a session express-session wrote with `{ maxAge: 60_000 }` and its other defaults. */
export function expectExpressSessionCookie(cookie: { originalMaxAge?: number | null } | undefined) {
  expect(cookie).toMatchObject({ httpOnly: true, path: '/' });
  expectExpressSessionMaxAge(cookie?.originalMaxAge);
}

/**
 * An app on express-session itself, as the seeds write it: `/` counts views (and stores `profile`, when
 * given, to carry a nested object through the store), `/read` only reads, `/logout` destroys.
 */
export function expressSessionApp(store: expressSession.Store, profile?: object) {
  const app = express();
  app.use(
    expressSession({
      secret: 'a cool secret',
      resave: false,
      saveUninitialized: false,
      cookie: { maxAge: 60_000 },
      store,
    }),
  );
  app.get('/', (req, res) => {
    const sess = req.session as unknown as { views?: number; profile?: object };
    sess.views = (sess.views ?? 0) + 1;
    if (profile) sess.profile = profile;
    res.send(`views: ${sess.views}`);
  });
  app.get('/read', (req, res) => {
    res.send(`views: ${(req.session as unknown as { views?: number }).views ?? 0}`);
  });
  app.get('/logout', (req, res, next) => {
    req.session.destroy((err) => (err ? next(err) : res.send('bye')));
  });
  return app;
}

/** The session ID inside the signed `connect.sid` cookie of an express-session response. */
export function expressSessionId(setCookie: string[]): string {
  return decodeURIComponent(setCookie[0]!.split(';')[0]!.split('=')[1]!).slice(2).split('.')[0]!;
}

/**
 * Plugs a sessionkit store into express-session itself (not sessionkit's middleware) and runs the seeds'
 * view counter plus destroy through it: sessionkit stores must serve express-session apps unchanged.
 */
export function runExpressSessionCompat(
  name: string,
  create: () => Promise<ConformanceStore> | ConformanceStore,
) {
  describe(`${name} inside express-session`, () => {
    let store: ConformanceStore;
    beforeAll(async () => {
      store = await create();
    });
    afterAll(async () => {
      await store?.close?.();
    });

    it('keeps a view counter across requests, touches, and destroys', async () => {
      const app = expressSessionApp(store as unknown as expressSession.Store);
      const first = await request(app).get('/').expect(200, 'views: 1');
      const cookie = first.headers['set-cookie'] as unknown as string[];
      expect(cookie[0]).toMatch(/^connect\.sid=s%3A/);
      await request(app).get('/').set('Cookie', cookie).expect(200, 'views: 2');
      await request(app).get('/read').set('Cookie', cookie).expect(200, 'views: 2');
      const sid = expressSessionId(cookie);
      const stored = await store.get(sid);
      expect(stored?.data).toEqual({ views: 2 });
      expectExpressSessionCookie(stored?.cookie);
      await request(app).get('/logout').set('Cookie', cookie).expect(200, 'bye');
      expect(await store.get(sid)).toBeNull();
      await request(app).get('/read').set('Cookie', cookie).expect(200, 'views: 0');
    });
  });
}
