import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { MemoryStore } from '../../src/stores/memory.js';
import { SQLiteStore } from '../../src/stores/sqlite.js';
import { soak } from '../support/soak.js';

/**
 * The CI variant of bench/soak.ts: a few thousand requests of mixed traffic per store. It asserts what must hold
 * on any machine (no crash, no error status, the memory store within its cap); timings are only printed.
 */

/**
 * Past the soak's own 60 s limit, so a slow machine ends in its assertions, not in the test's timeout:
 * a few seconds alone, several times that on a loaded machine running the rest of the suite.
 */
const SOAK_TIMEOUT = 90_000;

describe('soak (short)', () => {
  it(
    'memory store: more sessions than its cap, stays within the cap, no errors',
    async () => {
      const store = new MemoryStore({ max: 500 });
      const result = await soak(store, { seconds: 60, requests: 3_000, sessions: 2_000, concurrency: 16 });
      await store.close();
      expect(Object.keys(result.statuses).sort()).toEqual(['200']);
      expect(result.storeLength).toBeLessThanOrEqual(500);
      expect(result.requests).toBe(3_000);
    },
    SOAK_TIMEOUT,
  );

  it(
    'SQLite store: mixed traffic, no errors, no more rows than live sessions',
    async () => {
      const dir = mkdtempSync(join(tmpdir(), 'sk-soak-test-'));
      const store = new SQLiteStore(join(dir, 'soak.db'));
      try {
        const result = await soak(store, { seconds: 60, requests: 3_000, sessions: 2_000, concurrency: 16 });
        expect(Object.keys(result.statuses).sort()).toEqual(['200']);
        expect(result.storeLength).toBeLessThanOrEqual(2_000);
        expect(result.requests).toBe(3_000);
      } finally {
        await store.close();
        rmSync(dir, { recursive: true, force: true });
      }
    },
    SOAK_TIMEOUT,
  );
});
