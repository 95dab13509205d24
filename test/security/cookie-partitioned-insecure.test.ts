/**
 * What a user depends on: CHIPS (`partitioned: true`) is how an embedded app keeps its session in
 * third-party contexts once third-party cookies are blocked. Browsers store a Partitioned cookie only
 * with Secure (Chrome rejects `Partitioned` without `Secure`), so a session cookie configured
 * `{ partitioned: true }` without `secure` never reaches the browser and the embedded user is logged out
 * on every request: the server has to say why, as for SameSite=None without Secure (C23, README).
 *
 * What sessionkit does: Partitioned without Secure is sent with a warning naming `partitioned` (not
 * repeated on every response), however it was set: at session(), from a `cookie` function, on
 * `req.session.cookie`, or through `secure: 'auto'` on a plain-HTTP request. express-session sends it
 * silently.
 *
 * Asserted: the configuration is refused at session() (ERR_INVALID_OPTION), or a warning naming
 * `partitioned` was given whenever a Partitioned cookie without Secure goes out.
 */
import { describe, expect, it } from 'vitest';
import { MemoryStore } from '../../src/index.js';
import type { SuiteOptions } from '../../src/testing/index.js';
import { appOf, browserRejects, FRAMEWORKS } from '../support/browser-cookies.js';

const cases: [string, SuiteOptions, ((cookie: Record<string, unknown>) => void) | null][] = [
  ['session({ cookie: { partitioned: true } })', { cookie: { partitioned: true } }, null],
  [
    'a cookie function returning { partitioned: true }',
    { cookie: (() => ({ partitioned: true })) as never },
    null,
  ],
  [
    'req.session.cookie.partitioned = true',
    {},
    (c) => {
      c.partitioned = true;
    },
  ],
  [
    "{ partitioned: true, secure: 'auto', sameSite: 'auto' } on a plain-HTTP request",
    { cookie: { partitioned: true, secure: 'auto', sameSite: 'auto' } },
    null,
  ],
];

describe('Partitioned without Secure is refused or reported', () => {
  for (const harness of FRAMEWORKS) {
    for (const [label, options, change] of cases) {
      it(`${harness.name}: ${label}`, async () => {
        const warnings: string[] = [];
        let app: Awaited<ReturnType<typeof appOf>>;
        try {
          app = await appOf(
            harness,
            { store: new MemoryStore(), ...options },
            {
              '/login': ({ session }) => {
                const s = session() as unknown as Record<string, unknown> & {
                  cookie: Record<string, unknown>;
                };
                s.user = 'alice';
                change?.(s.cookie);
                return 'ok';
              },
            },
            warnings,
          );
        } catch (error) {
          expect((error as { code?: string }).code).toBe('ERR_INVALID_OPTION');
          return;
        }
        try {
          const res = await app.request('/login', {});
          const rejected = res.setCookie.filter((h) => browserRejects(h) === 'Partitioned without Secure');
          if (rejected.length > 0)
            expect(
              warnings.some((w) => /partitioned/i.test(w)),
              rejected[0],
            ).toBe(true);
        } finally {
          await app.close?.();
        }
      });
    }
  }
});
