/**
 * The differential fuzzer of the migration from express-session to sessionkit, shared by
 * test/compat/migration-fuzz.test.ts (connect-redis, connect-pg-simple, express-mysql-session) and
 * test/compat/connect-mongo-migration-fuzz.test.ts (connect-mongo): the generators (their constants given by
 * each file), the comparison helpers and both properties. Each file gives its backends and values.
 *
 * `npm test` runs a fixed seed and a few runs per backend and mode, to stay within a few seconds;
 * FUZZ_RUNS and FUZZ_SEED run more (FUZZ_RUNS=200 FUZZ_SEED=$RANDOM).
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { idOf } from './apps.js';
import {
  app,
  attrs,
  type Backend,
  type Fixture,
  fixtures,
  hit,
  pairOf,
  type Snapshot,
} from './migration-apps.js';

const SEED = Number(process.env.FUZZ_SEED ?? 0) || 0x5e55;
const RUNS = Number(process.env.FUZZ_RUNS ?? 0) || 8;

const FORBIDDEN = new Set(['__proto__', 'constructor', 'prototype']);
const TOP_EXCLUDED = new Set([
  'cookie',
  'id',
  'req',
  'save',
  'destroy',
  'regenerate',
  'reload',
  'touch',
  'resetMaxAge',
  '__proto__',
  'constructor',
  'prototype',
  'sk',
  'fresh',
  'hasOwnProperty',
  'toString',
  'valueOf',
  'toJSON',
  'isPrototypeOf',
  'propertyIsEnumerable',
  'toLocaleString',
  '__defineGetter__',
  '__defineSetter__',
  '__lookupGetter__',
  '__lookupSetter__',
]);

/** The constants each generator mixes in, in order (the order fixes what a seed draws). */
export interface FuzzValues {
  /** Odd strings, next to random ones. */
  strings: readonly string[];
  /** Keys of nested objects, next to random ones. */
  nestedKeys: readonly string[];
  /** Top-level session keys, next to random ones (the reserved ones are filtered out). */
  topKeys: readonly string[];
  maxAge: readonly (number | null | undefined)[];
  sameSite: readonly (string | boolean | undefined)[];
  priority: readonly (string | undefined)[];
  secure: readonly (string | boolean | undefined)[];
}

/** The constants of test/compat/migration-fuzz.test.ts; other backends add theirs after them. */
export const baseValues: FuzzValues = {
  strings: ['\ud800', 'a\udfffb', '😀', '\u0000', '\u2028', 'é', 'x'.repeat(70_000), '', '"\\'],
  nestedKeys: [
    'cookie',
    '__sessionkit',
    'sessionkit:authTime',
    'expires',
    'originalMaxAge',
    'data',
    'id',
    '💥',
    '',
  ],
  topKeys: ['user', 'passport', 'flash', 'ü', '😀', 'a b', '0', '1'],
  maxAge: [undefined, null, 60_000, 3_600_000, 86_400_000 * 30, 86_400_000 * 399],
  sameSite: [undefined, 'Strict', 'lax', true, 'none', false, 'None', 'LAX'],
  priority: [undefined, 'High', 'low', 'medium'],
  secure: [undefined, true, false],
};

export interface FuzzBackend<B extends Backend> {
  name: string;
  /** Why the backend cannot be used (its suites are skipped), or false. */
  skip: string | false;
  open(): Promise<B>;
}

export interface MigrationFuzz<B extends Backend> {
  backends: readonly FuzzBackend<B>[];
  values: FuzzValues;
  /** Data the legacy or bridge property leaves out on this backend (fc.pre), if any. */
  excluded?: (mode: 'legacy' | 'bridge', backend: B, data: Record<string, unknown>) => boolean;
  /** The cookie options sessionkit is given for express-session's. Default: the same. */
  forSessionkit?: (o: Record<string, unknown>) => Record<string, unknown>;
}

