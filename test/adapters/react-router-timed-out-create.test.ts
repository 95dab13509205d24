/**
 * A commit whose create times out rejects with ERR_STORE_UNAVAILABLE and sends no cookie, but the store
 * may still carry the create out later. That record, with the user's data, would be one no browser can
 * use or log out: its ID is destroyed behind the create.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { createSessionkitStorage } from '../../src/adapters/react-router.js';
import { SlowMemoryStore } from '../support/slow-store.js';

const cookie = { name: '__session', secrets: ['react-router-cookie-secret-32-chars!!'] };

describe('React Router storage: a create that times out', () => {
  it('leaves no record behind once the late create lands', async () => {
    // Every store call answers after 150 ms; the storage waits 50 ms.
    const store = new SlowMemoryStore(150);
    const storage = createSessionkitStorage<{ user: string }>({ store, cookie, storeTimeout: 50 });
    const session = await storage.getSession(null);
    session.set('user', 'ada');
    await expect(storage.commitSession(session)).rejects.toMatchObject({ code: 'ERR_STORE_UNAVAILABLE' });
    // No cookie went out. Once the store has answered everything it was asked, nothing may remain.
    await sleep(600);
    expect(await store.length()).toBe(0);
  });
});
