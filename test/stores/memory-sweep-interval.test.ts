/**
 * Why: Node's timers hold at most 2^31-1 ms; a longer interval fires every millisecond. An application
 * that gives the MemoryStore a `sweepInterval` of "30 days" or `Infinity`, meaning "rarely" or "never",
 * relies on not getting a sweep a millisecond instead: the constructor refuses such a value with
 * ERR_INVALID_OPTION naming `sweepInterval` (0 is the way to turn sweeping off), and the longest a
 * timer holds is accepted without sweeping.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { MAX_TIMER_MS } from '../../src/core/time.js';
import { MemoryStore } from '../../src/index.js';

const DAY = 24 * 3600_000;
const wait = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

afterEach(() => vi.restoreAllMocks());

describe('MemoryStore sweepInterval', () => {
  for (const sweepInterval of [MAX_TIMER_MS + 1, 30 * DAY, Number.POSITIVE_INFINITY, Number.NaN, -1]) {
    it(`${sweepInterval} is refused with ERR_INVALID_OPTION`, () => {
      expect(() => new MemoryStore({ sweepInterval })).toThrow(
        expect.objectContaining({ code: 'ERR_INVALID_OPTION', option: 'sweepInterval' }),
      );
    });
  }

  for (const sweepInterval of [MAX_TIMER_MS, 0]) {
    it(`${sweepInterval} is accepted and does not sweep at once`, async () => {
      const store = new MemoryStore({ sweepInterval });
      const sweep = vi.spyOn(store as unknown as { sweepInSlices(): void }, 'sweepInSlices');
      await wait(50);
      const sweeps = sweep.mock.calls.length;
      await store.close();
      expect(sweeps).toBe(0);
    });
  }
});
