// First, for its effect: Next.js's request stores must exist before next/headers loads.
import '../support/next-setup.js';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createSession } from '../../src/adapters/next.js';
import { sessionHandle } from '../../src/adapters/sveltekit.js';
import type { SessionStore } from '../../src/stores/contract.js';
import {
  buildApps,
  describeCookie,
  Labels,
  NAME,
  type Op,
  type Opts,
  overlapping,
  runOps,
  SECOND_WAIT_MS,
  sessionOp,
  sessionOptions,
  sharedOptions,
} from '../support/cross-framework.js';
import { fuzzStores } from '../support/fuzz-stores.js';
import { runNext } from '../support/next-real.js';
import { redisSkipReason } from '../support/redis.js';
import { serveSvelteKit } from '../support/sveltekit.js';

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const redisSkip = await redisSkipReason(REDIS_URL);
const SEED = Number(process.env.WF_SEED ?? 9001);
const RUNS: Record<string, number> = { memory: 60, slow: 15, redis: 30 };
const KINDS = (process.env.WF_KINDS ?? 'memory,slow,redis').split(',');

type WFw = 'express5' | 'next' | 'sveltekit';
interface WStep {
  copy?: boolean;
  jar: 0 | 1;
  fw: WFw;
  ops: Op[];
  /** Runs while this step's request is stopped at its `hold` op (as in test/support/cross-framework.ts). */
  during?: { jar: 0 | 1; fw: WFw; ops: Op[] };
}

const MOVES = new Set(['login', 'logout', 'regen', 'regenKeep', 'destroy', 'reauth']);
type AnySession = Record<string, unknown> & { save(): Promise<void> };

function encode(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}

/** Case-insensitive attributes (cosmetic). */
function lowerCookie(d: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(d))
    out[k.toLowerCase()] = typeof v === 'string' && k !== 'value' ? v.toLowerCase() : v;
  return out;
}

interface WorldResult {
  steps: unknown[];
  end: unknown[];
  /** Known defects this run hit (each has its own failing test): such a program is not compared. */
  known?: string[];
}

