// First, for its effect: Next.js's request stores must exist before next/headers loads.
import '../support/next-setup.js';
/**
 * A Next.js request from a browser without a cookie that saves a new session (its cookie set at once),
 * then logs out or destroys it and saves again, must not leave the browser a cookie naming the ended
 * session: the commit clears only a cookie the browser sent, so the adapter takes back the one an earlier
 * save of the request set. Express, the reference, sends none.
 */
import express from 'express';
import request from 'supertest';
import { describe, expect, it } from 'vitest';
import { createSession } from '../../src/adapters/next.js';
import session, { login, logout } from '../../src/index.js';
import { MemoryStore } from '../../src/stores/memory.js';
import { setCookies } from '../support/apps.js';
import { runNext } from '../support/next-real.js';

const options = {
  secret: 'next-save-secret-of-at-least-32-characters!!',
  name: 'sid',
  resave: false,
  saveUninitialized: false,
} as const;

/** The session cookie a browser keeps after these Set-Cookie headers ('' when none or cleared). */
function kept(setCookies: string[]): string {
  let value = '';
  for (const header of setCookies.filter((h) => h.startsWith('sid='))) {
    const expires = /expires=([^;]+)/i.exec(header)?.[1];
    const v = header.slice(4).split(';')[0] as string;
    value = v === '' || (expires !== undefined && Date.parse(expires) <= Date.now()) ? '' : v;
  }
  return value;
}

describe('Next.js: a session saved then ended in one request', () => {
  for (const end of ['logout', 'destroy'] as const) {
    it(`${end}() after a save() of a new session leaves no cookie naming it (as Express)`, async () => {
      // Reference: Express, same handler.
      const expressStore = new MemoryStore();
      const app = express();
      app.use(session({ ...options, store: expressStore }));
      app.get('/', async (req, res) => {
        await login(req.session, 'u1');
        await req.session.save();
        if (end === 'logout') await logout(req.session);
        else await req.session.destroy();
        res.json({ ok: true });
      });
      const ref = await request(app).get('/');
      expect(kept(setCookies(ref))).toBe('');

      // Next.js, the documented idiom.
      const store = new MemoryStore();
      const { getSession } = createSession({ ...options, store });
      const run = await runNext(new Request('http://localhost/'), async () => {
        const s = await getSession();
        await login(s, 'u1');
        await s.save();
        const after = await getSession();
        if (end === 'logout') await logout(after);
        else await after.destroy();
        await after.save();
      });
      expect(await store.length()).toBe(0);
      // The browser must not keep a cookie naming the destroyed session.
      expect(kept(run.setCookies)).toBe('');
    });
  }
});
