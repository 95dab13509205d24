import { describe, expect, it } from 'vitest';
import { generateId, storageKey } from '../../src/core/id.js';
import type { SessionRecord } from '../../src/core/types.js';
import { MemoryStore, NOW } from '../../src/stores/memory.js';
import { LOADED_FROM, type Sourced } from '../../src/stores/sync.js';
import { heapNodes, heldEntries, memoryEntries, overwriteEntry } from '../support/memory-internals.js';
import { record, runStoreConformance } from './conformance.js';
import { runExpressSessionCompat } from './express-session-compat.js';

runStoreConformance({
  name: 'MemoryStore',
  create: () => new MemoryStore(),
  async corrupt(store, id) {
    // Reach past the API the way a bug or a bit flip would.
    overwriteEntry(store as MemoryStore, id, '[1e15,0,0,null,{},{"data": {"trunc');
  },
});

describe('MemoryStore bounds', () => {
  it('evicts the session nearest its deadline past max, going by its latest deadline', async () => {
    const store = new MemoryStore({ max: 3, sweepInterval: 0 });
    const evicted: string[] = [];
    store.on('evict', (handle: string) => evicted.push(handle));
    const now = Date.now();
    const [soon, later, latest, extra] = [generateId(), generateId(), generateId(), generateId()];
    // Written first, so "least recently written" would pick it; its deadline is the furthest.
    await store.create(latest as string, record({ expiresAt: now + 30_000 }));
    await store.create(soon as string, record({ expiresAt: now + 10_000 }));
    await store.create(later as string, record({ expiresAt: now + 20_000 }));
    // Extended past the others: its first heap node is stale and must not make it the victim.
    await store.touch(soon as string, now + 40_000, now);
    await store.create(extra as string, record({ expiresAt: now + 50_000 }));
    expect(await store.length()).toBe(3);
    expect(await store.get(later as string)).toBeNull();
    for (const id of [soon, latest, extra]) expect(await store.get(id as string)).not.toBeNull();
    expect(evicted).toEqual([storageKey(later as string)]);
    await store.close();
  });

  it('evicts a corrupt session (one with no deadline) when nothing else is left to evict', async () => {
    const store = new MemoryStore({ max: 1, sweepInterval: 0 });
    const [broken, next] = [generateId(), generateId()];
    await store.create(broken as string, record());
    overwriteEntry(store, broken as string, '[oops]');
    // The stale heap node no longer matches the entry's (missing) deadline.
    await store.create(next as string, record());
    expect(heldEntries(store)).toBe(1);
    expect(await store.get(next as string)).not.toBeNull();
    await store.close();
  });

  it('spreads sessions over its Maps, so a mass expiry never rehashes one huge table', async () => {
    const store = new MemoryStore({ sweepInterval: 0 });
    for (let i = 0; i < 6_400; i++) await store.create(generateId(), record());
    const sizes = (store as unknown as { shards: Map<string, string>[] }).shards.map((shard) => shard.size);
    expect(sizes).toHaveLength(64);
    // 100 expected per Map; a fair split of random keys stays well inside 40–200.
    expect(Math.min(...sizes)).toBeGreaterThan(40);
    expect(Math.max(...sizes)).toBeLessThan(200);
    await store.close();
  });

  it('accepts any handle, not only ones it made', async () => {
    const store = new MemoryStore({ sweepInterval: 0 });
    for (const handle of ['', '~', 'ü', '\u{1F600}'])
      await expect(store.destroyByHandle(handle)).resolves.toBe(false);
    expect(await store.getByHandle('é')).toBeNull();
    await store.close();
  });

  it('does not grow while many sessions are created and expire', async () => {
    const store = new MemoryStore({ sweepInterval: 0 });
    for (let round = 0; round < 5; round++) {
      const expiresAt = Date.now() + 50;
      for (let i = 0; i < 20_000; i++) await store.create(generateId(), record({ expiresAt }));
      await new Promise((resolve) => setTimeout(resolve, 80));
      await store.prune();
      expect(heldEntries(store)).toBe(0);
      expect(heapNodes(store)).toBe(0);
    }
    await store.close();
  });

  it('bounds the heap when the same sessions are touched over and over', async () => {
    const store = new MemoryStore({ sweepInterval: 0 });
    const ids = Array.from({ length: 100 }, () => generateId());
    for (const id of ids) await store.create(id, record());
    // Awaited one after another, with no pause for the rebuild's slices: the heap still stays bounded.
    let most = 0;
    for (let i = 0; i < 50_000; i++) {
      await store.touch(ids[i % 100] as string, Date.now() + 60_000 + i, Date.now());
      most = Math.max(most, heapNodes(store));
    }
    expect(most).toBeLessThanOrEqual(4 * (100 + 1024) + 1);
    // Once the writes pause, the rebuild off the request path brings it down to the live sessions.
    for (let i = 0; i < 20 && heapNodes(store) > 2 * 100 + 1024; i++)
      await new Promise((resolve) => setTimeout(resolve, 5));
    expect(heapNodes(store)).toBeLessThan(2 * 100 + 1024 + 2);
    expect(await store.length()).toBe(100);
    await store.close();
  });

  it('rebuilds its heap off the request path: the write that crosses the bound does not', async () => {
    const store = new MemoryStore({ sweepInterval: 0 });
    const ids = Array.from({ length: 100 }, () => generateId());
    for (const id of ids) await store.create(id, record());
    let i = 0;
    while (heapNodes(store) <= 2 * 100 + 1024)
      await store.touch(ids[i++ % 100] as string, Date.now() + 60_000 + i, Date.now());
    await store.touch(ids[0] as string, Date.now() + 70_000, Date.now());
    // Still every node: the rebuild runs in slices after this call, not inside it.
    expect(heapNodes(store)).toBeGreaterThan(2 * 100 + 1024);
    // The slices run once the loop is free: waited for, turn by turn, as a fixed pause can end before the
    // loop of a starved process got to them.
    for (let i = 0; i < 100 && heapNodes(store) > 100 + 2; i++)
      await new Promise((resolve) => setTimeout(resolve, 5));
    expect(heapNodes(store)).toBeLessThanOrEqual(100 + 2);
    expect(await store.length()).toBe(100);
    await store.close();
  });

  it('a write to a full store sweeps one slice of the expired, and length() the rest with the loop free', async () => {
    const store = new MemoryStore({ max: 20_000, sweepInterval: 0 });
    for (let i = 0; i < 20_000; i++) await store.create(generateId(), record({ expiresAt: Date.now() + 40 }));
    await new Promise((resolve) => setTimeout(resolve, 60));
    await store.create(generateId(), record());
    // A request's write removed about a slice (5,000 at most; the last creates of the loop may have removed
    // a few that had expired while the store filled): not all 20,000 in one go.
    expect(heldEntries(store)).toBeGreaterThan(20_000 - 2 * 5_000);
    const order: string[] = [];
    setImmediate(() => order.push('other work'));
    const count = await store.length();
    order.push('length()');
    expect(count).toBe(1);
    expect(order).toEqual(['other work', 'length()']);
    await store.close();
  });

  it('pages two listings at once, each seeing every session live throughout exactly once', async () => {
    const store = new MemoryStore({ sweepInterval: 0 });
    const live = new Set<string>();
    for (let i = 0; i < 50; i++) {
      const id = generateId();
      await store.create(id, record());
      live.add(storageKey(id));
    }
    const first = await store.list({ limit: 10 });
    const seen = first.sessions.map((s) => s.handle);
    // Another listing starts between the pages, after sessions came and went.
    for (let i = 0; i < 30; i++) await store.create(generateId(), record());
    await store.list({ limit: 10 });
    let cursor = first.cursor;
    while (cursor !== null) {
      const page = await store.list({ limit: 10, cursor });
      seen.push(...page.sessions.map((s) => s.handle));
      cursor = page.cursor;
    }
    const ofTheFifty = seen.filter((handle) => live.has(handle));
    expect(ofTheFifty.sort()).toEqual([...live].sort());
    await store.close();
  });

  it('sweeps expired sessions on its timer without anyone reading them', async () => {
    const store = new MemoryStore({ sweepInterval: 20 });
    for (let i = 0; i < 100; i++) await store.create(generateId(), record({ expiresAt: Date.now() + 30 }));
    await new Promise((resolve) => setTimeout(resolve, 150));
    expect(heldEntries(store)).toBe(0);
    await store.close();
  });
});

