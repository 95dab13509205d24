/**
 * What a user depends on: a session cookie scoped where sessionkit believes it is. A Set-Cookie with no
 * Path, or one that does not start with '/', is stored by a browser under the default-path, the directory
 * of the request that set it (RFC 6265bis 5.6.4): logged in at `/auth/login`, the cookie would be scoped
 * to `/auth` and `/account` would arrive without it, logging the user out there with no error (C27).
 *
 * What sessionkit does: a Path of `null` or `''` (at session(), from a `cookie` function or set on
 * `req.session.cookie`) is the root '/', and the cookie is sent with `Path=/`, as the README's default
 * says. A relative Path or a non-string one set per request (`'account'`, `5`) is refused: the response
 * fails with ERR_INVALID_COOKIE and nothing is stored.
 *
 * Asserted: every session Set-Cookie carries a Path starting with '/', and the browser's cookie-path
 * covers `/account` after a login at `/auth/login` whenever sessionkit serves `/account` that session;
 * or the value is refused (ERR_INVALID_OPTION at session(), or a 500 that stored nothing).
 */
import { describe, expect, it } from 'vitest';
import { MemoryStore } from '../../src/index.js';
import type { SuiteOptions } from '../../src/testing/index.js';
import { appOf, FRAMEWORKS, parseSetCookie, storedPath } from '../support/browser-cookies.js';

type Change = ((cookie: Record<string, unknown>) => void) | null;
const cases: [string, SuiteOptions, Change][] = [
  ["session({ cookie: { path: '' } })", { cookie: { path: '' } }, null],
  ['session({ cookie: { path: null } })', { cookie: { path: null as never } }, null],
  ["a cookie function returning { path: '' }", { cookie: (() => ({ path: '' })) as never }, null],
  [
    'req.session.cookie.path = null',
    {},
    (c) => {
      c.path = null;
    },
  ],
  [
    "req.session.cookie.path = ''",
    {},
    (c) => {
      c.path = '';
    },
  ],
  [
    "req.session.cookie.path = 'account' (no leading slash)",
    {},
    (c) => {
      c.path = 'account';
    },
  ],
  [
    'req.session.cookie.path = 5 (not a string)',
    {},
    (c) => {
      c.path = 5;
    },
  ],
];

describe('the cookie Path is never left to the browser default-path', () => {
  for (const harness of FRAMEWORKS) {
    for (const [label, options, change] of cases) {
      it(`${harness.name}: ${label}`, async () => {
        const store = new MemoryStore();
        let app: Awaited<ReturnType<typeof appOf>>;
        try {
          app = await appOf(
            harness,
            { store, ...options },
            {
              '/auth/login': ({ session }) => {
                const s = session() as unknown as Record<string, unknown> & {
                  cookie: Record<string, unknown>;
                };
                s.user = 'alice';
                change?.(s.cookie);
                return 'ok';
              },
              '/account': ({ session }) => String((session() as unknown as Record<string, unknown>)?.user),
            },
          );
        } catch (error) {
          expect((error as { code?: string }).code).toBe('ERR_INVALID_OPTION');
          return;
        }
        try {
          const login = await app.request('/auth/login', {});
          if (login.status >= 500) {
            expect(await store.length()).toBe(0);
            return;
          }
          expect(login.setCookie.length).toBe(1);
          const header = login.setCookie[0] as string;
          const path = parseSetCookie(header).attributes.get('path');
          expect(typeof path === 'string' && path.startsWith('/'), header).toBe(true);
          // sessionkit serves /account a session with this cookie: the browser must send it there.
          const pair = header.split(';')[0] as string;
          const account = await app.request('/account', { cookie: pair });
          if (account.body.includes('alice'))
            expect('/account'.startsWith(storedPath(header, '/auth/login')), header).toBe(true);
        } finally {
          await app.close?.();
        }
      });
    }
  }
});
