/**
 * Why: a `cookie` function's result is the session cookie's attributes for that request. A result that is
 * not an object (an `async` function's Promise, a string) has no attributes to take: sending the cookie
 * anyway would drop every attribute the application asked for (SameSite, Max-Age, Secure) and send one
 * weaker than configured. It fails the request with ERR_INVALID_OPTION instead; `null` or `undefined`
 * means the defaults, as in express-session.
 */
import { describe, expect, it } from 'vitest';
import { cookieResultOf } from '../../src/core/cookie.js';
import { adapters, BASE, type Route } from '../support/callback-adapters.js';

const routes: Record<string, Route> = {
  '/w': (s) => {
    s.n = 1;
    return 1;
  },
};

for (const adapter of adapters) {
  describe(adapter.name, () => {
    for (const [title, cookie] of [
      ['an async cookie function (a Promise)', async () => ({ sameSite: 'strict', maxAge: 60_000 })],
      ['a cookie function returning a string', () => 'sameSite=strict'],
    ] as const) {
      it(`${title}: the request fails, no cookie is sent`, async () => {
        const made = await adapter.create({ ...BASE, cookie }, routes);
        const res = await made.request('/w');
        expect(res.status).toBe(500);
        expect(res.setCookie.find((c) => c.startsWith('connect.sid='))).toBeUndefined();
        await made.close?.();
      });
    }

    it("an async cookie function under preset 'owasp': the request fails", async () => {
      // The preset lays its own attributes under the function's: a Promise spread there would leave them only.
      const cookie = async () => ({ sameSite: 'strict', maxAge: 60_000 });
      const made = await adapter.create({ ...BASE, preset: 'owasp', cookie }, routes);
      const res = await made.request('/w');
      expect(res.status).toBe(500);
      await made.close?.();
    });

    it('a cookie function returning null: the default attributes', async () => {
      const made = await adapter.create({ ...BASE, cookie: () => null }, routes);
      const res = await made.request('/w');
      expect(res.status).toBe(200);
      expect(res.setCookie.find((c) => c.startsWith('connect.sid='))).toMatch(/HttpOnly.*SameSite=Lax/i);
      await made.close?.();
    });
  });
}

describe('cookieResultOf', () => {
  it('names what was wrong', () => {
    expect(() => cookieResultOf(Promise.resolve({}))).toThrow(
      expect.objectContaining({
        code: 'ERR_INVALID_OPTION',
        message: expect.stringMatching(/returned a Promise/),
      }),
    );
    expect(() => cookieResultOf('sameSite=strict')).toThrow(/not a string/);
    expect(() => cookieResultOf([])).toThrow(/not an array/);
    expect(cookieResultOf(undefined)).toEqual({});
    expect(cookieResultOf({ sameSite: 'strict' })).toEqual({ sameSite: 'strict' });
  });
});
