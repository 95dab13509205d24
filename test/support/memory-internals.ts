import { storageKey } from '../../src/core/id.js';
import type { MemoryStore } from '../../src/stores/memory.js';

/** The MemoryStore's own Map (key → entry text), for tests that corrupt what it holds as a bug would. */
export function memoryEntries(store: MemoryStore): Map<string, string> {
  return (store as unknown as { entries: Map<string, string> }).entries;
}

/** Replaces a stored entry's whole text. */
export function overwriteEntry(store: MemoryStore, id: string, text: string): void {
  memoryEntries(store).set(storageKey(id), text);
}

/** Keeps a stored entry's times and user but replaces its cookie and data with the given JSON texts. */
export function overwritePayload(store: MemoryStore, id: string, cookieText: string, dataText: string): void {
  const key = storageKey(id);
  const entries = memoryEntries(store);
  const meta = (JSON.parse(entries.get(key) as string) as unknown[]).slice(0, 4);
  entries.set(key, `${JSON.stringify(meta).slice(0, -1)},${cookieText},${dataText}]`);
}
