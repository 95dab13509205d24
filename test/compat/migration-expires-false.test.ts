/**
 * Why: README "Migrating from express-session": "Replace the import. Keep `secret` (and `name`): existing
 * cookies verify and load… Keep your store… nobody is logged out."
 *
 * express-session's README documents `req.session.cookie.expires = false` for a browser-session cookie,
 * and "remember me" logins use it, so many stored express-session records carry
 * `"cookie": { "originalMaxAge": false, "expires": false, … }`. Every user who logged in without
 * "remember me" depends on such a record loading after the import swap (not being judged corrupt,
 * destroyed and replaced by an anonymous session), whether express-session wrote it to its own store or
 * through a sessionkit store (README: "Going back, pass the sessionkit store to express-session").
 *
 * Side by side: the same app keeps running on express-session (the user stays logged in), and the app
 * swapped to sessionkit on the same store.
 */
import { RedisStore as ConnectRedisStore } from 'connect-redis';
import express, { type RequestHandler } from 'express';
import expressSession from 'express-session';
import { createClient } from 'redis';
import { describe, expect, it } from 'vitest';
import { listenOnLoopback } from '../support/apps.js';
import {
  Browser,
  errorAnswer,
  middlewareOf,
  REDIS_URL,
  redisSkip,
  secret,
} from '../support/ecosystem-apps.js';
import { deletePrefixed } from '../support/redis.js';
import { runNamespace } from '../support/services.js';
import { SlowMemoryStore } from '../support/slow-store.js';

function app(mw: RequestHandler) {
  const a = express();
  a.use(express.json());
  a.use(mw);
  a.post('/login', (req, res) => {
    req.session.user = 'alice';
    if (!req.body.remember) req.session.cookie.expires = false; // express-session README's browser-session cookie
    res.redirect('/account');
  });
  a.get('/account', (req, res) => {
    res.send(`user: ${req.session.user ?? 'anonymous'}`);
  });
  a.use(errorAnswer);
  return a;
}

type Kind = 'express-session MemoryStore' | 'connect-redis' | 'sessionkit store (slow)';
const kinds: Kind[] = ['express-session MemoryStore', 'connect-redis', 'sessionkit store (slow)'];

async function storeOf(kind: Kind): Promise<{ store: unknown; close(): Promise<void> }> {
  if (kind === 'express-session MemoryStore')
    return { store: new expressSession.MemoryStore(), close: async () => {} };
  if (kind === 'sessionkit store (slow)') return { store: new SlowMemoryStore(25), close: async () => {} };
  const client = createClient({ url: REDIS_URL });
  client.on('error', () => undefined);
  await client.connect();
  const prefix = `${runNamespace('mig_expires_false')}:`;
  return {
    store: new ConnectRedisStore({ client, prefix }),
    close: async () => {
      await deletePrefixed(client, prefix).catch(() => {});
      await client.close().catch(() => {});
    },
  };
}

/** Logs in on express-session, then serves the next request with `next` on the same store. */
async function deploy(kind: Kind, next: 'express-session' | 'sessionkit') {
  const { store, close } = await storeOf(kind);
  const options = {
    secret,
    resave: false,
    saveUninitialized: false,
    store,
    cookie: { maxAge: 24 * 3600_000 },
  };
  try {
    const before = await listenOnLoopback(app(middlewareOf('express-session', options)));
    const browser = new Browser(before.url);
    const login = await browser.post('/login', { remember: false });
    const account = (await browser.get('/account')).body;
    await before.close();
    const after = await listenOnLoopback(app(middlewareOf(next, options)));
    browser.base = after.url;
    const afterDeploy = (await browser.get('/account')).body;
    await after.close();
    return { login: login.status, account, afterDeploy };
  } finally {
    await close();
  }
}

describe.each(kinds)('a user logged in with a browser-session cookie before the swap (%s)', (kind) => {
  it.skipIf(kind === 'connect-redis' && redisSkip !== false)(
    'is still logged in after the import is swapped, as when the app stays on express-session',
    async () => {
      const stayed = await deploy(kind, 'express-session');
      const swapped = await deploy(kind, 'sessionkit');
      expect(stayed).toEqual({ login: 302, account: 'user: alice', afterDeploy: 'user: alice' });
      expect(swapped).toEqual(stayed);
    },
  );
});
