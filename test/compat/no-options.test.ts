/**
 * Why: `app.use(session())` with no options at all runs on express-session (the secret is then
 * cookie-parser's `req.secret`, a MemoryStore, its defaults), and its typings allow it. The same app must
 * run unchanged but for the import: a view counter that counts across requests.
 */
import cookieParser from 'cookie-parser';
import type { RequestHandler } from 'express';
import expressSession from 'express-session';
import request from 'supertest';
import { describe, expect, it, vi } from 'vitest';
import session from '../../src/index.js';
import { cookieOf, viewCounter } from '../support/apps.js';

describe('session() with no options', () => {
  it('counts visits with cookie-parser secret, as express-session does', async () => {
    // Both warn about the undefined resave and saveUninitialized options, each in its own way.
    const quiet = vi.spyOn(console, 'error').mockImplementation(() => undefined);
    const warn = vi.spyOn(process, 'emitWarning').mockImplementation(() => undefined);
    try {
      const results: Record<string, string[]> = {};
      for (const [kind, middleware] of [
        ['express-session', (expressSession as unknown as () => RequestHandler)()],
        ['sessionkit', session() as unknown as RequestHandler],
      ] as const) {
        const app = viewCounter(cookieParser('keyboard cat'), middleware);
        const first = await request(app).get('/').expect(200);
        const second = await request(app).get('/').set('Cookie', cookieOf(first)).expect(200);
        results[kind] = [first.text, second.text];
      }
      expect(results['express-session']).toEqual(['1', '2']);
      expect(results.sessionkit).toEqual(results['express-session']);
    } finally {
      quiet.mockRestore();
      warn.mockRestore();
    }
  });
});
