/**
 * Two commits of one new session that overlap (`Promise.all` of two helpers that each commit) must store
 * one record under one ID: side by side, each would create its own, one of them named by no cookie, and
 * the response would carry two different cookies for one session.
 */
import { describe, expect, it } from 'vitest';
import { createSessionkitStorage } from '../../src/adapters/react-router.js';
import { SlowMemoryStore } from '../support/slow-store.js';

const cookie = { name: '__session', secrets: ['react-router-cookie-secret-32-chars!!'] };

describe('React Router storage: overlapping commits of one new session', () => {
  it('store one record and name it in both Set-Cookie values', async () => {
    const store = new SlowMemoryStore(20);
    const storage = createSessionkitStorage<{ user: string }>({ store, cookie });
    const session = await storage.getSession(null);
    session.set('user', 'ada');
    const [one, two] = await Promise.all([storage.commitSession(session), storage.commitSession(session)]);
    expect(one.split(';')[0]).toBe(two.split(';')[0]);
    expect(await store.length()).toBe(1);
  });
});