/** Runs `steps`, each on `route(step)`, all adapters on `store`; Date must be faked by the caller. */
async function runWeb(
  o: Opts,
  store: SessionStore,
  steps: WStep[],
  route: (s: WStep) => WFw,
  startAt: number,
): Promise<WorldResult> {
  const apps = await buildApps(o, store, ['express5']);
  const { getSession } = createSession(sessionOptions(o, store));
  const handle = sessionHandle(sessionOptions(o, store));
  const labels = new Labels();
  const jars: Array<string | null> = [null, null];
  let now = startAt;
  let holdSeq = 0;
  const known = new Set<string>();

  const nextRequest = async (jar: 0 | 1, ops: Op[], token?: string) => {
    const headers: Record<string, string> = {};
    const presented = jars[jar];
    if (presented !== null) headers.cookie = `${NAME}=${presented}`;
    const request = new Request('http://localhost/op', { headers });
    const run = await runNext(request, async () => {
      let current: AnySession | null;
      try {
        current = (await getSession()) as unknown as AnySession;
      } catch (e) {
        return { status: (e as { status?: number }).status ?? 500, log: null };
      }
      let saver = current;
      const log: unknown[] = [];
      let saved = false;
      for (const op of ops) {
        if (op.k === 'save' || MOVES.has(op.k)) saved = true;
        const part = await runOps(
          [op],
          { get: () => current as never, unset: () => {}, own: () => {}, token },
          store,
        );
        log.push(...part.slice(0, -1));
        if (MOVES.has(op.k) && current !== null) {
          if (part.length > 1) continue;
          if (op.k === 'destroy') {
            // Next.js: destroy() is followed by save() (docs); express-session's req.session is then gone.
            try {
              await saver.save();
            } catch (e) {
              log.push({ op: 'save-after', err: (e as { code?: string }).code });
            }
            current = null;
          } else {
            current = (await getSession()) as unknown as AnySession;
            saver = current;
          }
        }
      }
      const end = await runOps([], { get: () => current as never, unset: () => {}, own: () => {} }, store);
      log.push(...end);
      try {
        await saver.save();
      } catch (e) {
        // By design (docs: save() "stores the session and sets its cookie"): a save() earlier in this
        // request already stored the session and put its cookie in the response, which a failed final
        // save cannot take back; on Express nothing is sent before the one commit. Not compared.
        if (saved) known.add('next-earlier-save-then-failure');
        return { status: (e as { status?: number }).status ?? 500, log: null };
      }
      return { status: 200, log };
    });
    return { status: run.result.status, log: run.result.log, setCookies: run.setCookies };
  };

  const svelteRequest = async (jar: 0 | 1, ops: Op[], token?: string) => {
    const headers: Record<string, string> = {};
    if (jars[jar] !== null) headers.cookie = `${NAME}=${jars[jar]}`;
    const request = new Request('http://localhost/op', { headers });
    let log: unknown[] | null = null;
    const response = await serveSvelteKit(handle, request, async (event) => {
      const locals = event.locals as unknown as { session: unknown };
      log = await runOps(
        ops,
        {
          get: () => locals.session as never,
          unset: () => {
            locals.session = null;
          },
          own: () => {},
          token,
        },
        store,
      );
      return Response.json(log);
    });
    await response.text();
    return {
      status: response.status,
      log: response.status >= 400 ? null : log,
      setCookies: response.headers.getSetCookie(),
    };
  };

  const expressRequest = async (jar: 0 | 1, ops: Op[], token?: string) => {
    const headers: Record<string, string> = { 'x-ops': encode(ops) };
    if (token !== undefined) headers['x-hold'] = token;
    if (jars[jar] !== null) headers.cookie = `${NAME}=${jars[jar]}`;
    const response = await fetch(`${apps.url.express5}/op`, { headers, redirect: 'manual' });
    await response.text();
    const xlog = response.headers.get('x-log');
    const log =
      response.status >= 400 || xlog === null ? null : JSON.parse(Buffer.from(xlog, 'base64url').toString());
    return { status: response.status, log, setCookies: response.headers.getSetCookie() };
  };

  const request = async (fw: WFw, jar: 0 | 1, ops: Op[], token?: string) => {
    vi.setSystemTime(now);
    const held = jars[jar];
    const r =
      fw === 'next'
        ? await nextRequest(jar, ops, token)
        : fw === 'sveltekit'
          ? await svelteRequest(jar, ops, token)
          : await expressRequest(jar, ops, token);
    const cookies = r.setCookies
      .filter((h) => h.startsWith(`${NAME}=`))
      // Next.js can take back a cookie an earlier save() of the request set only by expiring it
      // (`cookies().delete()`); a browser that came without one is left without one, as on Express.
      .filter((h) => !(fw === 'next' && held === null && describeCookie(h, now, labels).value === 'clear'))
      .map((h) => {
        const d = describeCookie(h, now, labels);
        const value = h.slice(NAME.length + 1, h.indexOf(';') === -1 ? undefined : h.indexOf(';'));
        jars[jar] = d.value === 'clear' ? null : value;
        return lowerCookie(d);
      });
    return { status: r.status, body: r.log === null ? 'no-log' : labels.relabel(r.log), cookies };
  };

  try {
    const out: unknown[] = [];
    for (const step of steps) {
      if (step.copy) jars[1] = jars[0] ?? null;
      const during = step.during;
      if (during !== undefined && step.ops.some((o) => o.k === 'hold')) {
        const token = `hold${++holdSeq}`;
        const { first, reached, waited, second } = await overlapping(
          token,
          () => request(route(step), step.jar, step.ops, token),
          () => request(route({ ...step, ...during }), during.jar, during.ops),
          SECOND_WAIT_MS,
        );
        out.push({ jar: step.jar, ...first, during: { jar: during.jar, reached, waited, ...second } });
      } else out.push({ jar: step.jar, ...(await request(route(step), step.jar, step.ops)) });
      now += 1000;
    }
    const end: unknown[] = [];
    for (const jar of [0, 1] as const) {
      const r = await request('express5', jar, [{ k: 'read' }]);
      end.push({ jar, status: r.status, body: r.body });
    }
    return { steps: out, end, known: [...known] };
  } finally {
    await apps.close();
  }
}

