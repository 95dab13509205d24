/**
 * Differential fuzzer of sessionkit's Fastify plugin against @fastify/session (+ @fastify/cookie), which
 * docs/frameworks.md says code can switch from unchanged. Random route programs (harness.ts): requests
 * from one or two cookie jars (jar 1 may take a copy of jar 0's cookies), each running random
 * `request.session` operations (set/delete in both styles, `get` and property reads, nested mutation,
 * `regenerate()` and `regenerate(keys)` with and without 'cookie', destroy, reload, save, touch,
 * `cookie.maxAge =`, `isModified()`/`isSaved()`/`sessionId`; promise and callback styles) and random
 * replies (an object, a string, a Buffer, a stream, a redirect, 204, a thrown error, callNotFound, a 404
 * with a body, reply.send from a callback handler), under random options (saveUninitialized, rolling,
 * maxAge, another plugin's onSend hook before or after the session plugin). Compared: status, body, what
 * the handler read (IDs relabelled by first appearance), the session cookie (name, value and signature
 * normalised; attributes; expiry in 10 s buckets), what a later onSend hook saw, and, through a plain
 * request from each jar at the end, what each browser's session holds.
 *
 * The reference is @fastify/session on Fastify 5 (version 11 supports no other) with an asynchronous
 * callback store keeping JSON (an express-session-style store). sessionkit runs on Fastify 5 and 4, on its
 * MemoryStore, a slow store and Redis, through fastify.inject and real sockets.
 *
 * FILTERS (each documented, or @fastify/session's own quirk where sessionkit's behaviour is the sensible one):
 * - cookie format: names, `s:` prefix, signatures (normalised in harness.ts);
 * - clearing cookies are not compared: sessionkit clears on destroy() (README differences table, C15),
 *   @fastify/session sends nothing then, but clears a cookie naming an unknown session, which sessionkit
 *   (as express-session) leaves; the final reads show what each browser's session holds either way;
 * - `reload()` only of a session loaded from the request's cookie (harness.ts incomingId: sessionkit's
 *   fails with ERR_SESSION_NOT_FOUND otherwise, README `reload()`), and isSaved() is not compared after a
 *   reload (reload keeps the object, README differences table);
 * - no `save()` of an empty session the store lacks (README `saveUninitialized`);
 * - a re-send of the cookie the browser holds on a request that called save(), touch() or set maxAge, or
 *   without an expiry (README "When the cookie is sent");
 * - after a `cookie.maxAge =`, lifetimes are not compared, and neither are re-sends of the held ID
 *   (@fastify/session does not store a maxAge set on an unchanged session or after save(); sessionkit
 *   sends and keeps it, README: "also when the application changed the cookie's attributes");
 * - objects are generated with one key order (@fastify/session hashes them key-order-blind, sessionkit
 *   stores the order the application set);
 * - sequential requests only: @fastify/session's lost overlapping updates (fastify-session#237) and
 *   duplicate first sessions (fastify/session#253) are where sessionkit is meant to differ.
 *
 * With these filters both properties pass (seeds 1–9 at 300–400 runs tried while building it; the fixed
 * seed below runs in a few seconds). FUZZ_SEED / FUZZ_RUNS override the seed and the run count. What it
 * found (regenerate(keys) resetting the cookie's lifetime) is fixed and tested on its own
 * (fastify-session-regenerate-lifetime.test.ts).
 */
import fc from 'fast-check';
import { createClient } from 'redis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisStore } from '../../src/stores/redis.js';
import {
  type Config,
  type Flavor,
  HOUR,
  type Key,
  type MakeOptions,
  type Op,
  type Req,
  type Resp,
  runProgram,
  type Step,
  type Value,
} from '../support/fastify-session.js';
import { redisSkipReason } from '../support/redis.js';
import { runNamespace } from '../support/services.js';

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const SEED = Number(process.env.FUZZ_SEED ?? 7);
const RUNS = Number(process.env.FUZZ_RUNS ?? 60);

