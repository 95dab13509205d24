/**
 * Why: express-session (and the `cookie` package it serializes with) accepts a SameSite or Priority
 * written in another case ('Strict', 'None', 'High') and an attribute set to null ('domain: null' to
 * drop a Domain, 'path: null'). A user depends on staying logged in after the app does
 * `req.session.cookie.sameSite = 'None'` (the spelling most cross-site cookie guides use) or
 * `req.session.cookie.domain = null`: the session stored with such a cookie must load on the next
 * request, not be judged corrupt and replaced by a fresh, empty one.
 */
import { describe, expect, it } from 'vitest';
import { appWith, type Kind } from '../support/side-by-side.js';

type Mutate = (cookie: Record<string, unknown>) => void;
const perRequest: [string, Mutate][] = [
  [
    "sameSite = 'Strict'",
    (c) => {
      c.sameSite = 'Strict';
    },
  ],
  [
    "sameSite = 'None' (with secure)",
    (c) => {
      c.sameSite = 'None';
      c.secure = true;
    },
  ],
  [
    "priority = 'High'",
    (c) => {
      c.priority = 'High';
    },
  ],
  [
    'domain = null',
    (c) => {
      c.domain = null;
    },
  ],
  [
    'secure = null',
    (c) => {
      c.secure = null;
    },
  ],
];

async function loginThenRead(kind: Kind, options: Record<string, unknown>, mutate?: Mutate) {
  const app = await appWith(kind, { proxy: true, ...options }, (req, res) => {
    const s = (req as unknown as { session: Record<string, unknown> & { cookie: Record<string, unknown> } })
      .session;
    if (req.path === '/login') {
      s.user = 'alice';
      mutate?.(s.cookie);
    }
    res.send(String(s.user ?? 'anonymous'));
  });
  try {
    const https = { 'x-forwarded-proto': 'https' };
    const login = await app.get('/login', undefined, https);
    expect(login.status).toBe(200);
    expect(login.pair).toBeDefined();
    const first = await app.get('/me', login.pair, https);
    const second = await app.get('/me', login.pair, https);
    return [first.body, second.body];
  } finally {
    await app.close();
  }
}

describe('a cookie attribute express-session accepts does not lose the session', () => {
  for (const [name, mutate] of perRequest) {
    it(`req.session.cookie.${name}`, async () => {
      const expected = await loginThenRead('express-session', {}, mutate);
      expect(expected).toEqual(['alice', 'alice']);
      expect(await loginThenRead('sessionkit', {}, mutate)).toEqual(expected);
    });
  }

  it('cookie: { path: null } at session() (sessionkit accepts it at start-up)', async () => {
    const options = { cookie: { path: null, sameSite: 'lax' } };
    const expected = await loginThenRead('express-session', options);
    expect(expected).toEqual(['alice', 'alice']);
    expect(await loginThenRead('sessionkit', options)).toEqual(expected);
  });

  it('cookie: { domain: null } at session()', async () => {
    const options = { cookie: { domain: null, sameSite: 'lax' } };
    const expected = await loginThenRead('express-session', options);
    expect(expected).toEqual(['alice', 'alice']);
    expect(await loginThenRead('sessionkit', options)).toEqual(expected);
  });
});