runExpressSessionCompat('MemoryStore', () => new MemoryStore());

describe('MemoryStore entries', () => {
  const now = Date.now();
  const cases: [string, Partial<SessionRecord>][] = [
    ['a cookie whose expiry is the deadline', {}],
    [
      'a cookie whose expiry differs from the deadline (absoluteTimeout cut it short)',
      {
        expiresAt: now + 600_000,
        cookie: { originalMaxAge: 60_000, expires: new Date(now + 900_000).toISOString() },
      },
    ],
    ['a browser-session cookie', { cookie: { originalMaxAge: null, expires: null, httpOnly: true } }],
    ['a cookie without an expires key', { cookie: { originalMaxAge: null } }],
    // The store refuses a time past what a Date holds (a typed error): one a millisecond short of that.
    ['a deadline a millisecond short of the last a Date holds', { expiresAt: 8.64e15 - 1 }],
    [
      'a user, and a last-seen time after creation',
      { userId: 'ada', createdAt: now - 5_000, lastSeenAt: now },
    ],
  ];
  for (const [name, overrides] of cases) {
    it(`give back exactly what was stored: ${name}`, async () => {
      const store = new MemoryStore({ sweepInterval: 0 });
      const id = generateId();
      const stored = record(overrides);
      await store.create(id, stored);
      expect(await store.get(id)).toEqual(stored);
      await store.touch(id, stored.expiresAt + 1, now + 1);
      expect(await store.get(id)).toEqual({
        ...stored,
        expiresAt: stored.expiresAt + 1,
        lastSeenAt: now + 1,
      });
      await store.close();
    });
  }

  it("give the middleware's read a maxAge cookie without the expiry it rebuilds, and any other cookie whole", async () => {
    const store = new MemoryStore({ sweepInterval: 0 });
    const withAge = record();
    const browserSession = record({
      cookie: { originalMaxAge: null, expires: new Date(now + 60_000).toISOString() },
      expiresAt: now + 60_000,
    });
    const [a, b] = [generateId(), generateId()];
    await store.create(a, withAge);
    await store.create(b, browserSession);
    const { expires, ...rest } = withAge.cookie;
    expect(expires).toBeTypeOf('string');
    // The middleware's record also names the entry it came from, for the request's first write.
    const { [LOADED_FROM]: source, ...got } = store[NOW].get(a) as Sourced;
    expect(source).toBe([...memoryEntries(store, storageKey(a)).values()][0]);
    expect(got).toEqual({ ...withAge, cookie: rest });
    const { [LOADED_FROM]: _, ...other } = store[NOW].get(b) as Sourced;
    expect(other).toEqual(browserSession);
    // The public read is untouched by it, and so is what a touch writes back.
    store[NOW].touch(a, withAge.expiresAt, now + 1);
    expect(await store.get(a)).toEqual({ ...withAge, lastSeenAt: now + 1 });
    await store.close();
  });

  it('keep one string per session: no object beside the JSON', async () => {
    const store = new MemoryStore({ sweepInterval: 0 });
    const id = generateId();
    await store.create(id, record());
    const [entry] = [...memoryEntries(store, storageKey(id)).values()];
    expect(typeof entry).toBe('string');
    // The cookie's expiry equals the deadline, so it is not stored twice.
    expect(entry).not.toContain('expires');
    await store.close();
  });

  it('hold a cookie shape once for every session that has it, and give each session its own cookie', async () => {
    const store = new MemoryStore({ sweepInterval: 0 });
    const [a, b] = [generateId(), generateId()];
    await store.create(a, record({ cookie: { originalMaxAge: 60_000, httpOnly: true, path: '/' } }));
    await store.create(b, record({ cookie: { originalMaxAge: 60_000, httpOnly: true, path: '/' } }));
    for (const id of [a, b]) {
      const [entry] = [...memoryEntries(store, storageKey(id)).values()];
      expect(entry).not.toContain('originalMaxAge');
    }
    // What a read hands out is the caller's to change: the other session's cookie is untouched.
    const first = (await store.get(a)) as SessionRecord;
    first.cookie.path = '/changed';
    expect((await store.get(b))?.cookie.path).toBe('/');
    expect((await store.get(a))?.cookie.path).toBe('/');
    await store.close();
  });

  it('give back every cookie exactly, however many shapes the sessions have', async () => {
    const store = new MemoryStore({ sweepInterval: 0 });
    // More shapes than the store shares: the rest are written inline.
    const written = Array.from({ length: 1_500 }, (_, i) => {
      const id = generateId();
      return { id, stored: record({ cookie: { originalMaxAge: 1_000 + i, path: `/p${i}` } }) };
    });
    for (const { id, stored } of written) await store.create(id, stored);
    for (const { id, stored } of written) expect(await store.get(id)).toEqual(stored);
    await store.close();
  });
});

