import { createCookie, createSessionStorage } from 'react-router';
import { createClient } from 'redis';
import { describe, expect, it } from 'vitest';
import { createSessionkitStorage } from '../../src/adapters/react-router.js';
import { MAX_COOKIE_AGE_MS } from '../../src/core/cookie.js';
import { MemoryStore } from '../../src/stores/memory.js';
import { RedisStore } from '../../src/stores/redis.js';
import { deletePrefixed, redisSkipReason } from '../support/redis.js';
import { runNamespace } from '../support/services.js';

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const redisSkip = await redisSkipReason(REDIS_URL);

const cookie = { name: '__session', secrets: ['react-router-cookie-secret-32-chars!!'] };

/** The `name=value` part of a Set-Cookie, for the next request's Cookie header. */
function pair(setCookie: string): string {
  return setCookie.split(';')[0] as string;
}

function setup() {
  const store = new MemoryStore();
  return {
    store,
    storage: createSessionkitStorage<{ user: string; a: number; b: number; msg: string }>({ store, cookie }),
  };
}

async function storedData(store: MemoryStore, storage: ReturnType<typeof setup>['storage'], header: string) {
  const session = await storage.getSession(header);
  return (await store.get(session.id))?.data;
}

describe('React Router session storage over a sessionkit store', () => {
  it('stores a session for at most 400 days, however long the cookie says (browsers keep it no longer)', async () => {
    const { store, storage } = setup();
    const thirtyYears = 30 * 365 * 24 * 3600;
    for (const options of [{ maxAge: thirtyYears }, { expires: new Date(Date.now() + thirtyYears * 1000) }]) {
      const session = await storage.getSession(null);
      session.set('user', 'ada');
      const header = pair(await storage.commitSession(session, options));
      const stored = await store.get((await storage.getSession(header)).id);
      expect(stored?.expiresAt).toBeLessThanOrEqual(Date.now() + MAX_COOKIE_AGE_MS);
      expect(stored?.expiresAt).toBeGreaterThan(Date.now() + MAX_COOKIE_AGE_MS - 60_000);
    }
  });

  it('commits a new session and reads it back from its cookie', async () => {
    const { storage } = setup();
    const session = await storage.getSession(null);
    session.set('user', 'ada');
    const header = pair(await storage.commitSession(session));
    const again = await storage.getSession(header);
    expect(again.get('user')).toBe('ada');
    expect(again.id).not.toBe('');
  });

  it('refuses data JSON cannot hold, or an expiry that is no date, with a typed error and stores nothing', async () => {
    const { store, storage } = setup();
    const bigint = await storage.getSession(null);
    (bigint as unknown as { set(key: string, value: unknown): void }).set('a', 10n);
    await expect(storage.commitSession(bigint)).rejects.toMatchObject({ code: 'ERR_SESSION_DATA' });
    const header = pair(await storage.commitSession(await storage.getSession(null)));
    const loaded = await storage.getSession(header);
    (loaded as unknown as { set(key: string, value: unknown): void }).set('a', 10n);
    await expect(storage.commitSession(loaded)).rejects.toMatchObject({ code: 'ERR_SESSION_DATA' });
    for (const maxAge of [Number.NaN, Number.POSITIVE_INFINITY, 1e300]) {
      const session = await storage.getSession(null);
      session.set('user', 'ada');
      await expect(storage.commitSession(session, { maxAge })).rejects.toMatchObject({
        code: 'ERR_INVALID_COOKIE',
      });
    }
    // Only the one good, empty session was stored.
    expect(await store.length()).toBe(1);
    expect(await storedData(store, storage, header)).toEqual({});
  });

  it('keeps both of two overlapping changes to different keys (createSessionStorage loses one)', async () => {
    const { store, storage } = setup();
    const first = await storage.getSession(null);
    first.set('user', 'ada');
    const header = pair(await storage.commitSession(first));
    const [one, two] = [await storage.getSession(header), await storage.getSession(header)];
    one.set('a', 1);
    two.set('b', 2);
    await storage.commitSession(one);
    await storage.commitSession(two);
    expect(await storedData(store, storage, header)).toEqual({ user: 'ada', a: 1, b: 2 });

    // React Router's own factory over the same kind of store writes the whole object: `a` is lost.
    const records = new Map<string, Record<string, unknown>>();
    let next = 0;
    const whole = createSessionStorage<{ user: string; a: number; b: number }>({
      cookie: createCookie('rr', { secrets: cookie.secrets }),
      async createData(data) {
        const id = `id${next++}`;
        records.set(id, { ...data });
        return id;
      },
      readData: async (id) => records.get(id) ?? null,
      updateData: async (id, data) => void records.set(id, { ...data }),
      deleteData: async (id) => void records.delete(id),
    });
    const base = await whole.getSession(null);
    base.set('user', 'ada');
    const rr = pair(await whole.commitSession(base));
    const [x, y] = [await whole.getSession(rr), await whole.getSession(rr)];
    x.set('a', 1);
    y.set('b', 2);
    await whole.commitSession(x);
    await whole.commitSession(y);
    expect(records.get('id0')).toEqual({ user: 'ada', b: 2 });
  });

  it('never brings back a session destroyed while another request held it', async () => {
    const { store, storage } = setup();
    const first = await storage.getSession(null);
    first.set('user', 'ada');
    const header = pair(await storage.commitSession(first));
    const slow = await storage.getSession(header);
    const id = slow.id;
    const cleared = await storage.destroySession(await storage.getSession(header));
    expect(cleared).toMatch(/^__session=; .*Expires=Thu, 01 Jan 1970/);
    slow.set('a', 1);
    expect(await storage.commitSession(slow)).toMatch(/^__session=; .*Expires=Thu, 01 Jan 1970/);
    expect(await store.get(id)).toBeNull();
  });

  it('removes unset keys and read flash messages from the stored record', async () => {
    const { store, storage } = setup();
    const first = await storage.getSession(null);
    first.set('user', 'ada');
    first.set('a', 1);
    first.flash('msg', 'saved');
    const header = pair(await storage.commitSession(first));
    const second = await storage.getSession(header);
    expect(second.get('msg')).toBe('saved');
    second.unset('a');
    await storage.commitSession(second);
    expect(await storedData(store, storage, header)).toEqual({ user: 'ada' });
  });

  it('gives a fresh session for a cookie with a bad signature or an expired record', async () => {
    const { store, storage } = setup();
    const first = await storage.getSession(null);
    first.set('user', 'ada');
    const header = pair(await storage.commitSession(first));
    const forged = `${header.slice(0, -4)}AAAA`;
    expect((await storage.getSession(forged)).get('user')).toBeUndefined();

    const id = (await storage.getSession(header)).id;
    const record = await store.get(id);
    await store.destroy(id);
    await store.create(id, { ...(record as NonNullable<typeof record>), expiresAt: Date.now() - 1 });
    const expired = await storage.getSession(header);
    expect(expired.id).toBe('');
    expect(expired.get('user')).toBeUndefined();
  });
  it('a session another storage over the same store loaded keeps its ID, as createSessionStorage', async () => {
    const store = new MemoryStore();
    const one = createSessionkitStorage({ store, cookie });
    const other = createSessionkitStorage({ store, cookie });
    const first = await one.getSession(null);
    first.set('user', 'ada');
    const header = pair(await one.commitSession(first));
    const loaded = await one.getSession(header);
    loaded.set('a', 1);
    expect(pair(await other.commitSession(loaded))).toBe(header);
    expect(await store.length()).toBe(1);
    expect((await one.getSession(header)).data).toEqual({ user: 'ada', a: 1 });
    // Destroyed meanwhile: it does not come back through the other storage either.
    const held = await one.getSession(header);
    await one.destroySession(await one.getSession(header));
    held.set('a', 2);
    expect(await other.commitSession(held)).toMatch(/^__session=; .*Expires=Thu, 01 Jan 1970/);
    expect(await store.length()).toBe(0);
  });

  it('a cookie option React Router refuses fails before anything is stored; an empty name is the default', async () => {
    const { store, storage } = setup();
    for (const options of [{ maxAge: 1.5 }, { domain: 'bad domain' }]) {
      const session = await storage.getSession(null);
      session.set('user', 'ada');
      await expect(storage.commitSession(session, options)).rejects.toThrow();
    }
    expect(await store.length()).toBe(0);
    const unnamed = createSessionkitStorage({ store, cookie: { ...cookie, name: '' } });
    const session = await unnamed.getSession(null);
    session.set('user', 'ada');
    expect(await unnamed.commitSession(session)).toMatch(/^__session=/);
  });

  describe.skipIf(redisSkip)('over RedisStore', () => {
    it('a value JSON cannot hold is dropped as createSessionStorage drops it, the session intact', async () => {
      const client = createClient({ url: REDIS_URL });
      await client.connect();
      const prefix = `${runNamespace('rr-json')}:`;
      const store = new RedisStore({ client, prefix });
      const byMap = new Map<string, string>();
      // React Router's own storage over a JSON-keeping database, the anchor.
      const anchor = createSessionStorage({
        cookie: createCookie(cookie.name, { secrets: cookie.secrets }),
        async createData(data) {
          const id = `id-${byMap.size}`;
          byMap.set(id, JSON.stringify(data));
          return id;
        },
        async readData(id) {
          const json = byMap.get(id);
          return json === undefined ? null : JSON.parse(json);
        },
        async updateData(id, data) {
          byMap.set(id, JSON.stringify(data));
        },
        async deleteData(id) {
          byMap.delete(id);
        },
      });
      try {
        for (const storage of [anchor, createSessionkitStorage({ store, cookie })]) {
          const first = await storage.getSession(null);
          first.set('user', 'ada');
          first.set('gone', 1);
          first.set('fn', () => 1);
          const header = pair(await storage.commitSession(first));
          const second = await storage.getSession(header);
          expect(second.data).toEqual({ user: 'ada', gone: 1 });
          second.set('gone', undefined);
          second.set('cb', () => 2);
          await storage.commitSession(second);
          expect((await storage.getSession(header)).data).toEqual({ user: 'ada' });
        }
      } finally {
        await deletePrefixed(client, prefix);
        await client.quit();
      }
    });
  });
});
