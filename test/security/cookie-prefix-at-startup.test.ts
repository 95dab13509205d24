/**
 * What a user depends on: `session({ name: '__Host-sid' })` (or `__Secure-`), the hardening OWASP and the
 * README's preset recommend, works only if the browser keeps the cookie. Browsers store a `__Secure-` or
 * `__Host-` cookie only when it carries Secure (and, for `__Host-`, Path=/ and no Domain), and match the
 * prefixes in any letter case (RFC 6265bis 4.1.3, Chrome, Firefox); any other such Set-Cookie is dropped
 * with no error and the user is logged out on every page (C27).
 *
 * What sessionkit does: a prefixed name whose `secure` is neither true nor 'auto' (left out, `null`), or
 * a `__Host-` name in any letter case with a Domain, is refused at session() (ERR_INVALID_OPTION). When
 * Secure is still missing on a request (`secure: 'auto'` on plain HTTP, a `cookie` function that leaves
 * `secure` out), no such cookie is sent. express-session sends all of them.
 *
 * Asserted, on Express 5, Fastify 5 and Hono: each configuration is refused at session() with
 * ERR_INVALID_OPTION, or every Set-Cookie it produces is one a browser stores.
 */
import { describe, expect, it } from 'vitest';
import { MemoryStore } from '../../src/index.js';
import type { SuiteOptions } from '../../src/testing/index.js';
import { appOf, browserRejects, FRAMEWORKS, HTTPS } from '../support/browser-cookies.js';

const cases: [string, SuiteOptions, Record<string, string>][] = [
  ["name '__Host-sid', secure unset, over HTTPS", { name: '__Host-sid' }, HTTPS],
  ["name '__Secure-sid', secure unset, over HTTPS", { name: '__Secure-sid' }, HTTPS],
  [
    "name '__Host-sid', secure: null, over HTTPS",
    { name: '__Host-sid', cookie: { secure: null as never } },
    HTTPS,
  ],
  [
    "name '__Host-sid', secure: 'auto', over plain HTTP",
    { name: '__Host-sid', cookie: { secure: 'auto' } },
    {},
  ],
  [
    "name '__Host-sid', a cookie function leaving secure out",
    { name: '__Host-sid', cookie: (() => ({ sameSite: 'lax' })) as never },
    HTTPS,
  ],
  [
    "name '__host-sid' (lower case) with domain 'example.com', secure: true",
    { name: '__host-sid', cookie: { secure: true, domain: 'example.com' } },
    { ...HTTPS, host: 'example.com' },
  ],
];

describe('a prefixed cookie name the browser would drop is refused at session()', () => {
  for (const harness of FRAMEWORKS) {
    for (const [label, options, headers] of cases) {
      it(`${harness.name}: ${label}`, async () => {
        let app: Awaited<ReturnType<typeof appOf>>;
        try {
          app = await appOf(
            harness,
            { store: new MemoryStore(), ...options },
            {
              '/login': ({ session }) => {
                (session() as unknown as Record<string, unknown>).user = 'alice';
                return 'ok';
              },
            },
          );
        } catch (error) {
          expect((error as { code?: string }).code).toBe('ERR_INVALID_OPTION');
          return;
        }
        const res = await app.request('/login', headers);
        try {
          for (const header of res.setCookie) expect(browserRejects(header), header).toBeNull();
        } finally {
          await app.close?.();
        }
      });
    }
  }
});
