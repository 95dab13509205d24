import express from 'express';
import request from 'supertest';
import { describe, expect, it } from 'vitest';
import { generateId, storageKey } from '../../src/core/id.js';
import session, { currentUserId, login } from '../../src/index.js';
import { MemoryStore } from '../../src/stores/memory.js';
import { cookieOf } from '../support/apps.js';
import { heldEntries } from '../support/memory-internals.js';
import { record } from './conformance.js';

/**
 * A capped MemoryStore evicts anonymous sessions (no user bound) before logged-in ones: a flood of
 * anonymous requests with `saveUninitialized: true` must not log users out.
 */
describe('MemoryStore eviction policy', () => {
  it('evicts anonymous sessions first: a flood of them leaves every logged-in session in place', async () => {
    const store = new MemoryStore({ max: 100, sweepInterval: 0 });
    const evicted = new Set<string>();
    store.on('evict', (handle: string) => evicted.add(handle));
    const now = Date.now();
    // Logged-in sessions nearest their deadline: "nearest deadline first" alone would take them first.
    const users = Array.from({ length: 20 }, () => generateId());
    for (const [i, id] of users.entries())
      await store.create(id, record({ userId: `user-${i}`, expiresAt: now + 10_000 + i }));
    const anonymous: string[] = [];
    for (let i = 0; i < 2_000; i++) {
      const id = generateId();
      anonymous.push(id);
      await store.create(id, record({ expiresAt: now + 60_000 + i }));
    }
    expect(heldEntries(store)).toBe(100);
    for (const id of users) expect((await store.get(id))?.userId).toMatch(/^user-/);
    for (const id of users) expect(evicted.has(storageKey(id))).toBe(false);
    expect(evicted.size).toBe(2_000 - 80);
    // Among the anonymous ones, the nearest deadline went first: the latest 80 are the ones kept.
    for (const id of anonymous.slice(-80)) expect(await store.get(id)).not.toBeNull();
    await store.close();
  });

  it('a session bound to a user after it was created counts as logged in', async () => {
    const store = new MemoryStore({ max: 10, sweepInterval: 0 });
    const now = Date.now();
    const bound = generateId();
    await store.create(bound, record({ expiresAt: now + 5_000 }));
    // Same deadline, now with a user: its node in the anonymous heap must not make it a victim.
    await store.update(bound, {
      set: {},
      unset: [],
      expiresAt: now + 5_000,
      lastSeenAt: now,
      userId: 'late',
    });
    for (let i = 0; i < 100; i++) await store.create(generateId(), record({ expiresAt: now + 60_000 }));
    expect((await store.get(bound))?.userId).toBe('late');
    expect((await store.listByUser('late')).map((s) => s.handle)).toEqual([storageKey(bound)]);
    await store.close();
  });

  it('with only logged-in sessions left, evicts the one nearest its deadline', async () => {
    const store = new MemoryStore({ max: 3, sweepInterval: 0 });
    const now = Date.now();
    const [soon, later, latest, extra] = [generateId(), generateId(), generateId(), generateId()];
    await store.create(latest as string, record({ userId: 'c', expiresAt: now + 30_000 }));
    await store.create(soon as string, record({ userId: 'a', expiresAt: now + 10_000 }));
    await store.create(later as string, record({ userId: 'b', expiresAt: now + 20_000 }));
    await store.create(extra as string, record({ userId: 'd', expiresAt: now + 50_000 }));
    expect(await store.get(soon as string)).toBeNull();
    expect(await store.listByUser('a')).toEqual([]);
    for (const id of [later, latest, extra]) expect(await store.get(id as string)).not.toBeNull();
    await store.close();
  });

  it('through the middleware with saveUninitialized: true, anonymous traffic never logs a user out', async () => {
    const store = new MemoryStore({ max: 30, sweepInterval: 0 });
    const app = express();
    app.use(
      session({
        secret: 'eviction-secret-0123456789abcdef01234567',
        store,
        resave: false,
        saveUninitialized: true,
      }),
    );
    app.get('/login/:user', async (req, res) => {
      await login(req.session, req.params.user);
      res.send('in');
    });
    app.get('/whoami', (req, res) => {
      res.send(String(currentUserId(req.session)));
    });
    const server = app.listen(0, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
    const agent = request(`http://127.0.0.1:${(server.address() as { port: number }).port}`);
    const cookies: string[] = [];
    for (let i = 0; i < 10; i++) cookies.push(cookieOf(await agent.get(`/login/user-${i}`).expect(200)));
    for (let i = 0; i < 200; i++) await agent.get('/whoami').expect(200, 'null');
    expect(heldEntries(store)).toBe(30);
    for (const [i, cookie] of cookies.entries())
      await agent.get('/whoami').set('Cookie', cookie).expect(200, `user-${i}`);
    await new Promise((resolve) => server.close(resolve));
    await store.close();
  });
});
