import { MemoryStore } from '../../src/index.js';
import { SQLiteStore } from '../../src/stores/sqlite.js';

/** The stores that need no server, by name, for suites that must behave the same on each. */
export const inProcessStores = [
  ['MemoryStore', () => new MemoryStore()],
  ['SQLiteStore', () => new SQLiteStore(':memory:')],
] as const;
