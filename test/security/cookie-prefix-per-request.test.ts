/**
 * What a user depends on: under a `__Host-` cookie (the OWASP preset's `__Host-sid`), code that adjusts
 * the session cookie for one response (`req.session.cookie.path = '/account'`, a `domain` for a
 * subdomain, `secure = false` copied from an express-session app, Fastify's `session.options({ path })`,
 * then `login(req.session, id)`) either works or fails loudly. A browser drops a `__Host-` cookie whose
 * Path is not `/`, that has a Domain, or that lacks Secure (RFC 6265bis 4.1.3); sent anyway, the login
 * would look successful, the user would be logged out on the next page and the record would stay in the
 * store with no cookie naming it.
 *
 * What sessionkit does: a Path other than `/` or a Domain set per request on a `__Host-` cookie fails the
 * response with ERR_INVALID_COOKIE before anything is stored, as at session() (C24, C27); Secure taken
 * off per request means the cookie is not sent, and a warning says why.
 *
 * Asserted: no Set-Cookie a browser would drop goes out, and a response that failed stored nothing.
 */
import { describe, expect, it } from 'vitest';
import { login, MemoryStore } from '../../src/index.js';
import { appOf, browserRejects, FRAMEWORKS, HTTPS } from '../support/browser-cookies.js';

type Cookie = Record<string, unknown>;
const changes: [string, (cookie: Cookie, session: Record<string, unknown>) => void, boolean?][] = [
  [
    "req.session.cookie.path = '/account'",
    (c) => {
      c.path = '/account';
    },
  ],
  [
    "req.session.cookie.domain = 'example.com'",
    (c) => {
      c.domain = 'example.com';
    },
  ],
  [
    'req.session.cookie.secure = false',
    (c) => {
      c.secure = false;
    },
  ],
  [
    "session.options({ path: '/account' }) (@fastify/session's API)",
    (_c, s) => (s.options as (o: unknown) => void)({ path: '/account' }),
    true,
  ],
];

describe('a per-request cookie change that breaks the __Host- prefix rules is refused', () => {
  for (const harness of FRAMEWORKS) {
    for (const [label, change, fastifyOnly] of changes) {
      if (fastifyOnly && !harness.name.startsWith('Fastify')) continue;
      for (const viaLogin of [false, true]) {
        it(`${harness.name}: ${label}${viaLogin ? ', then login()' : ''}`, async () => {
          const store = new MemoryStore();
          const app = await appOf(
            harness,
            { store, name: '__Host-sid', cookie: { secure: true, maxAge: 60_000 } },
            {
              '/account/login': async ({ session }) => {
                const s = session() as unknown as Record<string, unknown> & { cookie: Cookie };
                s.cart = 1;
                change(s.cookie, s);
                if (viaLogin) await login(session() as never, 'alice');
                return 'ok';
              },
            },
          );
          try {
            const res = await app.request('/account/login', { ...HTTPS, host: 'example.com' });
            for (const header of res.setCookie) expect(browserRejects(header), header).toBeNull();
            if (res.status >= 500) expect(await store.length()).toBe(0);
          } finally {
            await app.close?.();
          }
        });
      }
    }
  }
});
