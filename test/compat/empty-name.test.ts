/**
 * Why: express-session takes the cookie name as `opts.name || opts.key || 'connect.sid'`, so an empty
 * `name` (e.g. `name: process.env.SESSION_COOKIE ?? ''`, or `name: ''` with `key: 'app.sid'`) falls back.
 * A user depends on an express-session configuration that starts today starting after the switch, with
 * the same cookie name, so nobody is logged out.
 */
import { describe, expect, it } from 'vitest';
import { appWith, type Kind } from '../support/side-by-side.js';

async function cookieName(kind: Kind, options: Record<string, unknown>) {
  const app = await appWith(
    kind,
    { saveUninitialized: true, cookie: { sameSite: 'lax' }, ...options },
    (_req, res) => {
      res.send('ok');
    },
  );
  try {
    return (await app.get('/')).pair?.split('=')[0];
  } finally {
    await app.close();
  }
}

describe('an empty name falls back as in express-session', () => {
  it("name: '' is connect.sid", async () => {
    expect(await cookieName('express-session', { name: '' })).toBe('connect.sid');
    expect(await cookieName('sessionkit', { name: '' })).toBe('connect.sid');
  });

  it("name: '' with key: 'app.sid' is app.sid", async () => {
    expect(await cookieName('express-session', { name: '', key: 'app.sid' })).toBe('app.sid');
    expect(await cookieName('sessionkit', { name: '', key: 'app.sid' })).toBe('app.sid');
  });
});
