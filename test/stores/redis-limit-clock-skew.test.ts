/**
 * Why: users who set `maxSessionsPerUser` on several app servers sharing Redis depend on the limit holding
 * when one user signs in on two devices at once, one login on each server (README: "concurrent logins on
 * several app servers cannot exceed it"), also when the app servers' clocks differ from each other or from
 * the Redis server's by tens of seconds. The mark that makes a login still writing its session count is
 * dated and expired by the Redis server's clock alone; were it judged by an app server's, a login on a
 * server 20 s behind would be "stale" the moment it was written, and the other login would succeed
 * beside it: two live sessions under a limit of 1, the first missing from listByUser.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateId, storageKey } from '../../src/core/id.js';
import type { LimitOutcome, UserLimit } from '../../src/core/types.js';
import type { AnyStore } from '../../src/stores/factory.js';
import { SCRIPTS } from '../../src/stores/redis-scripts.js';
import { record } from '../../src/testing/conformance.js';
import { storeTargets } from '../support/interleave.js';
import { install, onClock, uninstall } from '../support/skew.js';

const target = (await storeTargets('redislimitskew')).find((t) => t.name === 'redis')!;

beforeAll(install);
afterAll(uninstall);

type Evaluating = { eval: (op: string, s: unknown, key: unknown, args: string[]) => Promise<unknown> };

describe.skipIf(target.skip)('RedisStore maxSessionsPerUser under clock skew', () => {
  let first: AnyStore;
  let second: AnyStore;
  beforeAll(async () => {
    first = await target.open();
    second = await target.open();
  });
  afterAll(async () => {
    await second?.close?.();
    if (first) await target.dispose(first);
  });

  /**
   * Login 1 on `first` (clock `offsetFirst`), its session write held after the limit script ran; login 2
   * on `second` (clock `offsetSecond`) meanwhile; then login 1's write lands. With `plain`, login 1 is a
   * plain `create` of a session bound to the user (a `renewAfter` renewal's new ID), whose in-progress mark
   * the index add sets.
   */
  async function race(offsetFirst: number, offsetSecond: number, plain = false) {
    const user = `u-${generateId().slice(0, 10)}`;
    const limit: UserLimit = { max: 1, onLimit: 'refuse' };
    const target1 = first as unknown as Evaluating;
    const original = target1.eval;
    let reached!: () => void;
    const atWrite = new Promise<void>((r) => (reached = r));
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    target1.eval = async function (this: unknown, op, s, key, args) {
      if (s === SCRIPTS.write && op === (plain ? 'create' : 'createWithinLimit')) {
        reached();
        await gate;
      }
      return original.call(this, op, s, key, args);
    };
    const id1 = generateId();
    const id2 = generateId();
    try {
      const login1 = onClock(offsetFirst, async (): Promise<LimitOutcome> => {
        if (!plain) return first.createWithinLimit!(id1, record({ userId: user }), limit);
        return {
          result: (await first.create!(id1, record({ userId: user }))) ? 'created' : 'exists',
          evicted: [],
        };
      });
      await atWrite;
      const login2 = await onClock(offsetSecond, () =>
        second.createWithinLimit!(id2, record({ userId: user }), limit),
      );
      release();
      const out1 = await login1;
      const live = (await Promise.all([first.get(id1), first.get(id2)])).filter(
        (r) => r?.userId === user,
      ).length;
      const listed = (await first.listByUser!(user)).map((s) => s.handle);
      return { out1: out1.result, out2: login2.result, live, listedFirst: listed.includes(storageKey(id1)) };
    } finally {
      target1.eval = original;
    }
  }

  it('one clock everywhere: the second concurrent login is refused', async () => {
    expect(await race(0, 0)).toEqual({ out1: 'created', out2: 'refused', live: 1, listedFirst: true });
  });

  it('the first login’s app server is 20 s behind the second’s: the second login is refused, the first listed', async () => {
    expect(await race(-20_000, 0)).toEqual({ out1: 'created', out2: 'refused', live: 1, listedFirst: true });
  });

  it('a renewal’s create on an app server 20 s behind, its write in flight, still counts for a login on another', async () => {
    expect(await race(-20_000, 0, true)).toEqual({
      out1: 'created',
      out2: 'refused',
      live: 1,
      listedFirst: true,
    });
  });

  it('both app servers 20 s behind the Redis server: the second login is refused, the first listed', async () => {
    // Both app clocks 20 s behind real time = the Redis server 20 s ahead of both.
    expect(await race(-20_000, -20_000)).toEqual({
      out1: 'created',
      out2: 'refused',
      live: 1,
      listedFirst: true,
    });
  });
});
