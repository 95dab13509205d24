import { StoreUrlError } from '../core/errors.js';
import type { SessionStore, Store } from './store.js';

export type AnyStore = SessionStore & Store;

/**
 * Builds a store from a URL, loading only the driver that URL needs:
 * `memory:`, `sqlite:path` (`sqlite::memory:`), `postgres://…`, `mysql://…` / `mariadb://…`,
 * `redis://…` / `rediss://…` / `redis+sentinel://…`, `mongodb://…` / `mongodb+srv://…`.
 */
export async function createStore(url: string | URL): Promise<AnyStore> {
  let parsed: URL;
  try {
    parsed = typeof url === 'string' ? new URL(url) : url;
  } catch {
    throw new StoreUrlError(`not a store URL: ${JSON.stringify(String(url))}`);
  }
  switch (parsed.protocol) {
    case 'memory:': {
      const { MemoryStore } = await import('./memory.js');
      return new MemoryStore();
    }
    case 'sqlite:':
      return (await import('./sqlite.js')).createFromUrl(parsed);
    case 'postgres:':
    case 'postgresql:':
      return (await import('./postgres.js')).createFromUrl(parsed);
    case 'mysql:':
    case 'mariadb:':
      return (await import('./mysql.js')).createFromUrl(parsed);
    case 'redis:':
    case 'rediss:':
    case 'redis+sentinel:':
      return (await import('./redis.js')).createFromUrl(parsed);
    case 'mongodb:':
    case 'mongodb+srv:':
      return (await import('./mongodb.js')).createFromUrl(parsed);
    default:
      throw new StoreUrlError(
        `unknown store scheme ${JSON.stringify(parsed.protocol)}: use memory:, sqlite:, postgres://, mysql://, redis:// or mongodb://`,
      );
  }
}
