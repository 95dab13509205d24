// First, for its effect: Next.js's request stores must exist before next/headers loads.
import '../support/next-setup.js';
import { describe, expect, it } from 'vitest';
import { createSession } from '../../src/adapters/next.js';
import type { TypedSession } from '../../src/core/session.js';
import { currentUserId, login } from '../../src/index.js';
import { MemoryStore } from '../../src/stores/memory.js';
import { pair, runNext } from '../support/next-real.js';
import { SlowMemoryStore } from '../support/slow-store.js';

/**
 * The Next.js adapter inside Next.js's own request store (no module mocks): `cookies()` and `headers()`
 * answer as in a real server, and a Server Action's re-render runs as Next.js runs it.
 *
 * - Two `getSession()` calls at once (`Promise.all([getSession(), currentUser()])`, where the helper calls
 *   `getSession()` itself) must share one session: two would each store their own, the cookie naming only
 *   one (lost data, an unreachable record), and a login on one would leave the other, ended, to be saved.
 * - Two `save()` calls of a new session without waiting must both succeed and store everything: two
 *   commits side by side would both create its ID, and the second would fail with ERR_SESSION_EXISTS.
 * - The page Next.js renders after a Server Action, in the same request, must read the session the action
 *   left: `headers()` keeps the request's Cookie header there, while `cookies()` has the action's cookie.
 */
const options = {
  secret: 'next-attack-secret-of-at-least-32-characters',
  resave: false,
  saveUninitialized: false,
} as const;

/** A first request that stores a session holding `name: 'ada'`: the cookie pair it set. */
async function firstVisit(getSession: () => Promise<TypedSession>): Promise<string> {
  const first = await runNext(new Request('http://localhost/'), async () => {
    const session = await getSession();
    session.name = 'ada';
    await session.save();
  });
  return pair(first.setCookies[0]);
}

describe('Next.js: overlapping getSession() calls in one request', () => {
  it('give one session: a new session is stored once, with every change, under the cookie sent', async () => {
    const store = new SlowMemoryStore(20);
    const { getSession } = createSession({ ...options, store });
    const run = await runNext(new Request('http://localhost/'), async () => {
      const [page, helper] = await Promise.all([getSession(), getSession()]);
      page.cart = ['book'];
      await page.save();
      helper.seen = true;
      await helper.save();
      return page === helper;
    });
    expect(run.result).toBe(true);
    expect(run.setCookies).toHaveLength(1);
    // No record that the browser's cookie does not name.
    expect(await store.length()).toBe(1);
    const back = await runNext(
      new Request('http://localhost/', { headers: { cookie: pair(run.setCookies[0]) } }),
      async () => {
        const session = await getSession();
        return { cart: session.cart, seen: session.seen };
      },
    );
    expect(back.result).toEqual({ cart: ['book'], seen: true });
  });

  it('a login on one of them is the session getSession() gives afterwards: the user ends up logged in', async () => {
    const store = new SlowMemoryStore(20);
    const { getSession } = createSession({ ...options, store });
    const cookie = await firstVisit(getSession);
    const run = await runNext(new Request('http://localhost/', { headers: { cookie } }), async () => {
      const [session] = await Promise.all([getSession(), getSession()]);
      await login(session, 'u1');
      // As documented: after login(), getSession() again for the new session, then save().
      const after = await getSession();
      await after.save();
      return currentUserId(after);
    });
    expect(run.result).toBe('u1');
    expect(run.setCookies).toHaveLength(1);
    expect((await store.listByUser('u1')).length).toBe(1);
  });
});

describe('Next.js: two overlapping save() calls of a new session', () => {
  it('both succeed, and everything set before the second is stored', async () => {
    const store = new SlowMemoryStore(20);
    const { getSession } = createSession({ ...options, store });
    const run = await runNext(new Request('http://localhost/'), async () => {
      const session = await getSession();
      session.cart = ['book'];
      const first = session.save();
      session.locale = 'fr';
      const second = session.save();
      return (await Promise.allSettled([first, second])).map((outcome) =>
        outcome.status === 'fulfilled' ? 'ok' : (outcome.reason as { code?: string }).code,
      );
    });
    expect(run.result).toEqual(['ok', 'ok']);
    expect(await store.length()).toBe(1);
    const back = await runNext(
      new Request('http://localhost/', { headers: { cookie: pair(run.setCookies[0]) } }),
      async () => {
        const session = await getSession();
        return { cart: session.cart, locale: session.locale };
      },
    );
    expect(back.result).toEqual({ cart: ['book'], locale: 'fr' });
  });
});

describe('Next.js: the re-render after a Server Action reads the session the action left', () => {
  it('after login(): the page shows the user logged in', async () => {
    const store = new MemoryStore();
    const { getSession } = createSession({ ...options, store });
    const cookie = await firstVisit(getSession);
    let rendered: unknown;
    const run = await runNext(
      new Request('http://localhost/', { method: 'POST', headers: { cookie } }),
      async () => {
        await login(await getSession(), 'u1');
        await (await getSession()).save();
      },
      async () => {
        const session = await getSession();
        rendered = { user: currentUserId(session), name: session.name };
      },
    );
    expect(run.setCookies).toHaveLength(1);
    expect(rendered).toEqual({ user: 'u1', name: 'ada' });
  });

  it('after a first write that created the session: the page shows it', async () => {
    const { getSession } = createSession({ ...options, store: new MemoryStore() });
    let rendered: unknown;
    const run = await runNext(
      new Request('http://localhost/', { method: 'POST' }),
      async () => {
        const session = await getSession();
        session.cart = ['book'];
        await session.save();
      },
      async () => {
        rendered = (await getSession()).cart;
      },
    );
    expect(run.setCookies).toHaveLength(1);
    expect(rendered).toEqual(['book']);
  });
});