describe('MemoryStore shared cookies', () => {
  it('give back every updated cookie exactly, shapes alternating from one write to the next', async () => {
    const store = new MemoryStore({ sweepInterval: 0 });
    const expiresAt = Date.now() + 60_000;
    const expires = new Date(expiresAt).toISOString();
    // Near misses of one another: a field more, the same fields in another order, values JSON writes
    // differently (NaN, -0), a null.
    const shapes: Record<string, unknown>[] = [
      { originalMaxAge: 60_000, expires, httpOnly: true, path: '/', sameSite: 'lax' },
      { originalMaxAge: 60_000, expires, httpOnly: true, path: '/', sameSite: 'lax', domain: 'a.test' },
      { originalMaxAge: 60_000, expires, path: '/', httpOnly: true, sameSite: 'lax' },
      { originalMaxAge: 60_000, expires, httpOnly: false, path: '/', sameSite: 'lax' },
      { originalMaxAge: Number.NaN, expires, httpOnly: true, path: '/', sameSite: 'lax' },
      { originalMaxAge: -0, expires, httpOnly: true, path: '/', sameSite: 'lax' },
      { originalMaxAge: 60_000, expires, httpOnly: true, path: '/', sameSite: null },
      { originalMaxAge: 60_000, expires, httpOnly: true, path: '/' },
    ];
    const id = generateId();
    await store.create(id, record({ expiresAt }));
    for (const order of [shapes, [...shapes].reverse(), shapes.flatMap((shape) => [shape, shape])]) {
      for (const shape of order) {
        const cookie = shape as unknown as SessionRecord['cookie'];
        expect(store[NOW].update(id, { set: {}, unset: [], cookie, expiresAt, lastSeenAt: Date.now() })).toBe(
          true,
        );
        const stored = (await store.get(id)) as SessionRecord;
        const expected = JSON.parse(JSON.stringify(shape)) as Record<string, unknown>;
        expect(stored.cookie).toEqual(expected);
        // An elided `expires` comes back last; the other fields keep their order.
        const withoutExpires = (cookie: object) => Object.keys(cookie).filter((key) => key !== 'expires');
        expect(withoutExpires(stored.cookie)).toEqual(withoutExpires(expected));
      }
    }
    await store.close();
  });
});

