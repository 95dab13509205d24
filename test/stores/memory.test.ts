import { describe, expect, it } from 'vitest';
import { generateId } from '../../src/core/id.js';
import { MemoryStore } from '../../src/stores/memory.js';
import { record, runStoreConformance } from './conformance.js';
import { runExpressSessionCompat } from './express-session-compat.js';

runStoreConformance({
  name: 'MemoryStore',
  create: () => new MemoryStore(),
  async corrupt(store, id) {
    // Reach past the API the way a bug or a bit flip would.
    const entries = (store as unknown as { entries: Map<string, { json: string }> }).entries;
    const { storageKey } = await import('../../src/core/id.js');
    const entry = entries.get(storageKey(id));
    if (entry) entry.json = '{"data": {"trunc';
  },
});

describe('MemoryStore bounds', () => {
  it('evicts the least recently written session past max', async () => {
    const store = new MemoryStore({ max: 3 });
    const ids = [generateId(), generateId(), generateId(), generateId()];
    for (const id of ids.slice(0, 3)) await store.create(id, record());
    await store.touch(ids[0] as string, Date.now() + 60_000, Date.now());
    await store.create(ids[3] as string, record());
    expect(await store.length()).toBe(3);
    expect(await store.get(ids[1] as string)).toBeNull();
    expect(await store.get(ids[0] as string)).not.toBeNull();
    await store.close();
  });

  it('does not grow while many sessions are created and expire', async () => {
    const store = new MemoryStore({ sweepInterval: 0 });
    const internals = store as unknown as { entries: Map<string, unknown>; heap: unknown[] };
    for (let round = 0; round < 5; round++) {
      const expiresAt = Date.now() + 50;
      for (let i = 0; i < 20_000; i++) await store.create(generateId(), record({ expiresAt }));
      await new Promise((resolve) => setTimeout(resolve, 80));
      await store.prune();
      expect(internals.entries.size).toBe(0);
      expect(internals.heap.length).toBe(0);
    }
    await store.close();
  });

  it('bounds the heap when the same sessions are touched over and over', async () => {
    const store = new MemoryStore({ sweepInterval: 0 });
    const internals = store as unknown as { heap: unknown[] };
    const ids = Array.from({ length: 100 }, () => generateId());
    for (const id of ids) await store.create(id, record());
    for (let i = 0; i < 50_000; i++)
      await store.touch(ids[i % 100] as string, Date.now() + 60_000 + i, Date.now());
    expect(internals.heap.length).toBeLessThan(2 * 100 + 1024 + 2);
    expect(await store.length()).toBe(100);
    await store.close();
  });

  it('sweeps expired sessions on its timer without anyone reading them', async () => {
    const store = new MemoryStore({ sweepInterval: 20 });
    const internals = store as unknown as { entries: Map<string, unknown> };
    for (let i = 0; i < 100; i++) await store.create(generateId(), record({ expiresAt: Date.now() + 30 }));
    await new Promise((resolve) => setTimeout(resolve, 150));
    expect(internals.entries.size).toBe(0);
    await store.close();
  });
});

runExpressSessionCompat('MemoryStore', () => new MemoryStore());
