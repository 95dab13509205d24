/**
 * The Set-Cookie fast path (a template per attribute set) must produce byte for byte what the `cookie`
 * package produces, and throw where it throws.
 */
import { type SerializeOptions, serialize } from 'cookie';
import { describe, expect, it } from 'vitest';
import { Cookie, serializeCookie, serializeSessionCookie } from '../../src/core/cookie.js';
import type { CookieData } from '../../src/core/types.js';

function reference(name: string, value: string, data: CookieData, secure: boolean): string {
  const options: SerializeOptions = {
    path: data.path,
    domain: data.domain,
    httpOnly: data.httpOnly,
    secure: secure || data.secure === true,
    partitioned: data.partitioned,
    priority: data.priority,
  };
  if (data.sameSite !== undefined && data.sameSite !== 'auto') options.sameSite = data.sameSite;
  if (data.expires) options.expires = new Date(data.expires);
  return serialize(name, value, options);
}

describe('serializeCookie', () => {
  const values = ['s:abc.def+/=', '', 'plain', 'ünï cødé; x=1'];
  const expires = [null, undefined, new Date(1_800_000_000_123).toISOString(), new Date(0).toISOString()];
  const variants: Partial<CookieData>[] = [
    {},
    { path: '/', httpOnly: true, sameSite: 'lax' },
    { path: '/app', domain: 'example.com', secure: true, sameSite: 'strict', priority: 'high' },
    { path: '/', httpOnly: false, sameSite: 'none', partitioned: true, secure: 'auto' },
    { sameSite: true, priority: 'low' },
    { sameSite: 'auto' },
  ];
  it('matches the cookie package for every attribute combination, twice (cold and cached)', () => {
    for (const name of ['connect.sid', '__Host-sid']) {
      for (const value of values) {
        for (const expiry of expires) {
          for (const variant of variants) {
            for (const secure of [false, true]) {
              const data: CookieData = { originalMaxAge: 1000, ...variant, expires: expiry };
              const expected = reference(name, value, data, secure);
              expect(serializeCookie(name, value, data, secure)).toBe(expected);
              expect(serializeCookie(name, value, data, secure)).toBe(expected);
            }
          }
        }
      }
    }
  });

  it("follows a live Cookie's attributes when the application changes them between responses", () => {
    const cookie = new Cookie({ maxAge: 60_000, path: '/', sameSite: 'lax' });
    expect(serializeSessionCookie('sid', 'v', cookie, false)).toContain('Path=/;');
    cookie.path = '/app';
    cookie.sameSite = 'strict';
    const after = serializeSessionCookie('sid', 'v', cookie, false);
    expect(after).toContain('Path=/app;');
    expect(after).toContain('SameSite=Strict');
    expect(after).toBe(reference('sid', 'v', cookie.data, false));
  });

  it('throws where the cookie package throws', () => {
    const data: CookieData = { originalMaxAge: null, path: '/' };
    expect(() => serializeCookie('bad name', 'v', data, false)).toThrow(TypeError);
    expect(() => serializeCookie('sid', 'v', { ...data, path: '/a;b' }, false)).toThrow(TypeError);
    expect(() => serializeCookie('sid', 'v', { ...data, expires: 'not a date' }, false)).toThrow(TypeError);
  });
});
