import { StoreTimeoutError, StoreUrlError } from '../core/errors.js';
import { type AnyStore, createStore } from '../stores/factory.js';

/**
 * Opens the store a URL names, with the CLI's timeout applied to every call (unless the URL sets its own),
 * and with opening itself bounded too: some drivers connect eagerly and would otherwise retry forever.
 */
export async function openStore(url: string, timeoutMs: number): Promise<AnyStore> {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new StoreUrlError(`not a store URL: ${JSON.stringify(redact(url, url))}`);
  }
  if (parsed.protocol !== 'memory:' && !parsed.searchParams.has('timeout')) {
    parsed.searchParams.set('timeout', String(timeoutMs));
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
      reject(new StoreTimeoutError('connect', timeoutMs));
    }, timeoutMs + 1_000);
    timer.unref();
  });
  try {
    return await Promise.race([opening, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

/** Hides the URL's password in anything the CLI prints. */
export function redact(text: string, url: string | undefined): string {
  if (!url) return text;
  try {
    const { password } = new URL(url);
    if (!password) return text;
    return text.split(password).join('***').split(decodeURIComponent(password)).join('***');
  } catch {
    return text;
  }
}