function generators(values: FuzzValues) {
  const weirdString = fc.oneof(
    fc.string({ unit: 'grapheme', maxLength: 20 }),
    fc.string({ unit: 'binary', maxLength: 20 }),
    fc.constantFrom(...values.strings),
  );
  const weirdNumber = fc.oneof(
    fc.double({ noNaN: true, noDefaultInfinity: true }),
    fc.constantFrom(-0, 1e308, -1e308, 5e-324, Number.MAX_SAFE_INTEGER + 2, 0.1),
    fc.integer(),
  );
  const nestedKey = fc.oneof(fc.string({ maxLength: 8 }), fc.constantFrom(...values.nestedKeys));
  const { value } = fc.letrec((tie) => ({
    value: fc.oneof(
      { depthSize: 'small', withCrossShrink: true },
      weirdString,
      weirdNumber,
      fc.boolean(),
      fc.constant(null),
      fc.date({ min: new Date(-8.64e15), max: new Date(8.64e15), noInvalidDate: true }),
      fc.array(tie('value'), { maxLength: 4 }),
      fc.dictionary(nestedKey, tie('value'), { maxKeys: 4 }),
    ),
  }));
  const topKey = fc
    .oneof(fc.string({ minLength: 1, maxLength: 10 }), fc.constantFrom(...values.topKeys))
    .filter((k) => !TOP_EXCLUDED.has(k) && !k.startsWith('sessionkit:') && k !== '__sessionkit');
  const data = fc.dictionary(topKey, value, { minKeys: 1, maxKeys: 5 });

  const cookieOptions = fc.record(
    {
      maxAge: fc.constantFrom(...values.maxAge),
      expires: fc.constantFrom(undefined, null, false),
      domain: fc.constantFrom(undefined, 'example.com', '.example.org'),
      path: fc.constantFrom(undefined, '/', '/app'),
      sameSite: fc.constantFrom(...values.sameSite),
      priority: fc.constantFrom(...values.priority),
      partitioned: fc.constantFrom(undefined, true, false),
      secure: fc.constantFrom(...values.secure),
      httpOnly: fc.constantFrom(undefined, false, true),
    },
    { requiredKeys: [] },
  );
  const mutation = fc.constantFrom('none', 'expiresFalse', 'maxAge1h', 'maxAgeNull', 'sameSiteStrict');
  const op = fc.constantFrom('write', 'touch', 'regenerate', 'destroy', 'login', 'read');
  return { data, cookieOptions, mutation, op };
}

/** The options without the keys the generator left undefined (as an application would not write them). */
function clean(o: object): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(o)) if (v !== undefined) out[k] = v;
  return out;
}

function mutate(kind: string): Fixture['mutate'] {
  switch (kind) {
    case 'expiresFalse':
      return (c) => {
        c.expires = false;
      };
    case 'maxAge1h':
      return (c) => {
        c.maxAge = 3_600_000;
      };
    case 'maxAgeNull':
      return (c) => {
        c.maxAge = null;
      };
    case 'sameSiteStrict':
      return (c) => {
        c.sameSite = 'strict';
      };
    default:
      return undefined;
  }
}

/** Removes nested forbidden keys (sessionkit documents dropping them), as JSON. */
function withoutForbidden(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(withoutForbidden);
  if (v && typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) if (!FORBIDDEN.has(k)) out[k] = withoutForbidden(x);
    return out;
  }
  return v;
}

function lc(v: unknown) {
  return typeof v === 'string' ? v.toLowerCase() : v;
}

/** The cookie fields both sides should agree on. */
function comparableCookie(c: Record<string, unknown>) {
  return {
    originalMaxAge: c.originalMaxAge === false ? null : (c.originalMaxAge ?? null),
    persistent: !!c.expires,
    path: c.path,
    domain: c.domain ?? undefined,
    httpOnly: c.httpOnly,
    secure: c.secure === 'true' ? true : (c.secure ?? undefined),
    sameSite: lc(c.sameSite) ?? undefined,
    partitioned: c.partitioned ?? undefined,
    priority: lc(c.priority) ?? undefined,
  };
}

function expectSameCookie(ours: Snapshot, theirs: Snapshot, label: string) {
  expect(comparableCookie(ours.cookie), label).toEqual(comparableCookie(theirs.cookie));
  const a = ours.cookie.expires ? Date.parse(String(ours.cookie.expires)) : null;
  const b = theirs.cookie.expires ? Date.parse(String(theirs.cookie.expires)) : null;
  if (a !== null && b !== null) expect(Math.abs(a - b), `${label}: expires`).toBeLessThan(5_000);
}

