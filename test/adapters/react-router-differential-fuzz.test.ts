/**
 * Differential fuzzer: sessionkit's React Router storage (createSessionkitStorage
 * over a MemoryStore, a slow store, Redis) against React Router's own createMemorySessionStorage (the
 * reference, with the documented differences applied: docs/frameworks.md calls it "a drop-in for createSessionStorage(...)'s result"). React
 * Router's cookie format is its own and not shared with the other adapters, so the reference is React
 * Router, not Express. Random sequential programs from one or two browsers: each request getSession(),
 * random get/set/unset/has/flash, then a commit (with or without a per-call maxAge), a destroy, both, or
 * nothing. Date is faked (1 s per request) so cookie maxAge/expiry act at the same requests. Compared:
 * what each handler read, whether a cookie is set or cleared and its attributes (Expires/Max-Age
 * bucketed), and what each browser reads at the end.
 *
 * Filters (docs/frameworks.md, React Router section):
 * - "A cookie naming a session the store no longer has ... gives a new session whose id is ''" and a new
 *   ID at commit: the reference (referenceStorage) does the same (React Router's own keeps the browser's
 *   ID and writes its data back under it); session IDs are not compared.
 * - "a commit of a session after destroySession (never a new ID with its data)" clears the cookie:
 *   destroy-then-commit is not generated.
 * - "The cookie is HttpOnly unless httpOnly: false": httpOnly is given explicitly.
 * - Sequential only: overlapping commits differ on purpose (React Router's writes the whole object).
 * - "__proto__ ... keys are dropped": only keys a, b, c.
 *
 * It passes on the current code (a clean control): seeds 1–5 and 9001, 300 programs each on the
 * memory store, 100 on the slow store and Redis.
 */

import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { createCookie, createSession, createSessionStorage, type SessionStorage } from 'react-router';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createSessionkitStorage } from '../../src/adapters/react-router.js';
import { fuzzStores } from '../support/fuzz-stores.js';
import { redisSkipReason } from '../support/redis.js';

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const redisSkip = await redisSkipReason(REDIS_URL);
const SEED = Number(process.env.RF_SEED ?? 9001);
const RUNS: Record<string, number> = { memory: 150, slow: 30, redis: 60 };
const KINDS = (process.env.RF_KINDS ?? 'memory,slow,redis').split(',');
const SECRET = 'react-router-fuzz-secret-0123456789';

type ROp =
  | { k: 'set'; key: string; v: number }
  | { k: 'unset'; key: string }
  | { k: 'get'; key: string }
  | { k: 'has'; key: string }
  | { k: 'flash'; key: string; v: number }
  | { k: 'data' };
type Terminal = 'commit' | 'commitMaxAge' | 'destroy' | 'none' | 'commitTwice' | 'commitDestroy';
interface RStep {
  copy: boolean;
  jar: 0 | 1;
  ops: ROp[];
  terminal: Terminal;
  maxAge: number;
}
interface ROpts {
  cookieMaxAge: number | undefined;
}

interface Jar {
  pair: string;
  expiresAt: number;
}

function describeSetCookie(header: string, now: number): Record<string, unknown> {
  const [pair = '', ...parts] = header.split(/;\s*/);
  const value = pair.slice(pair.indexOf('=') + 1);
  const out: Record<string, unknown> = {};
  let expires: number | null = null;
  let maxAge: number | null = null;
  for (const part of parts) {
    const at = part.indexOf('=');
    const key = (at === -1 ? part : part.slice(0, at)).toLowerCase();
    const v = at === -1 ? true : part.slice(at + 1);
    if (key === 'expires') expires = Date.parse(String(v));
    else if (key === 'max-age') maxAge = Number(v);
    else out[key] = typeof v === 'string' ? v.toLowerCase() : v;
  }
  const until = maxAge !== null ? now + maxAge * 1000 : expires;
  const cleared = value === '' || (until !== null && until <= now);
  return {
    ...out,
    value: cleared ? 'clear' : 'set',
    lifetime: until === null ? 'session' : cleared ? 'past' : Math.round((until - now) / 5000) * 5,
  };
}

function lifetimeOf(header: string, now: number): number {
  const maxAge = /max-age=(\d+)/i.exec(header)?.[1];
  if (maxAge !== undefined) return now + Number(maxAge) * 1000;
  const expires = /expires=([^;]+)/i.exec(header)?.[1];
  return expires === undefined ? Number.POSITIVE_INFINITY : Date.parse(expires);
}

