import { describe, expect, it } from 'vitest';
import { storeTargets } from '../support/interleave.js';
import {
  expressSessionMiddleware,
  measureLostUpdates,
  sessionkitMiddleware,
} from '../support/lost-updates.js';

/**
 * The claim behind bench/lost-updates.ts, as a test: with every request loading the session before any
 * saves, sessionkit keeps every key on every store, while express-session (the control, proving the
 * experiment can see a loss at all) keeps only one request's.
 */

const targets = await storeTargets('sklut');
const options = { concurrency: 12, rounds: 2 };

describe('lost updates: N concurrent requests, each setting a different key of one session', () => {
  it('express-session with its MemoryStore loses updates (the control)', async () => {
    const result = await measureLostUpdates('express-session', expressSessionMiddleware(), options);
    expect(result.lost).toBeGreaterThan(0);
  });

  for (const target of targets) {
    it.skipIf(target.skip)(`sessionkit on ${target.name} loses none`, async () => {
      const store = await target.open();
      try {
        const result = await measureLostUpdates(target.name, sessionkitMiddleware(store), options);
        expect(result.perRound).toEqual([0, 0]);
      } finally {
        await target.dispose(store);
      }
    });
  }
});