/** Both properties on each backend: express-session → sessionkit (legacy and bridge), then the rolling deploy. */
export function describeMigrationFuzz<B extends Backend>(fuzz: MigrationFuzz<B>): void {
  const { data, cookieOptions, mutation, op } = generators(fuzz.values);
  const forSessionkit = fuzz.forSessionkit ?? ((o: Record<string, unknown>) => o);
  const excluded = fuzz.excluded;
  for (const { name, skip, open } of fuzz.backends)
    describe.skipIf(skip)(name, () => {
      let backend: B;
      beforeAll(async () => {
        backend = await open();
      });
      afterAll(async () => {
        await backend?.close();
      });

      for (const mode of ['legacy', 'bridge'] as const) {
        it(`express-session → sessionkit (${mode}), random sessions and cookies`, async () => {
          let n = 0;
          await fc.assert(
            fc.asyncProperty(data, cookieOptions, mutation, op, async (d, rawCookie, mut, operation) => {
              if (excluded) fc.pre(!excluded(mode, backend, d));
              const esCookie = clean(rawCookie);
              const cookie = forSessionkit(esCookie);
              const key = `f${n++}`;
              fixtures.set(key, { data: d, mutate: mutate(mut) });
              const theirs = app('express-session', backend.anchor, { cookie: esCookie });
              const ours = app('sessionkit', mode === 'legacy' ? backend.native : backend.anchor, { cookie });
              const put = await hit(theirs, 'put', undefined, `?k=${key}`);
              expect(put.status, put.text).toBe(200);
              const pair = pairOf(put);
              expect(pair, 'express-session set a cookie').not.toBeNull();
              const id = idOf(pair as string);
              const e2 = await hit(theirs, 'read', pair as string);
              expect(e2.snap?.id).toBe(id);
              const s1 = await hit(ours, 'read', pair as string);
              expect(s1.status, s1.text).toBe(200);
              expect(s1.snap?.id, 'sessionkit loaded the session').toBe(id);
              const expected = withoutForbidden(e2.snap?.data);
              expect(s1.snap?.data, 'data as express-session reads it').toEqual(expected);
              expectSameCookie(
                s1.snap as Snapshot,
                e2.snap as Snapshot,
                'cookie as express-session reads it',
              );
              expect(s1.setCookie.filter((c) => c.includes('Expires=Thu, 01 Jan 1970'))).toEqual([]);

              const native = backend.native;
              const anchorStore = backend.anchor;
              const anchorGet = (sid: string) =>
                new Promise<unknown>((ok, ko) => anchorStore.get(sid, (e, s) => (e ? ko(e) : ok(s ?? null))));
              if (operation === 'read') return;
              if (operation === 'write' || operation === 'touch') {
                const w =
                  operation === 'write'
                    ? await hit(ours, 'write', pair as string)
                    : await hit(
                        app('sessionkit', mode === 'legacy' ? native : backend.anchor, {
                          cookie,
                          rolling: true,
                          resave: true,
                        }),
                        'read',
                        pair as string,
                      );
                expect(w.status, w.text).toBe(200);
                const want = operation === 'write' ? { ...(expected as object), sk: 1 } : expected;
                const again = await hit(ours, 'read', pair as string);
                expect(again.snap?.id).toBe(id);
                expect(again.snap?.data, `after ${operation}`).toEqual(want);
                expectSameCookie(again.snap as Snapshot, e2.snap as Snapshot, `cookie after ${operation}`);
                if (mode === 'legacy') {
                  const rec = await native.get(id);
                  expect(rec, 'native record').not.toBeNull();
                  expect(await backend.legacyRaw(id), 'legacy gone').toBeNull();
                  // express-session on the old servers: the legacy record is gone (documented).
                  const old = await hit(theirs, 'read', pair as string);
                  expect(old.snap?.id).not.toBe(id);
                } else {
                  const old = await hit(theirs, 'read', pair as string);
                  expect(old.snap?.id, 'express-session still has it').toBe(id);
                  expect(old.snap?.data, 'express-session reads the write').toEqual(want);
                  expectSameCookie(
                    old.snap as Snapshot,
                    e2.snap as Snapshot,
                    'express-session cookie after write',
                  );
                  // and express-session's own write is read back by sessionkit
                  const ew = await hit(theirs, 'write', pair as string);
                  expect(ew.status).toBe(200);
                  const back = await hit(ours, 'read', pair as string);
                  expect(back.snap?.data).toEqual(
                    operation === 'write'
                      ? { ...(expected as object), sk: 2 }
                      : { ...(expected as object), sk: 1 },
                  );
                }
              } else if (operation === 'destroy') {
                const dd = await hit(ours, 'destroy', pair as string);
                expect(dd.status, dd.text).toBe(200);
                expect(await native.get(id)).toBeNull();
                expect(await anchorGet(id)).toBeNull();
                const s = await hit(ours, 'read', pair as string);
                expect(s.snap?.id).not.toBe(id);
                const e = await hit(theirs, 'read', pair as string);
                expect(e.snap?.id).not.toBe(id);
              } else {
                const g = await hit(ours, operation, pair as string);
                expect(g.status, g.text).toBe(200);
                const next = pairOf(g);
                expect(next, `${operation} sets a new cookie`).not.toBeNull();
                const nid = idOf(next as string);
                expect(nid).not.toBe(id);
                expect(await native.get(id)).toBeNull();
                expect(await anchorGet(id)).toBeNull();
                const s = await hit(ours, 'read', next as string);
                expect(s.snap?.id).toBe(nid);
                if (operation === 'login') expect(s.snap?.data).toEqual(expected);
                else expect(s.snap?.data).toEqual({ fresh: 1 });
                const olds = await hit(ours, 'read', pair as string);
                expect(olds.snap?.id).not.toBe(id);
                const olde = await hit(theirs, 'read', pair as string);
                expect(olde.snap?.id).not.toBe(id);
                if (mode === 'bridge') {
                  const e = await hit(theirs, 'read', next as string);
                  expect(e.snap?.id, 'express-session reads the new session').toBe(nid);
                  expect(e.snap?.data).toEqual(operation === 'login' ? expected : { fresh: 1 });
                }
                // the new Set-Cookie keeps the attributes express-session would send
                const eAttrs = put.setCookie[0] ? attrs(put.setCookie[0]) : {};
                const sAttrs = attrs(next ? (g.setCookie.find((c) => c.startsWith(next)) as string) : '');
                for (const k of ['domain', 'path', 'priority', 'partitioned', 'httponly', 'secure'])
                  expect(sAttrs[k], `Set-Cookie ${k} after ${operation}`).toEqual(eAttrs[k]);
              }
            }),
            { seed: SEED, numRuns: RUNS, endOnFailure: true },
          );
        }, 600_000);
      }
    });

  for (const { name, skip, open } of fuzz.backends)
    describe.skipIf(skip)(`${name}, rolling deploy: sessionkit writes, express-session reads`, () => {
      let backend: B;
      beforeAll(async () => {
        backend = await open();
      });
      afterAll(async () => {
        await backend?.close();
      });

      it('through the bridge, express-session reads what sessionkit wrote; each side ends what the other sees', async () => {
        let n = 0;
        await fc.assert(
          fc.asyncProperty(
            data,
            cookieOptions,
            fc.constantFrom('login', 'destroy-es', 'destroy-sk', 'write-es'),
            async (d, rawCookie, operation) => {
              const esCookie = clean(rawCookie);
              const cookie = forSessionkit(esCookie);
              const key = `r${n++}`;
              fixtures.set(key, { data: d });
              const theirs = app('express-session', backend.anchor, { cookie: esCookie });
              const ours = app('sessionkit', backend.anchor, { cookie });
              const put = await hit(ours, 'put', undefined, `?k=${key}`);
              expect(put.status, put.text).toBe(200);
              const pair = pairOf(put) as string;
              expect(pair).not.toBeNull();
              const id = idOf(pair);
              const s1 = await hit(ours, 'read', pair);
              expect(s1.snap?.id).toBe(id);
              const e1 = await hit(theirs, 'read', pair);
              expect(e1.status, e1.text).toBe(200);
              expect(e1.snap?.id, 'express-session loads it').toBe(id);
              expect(withoutForbidden(e1.snap?.data), 'data').toEqual(s1.snap?.data);
              expectSameCookie(e1.snap as Snapshot, s1.snap as Snapshot, 'cookie');
              if (operation === 'login') {
                const l = await hit(ours, 'login', pair);
                const next = pairOf(l) as string;
                const e = await hit(theirs, 'read', next);
                expect(e.snap?.id).toBe(idOf(next));
                expect(withoutForbidden(e.snap?.data)).toEqual(s1.snap?.data);
                expect((await hit(theirs, 'read', pair)).snap?.id).not.toBe(id);
                // express-session writes it: the data survives on sessionkit
                await hit(theirs, 'write', next);
                const back = await hit(ours, 'read', next);
                expect(back.snap?.data).toEqual({ ...(s1.snap?.data as object), sk: 1 });
              } else if (operation === 'destroy-es') {
                await hit(theirs, 'destroy', pair);
                expect((await hit(ours, 'read', pair)).snap?.id).not.toBe(id);
                expect((await hit(theirs, 'read', pair)).snap?.id).not.toBe(id);
              } else if (operation === 'destroy-sk') {
                await hit(ours, 'destroy', pair);
                expect((await hit(theirs, 'read', pair)).snap?.id).not.toBe(id);
                expect((await hit(ours, 'read', pair)).snap?.id).not.toBe(id);
              } else {
                await hit(theirs, 'write', pair);
                const back = await hit(ours, 'read', pair);
                expect(back.snap?.data).toEqual({ ...(s1.snap?.data as object), sk: 1 });
                expectSameCookie(
                  back.snap as Snapshot,
                  s1.snap as Snapshot,
                  'cookie after express-session write',
                );
                await hit(ours, 'write', pair);
                const e = await hit(theirs, 'read', pair);
                expect(withoutForbidden(e.snap?.data)).toEqual({ ...(s1.snap?.data as object), sk: 2 });
              }
            },
          ),
          { seed: SEED, numRuns: RUNS, endOnFailure: true },
        );
      }, 600_000);
    });
}
