import { createHmac } from 'node:crypto';
import { createRequire } from 'node:module';
import { describe, expect, it, vi } from 'vitest';
import { Cookie, readCookieValues, restoreCookie } from '../../src/core/cookie.js';
import { generateId, isWellFormedId, storageKey } from '../../src/core/id.js';
import { fromExpressSession, parseJson, stringifyJson } from '../../src/core/serializer.js';
import { sign, unsign } from '../../src/core/signature.js';

const require = createRequire(import.meta.url);
// express-session's own signer, to prove the formats are the same.
const cookieSignature = require('cookie-signature') as {
  sign(v: string, s: string): string;
  unsign(v: string, s: string): string | false;
};

describe('signatures', () => {
  it('match cookie-signature byte for byte, both ways', () => {
    const id = 'mFfjmzxMtP4lFBJ5RPgRmNa9e8f2bM3n';
    expect(sign(id, 'keyboard cat')).toBe(cookieSignature.sign(id, 'keyboard cat'));
    expect(unsign(cookieSignature.sign(id, 'keyboard cat'), ['keyboard cat'])).toEqual({
      value: id,
      secretIndex: 0,
    });
  });

  it('match cookie-signature for secrets of every kind: short, 64 bytes, longer, non-ASCII, Buffer', () => {
    const secrets: (string | Buffer)[] = [
      'k',
      'a'.repeat(63),
      'b'.repeat(64),
      'c'.repeat(65),
      'd'.repeat(200),
      '\u007f'.repeat(10),
      'clé secrète',
      '秘密の鍵',
      '\u0080\u00ff',
      Buffer.from([0, 0x80, 0xff, 0x36, 0x5c]),
      Buffer.alloc(100, 0xaa),
    ];
    const values = ['', 'mFfjmzxMtP4lFBJ5RPgRmNa9e8f2bM3n', 'é', 'x'.repeat(300), 'a.b.c'];
    for (const secret of secrets)
      for (const value of values) {
        // Node's own HMAC is the reference; cookie-signature (strings only) agrees with it.
        const mac = createHmac('sha256', secret).update(value).digest('base64').replace(/=+$/, '');
        const expected = `${value}.${mac}`;
        if (typeof secret === 'string') expect(cookieSignature.sign(value, secret)).toBe(expected);
        expect(sign(value, secret)).toBe(expected);
        // An empty value is refused by unsign whatever its MAC (no session ID is empty).
        if (value !== '') expect(unsign(expected, [secret])).toEqual({ value, secretIndex: 0 });
      }
  });

  it('verify with every secret and say which one matched (rotation)', () => {
    const signed = sign('abc', 'old');
    expect(unsign(signed, ['new', 'old'])).toEqual({ value: 'abc', secretIndex: 1 });
    expect(unsign(signed, ['new'])).toBeNull();
  });

  it('reject a bad, truncated or extended MAC (cookie-signature#40, B07)', () => {
    const signed = sign('abc', 's');
    expect(unsign(`${signed.slice(0, -1)}x`, ['s'])).toBeNull();
    expect(unsign(signed.slice(0, -2), ['s'])).toBeNull();
    expect(unsign(`${signed}garbage`, ['s'])).toBeNull();
    expect(unsign(`x${signed}`, ['s'])).toBeNull();
    expect(unsign('abc', ['s'])).toBeNull();
    expect(unsign('.abc', ['s'])).toBeNull();
  });

  it('reject a MAC whose characters only look right byte by byte, and still verify the next cookie', () => {
    const signed = sign('abc', 's');
    const last = signed.charCodeAt(signed.length - 1);
    // U+0100 plus the last character's code has the same low byte: a Latin-1 write alone would accept it.
    expect(unsign(`${signed.slice(0, -1)}${String.fromCharCode(0x100 + last)}`, ['s'])).toBeNull();
    expect(unsign(`${signed}=`, ['s'])).toBeNull();
    expect(unsign(`${signed.slice(0, -1)}-`, ['s'])).toBeNull();
    expect(unsign(signed, ['s'])).toEqual({ value: 'abc', secretIndex: 0 });
  });
});

