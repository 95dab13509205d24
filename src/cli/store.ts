import { existsSync } from 'node:fs';
import { StoreTimeoutError, StoreUrlError } from '../core/errors.js';
import { maskWith } from '../stores/credentials.js';
import { type AnyStore, createStore } from '../stores/factory.js';
import { STORES } from '../stores/registry.js';
import { CliError } from './exit.js';

export interface OpenOptions {
  timeoutMs: number;
  /** Create a SQLite database (and its directory) that does not exist yet. */
  create: boolean;
}

/** The schemes whose stores take a `timeout` parameter. */
const STORE_TIMEOUT = new Set(
  STORES.filter((store) => store.params.some((p) => p.name === 'timeout')).flatMap((store) => store.schemes),
);

/**
 * How long opening may take past `timeout`: a Redis URL waits up to `timeout` for its first connection
 * and then returns the store anyway; this only catches a driver that does not return at all.
 */
const OPEN_GRACE_MS = 200;

/**
 * Opens the store a URL names, with the CLI's timeout applied to every call (unless the URL sets its own),
 * and with opening itself bounded too: some drivers connect eagerly and would otherwise retry forever.
 */
export async function openStore(url: string, options: OpenOptions): Promise<AnyStore> {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new StoreUrlError(`not a store URL: ${JSON.stringify(maskWith(url, url))}`);
  }
  if (parsed.protocol === 'sqlite:' && !options.create) requireSqliteFile(parsed);
  // Unknown schemes are left to createStore, which names the known ones.
  const takesTimeout = STORE_TIMEOUT.has(parsed.protocol);
  if (takesTimeout && !parsed.searchParams.has('timeout')) {
    parsed.searchParams.set('timeout', String(options.timeoutMs));
  }
  let timer: NodeJS.Timeout | undefined;
  const opening = createStore(parsed);
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      // A store that finishes opening after we gave up must not keep the process alive.
      opening.then(
        (late) => late.close?.().catch(() => undefined),
        () => undefined,
      );
      reject(new StoreTimeoutError('connect', options.timeoutMs));
    }, options.timeoutMs + OPEN_GRACE_MS);
    timer.unref();
  });
  try {
    return await Promise.race([opening, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * An inspection tool must not create what it was asked to inspect: a mistyped path would otherwise become
 * a new, empty database (and its directories) reporting "0 sessions".
 */
function requireSqliteFile(url: URL): void {
  // A URL the store refuses anyway (a host, no path) gets the store's own message.
  if (url.hostname && url.hostname !== 'localhost') return;
  const path = decodeURIComponent(url.pathname);
  if (path === '' || path === ':memory:') return;
  if (!existsSync(path))
    throw new CliError(
      'ERR_NO_DATABASE',
      `no SQLite database at ${JSON.stringify(path)} (add --create to create it)`,
    );
}

/** Hides the URL's credentials in anything the CLI prints, whether or not the URL parses. */
export function redact(text: string, url: string | undefined): string {
  return maskWith(text, url);
}
