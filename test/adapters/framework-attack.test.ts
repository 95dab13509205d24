import { describe, expect, it } from 'vitest';
import { createSessionkitStorage } from '../../src/adapters/react-router.js';
import { sessionHandle } from '../../src/adapters/sveltekit.js';
import { MemoryStore } from '../../src/stores/memory.js';
import { SlowMemoryStore } from '../support/slow-store.js';
import { serveSvelteKit } from '../support/sveltekit.js';

const cookie = { name: '__session', secrets: ['react-router-cookie-secret-32-chars!!'] };
const CLEARED = /^__session=; .*Expires=Thu, 01 Jan 1970/;

function pair(setCookie: string): string {
  return setCookie.split(';')[0] as string;
}

/** A session's `set` without the Data typing, for values and keys an application should not use. */
function put(session: object, key: string, value: unknown): void {
  (session as { set(key: string, value: unknown): void }).set(key, value);
}

function nested(levels: number): unknown {
  let value: unknown = 1;
  for (let i = 0; i < levels; i++) value = [value];
  return value;
}

function setup(store = new MemoryStore(), storeTimeout?: number) {
  return {
    store,
    storage: createSessionkitStorage<{ user: string; a: number }>({ store, cookie, storeTimeout }),
  };
}

describe('React Router storage under attack', () => {
  it('refuses a cookie header that is not a string with a typed error; bad headers give a fresh session', async () => {
    const { storage } = setup();
    for (const header of [123, {}, true])
      await expect(storage.getSession(header as unknown as string)).rejects.toMatchObject({
        code: 'ERR_INVALID_ARGUMENT',
      });
    const first = await storage.getSession(null);
    first.set('user', 'ada');
    const header = pair(await storage.commitSession(first));
    for (const bad of ['', 'garbage', '__session=', '__session=%E0%A4%A', `__session=${'A'.repeat(100_000)}`])
      expect((await storage.getSession(bad)).id).toBe('');
    expect((await storage.getSession(undefined)).id).toBe('');
    // Duplicated: the first value counts, as in React Router's own cookie parsing.
    expect((await storage.getSession(`${header}; __session=zzz`)).get('user')).toBe('ada');
    expect((await storage.getSession(`__session=zzz; ${header}`)).get('user')).toBeUndefined();
  });

  it('refuses data nested more than 1000 levels deep with ERR_SESSION_DATA, new or loaded, and stores nothing', async () => {
    const { store, storage } = setup();
    const fresh = await storage.getSession(null);
    put(fresh, 'a', nested(1001));
    await expect(storage.commitSession(fresh)).rejects.toMatchObject({ code: 'ERR_SESSION_DATA' });
    expect(await store.length()).toBe(0);
    const first = await storage.getSession(null);
    first.set('user', 'ada');
    const header = pair(await storage.commitSession(first));
    const loaded = await storage.getSession(header);
    put(loaded, 'a', nested(1001));
    await expect(storage.commitSession(loaded)).rejects.toMatchObject({ code: 'ERR_SESSION_DATA' });
    expect((await store.get(loaded.id))?.data).toEqual({ user: 'ada' });
    put(loaded, 'a', nested(999));
    await storage.commitSession(loaded);
    expect((await storage.getSession(header)).get('a')).toEqual(nested(999));
  });

  it('never brings a destroyed session back, not even under a new ID', async () => {
    const { store, storage } = setup();
    const first = await storage.getSession(null);
    first.set('user', 'ada');
    const header = pair(await storage.commitSession(first));
    // Destroyed by this request (a logout), then committed again (a middleware committing every response).
    const own = await storage.getSession(header);
    expect(await storage.destroySession(own)).toMatch(CLEARED);
    expect(await storage.destroySession(own)).toMatch(CLEARED);
    expect(await storage.commitSession(own)).toMatch(CLEARED);
    expect(await store.length()).toBe(0);
    // Destroyed by another request: every later commit of the held session clears the cookie.
    const again = await storage.getSession(null);
    again.set('user', 'bob');
    const second = pair(await storage.commitSession(again));
    const held = await storage.getSession(second);
    await storage.destroySession(await storage.getSession(second));
    held.set('a', 1);
    expect(await storage.commitSession(held)).toMatch(CLEARED);
    expect(await storage.commitSession(held)).toMatch(CLEARED);
    expect(await store.length()).toBe(0);
    // A session never committed, destroyed, is only a cleared cookie.
    const never = await storage.getSession(null);
    expect(await storage.destroySession(never)).toMatch(CLEARED);
    expect(await storage.commitSession(never)).toMatch(CLEARED);
    expect(await store.length()).toBe(0);
  });

  it('keeps dangerous keys from polluting prototypes or binding anything, and reads flash once', async () => {
    const { store, storage } = setup();
    const session = await storage.getSession(null);
    put(session, '__proto__', { polluted: true });
    put(session, '__sessionkit', { userId: 'mallory', createdAt: 0 });
    session.flash('user', 'once');
    const header = pair(await storage.commitSession(session));
    const loaded = await storage.getSession(header);
    put(loaded, '__proto__', { polluted: true });
    expect(loaded.get('user')).toBe('once');
    await storage.commitSession(loaded);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    const record = await store.get(loaded.id);
    expect(record?.userId).toBeNull();
    expect(record?.createdAt).toBeGreaterThan(1);
    expect(Object.keys(record?.data ?? {})).toEqual(['__sessionkit']);
    expect((await storage.getSession(header)).get('user')).toBeUndefined();
  });

  it('a hanging store is a 503 SessionError within storeTimeout', async () => {
    const store = new SlowMemoryStore(5);
    const { storage } = setup(store, 100);
    const first = await storage.getSession(null);
    first.set('user', 'ada');
    const header = pair(await storage.commitSession(first));
    const loaded = await storage.getSession(header);
    store.get = () => new Promise(() => {});
    store.update = () => new Promise(() => {});
    const started = Date.now();
    await expect(storage.getSession(header)).rejects.toMatchObject({
      code: 'ERR_STORE_UNAVAILABLE',
      status: 503,
    });
    await expect(storage.commitSession(loaded)).rejects.toMatchObject({ status: 503 });
    // Two calls of 100 ms each: the bound leaves a loaded machine room and still catches a call that
    // waits out the default storeTimeout (5 s) or the store itself.
    expect(Date.now() - started).toBeLessThan(3_000);
  });
});

