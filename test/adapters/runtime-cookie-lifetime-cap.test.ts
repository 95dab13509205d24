/**
 * Why: browsers keep a cookie at most 400 days (RFC 6265bis), and sessionkit caps the session's lifetime
 * there (README cookie table, SECURITY.md B13), so that no stored session, and no stolen cookie, is
 * honoured after every browser has dropped the cookie. A "remember me" usually sets the lifetime per
 * request (`req.session.cookie.maxAge = …`, Fastify's `request.session.options({ maxAge })`, Koa's
 * `ctx.session.maxAge = …`): the cap must hold there as for the `cookie` option, for the Expires sent (a
 * year past 9999 is not even a cookie date browsers parse) and for the store's deadline alike.
 */
import { describe, expect, it } from 'vitest';
import { Cookie, MAX_COOKIE_AGE_MS } from '../../src/core/cookie.js';
import { MemoryStore } from '../../src/index.js';
import type { AdapterHarness, SuiteRoute } from '../../src/testing/index.js';
import { expressHarnesses, fastifyHarness, honoHarness, koaHarness } from './harnesses.js';

const DAY = 24 * 3600_000;
const CAP = 400 * DAY;
const SLACK = 60_000;

type Lifetime = (session: Record<string, unknown> & { cookie: Cookie }) => void;

const common: [string, Lifetime][] = [
  [
    'cookie.maxAge = 30 years',
    (s) => {
      s.cookie.maxAge = 30 * 365 * DAY;
    },
  ],
  [
    'cookie.expires = a Date in the year 20000',
    (s) => {
      s.cookie.expires = new Date(Date.UTC(20000, 0, 1));
    },
  ],
];

const cases: [AdapterHarness, [string, Lifetime][]][] = [
  ...expressHarnesses.map((harness): [AdapterHarness, [string, Lifetime][]] => [harness, common]),
  [
    fastifyHarness('Fastify 5', () => import('fastify')),
    [
      ...common,
      [
        'session.options({ maxAge: 30 years })',
        (s) => (s as unknown as { options(o: object): void }).options({ maxAge: 30 * 365 * DAY }),
      ],
    ],
  ],
  [
    koaHarness('Koa 3', () => import('koa')),
    [
      ...common,
      [
        'ctx.session.maxAge = 30 years',
        (s) => {
          (s as unknown as { maxAge: number }).maxAge = 30 * 365 * DAY;
        },
      ],
    ],
  ],
  [honoHarness, common],
];

for (const [harness, lifetimes] of cases) {
  describe(`${harness.name}: a lifetime set per request is capped at 400 days, as the option is`, () => {
    for (const [label, set] of lifetimes) {
      it(`${label}: Expires and the store's deadline at most 400 days out`, async () => {
        const store = new MemoryStore();
        const remember: SuiteRoute = ({ session }) => {
          const s = session() as unknown as Record<string, unknown> & { cookie: Cookie };
          s.user = 'alice';
          set(s);
          return 'ok';
        };
        const app = await harness.create(
          { secret: 'x'.repeat(32), resave: false, saveUninitialized: false, store },
          { '/remember': remember },
          { trustProxy: false },
        );
        try {
          const started = Date.now();
          const res = await app.request('/remember');
          expect(res.status).toBe(200);
          const expires = res.setCookie[0]?.match(/Expires=([^;]+)/i)?.[1];
          expect(expires).toBeDefined();
          const sent = Date.parse(expires as string);
          expect(sent).toBeGreaterThan(started + CAP - SLACK);
          expect(sent).toBeLessThanOrEqual(started + CAP + SLACK);
          const { sessions } = await store.list();
          expect(sessions).toHaveLength(1);
          expect(sessions[0]?.expiresAt).toBeLessThanOrEqual(started + CAP + SLACK);
        } finally {
          await app.close?.();
          await store.close();
        }
      });
    }
  });
}

describe('req.session.cookie reads back the capped lifetime', () => {
  it('maxAge and originalMaxAge after setting a longer maxAge', () => {
    const cookie = new Cookie();
    cookie.maxAge = 30 * 365 * DAY;
    expect(cookie.originalMaxAge).toBe(MAX_COOKIE_AGE_MS);
    expect(cookie.maxAge).toBeLessThanOrEqual(MAX_COOKIE_AGE_MS);
  });

  it('a stored originalMaxAge over the cap restarts at the cap', () => {
    const cookie = new Cookie({ originalMaxAge: 30 * 365 * DAY, expires: null });
    cookie.resetMaxAge();
    expect(cookie.originalMaxAge).toBe(MAX_COOKIE_AGE_MS);
    expect((cookie.expires as Date).valueOf()).toBeLessThanOrEqual(Date.now() + MAX_COOKIE_AGE_MS);
  });

  it('a lifetime that makes no date is left for the commit to refuse', () => {
    for (const maxAge of [Number.POSITIVE_INFINITY, Number.NaN, 1e300]) {
      const cookie = new Cookie();
      cookie.maxAge = maxAge;
      expect(Number.isNaN((cookie.expires as Date).valueOf()), String(maxAge)).toBe(true);
    }
  });

  it('an expiry within the cap keeps the Date given', () => {
    const cookie = new Cookie();
    const date = new Date(Date.now() + DAY);
    cookie.expires = date;
    expect(cookie.expires).toBe(date);
  });
});