describe('MemoryStore deadlines', () => {
  it('expire exactly at the stored instant, whatever the number looks like in JSON', async () => {
    const store = new MemoryStore({ sweepInterval: 0 });
    const future = [Date.now() + 60_000, Date.now() + 60_000.5, 1e15, 8.64e15];
    const ids = future.map(() => generateId());
    for (const [i, expiresAt] of future.entries())
      await store.create(ids[i] as string, record({ expiresAt }));
    for (const [i, expiresAt] of future.entries())
      expect((await store.get(ids[i] as string))?.expiresAt).toBe(expiresAt);
    const past = generateId();
    await store.create(past, record({ expiresAt: Date.now() + 20 }));
    await new Promise((resolve) => setTimeout(resolve, 40));
    expect(await store.prune()).toBe(1);
    expect(await store.get(past)).toBeNull();
    expect(await store.length()).toBe(future.length);
    await store.close();
  });
});

describe('MemoryStore user index', () => {
  // '' is no user ID (refused by every store, as by login()).
  const users = ['ada', 'a,b', 'quote"d', 'back\\slash\\', 'both\\",', 'ünïcødé', ' '];

  it('keeps every user, however spelled, until the session is destroyed, swept or evicted', async () => {
    const store = new MemoryStore({ sweepInterval: 0, max: users.length * 2 });
    const kept = new Map<string, string>();
    const expiring: string[] = [];
    for (const userId of users) {
      const keep = generateId();
      const doomed = generateId();
      await store.create(keep, record({ userId }));
      await store.create(doomed, record({ userId, expiresAt: Date.now() + 20 }));
      kept.set(userId, keep);
      expiring.push(doomed);
    }
    await new Promise((resolve) => setTimeout(resolve, 40));
    expect(await store.prune()).toBe(users.length);
    for (const userId of users) expect(await store.listByUser(userId)).toHaveLength(1);
    for (const userId of users) await store.destroy(kept.get(userId) as string);
    for (const userId of users) expect(await store.listByUser(userId)).toEqual([]);
    expect((store as unknown as { byUser: Map<string, unknown> }).byUser.size).toBe(0);
    await store.close();
  });
});

describe('MemoryStore handles', () => {
  it('files every ID under its SHA-256, the empty string too, even as the first ID it sees', async () => {
    const store = new MemoryStore({ sweepInterval: 0 });
    expect(await store.create('', record({ userId: 'empty' }))).toBe(true);
    expect((await store.listByUser('empty')).map((s) => s.handle)).toEqual([storageKey('')]);
    expect(await store.destroyByHandle(storageKey(''))).toBe(true);
    expect(await store.get('')).toBeNull();
  });
});
