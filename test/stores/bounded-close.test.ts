import { afterEach, describe, expect, it } from 'vitest';
import { generateId } from '../../src/core/id.js';
import { type AnyStore, createStore } from '../../src/stores/factory.js';
import { BlackHole } from '../support/black-hole.js';

/**
 * Issue 23 item 7: against a server that accepts connections and never answers, every call fails with
 * ERR_STORE_UNAVAILABLE within the store's timeout, and `close()` settles (gracefully if it can, by
 * destroying its sockets if not) and leaves no connection behind to keep the process alive. SQLite and
 * memory have no server; the bridge closes nothing (an express-session store closes its own client).
 */

const TIMEOUT = 500;
/** Generous against a loaded machine; a close that waits for the server never settles at all. */
const CLOSE_BOUND = TIMEOUT + 2_500;

/** Whether `promise` settles within `ms`, without leaving a timer behind. */
async function settlesWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      promise.then(
        () => true,
        () => true,
      ),
      new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(false), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

const withTimeout = (url: string) => `${url}${url.includes('?') ? '&' : '?'}timeout=${TIMEOUT}`;

const blackHoleStores: Array<[string, (port: number) => string]> = [
  ['Redis through node-redis', (port) => `redis://127.0.0.1:${port}?client=redis`],
  ['Redis through ioredis', (port) => `redis://127.0.0.1:${port}?client=ioredis`],
  ['PostgreSQL (pg)', (port) => `postgres://app:pw@127.0.0.1:${port}/app`],
  ['MySQL (mysql2)', (port) => `mysql://app:pw@127.0.0.1:${port}/app`],
  ['MongoDB', (port) => `mongodb://127.0.0.1:${port}/app`],
];

describe('close() is bounded against a server that never answers (issue 23 item 7)', () => {
  const cleanups: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  it.each(blackHoleStores)(
    '%s: calls fail with ERR_STORE_UNAVAILABLE; close() settles and drops every connection',
    async (_name, urlFor) => {
      const hole = new BlackHole();
      const port = await hole.start();
      cleanups.push(() => hole.stop());
      const store: AnyStore = await createStore(withTimeout(urlFor(port)));
      await expect(store.get(generateId())).rejects.toMatchObject({ code: 'ERR_STORE_UNAVAILABLE' });
      expect(hole.accepted).toBeGreaterThan(0);
      expect(await settlesWithin(store.close?.() ?? Promise.resolve(), CLOSE_BOUND)).toBe(true);
      await hole.drained(CLOSE_BOUND);
      expect(hole.open).toBe(0);
    },
  );
});
