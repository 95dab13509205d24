import { once } from 'node:events';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateId, storageKey } from '../core/id.js';
import type { LimitOutcome, SessionDelta, SessionRecord, UserLimit } from '../core/types.js';
import type { SessionStore } from '../stores/contract.js';
import type { Store } from '../stores/express-compat/store.js';
import { TcpProxy } from './proxy.js';

export type ConformanceStore = SessionStore & Store;

export interface StoreHarness<S extends ConformanceStore = ConformanceStore> {
  /** Shown in the test names. */
  name: string;
  /**
   * Builds the store under test, once per run. Use a namespace (prefix, table, collection) of this run's
   * own, so parallel runs against one server do not see each other's sessions.
   */
  create(): Promise<S> | S;
  /** Writes undecodable bytes where the record of `id` lives, bypassing the store. */
  corrupt?(store: S, id: string): Promise<void>;
  /**
   * For the outage test: the server's address, and a factory that builds the store against another
   * address (a proxy the suite owns) with the given operation timeout.
   */
  network?: {
    host: string;
    port: number;
    createVia(host: string, port: number, timeoutMs: number): Promise<S> | S;
  };
  /**
   * Another instance of the store over the same data (a second app server), for the races between two
   * instances. Without it the races run on the one instance (right for an in-process store).
   */
  createPeer?(): Promise<S> | S;
  /** Trials of the concurrent logins at the per-user limit. Default 200. */
  limitTrials?: number;
  /** Trials of each race of concurrent creates of one ID (a new one, an expired one). Default 60. */
  createTrials?: number;
  /** Why the suite cannot run here (no server); the suite is then skipped with that reason. */
  skip?: string | false;
}

const TTL_SHORT = 400;
/** Waits until `deadline` (a record's `expiresAt`) has passed by a margin for the store's own clock reads. */
const pastDeadline = (deadline: number) => sleep(Math.max(0, deadline - Date.now()) + 100);

export function record(overrides: Partial<SessionRecord> = {}): SessionRecord {
  const now = Date.now();
  return {
    data: { views: 1, name: 'aaa' },
    cookie: {
      originalMaxAge: 60_000,
      expires: new Date(now + 60_000).toISOString(),
      httpOnly: true,
      path: '/',
    },
    expiresAt: now + 60_000,
    createdAt: now,
    lastSeenAt: now,
    userId: null,
    ...overrides,
  };
}

