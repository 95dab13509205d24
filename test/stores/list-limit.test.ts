import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateId } from '../../src/core/id.js';
import type { SessionStore } from '../../src/stores/contract.js';
import type { AnyStore } from '../../src/stores/factory.js';
import { record } from '../../src/testing/conformance.js';
import { storeTargets } from '../support/interleave.js';

/**
 * `list({ limit })` on every store: a limit that is not a positive integer (0, NaN, Infinity, 2.5) is
 * refused with ERR_INVALID_ARGUMENT before any store sees it. Taken, each store did something else with
 * it: the MemoryStore with 0 and Redis with NaN served empty pages for ever (a tool paging until the
 * cursor is null never ended), the MemoryStore and MongoDB with NaN said there were no sessions, and
 * the SQL stores failed as a store error (a 500 for a caller's mistake).
 */

const targets = await storeTargets('sklimit');
const LIMITS = [0, Number.NaN, Number.POSITIVE_INFINITY, 2.5];

for (const target of targets) {
  describe.skipIf(target.skip)(`list() with an odd limit on ${target.name}`, () => {
    let store: AnyStore;
    beforeAll(async () => {
      store = await target.open();
      for (let i = 0; i < 3; i++) await (store as SessionStore).create(generateId(), record());
    });
    afterAll(async () => {
      if (store) await target.dispose(store);
    });

    for (const limit of LIMITS) {
      it(`limit ${limit}: refused with ERR_INVALID_ARGUMENT, or every session listed and the paging ends`, async () => {
        const s = store as SessionStore;
        let cursor: string | null = null;
        let pages = 0;
        let seen = 0;
        let outcome: string;
        try {
          do {
            const page = await s.list!({ cursor, limit });
            seen += page.sessions.length;
            cursor = page.cursor;
          } while (cursor && ++pages < 20);
          outcome = cursor ? `still paging after 20 pages (cursor ${cursor})` : `listed ${seen}`;
        } catch (error) {
          // A refusal counts only on the first call: a store that serves a page and then refuses its own
          // cursor has not listed its sessions.
          outcome = `error ${(error as { code?: string }).code}${pages > 0 || seen > 0 ? ' after a page' : ''}`;
        }
        expect(['listed 3', 'error ERR_INVALID_ARGUMENT']).toContain(outcome);
      });
    }
  });
}
