/**
 * What a user depends on: a cross-site app (an embedded widget, an SSO callback) that sets
 * `sameSite: 'none'` and forgets Secure gets a Set-Cookie every current browser rejects ("SameSite=None
 * requires Secure"): the user cannot stay logged in, so the server has to say why (README `cookie`
 * table: "'none' without secure warns"; SECURITY.md C23).
 *
 * What sessionkit does: SameSite=None without Secure is sent with a warning (not repeated on every
 * response), however it was set: `session({ cookie: { sameSite: 'None' } })`,
 * `req.session.cookie.sameSite = 'None'` on a request (in any letter case), or
 * `{ sameSite: 'none', secure: 'auto' }` resolving to insecure on a plain-HTTP request.
 *
 * Asserted: whenever a response carries a SameSite=None cookie without Secure, a warning naming SameSite
 * and Secure was given.
 */
import { describe, expect, it } from 'vitest';
import { MemoryStore } from '../../src/index.js';
import type { SuiteOptions } from '../../src/testing/index.js';
import { appOf, browserRejects, FRAMEWORKS } from '../support/browser-cookies.js';

const cases: [string, SuiteOptions, ((cookie: Record<string, unknown>) => void) | null][] = [
  ["session({ cookie: { sameSite: 'None' } })", { cookie: { sameSite: 'None' as never } }, null],
  [
    "req.session.cookie.sameSite = 'none'",
    {},
    (c) => {
      c.sameSite = 'none';
    },
  ],
  [
    "req.session.cookie.sameSite = 'None'",
    {},
    (c) => {
      c.sameSite = 'None';
    },
  ],
  [
    "req.session.cookie.sameSite = 'NONE'",
    {},
    (c) => {
      c.sameSite = 'NONE';
    },
  ],
  [
    "{ sameSite: 'none', secure: 'auto' } on a plain-HTTP request",
    { cookie: { sameSite: 'none', secure: 'auto' } },
    null,
  ],
];

describe('SameSite=None without Secure is reported however it was set', () => {
  for (const harness of FRAMEWORKS) {
    for (const [label, options, change] of cases) {
      it(`${harness.name}: ${label}`, async () => {
        const warnings: string[] = [];
        const app = await appOf(
          harness,
          { store: new MemoryStore(), ...options },
          {
            '/login': ({ session }) => {
              const s = session() as unknown as Record<string, unknown> & { cookie: Record<string, unknown> };
              s.user = 'alice';
              change?.(s.cookie);
              return 'ok';
            },
          },
          warnings,
        );
        try {
          const res = await app.request('/login', {});
          const rejected = res.setCookie.filter((h) => browserRejects(h) === 'SameSite=None without Secure');
          if (rejected.length > 0)
            expect(
              warnings.some((w) => /samesite/i.test(w) && /secure/i.test(w)),
              rejected[0],
            ).toBe(true);
        } finally {
          await app.close?.();
        }
      });
    }
  }
});