describe('ids', () => {
  it('are 256 random bits in base64url', () => {
    const id = generateId();
    expect(id).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(Buffer.from(id, 'base64url')).toHaveLength(32);
    expect(new Set(Array.from({ length: 1000 }, generateId)).size).toBe(1000);
  });

  it('accept express-session and UUID shapes, and reject junk before any store work (C04)', () => {
    expect(isWellFormedId('mFfjmzxMtP4lFBJ5RPgRmNa9e8f2bM3n', false)).toBe(true);
    expect(isWellFormedId(generateId(), false)).toBe(true);
    expect(isWellFormedId('../../etc/passwd', false)).toBe(false);
    expect(isWellFormedId('a'.repeat(129), false)).toBe(false);
    expect(isWellFormedId('short', false)).toBe(false);
    expect(isWellFormedId('abc;def', true)).toBe(false);
  });

  it('are stored under their SHA-256, not as themselves (C05)', () => {
    const id = generateId();
    expect(storageKey(id)).not.toContain(id);
    expect(storageKey(id)).toMatch(/^[A-Za-z0-9_-]{43}$/);
  });
});

describe('cookie header parsing', () => {
  it('returns every value under the exact name, in order (B04)', () => {
    expect(readCookieValues('sid=a; other=x; sid=b', 'sid')).toEqual(['a', 'b']);
    expect(readCookieValues(['sid=a', 'sid=b'], 'sid')).toEqual(['a', 'b']);
  });

  it('matches names byte for byte (B05)', () => {
    expect(readCookieValues('SID=a; \u2000sid=b; sid =c;\tsid=d', 'sid')).toEqual(['c', 'd']);
  });

  it('never throws on bad encodings and skips them (B09)', () => {
    expect(readCookieValues('sid=%zz; sid=%E0%A4%A; sid="s%3Aok"', 'sid')).toEqual(['s:ok']);
    expect(readCookieValues(';;;=;sid;==;', 'sid')).toEqual([]);
  });

  it('decodes signed values as decodeURIComponent does, whatever their escapes', () => {
    const values = [
      `s:${sign('mFfjmzxMtP4lFBJ5RPgRmNa9e8f2bM3n', 'keyboard cat')}`,
      's:a+b/c=d',
      's:a b',
      's:é',
      's:',
      's:%',
    ];
    for (let i = 0; i < 200; i++) values.push(`s:${sign(`id${i}`, 'k')}`);
    for (const value of values) {
      const sent = encodeURIComponent(value);
      for (const form of [sent, sent.toLowerCase(), sent.replace(/%2B/g, '%2b')])
        expect(readCookieValues(`sid=${form}`, 'sid')).toEqual([decodeURIComponent(form)]);
    }
    expect(readCookieValues('sid=s%3Aab%2', 'sid')).toEqual([]);
    expect(readCookieValues('sid=s%3Aab%2G', 'sid')).toEqual([]);
  });

  it('finds the cookie after any number of pairs, in one pass, keeping a bounded number of values (B03)', () => {
    expect(readCookieValues(`${'a=1;'.repeat(100_000)}sid=late`, 'sid')).toEqual(['late']);
    expect(readCookieValues(`sid=early;${'a=1;'.repeat(100_000)}`, 'sid')).toEqual(['early']);
    // Pairs without '=' would make a scan for it per pair quadratic: 200,000 of them would not finish.
    expect(readCookieValues(`${'a;'.repeat(200_000)}sid=x`, 'sid')).toEqual(['x']);
    expect(readCookieValues('sid=1;'.repeat(1_000), 'sid')).toHaveLength(8);
  });

  it('handles __proto__ and friends as plain names (B06)', () => {
    expect(readCookieValues('__proto__=x; constructor=y; sid=z', '__proto__')).toEqual(['x']);
    expect(({} as Record<string, unknown>).x).toBeUndefined();
  });
});

