import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateId } from '../../src/core/id.js';
import { record } from '../../src/testing/conformance.js';
import { type PairTarget, type StorePair, storePairs } from '../support/store-pairs.js';

/**
 * Why: scripts, `sessionkit list --cursor` and `sessionkit rekey --cursor` page through every session by
 * `list({ cursor })`, and the README promises ERR_INVALID_ARGUMENT for a cursor no page gave. A cursor
 * cut short by a copy-paste, or text that was never a cursor, must be refused: answered with an empty
 * last page, a script takes the listing for complete (a revocation sweep that stops early), and a cursor
 * paged from mid-table skips sessions without a word. Stores that page in handle order (SQL, MongoDB) can
 * tell a cut-short cursor from a real one; Redis's SCAN cursors are numbers any of which SCAN accepts, so
 * there only text that is no cursor at all is refused.
 */
const targets = await storePairs('list_cursor');

for (const target of targets) {
  describe.skipIf(target.skip)(`list() cursors no page gave: ${target.name}`, () => {
    let pair: StorePair;
    beforeAll(async () => {
      pair = await (target as PairTarget).open();
      for (let i = 0; i < 3; i++) await pair.near.create(generateId(), record());
    });
    afterAll(async () => {
      if (pair) await (target as PairTarget).dispose(pair);
    });

    it('refuses text no page could give, and a page cursor cut short where the store can tell', async () => {
      const store = pair.near;
      if (!store.list) return;
      // SCAN may hand back every key in one batch, so Redis's first page may be its last.
      const { cursor } = await store.list({ limit: 1 });
      const refused = ['zz-not-a-cursor-any-page-gave', "' OR 1=1 --", 'x'.repeat(200)];
      // A cursor cut short: the MemoryStore's cursors name listings it keeps, and the SQL stores' and
      // MongoDB's are handles, so those stores can tell.
      if (!target.name.startsWith('redis')) {
        expect(cursor).toEqual(expect.any(String));
        refused.push((cursor as string).slice(0, -1));
      }
      for (const bad of refused)
        await expect(store.list({ cursor: bad, limit: 2 }), JSON.stringify(bad)).rejects.toMatchObject({
          code: 'ERR_INVALID_ARGUMENT',
        });
      // The cursor a page gave still pages on.
      if (cursor !== null)
        expect((await store.list({ cursor, limit: 5 })).sessions.length).toBeGreaterThan(0);
    });
  });
}
