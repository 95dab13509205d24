import type { RequestHandler } from 'express';
import express from 'express';
import expressSession from 'express-session';
import { describe, expect, it } from 'vitest';
import session from '../../src/index.js';
import { MemoryStore } from '../../src/stores/memory.js';
import { listenOnLoopback } from '../support/apps.js';

/**
 * `saveUninitialized: false` is how applications set no cookie before consent (express-session's README:
 * "complying with laws that require permission before setting a cookie"). A session nobody wrote to is
 * uninitialized, also when the handler calls save() before a redirect (kept from express-session, where
 * the README's migration steps call it harmless) or made it with regenerate(). Each case runs
 * express-session beside sessionkit on the same routes.
 */

const secret = 'uninitialized-sessions-secret-0123456789';
type Kind = 'express-session' | 'sessionkit';
type Callback = (err?: unknown) => void;
type CallbackSession = Record<string, unknown> & { save(cb: Callback): void; regenerate(cb: Callback): void };

function appFor(kind: Kind) {
  const app = express();
  const store = new MemoryStore();
  const options = { secret, resave: false, saveUninitialized: false, store };
  app.use(
    kind === 'express-session'
      ? (expressSession(options) as RequestHandler)
      : (session({ ...options, logger: { warn() {} } }) as unknown as RequestHandler),
  );
  const s = (req: express.Request) => req.session as unknown as CallbackSession;
  app.get('/continue', (req, res, next) => s(req).save((err) => (err ? next(err) : res.redirect('/next'))));
  app.get('/login', (req, res) => {
    s(req).user = 'alice';
    res.send('in');
  });
  // Log out by rotating the session, leaving the new one empty.
  app.get('/logout', (req, res, next) => s(req).regenerate((err) => (err ? next(err) : res.send('out'))));
  return { app, store };
}

/** The session cookies a response set, clearing ones (Expires in 1970) left out. */
function sessionCookies(res: Response): string[] {
  return res.headers.getSetCookie().filter((c) => !/expires=thu, 01 jan 1970/i.test(c));
}

async function stored(store: MemoryStore): Promise<number> {
  return Object.keys(await store.all()).length;
}

describe('saveUninitialized: false, a session nobody wrote to', () => {
  it('save() before a redirect sets no cookie, as express-session, and stores nothing', async () => {
    for (const kind of ['express-session', 'sessionkit'] as const) {
      const { app, store } = appFor(kind);
      const server = await listenOnLoopback(app);
      try {
        const res = await fetch(`${server.url}/continue`, { redirect: 'manual' });
        await res.text();
        expect(res.status, kind).toBe(302);
        expect(res.headers.getSetCookie(), kind).toEqual([]);
        // express-session stores a record no cookie names; sessionkit writes nothing for it.
        if (kind === 'sessionkit') expect(await stored(store)).toBe(0);
      } finally {
        await server.close();
      }
    }
  });

  it('regenerate() left empty: express-session stores it and sends its cookie; sessionkit does neither (README)', async () => {
    const seen: Record<string, unknown> = {};
    for (const kind of ['express-session', 'sessionkit'] as const) {
      const { app, store } = appFor(kind);
      const server = await listenOnLoopback(app);
      try {
        const login = await fetch(`${server.url}/login`);
        await login.text();
        const cookie = (login.headers.getSetCookie()[0] as string).split(';')[0] as string;
        const logout = await fetch(`${server.url}/logout`, { headers: { cookie } });
        await logout.text();
        seen[kind] = {
          status: logout.status,
          sent: sessionCookies(logout).length,
          stored: await stored(store),
        };
      } finally {
        await server.close();
      }
    }
    // express-session counts the new ID as a change; its README calls a new session that is not modified
    // uninitialized, which is what sessionkit follows: no record per logout, no cookie before consent.
    expect(seen['express-session']).toEqual({ status: 200, sent: 1, stored: 1 });
    expect(seen.sessionkit).toEqual({ status: 200, sent: 0, stored: 0 });
  });
});
