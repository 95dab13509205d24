// First, for its effect: Next.js's request stores must exist before next/headers loads.
import '../support/next-setup.js';
/**
 * `maxSessionsPerUser` applies to a Next.js `login()` that follows a `save()` of the same request (an
 * attempt counter, a returnTo saved first), as on Express: the limit was once skipped there (a save taken
 * for the response's first byte, where a login can no longer send its cookie), so `'refuse'` let a
 * second session in and `'evict-oldest'` evicted nothing.
 */
import express from 'express';
import request from 'supertest';
import { describe, expect, it } from 'vitest';
import { createSession } from '../../src/adapters/next.js';
import session, { login as sessionLogin } from '../../src/index.js';
import { MemoryStore } from '../../src/stores/memory.js';
import { runNext } from '../support/next-real.js';

const base = {
  secret: 'next-save-secret-of-at-least-32-characters!!',
  name: 'sid',
  resave: false,
  saveUninitialized: false,
  maxSessionsPerUser: 1,
} as const;

describe('maxSessionsPerUser: login() after a save() in the same request', () => {
  for (const onLimit of ['refuse', 'evict-oldest'] as const) {
    it(`Express (reference), onLimit '${onLimit}': the limit holds`, async () => {
      const store = new MemoryStore();
      const app = express();
      app.use(session({ ...base, onLimit, store }));
      app.get('/login', async (req, res) => {
        req.session.attempts = 1;
        await req.session.save();
        try {
          await sessionLogin(req.session, 'u1');
          res.json('ok');
        } catch (e) {
          res.json((e as { code?: string }).code);
        }
      });
      expect((await request(app).get('/login')).body).toBe('ok'); // browser 1
      const second = await request(app).get('/login'); // browser 2
      expect(second.body).toBe(onLimit === 'refuse' ? 'ERR_SESSION_LIMIT' : 'ok');
      expect(await store.listByUser('u1')).toHaveLength(1);
    });

    it(`Next.js, onLimit '${onLimit}': the limit holds`, async () => {
      const store = new MemoryStore();
      const { getSession } = createSession({ ...base, onLimit, store });
      const login = () =>
        runNext(new Request('http://localhost/login', { method: 'POST' }), async () => {
          const s = await getSession();
          s.attempts = 1;
          await s.save();
          try {
            await sessionLogin(s, 'u1');
            await (await getSession()).save();
            return 'ok';
          } catch (e) {
            return (e as { code?: string }).code;
          }
        });
      expect((await login()).result).toBe('ok'); // browser 1
      const second = await login(); // browser 2
      expect(second.result).toBe(onLimit === 'refuse' ? 'ERR_SESSION_LIMIT' : 'ok');
      expect(await store.listByUser('u1')).toHaveLength(1);
    });
  }
});