/** Cosmetic: `undefined` and `null` both mean "no session". */
function normalise(o: WorldResult): WorldResult {
  return JSON.parse(JSON.stringify(o).replaceAll('{"none":"undefined"}', '{"none":"null"}')) as WorldResult;
}

// The application's own cookie (`own`) is not drawn: this harness gives the web adapters no way to set one.
const op = sessionOp(new Set(['own']));
/** Next.js needs save() after login/logout/regenerate (docs): every program has it, on every adapter, so
 * the store holds the same at each later op (a reload, a revoke, an overlapping request) whatever the adapter. */
const withSaves = (ops: Op[]): Op[] =>
  ops.flatMap((o) => (MOVES.has(o.k) && o.k !== 'destroy' ? [o, { k: 'save' as const }] : [o]));
/** Next.js has no `unset` (documented): such a request goes to SvelteKit. */
const noUnsetOnNext = (fw: WFw, ops: Op[]): WFw =>
  fw === 'next' && ops.some((o) => o.k === 'unset') ? 'sveltekit' : fw;
const adapter = fc.constantFrom<WFw>('express5', 'next', 'next', 'sveltekit', 'sveltekit');
const webStep: fc.Arbitrary<WStep> = fc
  .record({
    copy: fc.constantFrom(false, false, false, true),
    jar: fc.constantFrom<0 | 1>(0, 0, 1),
    fw: adapter,
    ops: fc.array(op, { minLength: 0, maxLength: 4 }),
    holdAt: fc.nat(4),
    during: fc.option(
      fc.record({
        jar: fc.constantFrom<0 | 1>(0, 1),
        fw: adapter,
        ops: fc.array(op, { minLength: 1, maxLength: 3 }),
      }),
      { freq: 3 },
    ),
  })
  .map(({ holdAt, during, ...s }) => {
    const ops = withSaves(s.ops);
    const step: WStep = { ...s, ops, fw: noUnsetOnNext(s.fw, ops) };
    if (during === null) return step;
    const dops = withSaves(during.ops);
    step.ops = [...ops.slice(0, holdAt), { k: 'hold' }, ...ops.slice(holdAt)];
    step.during = { jar: during.jar, ops: dops, fw: noUnsetOnNext(during.fw, dops) };
    return step;
  });
const webOpts = sharedOptions;

const fuzz = fuzzStores('sk_web_fuzz');
const freshStore = fuzz.fresh;

describe('web adapters differential fuzz (fixed seed)', () => {
  beforeAll(() => {
    vi.useFakeTimers({ toFake: ['Date'], now: Date.now() });
  });
  afterAll(async () => {
    vi.useRealTimers();
    await fuzz.closeAll();
  });

  // WF_PROGRAM='[opts, steps]' (a counterexample) prints both observations.
  it.runIf(process.env.WF_PROGRAM !== undefined)('WF_PROGRAM', async () => {
    const [o, steps] = JSON.parse(process.env.WF_PROGRAM as string) as [Opts, WStep[]];
    const base = Date.now();
    const kind = KINDS[0] as string;
    const mixed = await runWeb(o, await freshStore(kind), steps, (s) => s.fw, base);
    const reference = await runWeb(o, await freshStore(kind), steps, () => 'express5', base);
    console.log(JSON.stringify({ mixed, reference }, null, 1));
  });

  for (const kind of KINDS) {
    it.skipIf(kind === 'redis' && redisSkip)(
      `${kind}: spread over Express/Next.js/SvelteKit = all on Express`,
      async () => {
        const base = Date.now();
        await fc.assert(
          fc.asyncProperty(webOpts, fc.array(webStep, { minLength: 1, maxLength: 6 }), async (o, steps) => {
            const mixed = normalise(await runWeb(o, await freshStore(kind), steps, (s) => s.fw, base));
            fc.pre((mixed.known ?? []).length === 0);
            delete mixed.known;
            const reference = normalise(
              await runWeb(o, await freshStore(kind), steps, () => 'express5', base),
            );
            delete reference.known;
            expect(mixed).toEqual(reference);
          }),
          {
            seed: SEED,
            numRuns: Number(process.env.WF_RUNS ?? RUNS[kind] ?? 30),
            endOnFailure: process.env.WF_SHRINK !== '1',
          },
        );
      },
      60_000,
    );
  }
});
