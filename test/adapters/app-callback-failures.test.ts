/**
 * Why: application code hands sessionkit callbacks (genid, skip, a cookie function, event listeners), and
 * a bug in one must cost a 500 through the framework's error path, never a crash, a hang or another
 * user's session: on Express, Fastify, Koa and Hono. A genid repeating a live ID on sessionkit's own
 * store is refused without touching the live session.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MemoryStore } from '../../src/index.js';
import {
  adapters,
  BASE,
  cookieOf,
  processWatch,
  type RouteSession,
  tick,
} from '../support/callback-adapters.js';

let watch: ReturnType<typeof processWatch>;
beforeEach(() => {
  watch = processWatch();
});
afterEach(() => {
  watch.stop();
});

const routes = {
  '/w': (s: RouteSession) => {
    s.n = ((s.n as number | undefined) ?? 0) + 1;
    return s.n;
  },
  '/login-alice': (s: RouteSession) => {
    s.user = 'alice';
    return 1;
  },
  '/login-bob': (s: RouteSession) => {
    s.user = 'bob';
    return 1;
  },
  '/who': (s: RouteSession) => s.user ?? null,
};
const bad: [string, Record<string, unknown>][] = [
  [
    'genid throws',
    {
      genid: () => {
        throw new Error('x');
      },
    },
  ],
  ['genid returns a number', { genid: () => 42 }],
  ['genid returns ""', { genid: () => '' }],
  ['genid returns a Promise', { genid: async () => 'x'.repeat(43) }],
  ['genid returns ";" and CRLF', { genid: () => `a;b\r\n${'x'.repeat(30)}` }],
  [
    'skip throws',
    {
      skip: () => {
        throw new Error('x');
      },
    },
  ],
  [
    'cookie function throws',
    {
      cookie: () => {
        throw new Error('x');
      },
    },
  ],
  ['cookie function returns a bad maxAge', { cookie: () => ({ maxAge: 'x' }) }],
];

for (const adapter of adapters) {
  describe(adapter.name, () => {
    for (const [title, options] of bad)
      it(`${title}: 500, nothing escapes`, async () => {
        const made = await adapter.create({ ...BASE, ...options }, routes);
        const res = await made.request('/w');
        await tick(20);
        expect(res.status).toBe(500);
        expect(res.setCookie.filter((c) => c.startsWith('connect.sid=s'))).toEqual([]);
        expect(watch.errors).toEqual([]);
        await made.close?.();
      });

    it('genid collision on a native store: ERR_SESSION_EXISTS, the live session untouched', async () => {
      const made = await adapter.create({ ...BASE, genid: () => 'F'.repeat(43) }, routes);
      const alice = cookieOf((await made.request('/login-alice')).setCookie)!;
      const bob = await made.request('/login-bob');
      expect(bob.status).toBe(500);
      expect(cookieOf(bob.setCookie)).toBeUndefined();
      expect((await made.request('/who', { cookie: alice })).body.replace(/"/g, '')).toBe('alice');
      await made.close?.();
    });

    it("store down, onStoreError 'anonymous', a working logger: served anonymously", async () => {
      const store = new MemoryStore();
      const made = await adapter.create(
        { ...BASE, store, storeTimeout: 100, onStoreError: 'anonymous', logger: { warn() {}, error() {} } },
        routes,
      );
      const cookie = cookieOf((await made.request('/w')).setCookie)!;
      (store as unknown as { get: () => Promise<never> }).get = () => new Promise(() => {});
      expect((await made.request('/w', { cookie })).status).toBe(200);
      await made.close?.();
    });
  });
}
