import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateId } from '../../src/core/id.js';
import type { SessionStore } from '../../src/stores/contract.js';
import type { AnyStore } from '../../src/stores/factory.js';
import { record } from '../../src/testing/conformance.js';
import { storeTargets } from '../support/interleave.js';

/**
 * Times past the range of a JavaScript Date (±8.64e15 ms) are refused with a typed error on every store
 * (ERR_INVALID_RECORD for a record, ERR_INVALID_ARGUMENT for a touch). Taken, MongoDB's BSON stored them
 * as 1970, so a create or a touch with `Number.MAX_SAFE_INTEGER` ("never expire") answered true and the
 * session was gone; PostgreSQL, MariaDB and Redis failed as a store error; the MemoryStore and SQLite
 * kept them.
 */

const targets = await storeTargets('sktimes');
const FAR = [Number.MAX_SAFE_INTEGER, 8.64e15 + 1, 1e19, 1e300];

for (const target of targets) {
  describe.skipIf(target.skip)(`expiries at the edges on ${target.name}`, () => {
    let store: AnyStore;
    beforeAll(async () => {
      store = await target.open();
    });
    afterAll(async () => {
      if (store) await target.dispose(store);
    });

    for (const expiresAt of FAR) {
      it(`create with expiresAt ${expiresAt}: stored and read back, or refused with ERR_INVALID_RECORD`, async () => {
        const s = store as SessionStore;
        const id = generateId();
        let outcome: string;
        try {
          const created = await s.create(id, record({ expiresAt }));
          outcome = created && (await s.get(id)) !== null ? 'readable' : 'created but never read again';
        } catch (error) {
          outcome = `error ${(error as { code?: string }).code}`;
        }
        expect(['readable', 'error ERR_INVALID_RECORD']).toContain(outcome);
      });

      it(`touch of a live session to ${expiresAt}: still readable, or refused with ERR_INVALID_ARGUMENT`, async () => {
        const s = store as SessionStore;
        const id = generateId();
        await s.create(id, record());
        let outcome: string;
        try {
          const touched = await s.touch(id, expiresAt, Date.now());
          outcome = touched && (await s.get(id)) !== null ? 'readable' : 'touched but lost';
        } catch (error) {
          outcome = `error ${(error as { code?: string }).code}`;
        }
        expect(['readable', 'error ERR_INVALID_ARGUMENT']).toContain(outcome);
        if (outcome !== 'readable') expect(await s.get(id)).not.toBeNull();
      });
    }
  });
}