const key = fc.constantFrom<Key>('a', 'b', 'c');
const cb = fc.boolean();
const style = <A extends string, B extends string>(a: A, b: B) => fc.constantFrom<A | B>(a, b);
const op: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 5,
    arbitrary: fc.record({
      t: fc.constant('set' as const),
      k: key,
      v: fc.oneof(fc.integer({ min: 0, max: 3 }), fc.constantFrom<Value>(null, 's', 'xy', 'arr')),
      style: style('prop', 'set'),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({ t: fc.constant('del' as const), k: key, style: style('prop', 'set') }),
  },
  {
    weight: 2,
    arbitrary: fc.record({ t: fc.constant('get' as const), k: key, style: style('prop', 'get') }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      t: fc.constant('regen' as const),
      keys: fc.option(fc.subarray<Key | 'cookie'>(['a', 'b', 'c', 'cookie']), { nil: undefined }),
      cb,
    }),
  },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('destroy' as const), cb }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('reload' as const), cb }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('save' as const), cb }) },
  { weight: 1, arbitrary: fc.constant({ t: 'touch' as const }) },
  {
    weight: 1,
    arbitrary: fc.record({ t: fc.constant('maxAge' as const), v: fc.constantFrom(HOUR / 2, 3 * HOUR) }),
  },
  { weight: 2, arbitrary: fc.constant({ t: 'meta' as const }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('mutate' as const), k: key }) },
);
const resp = fc.constantFrom<Resp>(
  'obj',
  'str',
  'buf',
  'stream',
  'redirect',
  'code204',
  'throw',
  'notFound',
  'code404',
  'cbSend',
);
const req: fc.Arbitrary<Req> = fc.record({
  jar: fc.constantFrom<0 | 1>(0, 1),
  ops: fc.array(op, { maxLength: 5 }),
  resp,
  copy: fc.boolean(),
});
const cfg: fc.Arbitrary<Config> = fc.record({
  saveUninitialized: fc.boolean(),
  rolling: fc.boolean(),
  maxAge: fc.constantFrom<number | null>(HOUR, null),
  hook: fc.constantFrom<'none' | 'before' | 'after'>('none', 'before', 'after'),
});
const program = fc.array(req, { minLength: 1, maxLength: 4 });

/** The filters listed in the header, applied to one side's steps. */
function normalise(steps: Step[], reqs: Req[]): unknown[] {
  return steps.map((s, i) => {
    const r = reqs[i];
    const cookieOps = r?.ops.some((o) => o.t === 'maxAge' || o.t === 'touch' || o.t === 'save') ?? false;
    const tainted = reqs.slice(0, i + 1).some((q) => q.ops.some((o) => o.t === 'maxAge'));
    const { held: _held, ...rest } = s;
    const cookies = s.cookies
      .filter(
        (c) => c.kind !== 'clear' && !(c.id === s.held && (cookieOps || tainted || c.expiresIn === null)),
      )
      .map((c) => (tainted ? { ...c, expiresIn: '?' } : c));
    const reloaded = r?.ops.some((o) => o.t === 'reload') ?? false;
    const reads = (s.reads ?? []).map((x) =>
      reloaded && x !== null && typeof x === 'object' && 'saved' in x ? { ...x, saved: '?' } : x,
    );
    return {
      ...rest,
      reads,
      cookies,
      // What a later plugin's onSend hook saw, compared when a session cookie (not a clear) went out.
      hookSaw: s.hookSaw === null ? null : cookies.length > 0 ? s.hookSaw : '-',
    };
  });
}

const redisSkip = await redisSkipReason(REDIS_URL);
let client: ReturnType<typeof createClient> | undefined;
beforeAll(async () => {
  if (redisSkip) return;
  client = createClient({ url: REDIS_URL });
  client.on('error', () => undefined);
  await client.connect();
});
afterAll(async () => {
  await client?.quit();
});

/** Runs `flavor` on its store (Redis: a fresh prefix, cleared after). */
async function runOn(flavor: Flavor, c: Config, reqs: Req[], socket: boolean): Promise<Step[]> {
  const store =
    flavor === 'sk5-redis'
      ? new RedisStore({ client: client as never, prefix: `${runNamespace('zz7fuzz')}:` })
      : undefined;
  const extra: MakeOptions = { socket, ...(store ? { store } : {}) };
  try {
    return await runProgram(flavor, c, reqs, extra);
  } finally {
    await store?.clear();
  }
}

describe('Fastify: sessionkit against @fastify/session, random route programs', () => {
  it('what a user observes matches @fastify/session (Fastify 5 and 4, in-process and slow store, inject)', async () => {
    await fc.assert(
      fc.asyncProperty(cfg, program, async (c, reqs) => {
        const expected = normalise(await runOn('fs-cb', c, reqs, false), reqs);
        for (const flavor of ['sk5', 'sk4', 'sk5-slow', 'sk4-slow'] as const)
          expect(normalise(await runOn(flavor, c, reqs, false), reqs), flavor).toEqual(expected);
      }),
      { numRuns: RUNS, seed: SEED },
    );
  }, 60_000);

  it.skipIf(redisSkip)(
    "the store's speed changes nothing: MemoryStore (inject) = slow store and Redis (real sockets)",
    async () => {
      await fc.assert(
        fc.asyncProperty(cfg, program, async (c, reqs) => {
          const fast = await runOn('sk5', c, reqs, false);
          expect(await runOn('sk5-slow', c, reqs, true), 'slow store, sockets').toEqual(fast);
          expect(await runOn('sk5-redis', c, reqs, true), 'Redis, sockets').toEqual(fast);
          expect(await runOn('sk4-slow', c, reqs, true), 'Fastify 4, slow store, sockets').toEqual(fast);
        }),
        { numRuns: Math.ceil(RUNS / 2), seed: SEED + 1 },
      );
    },
    60_000,
  );
});