function delta(set: Record<string, unknown>, unset: string[] = [], extra: object = {}) {
  const now = Date.now();
  return { set, unset, expiresAt: now + 60_000, lastSeenAt: now, ...extra };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * The store conformance suite: every sessionkit store, and any third-party store written to the
 * contract, must pass it. Call it at the top level of a test file.
 */
export function runStoreConformance<S extends ConformanceStore>(harness: StoreHarness<S>): void {
  const suite = harness.skip ? describe.skip : describe;
  suite(`store conformance: ${harness.name}`, () => {
    let store: S;
    /** The second instance over the same data, or `store` itself when the harness has none. */
    let peer: S;
    beforeAll(async () => {
      store = await harness.create();
      peer = harness.createPeer ? await harness.createPeer() : store;
    });
    afterAll(async () => {
      if (peer !== store) await peer?.close?.();
      await store?.close?.();
    });

    const createTrials = harness.createTrials ?? 60;
    const contenders = 3;
    const acrossInstances = harness.createPeer ? ', spread over two instances' : '';
    /**
     * `contenders` concurrent creates of `id`, alternately on the two instances, each with data of its
     * own: exactly one resolves true, the others false, and the record stored is the winner's.
     */
    const raceCreates = async (id: string, trial: number) => {
      const records = Array.from({ length: contenders }, (_, i) => record({ data: { trial, contender: i } }));
      const results = await Promise.all(
        records.map((rec, i) => ((trial + i) % 2 === 0 ? store : peer).create(id, rec)),
      );
      expect([...results].sort(), `trial ${trial}: ${JSON.stringify(results)}`).toEqual([
        ...Array.from({ length: contenders - 1 }, () => false),
        true,
      ]);
      const stored = await (trial % 2 === 0 ? peer : store).get(id);
      expect(stored, `trial ${trial}`).toEqual(records[results.indexOf(true)]);
    };

    describe('get / create / update / set / destroy', () => {
      it('returns null for an ID it never saw', async () => {
        expect(await store.get(generateId())).toBeNull();
      });

      it('round-trips a created record', async () => {
        const id = generateId();
        const rec = record({ userId: 'u-roundtrip' });
        expect(await store.create(id, rec)).toBe(true);
        const got = await store.get(id);
        expect(got).toEqual(rec);
      });

      it('create refuses an ID that exists and leaves the record alone', async () => {
        const id = generateId();
        await store.create(id, record({ data: { first: true } }));
        expect(await store.create(id, record({ data: { second: true } }))).toBe(false);
        expect((await store.get(id))?.data).toEqual({ first: true });
      });

      it('update merges set and unset keys with what is stored', async () => {
        const id = generateId();
        await store.create(id, record({ data: { a: 1, b: 2, c: 3 } }));
        expect(await store.update(id, delta({ b: 20, d: { nested: [1, 2] } }, ['c']))).toBe(true);
        expect((await store.get(id))?.data).toEqual({ a: 1, b: 20, d: { nested: [1, 2] } });
      });

      it('update with replace drops keys not in the delta', async () => {
        const id = generateId();
        await store.create(id, record({ data: { a: 1, b: 2 } }));
        await store.update(id, delta({ b: 3 }, [], { replace: true }));
        expect((await store.get(id))?.data).toEqual({ b: 3 });
      });

      it('update moves expiry, last-seen, cookie and the bound user', async () => {
        const id = generateId();
        const rec = record();
        await store.create(id, rec);
        const expiresAt = rec.expiresAt + 30_000;
        const cookie = { ...rec.cookie, originalMaxAge: 90_000 };
        await store.update(id, {
          set: {},
          unset: [],
          expiresAt,
          lastSeenAt: rec.lastSeenAt + 5,
          cookie,
          userId: 'u7',
        });
        const got = await store.get(id);
        expect(got).toMatchObject({ expiresAt, lastSeenAt: rec.lastSeenAt + 5, cookie, userId: 'u7' });
        expect(got?.createdAt).toBe(rec.createdAt);
        await store.update(id, delta({}, [], { userId: null }));
        expect((await store.get(id))?.userId).toBeNull();
      });

      it('update never creates: a missing or destroyed session stays gone', async () => {
        const id = generateId();
        expect(await store.update(id, delta({ a: 1 }))).toBe(false);
        expect(await store.get(id)).toBeNull();
        await store.create(id, record());
        await store.destroy(id);
        expect(await store.update(id, delta({ late: 'write' }))).toBe(false);
        expect(await store.get(id)).toBeNull();
      });

      it('set upserts the whole record', async () => {
        const id = generateId();
        await store.set(id, record({ data: { v: 1 } }));
        expect((await store.get(id))?.data).toEqual({ v: 1 });
        await store.set(id, record({ data: { w: 2 } }));
        expect((await store.get(id))?.data).toEqual({ w: 2 });
      });

      it('destroy removes the record and is idempotent', async () => {
        const id = generateId();
        await store.create(id, record());
        await store.destroy(id);
        expect(await store.get(id)).toBeNull();
        await expect(store.destroy(id)).resolves.toBeUndefined();
      });

      it('touch moves the expiry and last-seen time only', async () => {
        const id = generateId();
        const rec = record();
        await store.create(id, rec);
        expect(await store.touch(id, rec.expiresAt + 10_000, rec.lastSeenAt + 1)).toBe(true);
        const got = await store.get(id);
        expect(got).toMatchObject({
          expiresAt: rec.expiresAt + 10_000,
          lastSeenAt: rec.lastSeenAt + 1,
          data: rec.data,
        });
        expect(await store.touch(generateId(), Date.now() + 1000, Date.now())).toBe(false);
      });
    });

    // Each waits out a short deadline on records of its own: side by side, they wait once.
    describe.concurrent('expiry', () => {
      it('never returns an expired record, even before pruning', async () => {
        const id = generateId();
        const deadline = Date.now() + TTL_SHORT;
        await store.create(id, record({ expiresAt: deadline }));
        expect(await store.get(id)).not.toBeNull();
        await pastDeadline(deadline);
        expect(await store.get(id)).toBeNull();
        expect(await store.update(id, delta({ a: 1 }))).toBe(false);
        expect(await store.touch(id, Date.now() + 60_000, Date.now())).toBe(false);
        expect(await store.get(id)).toBeNull();
      });

      it('create succeeds over an expired record', async () => {
        const id = generateId();
        const deadline = Date.now() + TTL_SHORT;
        await store.create(id, record({ expiresAt: deadline, data: { old: true } }));
        await pastDeadline(deadline);
        expect(await store.create(id, record({ data: { fresh: true } }))).toBe(true);
        expect((await store.get(id))?.data).toEqual({ fresh: true });
      });

      it('a touch keeps a record alive past its first deadline', async () => {
        const id = generateId();
        const deadline = Date.now() + TTL_SHORT;
        await store.create(id, record({ expiresAt: deadline }));
        await store.touch(id, Date.now() + 5_000, Date.now());
        await pastDeadline(deadline);
        expect(await store.get(id)).not.toBeNull();
      });
    });

    // The expired records are written first and expire while the races over new IDs run.
    describe('concurrent creates of one ID', () => {
      const expiring = Array.from({ length: createTrials }, () => generateId());
      let deadline = 0;
      let written: boolean[] = [];
      beforeAll(async () => {
        deadline = Date.now() + TTL_SHORT;
        written = await Promise.all(
          expiring.map((id, trial) =>
            store.create(id, record({ expiresAt: deadline, data: { old: trial } })),
          ),
        );
      });

      it(`${contenders} concurrent creates of one new ID${acrossInstances}: exactly one wins, and its record is stored (${createTrials} trials)`, async () => {
        for (let trial = 0; trial < createTrials; trial++) await raceCreates(generateId(), trial);
      });

      it(`${contenders} concurrent creates over an expired record of one ID${acrossInstances}: exactly one wins, and its record is stored (${createTrials} trials)`, async () => {
        expect(written).toEqual(expiring.map(() => true));
        await pastDeadline(deadline);
        for (const [trial, id] of expiring.entries()) await raceCreates(id, trial);
      });
    });

    describe('concurrency', () => {
      it('keeps every key of 50 parallel updates of different keys', async () => {
        const id = generateId();
        await store.create(id, record({ data: {} }));
        const results = await Promise.all(
          Array.from({ length: 50 }, (_, i) => store.update(id, delta({ [`k${i}`]: i }))),
        );
        expect(results.every(Boolean)).toBe(true);
        const data = (await store.get(id))?.data ?? {};
        for (let i = 0; i < 50; i++) expect(data[`k${i}`]).toBe(i);
      });

      it('conflicting updates of one key: no error, one of the writers wins', async () => {
        const id = generateId();
        await store.create(id, record({ data: { x: -1 } }));
        const values = Array.from({ length: 20 }, (_, i) => i);
        await Promise.all(values.map((v) => store.update(id, delta({ x: v }))));
        expect(values).toContain((await store.get(id))?.data.x);
      });

      it('an update racing a destroy never brings the session back', async () => {
        for (let round = 0; round < 10; round++) {
          const id = generateId();
          await store.create(id, record());
          await Promise.all([store.update(id, delta({ late: round })), store.destroy(id)]);
          expect(await store.get(id)).toBeNull();
        }
      });
    });

    describe('users', () => {
      it('lists and destroys a user’s sessions, keeping the one named in except', async () => {
        const user = `user-${generateId().slice(0, 8)}`;
        const ids = [generateId(), generateId(), generateId()];
        for (const id of ids) await store.create(id, record({ userId: user }));
        await store.create(generateId(), record({ userId: `${user}-other` }));
        await store.create(generateId(), record());
        const listed = await store.listByUser!(user);
        expect(listed.map((s) => s.handle).sort()).toEqual(ids.map(storageKey).sort());
        expect(listed.every((s) => s.userId === user)).toBe(true);
        expect(await store.destroyByUser!(user, { except: ids[0] })).toBe(2);
        expect((await store.listByUser!(user)).map((s) => s.handle)).toEqual([storageKey(ids[0] as string)]);
        expect(await store.get(ids[1] as string)).toBeNull();
        expect(await store.get(ids[0] as string)).not.toBeNull();
        expect(await store.destroyByUser!(user)).toBe(1);
        expect(await store.listByUser!(user)).toEqual([]);
      });

      it('follows a session whose bound user changes, and drops expired and destroyed ones', async () => {
        const user = `user-${generateId().slice(0, 8)}`;
        const moving = generateId();
        const expiring = generateId();
        const destroyed = generateId();
        await store.create(moving, record());
        await store.update(moving, delta({}, [], { userId: user }));
        const deadline = Date.now() + TTL_SHORT;
        await store.create(expiring, record({ userId: user, expiresAt: deadline }));
        await store.create(destroyed, record({ userId: user }));
        await store.destroy(destroyed);
        await pastDeadline(deadline);
        expect((await store.listByUser!(user)).map((s) => s.handle)).toEqual([storageKey(moving)]);
        await store.update(moving, delta({}, [], { userId: `${user}-b` }));
        expect(await store.listByUser!(user)).toEqual([]);
      });

      it('destroyByUser ends what exists and nothing that comes after it', async () => {
        const user = `user-${generateId().slice(0, 8)}`;
        const before = generateId();
        await store.create(before, record({ userId: user }));
        expect(await store.destroyByUser!(user)).toBe(1);
        expect(await store.get(before)).toBeNull();
        const after = generateId();
        expect(await store.create(after, record({ userId: user }))).toBe(true);
        expect((await store.get(after))?.userId).toBe(user);
        expect((await store.listByUser!(user)).map((s) => s.handle)).toEqual([storageKey(after)]);
        expect((await store.getByHandle!(storageKey(after)))?.userId).toBe(user);
        // A session bound to the user later, by an update, is live too.
        const bound = generateId();
        await store.create(bound, record());
        expect(await store.update(bound, delta({ late: 1 }, [], { userId: user }))).toBe(true);
        expect((await store.get(bound))?.data).toMatchObject({ late: 1 });
        expect((await store.listByUser!(user)).length).toBe(2);
      });

      it('the session kept by except stays live through repeated revokes and its own writes, until one without except', async () => {
        const user = `user-${generateId().slice(0, 8)}`;
        const kept = generateId();
        await store.create(kept, record({ userId: user }));
        for (let round = 0; round < 3; round++) {
          const other = generateId();
          await store.create(other, record({ userId: user }));
          expect(await store.destroyByUser!(user, { except: kept })).toBe(1);
          expect(await store.get(other)).toBeNull();
          expect(await store.update(kept, delta({ round }))).toBe(true);
          expect((await store.get(kept))?.data).toMatchObject({ round });
          expect((await store.listByUser!(user)).map((s) => s.handle)).toEqual([storageKey(kept)]);
        }
        // Keeping another session ends this one.
        const next = generateId();
        await store.create(next, record({ userId: user }));
        expect(await store.destroyByUser!(user, { except: next })).toBe(1);
        expect(await store.get(kept)).toBeNull();
        expect((await store.get(next))?.userId).toBe(user);
        expect(await store.destroyByUser!(user)).toBe(1);
        expect(await store.get(next)).toBeNull();
        expect(await store.listByUser!(user)).toEqual([]);
      });

      it('logins racing destroyByUser leave no session that loads but is not listed (C17)', async () => {
        const user = `user-${generateId().slice(0, 8)}`;
        const ids = Array.from({ length: 30 }, () => generateId());
        await Promise.all(
          ids.map(async (id, i) => {
            const login = store.create(id, record({ userId: user }));
            const revoke = i % 3 === 0 ? store.destroyByUser!(user) : Promise.resolve(0);
            await Promise.all([login, revoke]);
          }),
        );
        const listed = new Set((await store.listByUser!(user)).map((s) => s.handle));
        for (const id of ids) {
          const loaded = await store.get(id);
          if (loaded) expect(listed.has(storageKey(id))).toBe(true);
        }
        await store.destroyByUser!(user);
        for (const id of ids) expect(await store.get(id)).toBeNull();
        expect(await store.listByUser!(user)).toEqual([]);
      });
    });

    describe('per-user session limit (C31)', () => {
      const within = (on: S, id: string, rec: SessionRecord, limit: UserLimit): Promise<LimitOutcome> =>
        (on.createWithinLimit as NonNullable<S['createWithinLimit']>).call(on, id, rec, limit);
      // Optional in the contract: a store without it is refused `maxSessionsPerUser` at session().
      const limitIt = (name: string, body: () => Promise<void>, timeout?: number) =>
        it(
          name,
          async (context) => {
            if (typeof store.createWithinLimit !== 'function') context.skip();
            await body();
          },
          timeout,
        );
      const newUser = () => `limit-${generateId().slice(0, 10)}`;
      const loading = async (on: S, ids: string[]) =>
        (await Promise.all(ids.map((id) => on.get(id)))).filter((found) => found !== null).length;

      limitIt('evicts the oldest session by createdAt to make room; the evicted one stays gone', async () => {
        const user = newUser();
        const start = Date.now() - 10_000;
        const ids = [generateId(), generateId(), generateId()];
        const limit: UserLimit = { max: 3, onLimit: 'evict-oldest' };
        // Created newest first: the order of the logins is not what decides, createdAt is.
        for (const [i, id] of [...ids.entries()].reverse()) {
          const made = await within(store, id, record({ userId: user, createdAt: start + i * 1000 }), limit);
          expect(made).toEqual({ result: 'created', evicted: [] });
        }
        const fourth = generateId();
        const out = await within(peer, fourth, record({ userId: user }), limit);
        expect(out).toEqual({ result: 'created', evicted: [storageKey(ids[0] as string)] });
        expect(await store.get(ids[0] as string)).toBeNull();
        // A request of the evicted session still in flight writes after the eviction: nothing comes back.
        expect(await store.update(ids[0] as string, delta({ late: true }))).toBe(false);
        expect(await store.touch(ids[0] as string, Date.now() + 60_000, Date.now())).toBe(false);
        expect(await peer.get(ids[0] as string)).toBeNull();
        const listed = (await store.listByUser!(user)).map((s) => s.handle).sort();
        expect(listed).toEqual([ids[1], ids[2], fourth].map((id) => storageKey(id as string)).sort());
        expect((await store.get(fourth))?.userId).toBe(user);
      });

      limitIt("refuses at the limit under 'refuse', changing nothing", async () => {
        const user = newUser();
        const limit: UserLimit = { max: 2, onLimit: 'refuse' };
        const ids = [generateId(), generateId()];
        for (const id of ids)
          expect((await within(store, id, record({ userId: user }), limit)).result).toBe('created');
        const third = generateId();
        expect(await within(peer, third, record({ userId: user }), limit)).toEqual({
          result: 'refused',
          evicted: [],
        });
        expect(await store.get(third)).toBeNull();
        for (const id of ids) expect((await store.get(id))?.data).toEqual({ views: 1, name: 'aaa' });
        expect(await store.listByUser!(user)).toHaveLength(2);
      });

      limitIt(
        'counts only live sessions of the user: not the replaced one, anonymous, other users’, expired or revoked ones',
        async () => {
          const user = newUser();
          const one: UserLimit = { max: 1, onLimit: 'refuse' };
          const first = generateId();
          expect((await within(store, first, record({ userId: user }), one)).result).toBe('created');
          await store.create(generateId(), record());
          await store.create(generateId(), record({ userId: newUser() }));
          // Signing in again from the session the user has: it ends with this login, so it does not count.
          const second = generateId();
          const again = await within(peer, second, record({ userId: user }), { ...one, replaces: first });
          expect(again.result).toBe('created');
          await store.destroy(first);
          const short = generateId();
          expect(await store.create(short, record({ userId: user, expiresAt: Date.now() + TTL_SHORT }))).toBe(
            true,
          );
          await store.destroyByUser!(user, { except: short });
          await sleep(TTL_SHORT + 100);
          const third = generateId();
          expect((await within(peer, third, record({ userId: user }), one)).result).toBe('created');
          expect(await store.destroyByUser!(user)).toBe(1);
          const fourth = generateId();
          expect((await within(store, fourth, record({ userId: user }), one)).result).toBe('created');
          expect(await loading(store, [first, second, short, third, fourth])).toBe(1);
        },
      );

      limitIt('resolves exists, changing nothing, for an ID that is live', async () => {
        const user = newUser();
        const id = generateId();
        expect(await store.create(id, record({ userId: user, data: { mine: 1 } }))).toBe(true);
        const out = await within(peer, id, record({ userId: user }), { max: 5, onLimit: 'evict-oldest' });
        expect(out).toEqual({ result: 'exists', evicted: [] });
        expect((await store.get(id))?.data).toEqual({ mine: 1 });
      });

      limitIt('refuses a record without a user and a malformed limit with ERR_INVALID_ARGUMENT', async () => {
        const id = generateId();
        const bad: unknown[] = [
          [record(), { max: 1, onLimit: 'refuse' }],
          [record({ userId: 'u' }), { max: 0, onLimit: 'refuse' }],
          [record({ userId: 'u' }), { max: 1.5, onLimit: 'refuse' }],
          [record({ userId: 'u' }), { max: 1, onLimit: 'oldest' }],
          [record({ userId: 'u' }), null],
        ];
        for (const [rec, limit] of bad as Array<[SessionRecord, UserLimit]>) {
          await expect(within(store, id, rec, limit)).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT' });
        }
        expect(await store.get(id)).toBeNull();
      });

      const trials = harness.limitTrials ?? 200;
      limitIt(
        `N+1 concurrent logins of one user on two instances never leave more than N (${trials} trials)`,
        async () => {
          const max = 2;
          const base = Date.now() - 60_000;
          for (let trial = 0; trial < trials; trial++) {
            const onLimit = trial % 2 === 0 ? 'evict-oldest' : 'refuse';
            const user = newUser();
            const ids = Array.from({ length: max + 1 }, () => generateId());
            const outcomes = await Promise.all(
              ids.map((id, i) =>
                within(i % 2 === 0 ? store : peer, id, record({ userId: user, createdAt: base + i }), {
                  max,
                  onLimit,
                }),
              ),
            );
            const results = outcomes.map((o) => o.result);
            if (onLimit === 'refuse') {
              expect(results.filter((r) => r === 'refused')).toHaveLength(1);
            } else {
              expect(results.every((r) => r === 'created')).toBe(true);
              expect(outcomes.flatMap((o) => o.evicted)).toHaveLength(1);
            }
            expect(await loading(peer, ids)).toBe(max);
            expect(await store.listByUser!(user)).toHaveLength(max);
          }
        },
        120_000,
      );
    });

    describe('listing and housekeeping', () => {
      it('list pages through every live session once; length counts them; expired ones never show', async () => {
        await store.clear!();
        const live = Array.from({ length: 7 }, () => generateId());
        for (const id of live) await store.create(id, record({ data: { id } }));
        const deadline = Date.now() + TTL_SHORT;
        for (let i = 0; i < 3; i++) await store.create(generateId(), record({ expiresAt: deadline }));
        await pastDeadline(deadline);
        expect(await store.length!()).toBe(7);
        const seen: string[] = [];
        let cursor: string | null = null;
        let pages = 0;
        do {
          const page = await store.list!({ cursor, limit: 3 });
          seen.push(...page.sessions.map((s) => s.handle));
          cursor = page.cursor;
          expect(++pages).toBeLessThan(20);
        } while (cursor);
        expect([...new Set(seen)].sort()).toEqual(live.map(storageKey).sort());
        const summary = await store.getByHandle!(storageKey(live[0] as string));
        expect(summary?.data).toEqual({ id: live[0] });
      });

      it('prune removes expired records and leaves live ones', async () => {
        await store.clear!();
        const keep = generateId();
        await store.create(keep, record());
        const deadline = Date.now() + TTL_SHORT;
        for (let i = 0; i < 3; i++) await store.create(generateId(), record({ expiresAt: deadline }));
        await pastDeadline(deadline);
        const removed = await store.prune!();
        // Stores whose backend expires records by itself (Redis) may find nothing left to prune.
        expect(removed).toBeGreaterThanOrEqual(0);
        expect(removed).toBeLessThanOrEqual(3);
        expect(await store.length!()).toBe(1);
        expect(await store.get(keep)).not.toBeNull();
      });

      it('destroyByHandle removes the session listed under that handle', async () => {
        const id = generateId();
        await store.create(id, record());
        expect(await store.destroyByHandle!(storageKey(id))).toBe(true);
        expect(await store.get(id)).toBeNull();
        expect(await store.destroyByHandle!(storageKey(id))).toBe(false);
      });

      it('clear removes everything', async () => {
        await store.create(generateId(), record());
        await store.clear!();
        expect(await store.length!()).toBe(0);
      });
    });

    describe('arguments and user IDs', () => {
      // What JavaScript callers can pass where a string belongs, query operators from a request body first.
      const notStrings: unknown[] = [{ $ne: null }, { $gt: '' }, { $regex: '.*' }, ['a'], 42, null, true];

      it('refuses non-string IDs, handles, user IDs and cursors with ERR_INVALID_ARGUMENT, changing nothing', async () => {
        const user = `user-${generateId().slice(0, 8)}`;
        const id = generateId();
        await store.create(id, record({ userId: user }));
        const invalid = { code: 'ERR_INVALID_ARGUMENT' };
        const s = store as SessionStore;
        for (const bad of notStrings) {
          const b = bad as string;
          await expect(s.get(b)).rejects.toMatchObject(invalid);
          await expect(s.create(b, record())).rejects.toMatchObject(invalid);
          await expect(s.update(b, delta({ x: 1 }))).rejects.toMatchObject(invalid);
          await expect(s.set(b, record())).rejects.toMatchObject(invalid);
          await expect(s.destroy(b)).rejects.toMatchObject(invalid);
          await expect(s.touch(b, Date.now() + 60_000, Date.now())).rejects.toMatchObject(invalid);
          if (s.listByUser) await expect(s.listByUser(b)).rejects.toMatchObject(invalid);
          if (s.destroyByUser) {
            await expect(s.destroyByUser(b)).rejects.toMatchObject(invalid);
            await expect(s.destroyByUser(user, { except: b })).rejects.toMatchObject(invalid);
          }
          if (s.getByHandle) await expect(s.getByHandle(b)).rejects.toMatchObject(invalid);
          if (s.destroyByHandle) await expect(s.destroyByHandle(b)).rejects.toMatchObject(invalid);
          if (s.list && bad !== null) await expect(s.list({ cursor: b })).rejects.toMatchObject(invalid);
          if (bad !== null) {
            await expect(s.create(generateId(), record({ userId: b }))).rejects.toMatchObject(invalid);
            await expect(s.update(id, delta({ y: 1 }, [], { userId: b }))).rejects.toMatchObject(invalid);
          }
        }
        const kept = await store.get(id);
        expect(kept?.userId).toBe(user);
        expect(kept?.data).toEqual(record().data);
        if (s.listByUser) expect((await s.listByUser(user)).map((x) => x.handle)).toEqual([storageKey(id)]);
      });

      it('refuses a touch whose times are no finite numbers with ERR_INVALID_ARGUMENT, changing nothing', async () => {
        const id = generateId();
        const stored = record();
        await store.create(id, stored);
        const s = store as SessionStore;
        const now = Date.now();
        for (const [expiresAt, lastSeenAt] of [
          [{ cookie: {} }, now],
          [now + 60_000, undefined],
          [Number.NaN, now],
          [String(now + 60_000), now],
          [Number.POSITIVE_INFINITY, now],
        ])
          await expect(s.touch(id, expiresAt as number, lastSeenAt as number)).rejects.toMatchObject({
            code: 'ERR_INVALID_ARGUMENT',
          });
        const kept = await store.get(id);
        expect(kept?.expiresAt).toBe(stored.expiresAt);
        expect(kept?.data).toEqual(stored.data);
      });

      it('refuses a write whose times are no finite numbers with a typed error, storing nothing', async () => {
        // A database refuses such a time as a failed query (an outage to the caller) or stores a row never
        // read again; either way a caller's bug must show as its own error.
        const id = generateId();
        const stored = record();
        await store.create(id, stored);
        const s = store as SessionStore;
        const now = Date.now();
        const badTimes: unknown[] = [Number.NaN, Number.POSITIVE_INFINITY, String(now + 60_000), undefined];
        for (const bad of badTimes) {
          for (const field of ['expiresAt', 'createdAt', 'lastSeenAt'] as const) {
            const fresh = generateId();
            const broken = { ...record(), [field]: bad } as SessionRecord;
            const label = `${field}: ${String(bad)}`;
            await expect(s.create(fresh, broken), label).rejects.toMatchObject({
              code: 'ERR_INVALID_RECORD',
            });
            // Without a numeric `expiresAt`, `set(id, object)` is express-session's call, not a bad record.
            if (field === 'expiresAt' && typeof bad !== 'number') continue;
            await expect(s.set(fresh, broken), label).rejects.toMatchObject({ code: 'ERR_INVALID_RECORD' });
            expect(await store.get(fresh), label).toBeNull();
            await expect(s.set(id, broken), label).rejects.toMatchObject({ code: 'ERR_INVALID_RECORD' });
          }
          for (const field of ['expiresAt', 'lastSeenAt'] as const) {
            const broken = { ...delta({ changed: 1 }), [field]: bad } as SessionDelta;
            await expect(s.update(id, broken), `${field}: ${String(bad)}`).rejects.toMatchObject({
              code: 'ERR_INVALID_ARGUMENT',
            });
          }
        }
        const kept = await store.get(id);
        expect(kept?.expiresAt).toBe(stored.expiresAt);
        expect(kept?.data).toEqual(stored.data);
      });

      it('answers a list cursor no page gave with ERR_INVALID_ARGUMENT or a page of real sessions, nothing else', async () => {
        const s = store as SessionStore;
        if (!s.list) return;
        const id = generateId();
        await store.create(id, record());
        const forged = [
          'garbage',
          '-1',
          '1.5',
          '1e3',
          '99999999999999999999',
          '0:x',
          '\u0000',
          "' OR 1=1 --",
          'é',
        ];
        for (const cursor of forged) {
          let page: Awaited<ReturnType<NonNullable<SessionStore['list']>>>;
          try {
            page = await s.list({ cursor, limit: 5 });
          } catch (error) {
            expect(error, JSON.stringify(cursor)).toMatchObject({ code: 'ERR_INVALID_ARGUMENT' });
            continue;
          }
          expect(page.cursor === null || typeof page.cursor === 'string', JSON.stringify(cursor)).toBe(true);
          for (const summary of page.sessions) expect(typeof summary.handle).toBe('string');
        }
        expect(await store.get(id)).not.toBeNull();
      });

      it('matches user IDs byte for byte, or refuses one it cannot hold with ERR_INVALID_USER before writing', async () => {
        const base = `alice-${generateId().slice(0, 8)}`;
        const variants = [
          `${base} `,
          ` ${base}`,
          base.toUpperCase(),
          `${base}\t`,
          `${base}\0`,
          `${base}\u0301`,
          base.replace('a', '\uff41'),
          `${base}${'x'.repeat(2_000)}`,
          `${base}${'é'.repeat(600)}`,
        ];
        const own = generateId();
        await store.create(own, record({ userId: base }));
        const stored = new Map<string, string>();
        for (const userId of variants) {
          const id = generateId();
          const refusedByCheck = (() => {
            try {
              store.checkUserId?.(userId);
              return false;
            } catch (error) {
              expect(error).toMatchObject({ code: 'ERR_INVALID_USER' });
              return true;
            }
          })();
          const created = await store.create(id, record({ userId })).then(
            () => true,
            (error: unknown) => {
              expect(error).toMatchObject({ code: 'ERR_INVALID_USER' });
              return false;
            },
          );
          // checkUserId (what login() asks first) and the write agree.
          expect(created).toBe(!refusedByCheck);
          if (!created) {
            expect(await store.get(id)).toBeNull();
            continue;
          }
          expect((await store.get(id))?.userId).toBe(userId);
          stored.set(userId, id);
        }
        if (store.listByUser) {
          expect((await store.listByUser(base)).map((x) => x.handle)).toEqual([storageKey(own)]);
          for (const [userId, id] of stored) {
            const listed = await store.listByUser(userId);
            expect(listed.map((x) => [x.handle, x.userId])).toEqual([[storageKey(id), userId]]);
          }
        }
        if (store.destroyByUser) {
          expect(await store.destroyByUser(base)).toBe(1);
          for (const id of stored.values()) expect(await store.get(id)).not.toBeNull();
        }
      });

      it('refuses a user ID that is not well-formed Unicode (a lone surrogate) everywhere', async () => {
        const lone = `bob-${generateId().slice(0, 8)}\ud800`;
        const id = generateId();
        const refused = { code: 'ERR_INVALID_USER' };
        await expect(store.create(id, record({ userId: lone }))).rejects.toMatchObject(refused);
        expect(await store.get(id)).toBeNull();
        await store.create(id, record());
        await expect(store.update(id, delta({ a: 1 }, [], { userId: lone }))).rejects.toMatchObject(refused);
        expect((await store.get(id))?.userId).toBeNull();
        if (store.listByUser) await expect(store.listByUser(lone)).rejects.toMatchObject(refused);
      });
    });

    describe('size cap inside the merge', () => {
      const MiB = 1024 * 1024;
      const chunk = 'x'.repeat(900 * 1024);

      it('refuses an update whose merged data would pass maxBytes, with ERR_SESSION_TOO_LARGE, changing nothing', async () => {
        const id = generateId();
        await store.create(id, record({ data: { first: chunk } }));
        await expect(store.update(id, delta({ second: chunk }, [], { maxBytes: MiB }))).rejects.toMatchObject(
          {
            code: 'ERR_SESSION_TOO_LARGE',
          },
        );
        expect(Object.keys((await store.get(id))?.data ?? {})).toEqual(['first']);
        // Replacing the big key with a small one fits.
        expect(
          await store.update(id, delta({ first: 'small', second: 'small' }, [], { maxBytes: MiB })),
        ).toBe(true);
      });

      it('six concurrent updates of 0.9 MB under a 1 MiB cap: at most what fits is stored', async () => {
        const id = generateId();
        await store.create(id, record({ data: {} }));
        const results = await Promise.allSettled(
          Array.from({ length: 6 }, (_, i) =>
            store.update(id, delta({ [`k${i}`]: chunk }, [], { maxBytes: MiB })),
          ),
        );
        const ok = results.filter((r) => r.status === 'fulfilled');
        expect(ok).toHaveLength(1);
        for (const r of results)
          if (r.status === 'rejected') expect(r.reason).toMatchObject({ code: 'ERR_SESSION_TOO_LARGE' });
        const data = (await store.get(id))?.data ?? {};
        expect(Object.keys(data)).toHaveLength(1);
        expect(Buffer.byteLength(JSON.stringify(data))).toBeLessThanOrEqual(MiB);
      }, 30_000);
    });

    describe('payloads', () => {
      it('round-trips a 1 MB payload', async () => {
        const id = generateId();
        const big = 'x'.repeat(1024 * 1024);
        await store.create(id, record({ data: { big } }));
        expect((await store.get(id))?.data.big).toBe(big);
      });

      it('round-trips unicode keys and values and awkward key names', async () => {
        const id = generateId();
        const data = {
          ключ: 'значение',
          日本語: '🍣🍺',
          'dotted.key': 1,
          $dollar: 2,
          'quote"key': "it's",
          empty: '',
          nul: 'a\u0000b',
          nested: { 'a.b': { $c: [null, true, 1.5] } },
        };
        await store.create(id, record({ data }));
        expect((await store.get(id))?.data).toEqual(data);
        await store.update(id, delta({ 'dotted.key': 3, 'new.$key': 'ü' }, ['$dollar']));
        const { $dollar: _gone, ...rest } = data;
        expect((await store.get(id))?.data).toEqual({ ...rest, 'dotted.key': 3, 'new.$key': 'ü' });
      });

      it('keeps a lone surrogate in data exactly or refuses it with ERR_SESSION_DATA, never altered or merged', async () => {
        // A lone surrogate has no UTF-8 form: a driver that writes text as UTF-8 sends U+FFFD for it, and
        // two keys that differ only in one would become one key. `real` is that U+FFFD key, set on purpose.
        const real = 'k\ufffd';
        const shapes: Record<string, unknown>[] = [
          { text: 'a\ud800b', kept: 1 },
          { nested: { 'n\udc00': ['\udfff'] }, kept: 1 },
          { 'k\ud800': 1, 'k\ud801': 2, [real]: 3 },
        ];
        for (const data of shapes) {
          const id = generateId();
          const created = await store.create(id, record({ data })).then(
            () => null,
            (error: unknown) => error,
          );
          if (created === null) expect((await store.get(id))?.data).toEqual(data);
          else {
            expect(created).toMatchObject({ code: 'ERR_SESSION_DATA' });
            expect(await store.get(id)).toBeNull();
          }
        }
        const id = generateId();
        await store.create(id, record({ data: { [real]: 'stays', other: 1 } }));
        const updated = await store.update(id, delta({ 'k\ud800': 'lone', other: 2 })).then(
          () => null,
          (error: unknown) => error,
        );
        const after = (await store.get(id))?.data;
        if (updated === null) expect(after).toEqual({ [real]: 'stays', 'k\ud800': 'lone', other: 2 });
        else {
          expect(updated).toMatchObject({ code: 'ERR_SESSION_DATA' });
          expect(after).toEqual({ [real]: 'stays', other: 1 });
        }
        // Unsetting a lone-surrogate key never removes the U+FFFD key it would be written as.
        await store.update(id, delta({}, ['k\ud801']));
        expect((await store.get(id))?.data[real]).toBe('stays');
      });

      it('keeps values JSON cannot hold out as JSON.stringify does, the rest of the session intact', async () => {
        // Callers other than the middleware (a framework's session API, a third-party tool) hand over what
        // applications set: a function, `undefined`, a symbol, an object whose toJSON gives nothing.
        const unstorable = {
          fn: () => 1,
          missing: undefined,
          symbol: Symbol('s'),
          silent: { toJSON: () => undefined },
        };
        const id = generateId();
        await store.create(id, record({ data: { kept: 1, ...unstorable } }));
        expect((await store.get(id))?.data).toEqual({ kept: 1 });
        // In an update, such a value removes the key, as the merged data would lose it to JSON.
        await store.update(id, delta({ kept: 2, later: 'x' }));
        await store.update(id, delta({ later: undefined, ...unstorable, also: 3 }));
        expect((await store.get(id))?.data).toEqual({ kept: 2, also: 3 });
        const whole = generateId();
        await store.set(whole, record({ data: { kept: 1, ...unstorable } }));
        expect((await store.get(whole))?.data).toEqual({ kept: 1 });
        const nested = generateId();
        await store.create(
          nested,
          record({ data: { deep: { fn: () => 1, list: [undefined, () => 1], n: 1 } } }),
        );
        expect((await store.get(nested))?.data).toEqual({ deep: { list: [null, null], n: 1 } });
      });

      it('drops __proto__ and constructor keys on the way back', async () => {
        const id = generateId();
        const data = JSON.parse(
          '{"ok":1,"__proto__":{"polluted":true},"nested":{"constructor":{"prototype":{"x":1}}}}',
        );
        await store.create(id, record({ data }));
        const got = await store.get(id);
        expect(got?.data.ok).toBe(1);
        expect(({} as Record<string, unknown>).polluted).toBeUndefined();
        expect(Object.getPrototypeOf(got?.data)).toBe(Object.prototype);
        expect(Object.hasOwn(got?.data ?? {}, '__proto__')).toBe(false);
      });
    });

    describe.skipIf(!harness.corrupt)('corrupted data', () => {
      it('treats an undecodable record as absent and reports it on the corrupt event', async () => {
        const id = generateId();
        await store.create(id, record());
        await harness.corrupt!(store, id);
        const reported = once(store, 'corrupt');
        expect(await store.get(id)).toBeNull();
        const [error] = await reported;
        expect((error as { code: string }).code).toBe('ERR_SESSION_CORRUPT');
      });
    });

    describe.skipIf(!harness.network)('server outage', () => {
      it('fails with ERR_STORE_UNAVAILABLE within the timeout while down, and recovers by itself', async () => {
        const network = harness.network!;
        const proxy = new TcpProxy(network.host, network.port);
        const port = await proxy.start();
        const timeoutMs = 1_000;
        const viaProxy = await network.createVia('127.0.0.1', port, timeoutMs);
        try {
          const id = generateId();
          await viaProxy.create(id, record());
          proxy.stall();
          let started = Date.now();
          await expect(viaProxy.get(id)).rejects.toMatchObject({ code: 'ERR_STORE_UNAVAILABLE' });
          expect(Date.now() - started).toBeLessThan(timeoutMs + 1_500);
          proxy.cut();
          started = Date.now();
          await expect(viaProxy.get(id)).rejects.toMatchObject({ status: 503 });
          expect(Date.now() - started).toBeLessThan(timeoutMs + 1_500);
          proxy.restore();
          const deadline = Date.now() + 15_000;
          let recovered = null;
          while (!recovered && Date.now() < deadline) {
            recovered = await viaProxy.get(id).catch(() => null);
            if (!recovered) await sleep(200);
          }
          expect(recovered?.data).toEqual(record().data);
        } finally {
          await viaProxy.close?.().catch(() => undefined);
          await proxy.stop();
        }
      }, 40_000);
    });
  });
}
