/**
 * Why: express-session reads the session cookie from the Cookie header and, when that gives no valid ID
 * (missing *or failing its signature*), falls back to cookie-parser's `req.signedCookies[name]`
 * (express-session's `getcookie`: `if (!val && req.signedCookies)`). Apps rotate their signing secret
 * through cookie-parser — `app.use(cookieParser([NEW, OLD])); app.use(session({ secret: NEW }))` — and
 * depend on users whose cookie was signed with OLD staying logged in.
 */
import { createRequire } from 'node:module';
import cookieParser from 'cookie-parser';
import { describe, expect, it } from 'vitest';
import { appWith, type Kind, SECRET } from '../support/side-by-side.js';

const require = createRequire(import.meta.url);
// The signer express-session (and cookie-parser) use, to sign a cookie as before the rotation.
const signature = require('cookie-signature') as { sign(value: string, secret: string): string };

const OLD = 'the-old-secret-0123456789abcdefghijklmn';

async function rotated(kind: Kind) {
  const app = await appWith(
    kind,
    { secret: SECRET },
    (req, res) => {
      const s = (req as unknown as { session: Record<string, unknown> }).session;
      if (req.path === '/login') s.user = 'alice';
      res.send(String(s.user ?? 'anonymous'));
    },
    [cookieParser([SECRET, OLD])],
  );
  try {
    const login = await app.get('/login');
    const pair = login.pair as string;
    // The same session ID, as a cookie signed before the rotation (with OLD).
    const id = decodeURIComponent(pair.slice(pair.indexOf('=') + 1))
      .slice(2)
      .split('.')[0] as string;
    const oldCookie = `connect.sid=${encodeURIComponent(`s:${signature.sign(id, OLD)}`)}`;
    return (await app.get('/me', oldCookie)).body;
  } finally {
    await app.close();
  }
}

describe('cookie-parser verified the cookie, the session secret did not', () => {
  it('loads the session from req.signedCookies, as express-session does', async () => {
    expect(await rotated('express-session')).toBe('alice');
    expect(await rotated('sessionkit')).toBe('alice');
  });
});
