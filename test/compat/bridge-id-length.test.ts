/**
 * Why: README "Migrating from express-session": "Keep your store". SQL-backed express-session stores size
 * their ID column for express-session's 32-character IDs (uid-safe, 24 bytes): connect-session-sequelize,
 * the express-session store of Sequelize apps, declares `sid: DataTypes.STRING(36)`, and on PostgreSQL
 * (or MySQL in strict mode) a longer ID fails the INSERT with "value too long for type character
 * varying(36)". An app that keeps such a store after the import swap depends on new sessions still being
 * stored — logins, carts, flash messages — so sessionkit gives sessions kept in an express-session store
 * (through its store bridge) express-session's 32-character IDs; its own stores keep 43-character IDs
 * (32 random bytes).
 *
 * The store here is express-session's MemoryStore with the column's limit: `set(sid, sess, cb)` fails as
 * the varchar(36) INSERT does when `sid` is longer than 36 characters. The same login runs side by side
 * on express-session and on sessionkit over it.
 */
import express, { type RequestHandler } from 'express';
import expressSession from 'express-session';
import { describe, expect, it } from 'vitest';
import { generateId } from '../../src/core/id.js';
import { MemoryStore } from '../../src/index.js';
import { idOf, listenOnLoopback } from '../support/apps.js';
import { Browser, errorAnswer, type Impl, middlewareOf, secret } from '../support/ecosystem-apps.js';

/** express-session's MemoryStore refusing IDs longer than a `varchar(36)` column holds. */
class VarChar36Store extends expressSession.MemoryStore {
  /** The IDs `set` was called with. */
  readonly setIds: string[] = [];

  override set(sid: string, sess: unknown, cb?: (err?: unknown) => void): void {
    this.setIds.push(sid);
    if (sid.length > 36) {
      cb?.(new Error('value too long for type character varying(36)'));
      return;
    }
    super.set(sid, sess, cb);
  }
}

function app(mw: RequestHandler) {
  const a = express();
  a.use(express.json());
  a.use(mw);
  a.post('/login', (req, res) => {
    req.session.user = 'alice';
    res.redirect('/account');
  });
  a.get('/account', (req, res) => {
    res.send(`user: ${req.session.user ?? 'anonymous'}`);
  });
  a.use(errorAnswer);
  return a;
}

/** Logs in and opens the account page; what the browser saw, and the length of the session ID. */
async function loginOn(impl: Impl, store: unknown, options: Record<string, unknown> = {}) {
  const server = await listenOnLoopback(
    app(middlewareOf(impl, { secret, resave: false, saveUninitialized: false, store, ...options })),
  );
  try {
    const browser = new Browser(server.url);
    const login = await browser.post('/login', {});
    const account = (await browser.get('/account')).body;
    const cookie = browser.cookies.get('connect.sid');
    return {
      login: login.status === 302 ? 302 : `${login.status} ${login.body}`,
      account,
      idLength: cookie === undefined ? null : idOf(`connect.sid=${cookie}`).length,
    };
  } finally {
    await server.close();
  }
}

describe('an express-session store with a varchar(36) ID column, kept at the import swap', () => {
  it('stores a new session and keeps the user logged in, as on express-session', async () => {
    const expected = await loginOn('express-session', new VarChar36Store());
    expect(expected).toEqual({ login: 302, account: 'user: alice', idLength: 32 });

    const bridged = new VarChar36Store();
    expect(await loginOn('sessionkit', bridged)).toEqual(expected);
    expect(bridged.setIds.length).toBeGreaterThan(0);
    expect(bridged.setIds.every((id) => id.length === 32)).toBe(true);
  });

  it("sessionkit's own MemoryStore keeps 43-character IDs", async () => {
    expect(await loginOn('sessionkit', new MemoryStore())).toEqual({
      login: 302,
      account: 'user: alice',
      idLength: 43,
    });
  });

  it('the stand-in refuses a 43-character ID as the column does: that login fails', async () => {
    const store = new VarChar36Store();
    const result = await loginOn('sessionkit', store, { genid: () => generateId() });
    expect(result).toEqual({
      login: '500 error: value too long for type character varying(36)',
      account: 'user: anonymous',
      idLength: null,
    });
    expect(store.setIds.every((id) => id.length === 43)).toBe(true);
  });

  it('an ID renewal (renewAfter) moves the session to a 32-character ID too', async () => {
    const store = new VarChar36Store();
    const server = await listenOnLoopback(
      app(
        middlewareOf('sessionkit', { secret, resave: false, saveUninitialized: false, store, renewAfter: 1 }),
      ),
    );
    try {
      const browser = new Browser(server.url);
      await browser.post('/login', {});
      const first = browser.cookies.get('connect.sid');
      await new Promise((resolve) => setTimeout(resolve, 20));
      expect((await browser.get('/account')).body).toBe('user: alice');
      const renewed = browser.cookies.get('connect.sid');
      expect(renewed).not.toBe(first);
      expect(idOf(`connect.sid=${renewed}`)).toHaveLength(32);
      expect((await browser.get('/account')).body).toBe('user: alice');
      expect(store.setIds.every((id) => id.length === 32)).toBe(true);
    } finally {
      await server.close();
    }
  });
});
