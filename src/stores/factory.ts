import { StoreUrlError } from '../core/errors.js';
import { maskCredentials, maskError } from './credentials.js';
import { type AnyStore, definitionFor, readParams, STORES } from './registry.js';

export type { AnyStore } from './registry.js';

const DRIVER_PACKAGES = new Set(['better-sqlite3', 'pg', 'mysql2', 'redis', 'ioredis', 'mongodb']);

/**
 * Builds a store from a URL, loading only the driver that URL needs. The schemes and parameters are
 * those of the store registry (`src/stores/registry.ts`, the README's store table); an unknown scheme or
 * parameter is refused with ERR_STORE_URL before any driver loads.
 *
 * Whatever it throws has the URL's credentials masked (in the message, the stack and the causes), and a
 * driver that is not installed is named with the command that installs it.
 */
export async function createStore(url: string | URL): Promise<AnyStore> {
  const text = String(url);
  try {
    return await open(url);
  } catch (error) {
    throw maskError(driverMissing(error, text) ?? error, text);
  }
}

async function open(url: string | URL): Promise<AnyStore> {
  let parsed: URL;
  try {
    parsed = typeof url === 'string' ? new URL(url) : url;
  } catch {
    throw new StoreUrlError(`not a store URL: ${JSON.stringify(maskCredentials(String(url)))}`);
  }
  const definition = definitionFor(parsed);
  readParams(parsed, definition);
  return (await definition.load()).createFromUrl(parsed);
}

/** A StoreUrlError naming the package to install, when `error` is a driver that failed to load. */
function driverMissing(error: unknown, url: string): StoreUrlError | null {
  const code = (error as { code?: unknown } | null)?.code;
  if (code !== 'ERR_MODULE_NOT_FOUND' && code !== 'MODULE_NOT_FOUND') return null;
  const message = error instanceof Error ? error.message : '';
  const missing = /Cannot find (?:package|module) '([^']+)'/.exec(message)?.[1];
  if (!missing || !DRIVER_PACKAGES.has(missing)) return null;
  const scheme = /^[A-Za-z][A-Za-z0-9+.-]*:/.exec(url)?.[0]?.toLowerCase() ?? '';
  if (missing === 'redis' || missing === 'ioredis') {
    const asked = /[?&]client=(ioredis|redis|node-redis)\b/.exec(url)?.[1];
    const install =
      asked === undefined
        ? 'npm i redis (or npm i ioredis)'
        : `npm i ${asked === 'ioredis' ? 'ioredis' : 'redis'}`;
    return new StoreUrlError(
      `a ${scheme} store needs a Redis client package, and none is installed: ${install}`,
    );
  }
  const wanted = STORES.find((store) => store.schemes.includes(scheme))?.driver ?? missing;
  return new StoreUrlError(
    `a ${scheme} store needs the ${wanted} package, which is not installed: npm i ${wanted}`,
  );
}
