// First, for its effect: Next.js's request stores must exist before next/headers loads.
import '../support/next-setup.js';
/**
 * With `rolling` and `resave`, a Next.js request whose session another tab's login ended meanwhile
 * saves twice (as the docs allow): neither save may send the ended session's cookie, which would
 * overwrite the new login's and log the user out. The second save was once taken for a write after the
 * response and re-sent it. Express, the reference, sends none.
 */
import express from 'express';
import request from 'supertest';
import { describe, expect, it } from 'vitest';
import { createSession } from '../../src/adapters/next.js';
import session, { login } from '../../src/index.js';
import { MemoryStore } from '../../src/stores/memory.js';
import { pair, runNext } from '../support/next-real.js';

const options = {
  secret: 'next-save-secret-of-at-least-32-characters!!',
  name: 'sid',
  resave: true,
  rolling: true,
  saveUninitialized: false,
} as const;

describe('rolling + resave: a request whose session another tab replaced', () => {
  it('Express (reference): sends no cookie for the lost session, the new login stays', async () => {
    const store = new MemoryStore();
    const app = express();
    app.use(session({ ...options, store }));
    let release!: () => void;
    let arrived!: () => void;
    const gate = new Promise<void>((r) => {
      release = r;
    });
    const atGate = new Promise<void>((r) => {
      arrived = r;
    });
    app.get('/login', async (req, res) => {
      await login(req.session, 'u1');
      res.end();
    });
    app.get('/page', async (req, res) => {
      arrived();
      await gate;
      await req.session.save();
      await req.session.save();
      res.end();
    });
    const cookie = String((await request(app).get('/login')).headers['set-cookie']).split(';')[0] as string;
    const slow = request(app)
      .get('/page')
      .set('cookie', cookie)
      .then((r) => r);
    await atGate;
    await request(app).get('/login').set('cookie', cookie); // another tab logs in again
    release();
    expect((await slow).headers['set-cookie'] ?? []).toEqual([]);
  });

  it('Next.js: the second save() must not send the lost session cookie over the new login', async () => {
    const store = new MemoryStore();
    const { getSession } = createSession({ ...options, store });
    const first = await runNext(new Request('http://localhost/login'), async () => {
      await login(await getSession(), 'u1');
      await (await getSession()).save();
    });
    const cookie = pair(first.setCookies[0]);
    let fresh = '';
    const slow = await runNext(new Request('http://localhost/page', { headers: { cookie } }), async () => {
      const s = await getSession();
      // Meanwhile, another tab of the same browser logs in again.
      const other = await runNext(
        new Request('http://localhost/login', { headers: { cookie } }),
        async () => {
          await login(await getSession(), 'u1');
          await (await getSession()).save();
        },
      );
      fresh = pair(other.setCookies[0]);
      await s.save();
      await s.save();
    });
    expect(fresh).not.toBe(cookie);
    // The browser must not be handed the old, destroyed session's cookie.
    expect(slow.setCookies.map(pair)).not.toContain(cookie);
  });
});
