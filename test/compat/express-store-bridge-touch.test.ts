/**
 * A touch through the express-session store bridge keeps the session's cookie attributes and its user.
 * express-session touches with the whole session (`store.touch(sid, session, cb)`), and its MemoryStore
 * (as any store whose touch keeps the cookie it is given) stores that cookie in place of the session's:
 * handed a made-up one, the next responses lost the configured Domain and SameSite=Strict and got
 * HttpOnly back, and the user bound by login() was gone, out of reach of "log out everywhere". A touch
 * happens on read-only traffic once `touchAfter` has passed, and on every `req.session.touch()`.
 * express-session on the same store is the reference.
 */
import type { RequestHandler } from 'express';
import express from 'express';
import expressSession from 'express-session';
import { describe, expect, it } from 'vitest';
import session, { currentUserId, login } from '../../src/index.js';
import { listenOnLoopback } from '../support/apps.js';

const secret = 'bridge-touch-secret-0123456789abcdefghij';
type Kind = 'express-session' | 'sessionkit';
const cookie = { maxAge: 3_600_000, domain: 'example.com', sameSite: 'strict' as const, httpOnly: false };

type Sess = Record<string, unknown> & {
  touch(): void;
};

/** The attributes of a Set-Cookie, without its value and expiry (which change by design). */
function attributes(header: string | undefined): string[] {
  if (!header) return ['(no cookie)'];
  return header
    .split(';')
    .slice(1)
    .map((a) => a.trim().toLowerCase())
    .filter((a) => !a.startsWith('expires=') && !a.startsWith('max-age='))
    .sort();
}

async function visit(kind: Kind) {
  const app = express();
  const options = {
    secret,
    resave: false,
    saveUninitialized: false,
    rolling: true,
    cookie,
    store: new expressSession.MemoryStore() as never,
  };
  app.use(
    kind === 'express-session'
      ? (expressSession(options) as RequestHandler)
      : (session({ ...options, logger: { warn() {} } }) as unknown as RequestHandler),
  );
  const s = (req: express.Request) => req.session as unknown as Sess;
  app.get('/login', async (req, res) => {
    s(req).name = 'alice';
    if (kind === 'sessionkit') await login(req.session as never, 'alice');
    res.send('in');
  });
  app.get('/touch', (req, res) => {
    s(req).touch();
    res.send('touched');
  });
  app.get('/me', (req, res) =>
    res.json({
      name: s(req).name ?? null,
      user: kind === 'sessionkit' ? currentUserId(req.session as never) : null,
    }),
  );
  const server = await listenOnLoopback(app);
  try {
    const login = await fetch(`${server.url}/login`);
    await login.text();
    const jar = (login.headers.getSetCookie()[0] as string).split(';')[0] as string;
    const before = await fetch(`${server.url}/me`, { headers: { cookie: jar } });
    const beforeBody = await before.json();
    await (await fetch(`${server.url}/touch`, { headers: { cookie: jar } })).text();
    const after = await fetch(`${server.url}/me`, { headers: { cookie: jar } });
    const afterBody = await after.json();
    return {
      before: { body: beforeBody, attributes: attributes(before.headers.getSetCookie()[0]) },
      after: { body: afterBody, attributes: attributes(after.headers.getSetCookie()[0]) },
    };
  } finally {
    await server.close();
  }
}

describe("touch() through the bridge on express-session's MemoryStore", () => {
  it('control (passes): express-session keeps the cookie attributes across a touch', async () => {
    const es = await visit('express-session');
    expect(es.after.attributes).toEqual(es.before.attributes);
    expect(es.after.attributes).toEqual(['domain=example.com', 'path=/', 'samesite=strict']);
  });

  it('sessionkit keeps the configured Domain, SameSite and HttpOnly after a touch', async () => {
    const sk = await visit('sessionkit');
    expect(sk.before.attributes).toEqual(['domain=example.com', 'path=/', 'samesite=strict']);
    expect(sk.after.attributes).toEqual(sk.before.attributes);
  });

  it('sessionkit keeps the user bound by login() after a touch', async () => {
    const sk = await visit('sessionkit');
    expect(sk.before.body).toEqual({ name: 'alice', user: 'alice' });
    expect(sk.after.body).toEqual({ name: 'alice', user: 'alice' });
  });
});
