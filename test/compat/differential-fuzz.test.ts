/**
 * Differential fuzzer: random handler programs (one or two cookie jars, random session operations,
 * random responses) crossed with random middleware options, run on express-session and on sessionkit
 * (each on its own MemoryStore). What a user can observe is compared: status, what the handler read,
 * Set-Cookie (normalised: IDs relabelled by first appearance, expiry bucketed to 30 s) and, through
 * two probe requests at the end, what each browser's session holds.
 *
 * Filters for README "Differences from express-session" (each also noted where applied):
 * - SameSite=Lax by default: the generator always sets `cookie.sameSite` explicitly.
 * - destroy() sends an expiring cookie: clearing cookies from sessionkit are dropped (harness.ts).
 * - "sessionkit also sends it when the application changed the cookie's own attributes" (docs): a cookie
 *   sessionkit sends where express-session sends none is ignored on a step that changed the cookie.
 * - Secure over HTTP warns: sessionkit gets a silent `logger`.
 * - 400-day clamp, method-named keys, store failures: never generated.
 * - A repeated cookie name: not generated (SECURITY.md B04, sessionkit tries each value in turn).
 * Filters for express-session's own quirks, where sessionkit's behaviour is the sensible one:
 * - a cookie change after an explicit save() is not stored by express-session (its `isSaved` ignores the
 *   cookie): cookie changes after a save() in the same handler are left out;
 * - reload() restores the stored cookie on express-session, while sessionkit's reload() replaces the
 *   data of the same session object and keeps its cookie (README's differences table): cookie changes
 *   before a reload() are left out.
 * - an empty session made by regenerate() under `saveUninitialized: false` is stored with its cookie by
 *   express-session, not by sessionkit (README's differences table; test/compat/uninitialized-sessions):
 *   no regenerate() under `saveUninitialized: false`.
 *
 * Every difference it found that was not deliberate was fixed, with a side-by-side test of its own
 * (test/compat/uninitialized-sessions.test.ts, express-store-bridge*.test.ts). `npm test` runs a fixed
 * seed; FUZZ_RUNS and FUZZ_SEED run more.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type Observation, type Op, type Options, run, type Step } from '../support/differential.js';

const cookieOps = new Set(['maxAge', 'expires', 'attr', 'touch', 'resetMaxAge']);

const key = fc.constantFrom('a', 'b', 'user');
const value = fc.oneof(
  fc.integer({ min: 0, max: 9 }),
  fc.constantFrom('s', ''),
  fc.boolean(),
  fc.constant(null),
  fc.constant(undefined),
  fc.record({
    x: fc.integer({ min: 0, max: 9 }),
    y: fc.array(fc.integer({ min: 0, max: 3 }), { maxLength: 2 }),
  }),
);
const life = fc.constantFrom(60_000, 3_600_000, 86_400_000);
const op: fc.Arbitrary<Op> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ k: fc.constant('set' as const), key, value }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('del' as const), key }) },
  { weight: 3, arbitrary: fc.record({ k: fc.constant('read' as const), key }) },
  {
    weight: 1,
    arbitrary: fc.record({ k: fc.constant('nested' as const), key, value: fc.integer({ min: 0, max: 9 }) }),
  },
  {
    weight: 1,
    arbitrary: fc.record({ k: fc.constant('maxAge' as const), v: fc.option(life, { nil: null }) }),
  },
  {
    weight: 1,
    arbitrary: fc.record({ k: fc.constant('expires' as const), v: fc.option(life, { nil: null }) }),
  },
  {
    weight: 1,
    arbitrary: fc.oneof(
      fc.record({ k: fc.constant('attr' as const), name: fc.constant('httpOnly' as const), v: fc.boolean() }),
      fc.record({ k: fc.constant('attr' as const), name: fc.constant('secure' as const), v: fc.boolean() }),
      fc.record({
        k: fc.constant('attr' as const),
        name: fc.constant('path' as const),
        v: fc.constantFrom('/', '/a'),
      }),
      fc.record({
        k: fc.constant('attr' as const),
        name: fc.constant('domain' as const),
        v: fc.constantFrom(undefined, 'example.com'),
      }),
      fc.record({
        k: fc.constant('attr' as const),
        name: fc.constant('sameSite' as const),
        v: fc.constantFrom('lax', 'strict', true, false),
      }),
    ),
  },
  {
    weight: 4,
    arbitrary: fc
      .constantFrom(
        'touch',
        'resetMaxAge',
        'save',
        'reload',
        'regenerate',
        'destroy',
        'null',
        'deleteSession',
        'id',
        'cookieInfo',
        'keys',
      )
      .map((k) => ({ k }) as Op),
  },
);
const step: fc.Arbitrary<Step> = fc.record({
  jar: fc.constantFrom(0 as const, 1 as const),
  path: fc.constantFrom(
    '/' as const,
    '/a/b' as const,
    '/ab' as const,
    '/A/b' as const,
    '/a' as const,
    '/%61/b' as const,
  ),
  // No 'twice' (the cookie name repeated): sessionkit deliberately tries each value in turn where
  // express-session takes the first (SECURITY.md B04), so a dead first cookie differs by design.
  send: fc.constantFrom('plain' as const, 'plain' as const, 'tampered' as const, 'unsigned' as const),
  method: fc.constantFrom('GET' as const, 'GET' as const, 'HEAD' as const, 'POST' as const),
  xfp: fc.constantFrom('none' as const, 'https' as const, 'http' as const),
  ops: fc.array(op, { maxLength: 5 }),
  terminal: fc.constantFrom('send', 'json', 'end', 'write', 'redirect', 'sendStatus', 'nextErr'),
}) as fc.Arbitrary<Step>;
const options: fc.Arbitrary<Options> = fc.record({
  resave: fc.boolean(),
  saveUninitialized: fc.boolean(),
  rolling: fc.boolean(),
  unset: fc.constantFrom('keep' as const, 'destroy' as const),
  name: fc.constantFrom('connect.sid', 'sid'),
  proxy: fc.constantFrom(true, false, undefined),
  express4: fc.boolean(),
  genid: fc.boolean(),
  bridge: fc.boolean(),
  cookie: fc.record(
    {
      maxAge: fc.option(life, { nil: null }),
      httpOnly: fc.boolean(),
      secure: fc.constantFrom(false, 'auto' as const),
      path: fc.constantFrom('/', '/a'),
      domain: fc.constant('example.com'),
      sameSite: fc.constantFrom('lax' as const, 'strict' as const, true, false),
    },
    { requiredKeys: ['sameSite'] },
  ),
});

const probe = (jar: 0 | 1): Step => ({
  jar,
  path: '/a/b',
  xfp: 'none',
  ops: [
    { k: 'id' },
    { k: 'keys' },
    { k: 'read', key: 'a' },
    { k: 'read', key: 'b' },
    { k: 'read', key: 'user' },
  ],
  terminal: 'send',
});

/** sessionkit's observations with the documented differences taken out, ready to compare. */
function filtered(steps: Step[], es: Observation[], sk: Observation[]): Observation[] {
  return sk.map((o, i) => {
    const changedCookie = (steps[i] as Step).ops.some((x) => cookieOps.has(x.k));
    if (changedCookie && (es[i] as Observation).cookies.length === 0) return { ...o, cookies: [] };
    return o;
  });
}

