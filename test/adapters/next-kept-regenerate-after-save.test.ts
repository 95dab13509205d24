// First, for its effect: Next.js's request stores must exist before next/headers loads.
import '../support/next-setup.js';
/**
 * On Next.js `save()` is a commit, yet the response still takes cookies: a `regenerate({ keep: true })`
 * after it must still be the safe move (create the new ID, keep it only if the old record is still
 * there), so a logout or "log out everywhere" landing between the save and the regenerate wins, as on
 * Express. Taking the save for the response's first byte, the adapter once moved the session by the
 * plain path, and the logged-out session came back, logged in, under a new cookie.
 */
import express from 'express';
import request from 'supertest';
import { describe, expect, it } from 'vitest';
import { createSession } from '../../src/adapters/next.js';
import session, { currentUserId, logout, login as sessionLogin } from '../../src/index.js';
import { MemoryStore } from '../../src/stores/memory.js';
import { pair, runNext } from '../support/next-real.js';

const options = {
  secret: 'next-save-secret-of-at-least-32-characters!!',
  name: 'sid',
  resave: false,
  saveUninitialized: false,
} as const;

type Ending = 'revoke-all' | 'logout-other-tab';

describe('Next.js: regenerate({ keep: true }) after a save() in the same request', () => {
  it('Express (reference): a revoke landing between save() and the kept regenerate wins', async () => {
    const store = new MemoryStore();
    const app = express();
    app.use(session({ ...options, store }));
    app.get('/login', async (req, res) => {
      await sessionLogin(req.session, 'u1');
      res.end();
    });
    app.get('/rotate', async (req, res) => {
      req.session.cart = 1;
      await req.session.save();
      await store.destroyByUser('u1'); // "log out everywhere" lands here
      await req.session.regenerate({ keep: true });
      res.end();
    });
    app.get('/me', (req, res) =>
      res.json({ user: currentUserId(req.session), cart: req.session.cart ?? null }),
    );
    const agent = request.agent(app);
    await agent.get('/login');
    await agent.get('/rotate');
    expect((await agent.get('/me')).body).toEqual({ user: null, cart: null });
    expect(await store.listByUser('u1')).toHaveLength(0);
  });

  for (const ending of ['revoke-all', 'logout-other-tab'] as Ending[]) {
    it(`Next.js: a ${ending} landing between save() and the kept regenerate is not undone`, async () => {
      const store = new MemoryStore();
      const { getSession } = createSession({ ...options, store });
      const login = await runNext(new Request('http://localhost/login'), async () => {
        await sessionLogin(await getSession(), 'u1');
        await (await getSession()).save();
      });
      const cookie = pair(login.setCookies[0]);

      const rotate = await runNext(
        new Request('http://localhost/rotate', { headers: { cookie } }),
        async () => {
          const s = await getSession();
          s.cart = 1;
          await s.save();
          // Another request ends the session now.
          if (ending === 'revoke-all') await store.destroyByUser('u1');
          else
            await runNext(new Request('http://localhost/logout', { headers: { cookie } }), async () => {
              const other = await getSession();
              await logout(other);
              await other.save();
            });
          await s.regenerate({ keep: true });
          await (await getSession()).save();
        },
      );

      // Whatever cookie the browser holds now, it must not lead to a logged-in session.
      const last = rotate.setCookies.at(-1);
      const now = last !== undefined && !/expires=Thu, 01 Jan 1970/i.test(last) ? pair(last) : cookie;
      const me = await runNext(new Request('http://localhost/me', { headers: { cookie: now } }), async () => {
        const s = await getSession();
        return { user: currentUserId(s), cart: s.cart ?? null };
      });
      expect(me.result).toEqual({ user: null, cart: null });
      expect(await store.listByUser('u1')).toHaveLength(0);
    });
  }
});
