import type { RequestEvent } from '@sveltejs/kit';
import express from 'express';
import { Hono } from 'hono';
import request from 'supertest';
import { describe, expect, it } from 'vitest';
import { type SessionEnv, session } from '../../src/adapters/hono.js';
import { sessionHandle } from '../../src/adapters/sveltekit.js';
import type { TypedSession } from '../../src/core/session.js';
import { session as expressSession, login } from '../../src/index.js';
import { handlesNamedBy, setCookies } from '../support/apps.js';
import { SlowMemoryStore } from '../support/slow-store.js';
import { serveSvelteKit } from '../support/sveltekit.js';

/**
 * Application code that keeps the session in a variable and saves it after the same request replaced or
 * ended it, as an express-session habit ("save before redirecting"):
 *
 *   const s = c.get('session');           // req.session, event.locals.session
 *   s.returnTo = '/cart';
 *   await login(s, user.id);               // or s.regenerate(), s.destroy()
 *   await s.save();
 *
 * On a first visit the old object is a session never stored. Stored now, under an ID no cookie names, it
 * would hold the pre-login data (a returnTo, a cart) where no browser can reach it and nobody can end it.
 * The save succeeds and writes nothing, as a save of a loaded session does once its record is gone.
 */
const options = {
  secret: 'save-after-end-secret-of-at-least-32-chars',
  resave: false,
  saveUninitialized: false,
} as const;

type Operation = [string, (s: TypedSession) => Promise<void>];
const operations: Operation[] = [
  ['login()', (s) => login(s, 'u1')],
  ['regenerate()', (s) => s.regenerate()],
  ['destroy()', (s) => s.destroy()],
];

/** The store handles of the IDs the response's Set-Cookie values name (none for a clearing cookie). */

describe('save() of a new session this request replaced or ended stores nothing', () => {
  for (const [name, operation] of operations) {
    it(`Hono: ${name} then save() of the old object`, async () => {
      const store = new SlowMemoryStore(10);
      const app = new Hono<SessionEnv>();
      app.use(session({ ...options, store }));
      app.post('/', async (c) => {
        const s = c.get('session');
        s.returnTo = '/cart';
        await operation(s);
        await s.save();
        return c.text('ok');
      });
      const response = await app.request('/', { method: 'POST' });
      expect(response.status).toBe(200);
      // Every stored record is one the browser was told about.
      expect(Object.keys(await store.all()).sort()).toEqual(
        handlesNamedBy(response.headers.getSetCookie()).sort(),
      );
    });

    it(`Express: ${name} then save() of the old object`, async () => {
      const store = new SlowMemoryStore(10);
      const app = express();
      app.use(expressSession({ ...options, store }));
      app.post('/', async (req, res, next) => {
        try {
          const s = req.session as unknown as TypedSession;
          s.returnTo = '/cart';
          await operation(s);
          await s.save();
          res.send('ok');
        } catch (error) {
          next(error);
        }
      });
      const response = await request(app).post('/');
      expect(response.status).toBe(200);
      const sent = setCookies(response);
      expect(Object.keys(await store.all()).sort()).toEqual(handlesNamedBy(sent).sort());
    });

    it(`SvelteKit: ${name} then save() of the old object`, async () => {
      const store = new SlowMemoryStore(10);
      const handle = sessionHandle({ ...options, store });
      const response = await serveSvelteKit(
        handle,
        new Request('http://localhost/', { method: 'POST' }),
        async (event: RequestEvent) => {
          const s = event.locals.session;
          s.returnTo = '/cart';
          await operation(s);
          await s.save();
          return new Response('ok');
        },
      );
      expect(response.status).toBe(200);
      expect(Object.keys(await store.all()).sort()).toEqual(
        handlesNamedBy(response.headers.getSetCookie()).sort(),
      );
    });
  }
});
