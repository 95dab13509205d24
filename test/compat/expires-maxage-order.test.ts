/**
 * Why: express-session's README, on both `cookie.expires` and `cookie.maxAge`: "If both `expires` and
 * `maxAge` are set in the options, then the last one defined in the object is what is used." A user
 * depends on `cookie: { expires: someDate, maxAge: 60_000 }` (say a default `expires` spread first, then
 * the app's own maxAge) giving a one-minute cookie and session, as documented, not a login that lives
 * until `someDate`.
 */
import { describe, expect, it } from 'vitest';
import { appWith, type Kind } from '../support/side-by-side.js';

async function lifetime(kind: Kind, cookie: Record<string, unknown>) {
  const app = await appWith(kind, { cookie, saveUninitialized: true }, (req, res) => {
    const s = (req as unknown as { session: { cookie: { maxAge: number; originalMaxAge: number } } }).session;
    res.json({
      maxAgeMin: Math.round(s.cookie.maxAge / 60_000),
      originalMin: Math.round(s.cookie.originalMaxAge / 60_000),
    });
  });
  try {
    const res = await app.get('/');
    const expires = /expires=([^;]+)/i.exec(res.setCookie[0] ?? '')?.[1];
    return {
      ...JSON.parse(res.body),
      setCookieMin: expires ? Math.round((Date.parse(expires) - Date.now()) / 60_000) : null,
    };
  } finally {
    await app.close();
  }
}

describe('cookie options with both expires and maxAge: the last one defined wins', () => {
  it('{ expires: in 1 h, maxAge: 1 min } is a one-minute cookie', async () => {
    const make = () => ({ sameSite: 'lax', expires: new Date(Date.now() + 3_600_000), maxAge: 60_000 });
    const expected = await lifetime('express-session', make());
    expect(expected).toEqual({ maxAgeMin: 1, originalMin: 1, setCookieMin: 1 });
    expect(await lifetime('sessionkit', make())).toEqual(expected);
  });

  it('{ maxAge: 1 min, expires: in 1 h } is a one-hour cookie (both agree)', async () => {
    const make = () => ({ sameSite: 'lax', maxAge: 60_000, expires: new Date(Date.now() + 3_600_000) });
    const expected = await lifetime('express-session', make());
    expect(expected).toEqual({ maxAgeMin: 60, originalMin: 60, setCookieMin: 60 });
    expect(await lifetime('sessionkit', make())).toEqual(expected);
  });
});
