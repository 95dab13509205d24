/**
 * Why: express-session accepts `session({ cookie: { sameSite: 'None' } })` (or 'Strict', 'Lax', and
 * `priority: 'High'`), as options and from a `cookie` function: the `cookie` package it serializes with
 * compares SameSite and Priority case-insensitively. A user depends on an express-session app configured
 * with `sameSite: 'None', secure: true` (the spelling of most cross-site cookie guides) starting and
 * answering with the same cookie attributes after switching the import: these values are valid, not
 * among the invalid options sessionkit refuses at start-up.
 */
import { describe, expect, it } from 'vitest';
import { appWith, type Kind, middleware } from '../support/side-by-side.js';

const spellings: Record<string, unknown>[] = [
  { sameSite: 'None', secure: true },
  { sameSite: 'Strict' },
  { sameSite: 'Lax' },
  { priority: 'High' },
];

function attributes(setCookie: string | undefined): string[] {
  return (setCookie ?? '')
    .split(';')
    .slice(1)
    .map((a) => a.trim().toLowerCase())
    .sort();
}

async function firstCookie(kind: Kind, cookie: unknown) {
  const app = await appWith(kind, { cookie, proxy: true, saveUninitialized: true }, (req, res) => {
    (req as unknown as { session: Record<string, unknown> }).session.n = 1;
    res.send('ok');
  });
  try {
    const res = await app.get('/', undefined, { 'x-forwarded-proto': 'https' });
    return { status: res.status, attributes: attributes(res.setCookie[0]) };
  } finally {
    await app.close();
  }
}

describe('SameSite / Priority spelled in another case', () => {
  for (const cookie of spellings) {
    it(`session({ cookie: ${JSON.stringify(cookie)} }) starts, as express-session does`, async () => {
      expect(() => middleware('express-session', { cookie })).not.toThrow();
      expect(() => middleware('sessionkit', { cookie })).not.toThrow();
    });

    it(`a cookie function returning ${JSON.stringify(cookie)} answers as express-session`, async () => {
      const expected = await firstCookie('express-session', () => ({ ...cookie }));
      expect(expected.status).toBe(200);
      const actual = await firstCookie('sessionkit', () => ({ ...cookie }));
      expect(actual.status).toBe(200);
      // sessionkit's own default SameSite=Lax (README differences) does not apply: SameSite is given or
      // only Priority is compared.
      const strip = (a: string[]) => a.filter((x) => !x.startsWith('samesite=lax') || 'sameSite' in cookie);
      expect(strip(actual.attributes)).toEqual(strip(expected.attributes));
    });
  }
});