describe('Cookie', () => {
  it('behaves like express-session’s Cookie for maxAge, expires and originalMaxAge', () => {
    const cookie = new Cookie({ maxAge: 60_000, httpOnly: true });
    expect(cookie.originalMaxAge).toBe(60_000);
    expect(cookie.maxAge).toBeGreaterThan(59_000);
    expect(cookie.expires).toBeInstanceOf(Date);
    cookie.maxAge = 1000;
    expect(cookie.originalMaxAge).toBe(1000);
    expect(new Cookie().expires).toBeNull();
    expect(new Cookie().maxAge).toBeNull();
    expect(JSON.parse(JSON.stringify(new Cookie({ path: '/x' })))).toEqual({
      originalMaxAge: null,
      expires: null,
      httpOnly: true,
      path: '/x',
    });
  });

  it('keeps originalMaxAge exactly the maxAge given, however the clock moves while setting it', () => {
    let now = 1_700_000_000_000;
    const clock = vi.spyOn(Date, 'now').mockImplementation(() => now++);
    try {
      const cookie = new Cookie({ maxAge: 60_000 });
      expect(cookie.originalMaxAge).toBe(60_000);
      cookie.maxAge = 5_000;
      expect(cookie.originalMaxAge).toBe(5_000);
      cookie.maxAge = null;
      expect(cookie.originalMaxAge).toBeNull();
      expect(cookie.expires).toBeNull();
    } finally {
      clock.mockRestore();
    }
  });

  it('restores a stored cookie with the store’s deadline as its expiry, keeping its attributes', () => {
    const deadline = Date.now() + 30_000;
    const stored = {
      originalMaxAge: 60_000,
      expires: new Date(Date.now() + 60_000).toISOString(),
      httpOnly: true,
      path: '/app',
      sameSite: 'strict' as const,
    };
    const cookie = restoreCookie(stored, deadline);
    expect(cookie.expires?.valueOf()).toBe(deadline);
    expect(cookie.originalMaxAge).toBe(60_000);
    expect(cookie).toMatchObject({ httpOnly: true, path: '/app', sameSite: 'strict' });
    // A foreign record with an expiry but no originalMaxAge: the age it implies is kept, the deadline wins.
    const foreign = restoreCookie({ expires: stored.expires, path: '/' } as typeof stored, deadline);
    expect(foreign.expires?.valueOf()).toBe(deadline);
    expect(foreign.originalMaxAge).toBeGreaterThan(59_000);
    // A browser-session cookie stays one.
    expect(restoreCookie({ originalMaxAge: null, expires: null, path: '/' }, deadline).expires).toBeNull();
  });

  it('serializes with Expires, as express-session does', () => {
    const cookie = new Cookie({
      maxAge: 1000,
      sameSite: 'strict',
      secure: true,
      priority: 'high',
      partitioned: true,
    });
    expect(cookie.serialize('sid', 'v')).toMatch(
      /^sid=v; Path=\/; Expires=.+; HttpOnly; Secure; Partitioned; Priority=High; SameSite=Strict$/,
    );
  });
});

describe('serializer', () => {
  it('drops __proto__, constructor and prototype keys on parse (B17)', () => {
    const value = parseJson(
      '{"a":1,"__proto__":{"polluted":1},"b":{"constructor":{"prototype":{"x":1}}}}',
    ) as Record<string, unknown>;
    expect(value).toEqual({ a: 1, b: {} });
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(Object.getPrototypeOf(value)).toBe(Object.prototype);
  });

  it('turns unserializable values into a typed error (B15)', () => {
    expect(() => stringifyJson({ n: 1n })).toThrow(expect.objectContaining({ code: 'ERR_SESSION_DATA' }));
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    expect(() => stringifyJson(cyclic)).toThrow(expect.objectContaining({ code: 'ERR_SESSION_DATA' }));
  });

  it('reports invalid JSON as corrupt (B18)', () => {
    expect(() => parseJson('{"trunc')).toThrow(expect.objectContaining({ code: 'ERR_SESSION_CORRUPT' }));
  });

  it('reads express-session’s stored shape, including the legacy _expires', () => {
    const now = Date.now();
    const expires = new Date(now + 5000).toISOString();
    const record = fromExpressSession(
      { cookie: { originalMaxAge: 5000, expires, httpOnly: true, path: '/' }, views: 3 },
      now,
    );
    expect(record).toMatchObject({ data: { views: 3 }, expiresAt: Date.parse(expires), userId: null });
    const legacy = fromExpressSession(JSON.stringify({ cookie: { _expires: expires }, a: 1 }), now);
    expect(legacy.expiresAt).toBe(Date.parse(expires));
    expect(fromExpressSession({ cookie: { expires: 'not a date' } }, now, 1000).expiresAt).toBe(now + 1000);
    expect(fromExpressSession({ a: 1 }, now, 1000).expiresAt).toBe(now + 1000);
  });
});
