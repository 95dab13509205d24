import { storageKey } from '../../src/core/id.js';
import type { MemoryStore } from '../../src/stores/memory.js';

interface Internals {
  shards: Map<string, string>[];
  shardOf(key: string): Map<string, string>;
  anonymous: { keys: string[] };
  bound: { keys: string[] };
}

function internals(store: MemoryStore): Internals {
  return store as unknown as Internals;
}

/** The MemoryStore Map (key → entry text) that holds `key`, for tests that corrupt what it holds as a bug would. */
export function memoryEntries(store: MemoryStore, key: string): Map<string, string> {
  return internals(store).shardOf(key);
}

/** How many entries the store holds, counted in its Maps (not through length(), which sweeps first). */
export function heldEntries(store: MemoryStore): number {
  return internals(store).shards.reduce((sum, shard) => sum + shard.size, 0);
}

/** Nodes in the store's deadline heaps (anonymous and bound sessions), stale ones included. */
export function heapNodes(store: MemoryStore): number {
  const { anonymous, bound } = internals(store);
  return anonymous.keys.length + bound.keys.length;
}

/** Replaces a stored entry's whole text. */
export function overwriteEntry(store: MemoryStore, id: string, text: string): void {
  const key = storageKey(id);
  memoryEntries(store, key).set(key, text);
}

/** Keeps a stored entry's times and user but replaces its cookie and data with the given JSON texts. */
export function overwritePayload(store: MemoryStore, id: string, cookieText: string, dataText: string): void {
  const key = storageKey(id);
  const entries = memoryEntries(store, key);
  const meta = (JSON.parse(entries.get(key) as string) as unknown[]).slice(0, 4);
  entries.set(key, `${JSON.stringify(meta).slice(0, -1)},${cookieText},${dataText}]`);
}
