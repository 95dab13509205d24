/**
 * Concurrent variant of the store differential fuzzer (store-differential-fuzz.test.ts): on every store as two
 * instances over the same data (test/support/store-pairs.ts, the far one behind a proxy delaying each
 * chunk 0–3 ms), random batches of operations of one user run at once, split over the two instances:
 * logins under the per-user limit, updates of different keys, touches, a `destroyByUser`. Checked after
 * each batch, against the contract's atomicity promises:
 *  - at most `max` live sessions of the user, however many logins raced (C31);
 *  - no resurrection: every session that existed before a `destroyByUser` that finished is gone, whatever
 *    update or touch raced it;
 *  - no lost update: every key written by an update that resolved `true` to a session still live is there.
 */
import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SessionStore } from '../../src/stores/contract.js';
import { record } from '../stores/conformance.js';
import { type PairTarget, type StorePair, storePairs } from '../support/store-pairs.js';

const targets = await storePairs('store_conc_fuzz');

type Op =
  | { k: 'login'; on: 0 | 1; max: number }
  | { k: 'update'; on: 0 | 1; s: number }
  | { k: 'touch'; on: 0 | 1; s: number }
  | { k: 'revoke'; on: 0 | 1 };

const op: fc.Arbitrary<Op> = fc.oneof(
  fc.record({
    k: fc.constant('login' as const),
    on: fc.constantFrom(0 as const, 1 as const),
    max: fc.constant(2),
  }),
  fc.record({ k: fc.constant('update' as const), on: fc.constantFrom(0 as const, 1 as const), s: fc.nat(3) }),
  fc.record({ k: fc.constant('touch' as const), on: fc.constantFrom(0 as const, 1 as const), s: fc.nat(3) }),
  fc.record({ k: fc.constant('revoke' as const), on: fc.constantFrom(0 as const, 1 as const) }),
);

for (const target of targets) {
  describe.skipIf(target.skip)(`concurrent contract fuzz: ${target.name}`, () => {
    let pair: StorePair;
    beforeAll(async () => {
      pair = await target.open();
    });
    afterAll(async () => {
      if (pair) await (target as PairTarget).dispose(pair);
    });

    it('keeps the per-user limit, no resurrection after a revoke, no lost update', async () => {
      let trial = 0;
      await fc.assert(
        fc.asyncProperty(fc.array(op, { minLength: 2, maxLength: 8 }), async (ops) => {
          const stores = [pair.near, pair.far] as SessionStore[];
          const user = `cu${trial++}-${randomBytes(3).toString('hex')}`;
          // Two sessions of the user before the batch.
          const before = [0, 1].map(() => `pre-${randomBytes(8).toString('hex')}`);
          for (const id of before)
            expect(
              await stores[0]?.createWithinLimit?.(id, record({ userId: user }), {
                max: 2,
                onLimit: 'evict-oldest',
              }),
            ).toMatchObject({ result: 'created' });
          const made: string[] = [...before];
          const written: { id: string; key: string }[] = [];
          let revoked = false;
          await Promise.all(
            ops.map(async (o, n) => {
              const store = stores[o.on] as SessionStore;
              if (o.k === 'login') {
                const id = `new-${n}-${randomBytes(8).toString('hex')}`;
                made.push(id);
                await store.createWithinLimit?.(id, record({ userId: user }), {
                  max: o.max,
                  onLimit: 'evict-oldest',
                });
              } else if (o.k === 'update') {
                const id = before[o.s % 2] as string;
                const key = `k${n}`;
                const ok = await store.update(id, {
                  set: { [key]: n },
                  unset: [],
                  expiresAt: Date.now() + 60_000,
                  lastSeenAt: Date.now(),
                });
                if (ok) written.push({ id, key });
              } else if (o.k === 'touch') {
                await store.touch(before[o.s % 2] as string, Date.now() + 120_000, Date.now());
              } else {
                await store.destroyByUser?.(user);
                revoked = true;
              }
            }),
          );
          const live = (await Promise.all(made.map((id) => stores[0]?.get(id)))).filter((r) => r !== null);
          expect(live.length, `live sessions of ${user}: ${JSON.stringify(ops)}`).toBeLessThanOrEqual(2);
          for (const s of stores)
            for (const id of before) {
              const got = await s.get(id);
              if (revoked) expect(got, `resurrected ${id}: ${JSON.stringify(ops)}`).toBeNull();
              else if (got)
                for (const w of written.filter((x) => x.id === id)) expect(got.data).toHaveProperty(w.key);
            }
        }),
        { seed: 10, numRuns: Number(process.env.FUZZ_RUNS ?? 25), endOnFailure: true },
      );
    }, 60_000);
  });
}