describe('SvelteKit handle under attack', () => {
  const options = {
    secret: 'sveltekit-tests-secret-of-32-characters!',
    resave: false,
    saveUninitialized: false,
  };

  it('keeps a streamed body, an immutable redirect, and the app’s own cookies; refuses deep data', async () => {
    const store = new MemoryStore();
    const handle = sessionHandle({ ...options, store });
    const streamed = await serveSvelteKit(handle, new Request('http://localhost/'), (event) => {
      event.locals.session.views = 1;
      const body = new ReadableStream<Uint8Array>({
        start(controller) {
          controller.enqueue(new TextEncoder().encode('chunk'));
          controller.close();
        },
      });
      return new Response(body, { headers: [['set-cookie', 'a=1']] });
    });
    expect(await streamed.text()).toBe('chunk');
    expect(streamed.headers.getSetCookie()).toHaveLength(2);
    expect(streamed.headers.getSetCookie()[0]).toBe('a=1');
    const redirected = await serveSvelteKit(handle, new Request('http://localhost/'), (event) => {
      event.locals.session.views = 1;
      return Response.redirect('http://localhost/next', 302);
    });
    expect(redirected.status).toBe(302);
    expect(redirected.headers.get('location')).toBe('http://localhost/next');
    expect(redirected.headers.getSetCookie()).toHaveLength(1);
    const deep = await serveSvelteKit(handle, new Request('http://localhost/'), (event) => {
      (event.locals.session as unknown as Record<string, unknown>).k = nested(1001);
      return new Response('ok');
    });
    expect(deep.status).toBe(500);
    expect(deep.headers.getSetCookie()).toEqual([]);
    expect(await store.length()).toBe(2);
  });

  it('a forged, duplicated or oversized cookie gives a fresh session and no crash', async () => {
    const handle = sessionHandle(options);
    for (const header of [
      'connect.sid=s%3Aabc.def; connect.sid=zz',
      `connect.sid=${'A'.repeat(200_000)}`,
      '=;;=',
    ]) {
      const response = await serveSvelteKit(
        handle,
        new Request('http://localhost/', { headers: { cookie: header } }),
        (event) => Response.json({ views: event.locals.session.views ?? null }),
      );
      expect(response.status).toBe(200);
      expect(await response.json()).toEqual({ views: null });
    }
  });
});
