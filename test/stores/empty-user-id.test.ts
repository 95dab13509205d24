import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateId } from '../../src/core/id.js';
import type { SessionStore } from '../../src/stores/contract.js';
import type { AnyStore } from '../../src/stores/factory.js';
import { record } from '../../src/testing/conformance.js';
import { storeTargets } from '../support/interleave.js';

/**
 * The empty string is no user ID on any store, as `login()` refuses it: a record, a listing or a
 * revoke-all naming '' is refused with ERR_INVALID_USER. Taken, Redis (which keeps '' as "no user")
 * stored such a session anonymous while the other stores bound it to a user ''.
 */

const targets = await storeTargets('skempty');

for (const target of targets) {
  describe.skipIf(target.skip)(`user ID '' on ${target.name}`, () => {
    let store: AnyStore;
    beforeAll(async () => {
      store = await target.open();
    });
    afterAll(async () => {
      if (store) await target.dispose(store);
    });

    it('is refused with ERR_INVALID_USER by create, listByUser and destroyByUser', async () => {
      const s = store as SessionStore;
      const id = generateId();
      await expect(s.create(id, record({ userId: '' }))).rejects.toMatchObject({ code: 'ERR_INVALID_USER' });
      expect(await s.get(id)).toBeNull();
      await expect(s.listByUser!('')).rejects.toMatchObject({ code: 'ERR_INVALID_USER' });
      await expect(s.destroyByUser!('')).rejects.toMatchObject({ code: 'ERR_INVALID_USER' });
    });
  });
}
