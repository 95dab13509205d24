import express from 'express';
import request from 'supertest';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { AUTH_TIME_KEY } from '../../src/core/auth-time.js';
import session, {
  authAge,
  currentUserId,
  login,
  type MemoryStore,
  reauthenticated,
  requireRecentAuth,
} from '../../src/index.js';
import type { SQLiteStore } from '../../src/stores/sqlite.js';
import { cookieOf, idOf, jsonErrors } from '../support/apps.js';
import { inProcessStores } from '../support/in-process-stores.js';

/**
 * Recent authentication (C32): login() records when the user proved who they are, authAge() reads it,
 * requireRecentAuth() guards sensitive routes, reauthenticated() refreshes it (on a new ID), and nothing
 * a request body merges into the session can claim a fresh login.
 */

const secret = 'recent-auth-secret-0123456789abcdef0123';
const MINUTE = 60_000;

type Data = Record<string, unknown>;

function appWith(store: MemoryStore | SQLiteStore, resave = false) {
  const app = express();
  app.use(express.json());
  app.use(session({ secret, store, resave, saveUninitialized: false }));
  app.post('/login', async (req, res) => {
    await login(req.session, 'alice');
    res.json({ age: authAge(req.session) });
  });
  app.post('/merge', (req, res) => {
    Object.assign(req.session, req.body as Data);
    res.json({ age: authAge(req.session) });
  });
  app.post('/reauth', async (req, res) => {
    await reauthenticated(req.session);
    res.json({ age: authAge(req.session), user: currentUserId(req.session) });
  });
  app.get('/age', (req, res) => {
    res.json({
      age: authAge(req.session),
      data: { ...(req.session as unknown as Data), cookie: undefined },
    });
  });
  app.post('/transfer', requireRecentAuth(5 * MINUTE), (_req, res) => {
    res.json({ ok: true });
  });
  app.post(
    '/delete-account',
    requireRecentAuth<express.Request, express.Response>(5 * MINUTE, (_req, res, _next, error) => {
      res.redirect(303, `/confirm-password?code=${error.code}`);
    }),
    (_req, res) => {
      res.json({ ok: true });
    },
  );
  app.use(jsonErrors);
  return app;
}

afterEach(() => {
  vi.useRealTimers();
});

for (const [name, make] of inProcessStores) {
  describe(`recent authentication on ${name}`, () => {
    it('login() records authTime; a sensitive route passes within maxAge and answers 401 after (C32)', async () => {
      vi.useFakeTimers({ toFake: ['Date'] });
      vi.setSystemTime(new Date('2030-01-01T00:00:00Z'));
      const app = appWith(make());
      const anon = await request(app).post('/merge').send({ cart: 1 }).expect(200);
      expect(anon.body.age).toBeNull();
      expect((await request(app).post('/transfer').set('Cookie', cookieOf(anon))).body).toEqual({
        code: 'ERR_REAUTHENTICATION_REQUIRED',
      });

      const login = await request(app).post('/login').set('Cookie', cookieOf(anon)).expect(200);
      expect(login.body.age).toBe(0);
      const cookie = cookieOf(login);
      vi.setSystemTime(new Date('2030-01-01T00:04:00Z'));
      expect((await request(app).get('/age').set('Cookie', cookie)).body.age).toBe(4 * MINUTE);
      await request(app).post('/transfer').set('Cookie', cookie).expect(200, { ok: true });

      vi.setSystemTime(new Date('2030-01-01T00:06:00Z'));
      const stale = await request(app).post('/transfer').set('Cookie', cookie);
      expect(stale.status).toBe(401);
      expect(stale.body).toEqual({ code: 'ERR_REAUTHENTICATION_REQUIRED' });
      const redirected = await request(app).post('/delete-account').set('Cookie', cookie);
      expect(redirected.status).toBe(303);
      expect(redirected.headers.location).toBe('/confirm-password?code=ERR_REAUTHENTICATION_REQUIRED');
      // The reserved key never shows on req.session.
      expect((await request(app).get('/age').set('Cookie', cookie)).body.data).toEqual({ cart: 1 });
    });

    it('reauthenticated() refreshes authTime on a new ID, keeping data and user; the old cookie is dead', async () => {
      vi.useFakeTimers({ toFake: ['Date'] });
      vi.setSystemTime(new Date('2030-01-01T00:00:00Z'));
      const app = appWith(make());
      const login = await request(app).post('/login').expect(200);
      await request(app).post('/merge').set('Cookie', cookieOf(login)).send({ cart: 2 }).expect(200);
      vi.setSystemTime(new Date('2030-01-01T01:00:00Z'));
      await request(app).post('/transfer').set('Cookie', cookieOf(login)).expect(401);

      const reauth = await request(app).post('/reauth').set('Cookie', cookieOf(login)).expect(200);
      expect(reauth.body).toEqual({ age: 0, user: 'alice' });
      const fresh = cookieOf(reauth);
      expect(idOf(fresh)).not.toBe(idOf(cookieOf(login)));
      await request(app).post('/transfer').set('Cookie', fresh).expect(200);
      expect((await request(app).get('/age').set('Cookie', fresh)).body.data).toEqual({ cart: 2 });
      // The pre-reauthentication cookie loads no session any more.
      expect((await request(app).get('/age').set('Cookie', cookieOf(login))).body).toEqual({
        age: null,
        data: {},
      });
    });

    it.each([false, true])(
      'a request body merged into the session cannot claim a fresh login (resave: %s)',
      async (resave) => {
        vi.useFakeTimers({ toFake: ['Date'] });
        vi.setSystemTime(new Date('2030-01-01T00:00:00Z'));
        const app = appWith(make(), resave);
        const forged = { [AUTH_TIME_KEY]: new Date('2030-01-01T00:00:00Z').valueOf(), x: 1 };
        const anon = await request(app).post('/merge').send(forged).expect(200);
        expect(anon.body.age).toBeNull();
        await request(app).post('/transfer').set('Cookie', cookieOf(anon)).expect(401);

        const login = await request(app).post('/login').expect(200);
        vi.setSystemTime(new Date('2030-01-01T02:00:00Z'));
        const later = { [AUTH_TIME_KEY]: new Date('2030-01-01T02:00:00Z').valueOf() };
        await request(app).post('/merge').set('Cookie', cookieOf(login)).send(later).expect(200);
        await request(app).post('/transfer').set('Cookie', cookieOf(login)).expect(401);
      },
    );

    it('reauthenticated() without a user is a typed error', async () => {
      const app = appWith(make());
      const res = await request(app).post('/reauth');
      expect(res.status).toBe(500);
      expect(res.body).toEqual({ code: 'ERR_INVALID_USER' });
    });
  });
}

describe('requireRecentAuth() options', () => {
  it.each([[-1], [Number.NaN], ['60' as unknown as number]])('refuses maxAgeMs %s', (maxAge) => {
    expect(() => requireRecentAuth(maxAge)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_OPTION' }));
  });
});
