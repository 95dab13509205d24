/**
 * Why: a `genid` that repeats an ID (a buggy or deterministic generator) must never hand one user another's
 * session. Behind the express-session store bridge, as on sessionkit's own stores, a new session whose ID
 * a live session already holds is refused (ERR_SESSION_EXISTS) rather than written over it, for a new
 * session and for regenerate() alike: the first user keeps their session, the second never gets it.
 */
import expressSession from 'express-session';
import { describe, expect, it } from 'vitest';
import { ExpressStoreBridge } from '../../src/stores/express-compat/bridge.js';
import { adapters, BASE, cookieOf } from '../support/callback-adapters.js';

const ID1 = 'A'.repeat(43);
const ID2 = 'B'.repeat(43);
type Data = Record<string, unknown> & { regenerate(cb: (error?: unknown) => void): void };
const routes = {
  '/login-alice': (s: Data) => (s.user = 'alice'),
  '/login-bob': (s: Data) => (s.user = 'bob'),
  '/login-carol': (s: Data) => (s.user = 'carol'),
  '/who': (s: Data) => s?.user ?? null,
  '/regenerate-as-alice2': (s: Data, current: () => Data) =>
    new Promise((resolve, reject) =>
      s.regenerate((e) => {
        if (e) return reject(e);
        current().user = 'alice2';
        resolve('alice2');
      }),
    ),
};

for (const adapter of adapters) {
  describe(adapter.name, () => {
    it('a new session whose genid ID is already live is refused, the live one kept', async () => {
      const made = await adapter.create(
        { ...BASE, store: new expressSession.MemoryStore(), genid: () => ID1 },
        routes as never,
      );
      const alice = cookieOf((await made.request('/login-alice')).setCookie) as string;
      const bob = await made.request('/login-bob');
      expect(bob.status).toBe(500);
      expect(cookieOf(bob.setCookie)).toBeUndefined();
      expect((await made.request('/who', { cookie: alice })).body.replace(/"/g, '')).toBe('alice');
      await made.close?.();
    });

    it('regenerate() to an ID genid repeats does not take over another live session', async () => {
      const ids = [ID1, ID2, ID2];
      const made = await adapter.create(
        { ...BASE, store: new expressSession.MemoryStore(), genid: () => ids.shift() ?? 'C'.repeat(43) },
        routes as never,
      );
      const alice = cookieOf((await made.request('/login-alice')).setCookie) as string;
      const carol = cookieOf((await made.request('/login-carol')).setCookie) as string;
      await made.request('/regenerate-as-alice2', { cookie: alice });
      expect((await made.request('/who', { cookie: carol })).body.replace(/"/g, '')).toBe('carol');
      await made.close?.();
    });
  });
}

describe('ExpressStoreBridge.create', () => {
  const record = (user: string) => ({
    data: { user },
    cookie: { originalMaxAge: null },
    createdAt: Date.now(),
    lastSeenAt: Date.now(),
    expiresAt: Date.now() + 60_000,
  });
  it('refuses an ID a live session holds', async () => {
    const inner = new expressSession.MemoryStore();
    const bridge = new ExpressStoreBridge(inner as never);
    expect(await bridge.create(ID1, record('alice') as never)).toBe(true);
    expect(await bridge.create(ID1, record('bob') as never)).toBe(false);
    expect((await bridge.get(ID1))?.data).toEqual({ user: 'alice' });
  });

  it("with IDs that never repeat (sessionkit's own), a create is one write and no read", async () => {
    const inner = new expressSession.MemoryStore();
    const calls: string[] = [];
    const get = inner.get.bind(inner);
    inner.get = (id, cb) => {
      calls.push('get');
      get(id, cb);
    };
    const bridge = new ExpressStoreBridge(inner as never, undefined, undefined, false);
    expect(await bridge.create(ID1, record('alice') as never)).toBe(true);
    expect(calls).toEqual([]);
  });
});
