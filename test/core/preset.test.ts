import express from 'express';
import request from 'supertest';
import { describe, expect, it } from 'vitest';
import session, { currentUserId, login, MemoryStore } from '../../src/index.js';
import { cookieOf, idOf, setCookies } from '../support/apps.js';

const secret = 'owasp-preset-secret-0123456789abcdef0123';

function owaspApp(extra: Record<string, unknown> = {}) {
  const store = new MemoryStore();
  const app = express();
  app.set('trust proxy', 1);
  app.use(session({ preset: 'owasp', secret, store, ...extra }));
  app.get('/login', async (req, res) => {
    await login(req.session, 'u1');
    res.send('in');
  });
  app.get('/read', (req, res) => res.send(String(currentUserId(req.session))));
  app.get('/anon', (_req, res) => res.send('anon'));
  return { app, store };
}

describe("preset: 'owasp'", () => {
  it('sets a __Host- cookie, Secure, HttpOnly, SameSite=Lax, Path=/, no Domain and no expiry (C21–C26)', async () => {
    const { app } = owaspApp();
    const res = await request(app).get('/login').set('X-Forwarded-Proto', 'https').expect(200);
    const [cookie] = setCookies(res);
    expect(cookie).toMatch(/^__Host-sid=s%3A[\w-]{43}\.[^;]+; Path=\/; HttpOnly; Secure; SameSite=Lax$/);
    expect(cookie).not.toMatch(/Expires|Max-Age|Domain/);
  });

  it('sends Cache-Control: no-store with the cookie (C20)', async () => {
    const { app } = owaspApp();
    const res = await request(app).get('/login').set('X-Forwarded-Proto', 'https');
    expect(res.headers['cache-control']).toBe('no-store');
  });

  it('stores nothing for anonymous visitors (C40)', async () => {
    const { app, store } = owaspApp();
    const res = await request(app).get('/anon').set('X-Forwarded-Proto', 'https');
    expect(setCookies(res)).toEqual([]);
    expect(await store.length()).toBe(0);
  });

  it('keeps the session 30 minutes idle and 8 hours absolute (C11, C12)', async () => {
    const { app, store } = owaspApp();
    const res = await request(app).get('/login').set('X-Forwarded-Proto', 'https');
    const record = await store.get(idOf(cookieOf(res)));
    expect(record!.expiresAt - Date.now()).toBeGreaterThan(29 * 60 * 1000);
    expect(record!.expiresAt - Date.now()).toBeLessThanOrEqual(30 * 60 * 1000);
    const { manager } = session({ preset: 'owasp', secret });
    expect(manager.options.absoluteTimeout).toBe(8 * 3600 * 1000);
  });

  it('refuses a short secret (C35) and lets explicit options win', () => {
    expect(() => session({ preset: 'owasp', secret: 'short' })).toThrow(
      expect.objectContaining({ code: 'ERR_INVALID_OPTION', option: 'secret' }),
    );
    const { manager } = session({ preset: 'owasp', secret, name: '__Host-app', absoluteTimeout: 3600_000 });
    expect(manager.options.name).toBe('__Host-app');
    expect(manager.options.absoluteTimeout).toBe(3600_000);
  });

  it('leaves the plain defaults express-session-compatible', () => {
    const { manager } = session({ secret });
    expect(manager.options).toMatchObject({
      name: 'connect.sid',
      resave: true,
      saveUninitialized: true,
      noStoreWithCookie: false,
    });
  });
});
