import { type Keyring, open, seal, sealedWith } from '../core/encryption.js';
import { NotSupportedError } from '../core/errors.js';
import type { SessionSummary } from '../core/types.js';
import type { DataSwap, SessionStore } from './contract.js';

/**
 * Re-sealing every record under the newest key (C38), for `sessionkit rekey`. It works on the store as it
 * is, under the encryption layer: it pages through `list()`, opens each value sealed by an older key and
 * seals it again with the primary one, and hands the store a compare-and-set per value
 * (`resealByHandle`), so a value the application rewrote meanwhile keeps the application's write.
 */

export interface RekeyOptions {
  /** Records per page (and so per pause). Default 100. */
  batch?: number;
  /** Milliseconds to wait between pages, so the store serves the application meanwhile. Default 0. */
  pauseMs?: number;
  /** Where a previous run stopped (`RekeyProgress.cursor`); omit to start at the beginning. */
  cursor?: string | null;
  /** Called after each page is done, with what the run has done so far: persist `cursor` to resume. */
  onBatch?(progress: RekeyProgress): void | Promise<void>;
  /** Stops after the page in progress when aborted; the last `onBatch` cursor resumes. */
  signal?: AbortSignal;
}

export interface RekeyCounts {
  /** Records with at least one value re-sealed. */
  resealed: number;
  /** Records whose values were all under the primary key already (or had none). */
  current: number;
  /** Records with a value that did not open (unknown key, altered, not sealed): left as they are. */
  failed: number;
  /** Values the application rewrote between the read and the re-seal: its write was kept. */
  raced: number;
}

export interface RekeyProgress extends RekeyCounts {
  /** Where to resume: after the last page done; `null` once the listing is complete. */
  cursor: string | null;
  /** Records looked at in this run. */
  seen: number;
  /** Handles (never IDs or data) of the failed records, at most `FAILED_HANDLES_KEPT`. */
  failedHandles: string[];
}

export interface RekeyResult extends RekeyProgress {
  /** True when the whole listing was walked; false when stopped by the signal. */
  complete: boolean;
}

const DEFAULT_BATCH = 100;
/** Enough to find the bad records; a store full of them should not fill memory or the terminal. */
export const FAILED_HANDLES_KEPT = 100;

/** What one record needs: the swaps that re-seal its old values, or a failure (one value does not open). */
export function resealPlan(ring: Keyring, summary: SessionSummary): DataSwap[] | 'failed' {
  const swaps: DataSwap[] = [];
  const primary = ring.primary.id;
  const data = summary.data ?? {};
  for (const key of Object.keys(data)) {
    const value = data[key];
    const id = sealedWith(value);
    if (id === primary) continue;
    try {
      // Opens under the same binding it will be sealed under: a value moved here from another record
      // or key fails here rather than being re-sealed as if it belonged.
      const plain = open(ring, summary.handle, key, value);
      swaps.push({ key, from: value as string, to: seal(ring, summary.handle, key, plain) });
    } catch {
      return 'failed';
    }
  }
  return swaps;
}

/** Re-seals every record of `store` sealed by a key other than the primary one of `ring`. */
export async function rekeyStore(
  store: SessionStore,
  ring: Keyring,
  options: RekeyOptions = {},
): Promise<RekeyResult> {
  if (typeof store.list !== 'function') throw new NotSupportedError('list');
  if (typeof store.resealByHandle !== 'function') throw new NotSupportedError('resealByHandle');
  const list = store.list.bind(store);
  const reseal = store.resealByHandle.bind(store);
  const batch = options.batch ?? DEFAULT_BATCH;
  const progress: RekeyProgress = {
    cursor: options.cursor ?? null,
    seen: 0,
    resealed: 0,
    current: 0,
    failed: 0,
    raced: 0,
    failedHandles: [],
  };
  let first = true;
  while (first || progress.cursor !== null) {
    if (!first && options.signal?.aborted) return { ...progress, complete: false };
    if (!first && options.pauseMs) await pause(options.pauseMs, options.signal);
    if (!first && options.signal?.aborted) return { ...progress, complete: false };
    first = false;
    const page = await list({ cursor: progress.cursor, limit: batch });
    for (const summary of page.sessions) {
      progress.seen++;
      const plan = resealPlan(ring, summary);
      if (plan === 'failed') {
        progress.failed++;
        if (progress.failedHandles.length < FAILED_HANDLES_KEPT) progress.failedHandles.push(summary.handle);
        continue;
      }
      if (plan.length === 0) {
        progress.current++;
        continue;
      }
      const replaced = await reseal(summary.handle, plan);
      progress.raced += plan.length - replaced;
      if (replaced > 0) progress.resealed++;
      else progress.current++;
    }
    progress.cursor = page.cursor;
    await options.onBatch?.({ ...progress, failedHandles: [...progress.failedHandles] });
  }
  return { ...progress, complete: true };
}

/** Waits `ms`, or less when `signal` aborts. */
function pause(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}
