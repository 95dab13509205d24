import express from 'express';
import request from 'supertest';
import { describe, expect, it } from 'vitest';
import type { TypedSession } from '../../src/core/session.js';
import session, { login as sessionLogin } from '../../src/index.js';
import { cookieOf, setCookies } from '../support/apps.js';
import { SlowMemoryStore } from '../support/slow-store.js';

/**
 * A session the application gave a longer life ("remember me": `req.session.cookie.maxAge = 30 days`)
 * keeps it when login() moves it to a new ID, with or without `maxSessionsPerUser` (two paths), as a
 * kept regenerate and an ID renewal keep it. The new ID's cookie once went back to the configured
 * lifetime, and a user who asked to be remembered was logged out when it ran out.
 */

const secret = 'login-cookie-lifetime-secret-0123456789';
const HOUR = 3_600_000;
const MONTH = 30 * 24 * HOUR;

/** Days until the session cookie's Expires, rounded. */
function daysLeft(res: { headers: Record<string, unknown> }): number {
  const line = setCookies(res).find((l) => l.startsWith('connect.sid=')) as string;
  return Math.round((Date.parse(/expires=([^;]+)/i.exec(line)?.[1] as string) - Date.now()) / (24 * HOUR));
}

describe('login() of a session whose maxAge the application changed', () => {
  for (const limit of [undefined, 3])
    it(`keeps the changed lifetime on the new ID (maxSessionsPerUser: ${limit ?? 'none'})`, async () => {
      const app = express();
      app.use(
        session({
          secret,
          store: new SlowMemoryStore(1),
          resave: false,
          saveUninitialized: false,
          cookie: { maxAge: 2 * HOUR },
          ...(limit === undefined ? {} : { maxSessionsPerUser: limit }),
        }),
      );
      app.get('/remember', (req, res) => {
        (req.session as unknown as Record<string, unknown>).remember = true;
        req.session.cookie.maxAge = MONTH;
        res.send('ok');
      });
      app.get('/login', async (req, res) => {
        await sessionLogin(req.session as unknown as TypedSession, 'u1');
        res.send('in');
      });
      const remembered = await request(app).get('/remember').expect(200);
      expect(daysLeft(remembered)).toBe(30);
      const login = await request(app).get('/login').set('Cookie', cookieOf(remembered)).expect(200);
      expect(cookieOf(login)).not.toBe(cookieOf(remembered));
      expect(daysLeft(login)).toBe(30);
    });
});