/** Takes out of a program what the filters above name. */
function withoutKnown(opts: Options, program: Step[]): [Options, Step[]] {
  const steps = program.map((st) => {
    const save = st.ops.findIndex((o) => o.k === 'save');
    const reload = st.ops.findLastIndex((o) => o.k === 'reload');
    const ops = st.ops.filter((o, i) => {
      if (cookieOps.has(o.k) && ((save >= 0 && i > save) || i < reload)) return false;
      if (!opts.saveUninitialized && o.k === 'regenerate') return false;
      return true;
    });
    return { ...st, ops };
  });
  return [opts, steps];
}

async function compare(opts: Options, program: Step[]) {
  const steps = [...program, probe(0), probe(1)];
  const es = await run('express-session', opts, steps);
  const sk = await run('sessionkit', opts, steps);
  return { es, sk: filtered(steps, es, sk) };
}

describe('differential fuzz: express-session vs sessionkit', () => {
  // A few seconds alone; several times that on a loaded 2-core machine running the rest of the suite.
  it('same observations for random programs', async () => {
    await fc.assert(
      fc.asyncProperty(
        options,
        fc.array(step, { minLength: 1, maxLength: 4 }),
        async (rawOpts, rawProgram) => {
          const [opts, program] = withoutKnown(rawOpts, rawProgram);
          const { es, sk } = await compare(opts, program);
          expect(sk).toEqual(es);
        },
      ),
      {
        numRuns: Number(process.env.FUZZ_RUNS ?? 0) || 250,
        seed: Number(process.env.FUZZ_SEED ?? 0) || 4242,
      },
    );
  }, 120_000);
});
