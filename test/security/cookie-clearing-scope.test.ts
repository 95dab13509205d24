/**
 * What a user depends on: "Log out" makes the browser forget the session cookie (SECURITY.md C15:
 * "logout deletes the record and sends an expired cookie with the same name and Path"; README: destroy()
 * sends "an expiring cookie ... the browser forgets the ID at once"). A browser replaces a cookie only by
 * one with the same name, Domain (or host-only-ness) and Path (RFC 6265bis 5.7 step 22): an expired
 * cookie with another Path or Domain is a different cookie, and the old one stays.
 *
 * What sessionkit does: the clearing cookie carries the Path and Domain the stored session's cookie had,
 * also when the application scoped it per request (`req.session.cookie.domain = 'example.com'` to share
 * it with subdomains, `req.session.cookie.path = '/app'`), for logout(), destroy() and a regenerate()
 * used as a logout.
 *
 * Asserted: the clearing Set-Cookie has the same name, Domain and Path as the cookie it clears.
 */
import { describe, expect, it } from 'vitest';
import { logout, MemoryStore } from '../../src/index.js';
import { appOf, FRAMEWORKS, pairOf, parseSetCookie, storedPath } from '../support/browser-cookies.js';

type S = Record<string, unknown> & {
  cookie: Record<string, unknown>;
  destroy(): Promise<void>;
  regenerate(): Promise<void>;
};
const scopes: [string, (c: Record<string, unknown>) => void][] = [
  [
    "req.session.cookie.domain = 'example.com'",
    (c) => {
      c.domain = 'example.com';
    },
  ],
  [
    "req.session.cookie.path = '/app'",
    (c) => {
      c.path = '/app';
    },
  ],
];
const endings: [string, (s: S) => Promise<void>][] = [
  ['logout(req.session)', (s) => logout(s as never)],
  ['req.session.destroy()', (s) => s.destroy()],
  ['req.session.regenerate() left empty', (s) => s.regenerate()],
];

function scope(header: string, requestPath: string) {
  const { name, attributes } = parseSetCookie(header);
  const domain = attributes.get('domain');
  return {
    name,
    domain: typeof domain === 'string' ? domain.replace(/^\./, '').toLowerCase() : null,
    path: storedPath(header, requestPath),
  };
}

describe('the cookie that ends a session has the Domain and Path of the cookie it ends', () => {
  for (const harness of FRAMEWORKS) {
    for (const [scopeLabel, setScope] of scopes) {
      for (const [endLabel, end] of endings) {
        it(`${harness.name}: ${scopeLabel} at login, then ${endLabel}`, async () => {
          const app = await appOf(
            harness,
            { store: new MemoryStore(), cookie: { maxAge: 60_000 } },
            {
              '/app/login': ({ session }) => {
                const s = session() as unknown as S;
                s.user = 'alice';
                setScope(s.cookie);
                return 'ok';
              },
              '/app/me': ({ session }) => String((session() as unknown as S).user),
              '/app/logout': async ({ session }) => {
                await end(session() as unknown as S);
                return 'bye';
              },
            },
          );
          try {
            const host = { host: 'example.com' };
            const login = await app.request('/app/login', host);
            expect(login.setCookie.length).toBe(1);
            const held = scope(login.setCookie[0] as string, '/app/login');
            const cookie = pairOf(login.setCookie);
            expect((await app.request('/app/me', { ...host, cookie })).body).toContain('alice');
            const out = await app.request('/app/logout', { ...host, cookie });
            expect(out.status).toBe(200);
            const clearing = out.setCookie.find((h) => parseSetCookie(h).name === held.name);
            expect(clearing, 'a clearing cookie is sent').toBeDefined();
            expect(scope(clearing as string, '/app/logout'), clearing).toEqual(held);
          } finally {
            await app.close?.();
          }
        });
      }
    }
  }
});