async function runRR(
  storage: SessionStorage,
  steps: RStep[],
  startAt: number,
): Promise<{ steps: unknown[]; end: unknown[] }> {
  const jars: [Jar | null, Jar | null] = [null, null];
  let now = startAt;
  const out: unknown[] = [];
  const visit = async (jar: 0 | 1, ops: ROp[], terminal: Terminal, maxAge: number) => {
    vi.setSystemTime(now);
    const held = jars[jar];
    const header = held !== null && held.expiresAt > now ? held.pair : null;
    const log: unknown[] = [];
    const setCookies: string[] = [];
    try {
      const session = await storage.getSession(header);
      for (const op of ops) {
        if (op.k === 'set') session.set(op.key as never, op.v as never);
        else if (op.k === 'unset') session.unset(op.key as never);
        else if (op.k === 'get') log.push({ get: op.key, v: session.get(op.key as never) ?? null });
        else if (op.k === 'has') log.push({ has: op.key, v: session.has(op.key as never) });
        else if (op.k === 'flash') session.flash(op.key as never, op.v as never);
        else log.push({ data: session.data });
      }
      if (terminal === 'commit' || terminal === 'commitTwice' || terminal === 'commitDestroy')
        setCookies.push(await storage.commitSession(session));
      if (terminal === 'commitTwice') setCookies.push(await storage.commitSession(session));
      if (terminal === 'commitMaxAge') setCookies.push(await storage.commitSession(session, { maxAge }));
      if (terminal === 'destroy' || terminal === 'commitDestroy')
        setCookies.push(await storage.destroySession(session));
    } catch (e) {
      log.push({ err: (e as { code?: string }).code ?? (e as Error).message });
    }
    // A browser keeps the last Set-Cookie of a name.
    const last = setCookies.at(-1);
    if (last !== undefined) {
      const d = describeSetCookie(last, now);
      jars[jar] =
        d.value === 'clear' ? null : { pair: last.split(';')[0] as string, expiresAt: lifetimeOf(last, now) };
    }
    return { log, cookies: setCookies.map((c) => describeSetCookie(c, now)) };
  };
  for (const step of steps) {
    if (step.copy) jars[1] = jars[0];
    out.push({ jar: step.jar, ...(await visit(step.jar, step.ops, step.terminal, step.maxAge)) });
    now += 1000;
  }
  const end: unknown[] = [];
  for (const jar of [0, 1] as const) end.push({ jar, ...(await visit(jar, [{ k: 'data' }], 'none', 0)) });
  return { steps: out, end };
}

const key = fc.constantFrom('a', 'b', 'c');
const rop: fc.Arbitrary<ROp> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record({ k: fc.constant('set' as const), key, v: fc.integer({ min: 0, max: 9 }) }),
  },
  { weight: 2, arbitrary: fc.record({ k: fc.constant('unset' as const), key }) },
  { weight: 3, arbitrary: fc.record({ k: fc.constant('get' as const), key }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('has' as const), key }) },
  {
    weight: 2,
    arbitrary: fc.record({ k: fc.constant('flash' as const), key, v: fc.integer({ min: 0, max: 9 }) }),
  },
  { weight: 1, arbitrary: fc.constant({ k: 'data' as const }) },
);
const rstep: fc.Arbitrary<RStep> = fc.record({
  copy: fc.constantFrom(false, false, false, true),
  jar: fc.constantFrom<0 | 1>(0, 0, 1),
  ops: fc.array(rop, { maxLength: 5 }),
  terminal: fc.constantFrom<Terminal>(
    'commit',
    'commit',
    'commit',
    'commitMaxAge',
    'destroy',
    'none',
    'commitTwice',
    'commitDestroy',
  ),
  maxAge: fc.constantFrom(2, 60),
});
const ropts: fc.Arbitrary<ROpts> = fc.record({
  cookieMaxAge: fc.constantFrom<number | undefined>(undefined, 3, 60),
});

const fuzz = fuzzStores('sk_rr_fuzz');
const freshStore = fuzz.fresh;

/**
 * React Router's createSessionStorage over a Map, as its createMemorySessionStorage, but with the one
 * documented difference applied: a cookie naming a session the store does not have gives a new session
 * whose id is '' (React Router's own keeps the browser's ID and writes it back).
 */
function referenceStorage(o: ROpts): SessionStorage {
  const map = new Map<string, { data: unknown; expires?: Date }>();
  const live = (id: string) => {
    const entry = map.get(id);
    return entry !== undefined && (!entry.expires || entry.expires.valueOf() > Date.now()) ? entry : null;
  };
  const inner = createSessionStorage({
    cookie: cookieFor(o),
    async createData(data, expires) {
      const id = randomBytes(16).toString('hex');
      map.set(id, { data, expires });
      return id;
    },
    async readData(id) {
      return (live(id)?.data ?? null) as never;
    },
    async updateData(id, data, expires) {
      map.set(id, { data, expires });
    },
    async deleteData(id) {
      map.delete(id);
    },
  });
  return {
    ...inner,
    async getSession(header, parse) {
      const session = await inner.getSession(header, parse);
      return session.id !== '' && live(session.id) === null ? createSession({}, '') : session;
    },
  };
}

function cookieFor(o: ROpts) {
  return createCookie('__session', {
    secrets: [SECRET],
    path: '/',
    sameSite: 'lax',
    httpOnly: true,
    ...(o.cookieMaxAge === undefined ? {} : { maxAge: o.cookieMaxAge }),
  });
}

describe('React Router storage: sessionkit = createMemorySessionStorage (fixed seed)', () => {
  beforeAll(() => {
    vi.useFakeTimers({ toFake: ['Date'], now: Date.now() });
  });
  afterAll(async () => {
    vi.useRealTimers();
    await fuzz.closeAll();
  });

  for (const kind of KINDS) {
    it.skipIf(kind === 'redis' && redisSkip)(
      `${kind}`,
      async () => {
        const base = Date.now();
        await fc.assert(
          fc.asyncProperty(ropts, fc.array(rstep, { minLength: 1, maxLength: 7 }), async (o, steps) => {
            const ours = await runRR(
              createSessionkitStorage({
                store: await freshStore(kind),
                cookie: cookieFor(o),
              }) as SessionStorage,
              steps,
              base,
            );
            const reference = await runRR(referenceStorage(o), steps, base);
            expect(ours).toEqual(reference);
          }),
          {
            seed: SEED,
            numRuns: Number(process.env.RF_RUNS ?? RUNS[kind] ?? 30),
            endOnFailure: process.env.RF_SHRINK !== '1',
          },
        );
      },
      60_000,
    );
  }
});
