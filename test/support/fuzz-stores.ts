import { createClient } from 'redis';
import type { SessionStore } from '../../src/stores/contract.js';
import { MemoryStore } from '../../src/stores/memory.js';
import { RedisStore } from '../../src/stores/redis.js';
import { runNamespace } from './services.js';
import { SlowMemoryStore } from './slow-store.js';

/**
 * Fresh stores of one kind for the differential fuzzers, one per run of a program: `memory`, `slow` (a
 * MemoryStore answering 2 ms later) or `redis` (its own client and key prefix). `closeAll()` clears and
 * closes every store made, and quits the clients, after the file.
 */
export function fuzzStores(name: string, redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379') {
  const stores: SessionStore[] = [];
  const clients: Array<{ quit(): Promise<unknown> }> = [];
  return {
    async fresh(kind: string): Promise<SessionStore> {
      let store: SessionStore;
      if (kind === 'memory') store = new MemoryStore();
      else if (kind === 'slow') store = new SlowMemoryStore(2);
      else {
        const client = createClient({ url: redisUrl });
        client.on('error', () => undefined);
        await client.connect();
        clients.push(client);
        store = new RedisStore({ client, prefix: `${runNamespace(name)}:` }) as unknown as SessionStore;
      }
      stores.push(store);
      return store;
    },
    async closeAll(): Promise<void> {
      for (const store of stores) {
        await store.clear?.();
        (store as { close?: () => unknown }).close?.();
      }
      for (const client of clients) await client.quit().catch(() => undefined);
    },
  };
}
