/**
 * What a user depends on: "a malformed record must not take a user's requests down" (README differences
 * table, B18; SECURITY.md: every record a store returns is checked). A stored Path or Domain no
 * Set-Cookie can carry would fail every response that sends the cookie with ERR_INVALID_COOKIE: with
 * `rolling: true` every request of that browser, without it every request that changes the session.
 * Such records exist: express-session stores and sends a Path or Domain over 1024 characters (which
 * sessionkit refuses, C27) and whatever string an app set per request, and another app sharing the store
 * may write them; here one is written through the store API.
 *
 * What sessionkit does: a stored Path or Domain no Set-Cookie can carry (over 1024 characters, with ';',
 * a non-ASCII character or a space) is left unset when the record is read, so the session loads and its
 * responses go out.
 *
 * Asserted: three requests writing to the session with the cookie of such a record are each answered
 * 200, with and without `rolling`.
 */
import { describe, expect, it } from 'vitest';
import { MemoryStore } from '../../src/index.js';
import { appOf, FRAMEWORKS, HTTPS, pairOf } from '../support/browser-cookies.js';

const stored: [string, Record<string, unknown>][] = [
  ['a Path over 1024 characters (as express-session stores it)', { path: `/${'a'.repeat(1500)}` }],
  ["a Path with ';'", { path: '/a;b' }],
  ['a Path with a non-ASCII character', { path: '/caf\u00e9' }],
  ['a Domain with a space', { domain: 'exa mple.com' }],
  ['a Domain over 1024 characters', { domain: `${'a'.repeat(1100)}.example.com` }],
];

function idOf(setCookie: string): string {
  const value = decodeURIComponent(pairOf([setCookie]).split('=')[1] as string);
  return value.slice(2, value.lastIndexOf('.'));
}

describe('a stored cookie attribute no Set-Cookie can carry does not fail the requests', () => {
  for (const harness of FRAMEWORKS) {
    for (const [label, attributes] of stored) {
      for (const rolling of [true, false]) {
        it(`${harness.name}: ${label}, rolling: ${rolling}`, async () => {
          const store = new MemoryStore();
          const app = await appOf(
            harness,
            { store, rolling, cookie: { maxAge: 60_000 } },
            {
              '/login': ({ session }) => {
                (session() as unknown as Record<string, unknown>).user = 'alice';
                return 'ok';
              },
              '/write': ({ session }) => {
                const s = session() as unknown as Record<string, number>;
                s.n = (s.n ?? 0) + 1;
                return 'written';
              },
            },
          );
          try {
            const login = await app.request('/login', HTTPS);
            const id = idOf(login.setCookie[0] as string);
            const record = await store.get(id);
            expect(record).not.toBeNull();
            await store.set(id, { ...record!, cookie: { ...record!.cookie, ...attributes } as never });
            const cookie = pairOf(login.setCookie);
            const statuses: number[] = [];
            for (let i = 0; i < 3; i++)
              statuses.push((await app.request('/write', { ...HTTPS, cookie })).status);
            expect(statuses).toEqual([200, 200, 200]);
          } finally {
            await app.close?.();
          }
        });
      }
    }
  }
});
