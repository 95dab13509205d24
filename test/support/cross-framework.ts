/**
 * Cross-framework differential harness (test/adapters/cross-framework-fuzz.test.ts): one program of requests from one or two browsers,
 * each request run on a chosen framework's app (Express 4/5, Fastify 4/5, Koa 2/3, Hono on
 * @hono/node-server), all apps sharing one secret and one store object. Observes what browsers see.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as delay } from 'node:timers/promises';
import fc from 'fast-check';
import { vi } from 'vitest';
import session, { currentUserId, login, logout, reauthenticated, type Session } from '../../src/index.js';
import type { SessionStore } from '../../src/stores/contract.js';
import { expressVersions } from './apps.js';

export const SECRET = 'cross-framework-fuzz-secret-0123456789abcdef';
export const NAME = 'sid';
export const FRAMEWORKS = ['express4', 'express5', 'fastify4', 'fastify5', 'koa2', 'koa3', 'hono'] as const;
export type Fw = (typeof FRAMEWORKS)[number];

export type Op =
  | { k: 'set'; key: string; v: number }
  | { k: 'del'; key: string }
  | { k: 'read' }
  | { k: 'login'; user: string }
  | { k: 'logout' }
  | { k: 'regen' }
  | { k: 'regenKeep' }
  | { k: 'destroy' }
  | { k: 'touch' }
  | { k: 'maxAge'; v: number | null }
  | { k: 'save' }
  | { k: 'reload' }
  | { k: 'revoke'; user: string }
  | { k: 'unset' }
  | { k: 'own' }
  | { k: 'throw' }
  | { k: 'big' }
  | { k: 'reauth' }
  | { k: 'resetMaxAge' }
  | { k: 'expires'; v: number | null }
  | { k: 'hold' };

export interface Opts {
  rolling: boolean;
  saveUninitialized: boolean;
  resave: boolean;
  unset: 'keep' | 'destroy';
  maxAge: number | null;
  absoluteTimeout?: number;
  maxSessionBytes?: number;
  renewAfter?: number;
  maxSessionsPerUser?: number;
  onLimit?: 'evict-oldest' | 'refuse';
}

export interface Step {
  /** Before the request, browser 1 takes browser 0's cookie (a second tab, a copied cookie). */
  copy?: boolean;
  jar: 0 | 1;
  fw: Fw;
  ops: Op[];
  /** Errors of the ops reach the framework (else caught and logged by code). */
  uncaught?: boolean;
  method?: 'GET' | 'HEAD';
  terminal?: 'json' | 'redirect' | 'empty';
  /**
   * Runs while this step's request is stopped at its first `hold` op (after its load): a whole request
   * from `jar` on `fw` with `ops`; then this step's request goes on. Both use the cookies the jars had
   * before either started.
   */
  during?: { jar: 0 | 1; fw: Fw; ops: Op[] };
}

export interface Hooks {
  get(): S | null | undefined;
  unset(): void;
  /** Sets the application's own cookie `app=1`, the framework's way. */
  own(): void;
  /** The request's hold token (x-hold header). */
  token?: string;
}

/** Requests stopped at a `hold` op: the test learns it arrived, and releases it. */
const holds = new Map<string, { arrived: () => void; release: Promise<void> }>();
export function prepareHold(token: string): { arrived: Promise<void>; release: () => void } {
  let arrived!: () => void;
  let release!: () => void;
  const arrivedP = new Promise<void>((r) => {
    arrived = r;
  });
  const releaseP = new Promise<void>((r) => {
    release = r;
  });
  holds.set(token, { arrived, release: releaseP });
  return { arrived: arrivedP, release };
}

/**
 * How long `overlapping` gives the second request before taking it for one that waits on the first. Its
 * `waited` is compared between runs, so a second that only ran slow (a loaded machine's stall) must not
 * pass for a waiting one: a wait that long costs only the rare second that does wait.
 */
export const SECOND_WAIT_MS = 2_000;

/**
 * One step of a program that overlaps two requests: the first runs to its `hold` op and waits there while
 * the second runs to its end; a second that waits on the first (a move of the same session) is let go
 * after `waitMs`. The first may end before its hold (an error that reaches the framework).
 */
export async function overlapping<R extends object>(
  token: string,
  first: () => Promise<R>,
  second: () => Promise<R>,
  waitMs: number,
): Promise<{ first: R; reached: boolean; waited: boolean; second: R }> {
  const gate = prepareHold(token);
  const firstDone = first();
  const reached = await Promise.race([gate.arrived.then(() => true), firstDone.then(() => false)]);
  const secondDone = second();
  const waited =
    reached && (await Promise.race([secondDone.then(() => false), delay(waitMs).then(() => true)]));
  gate.release();
  const secondResult = await secondDone;
  return { first: await firstDone, reached, waited, second: secondResult };
}
async function hold(token: string | undefined): Promise<void> {
  const h = token === undefined ? undefined : holds.get(token);
  if (h === undefined) return;
  holds.delete(token as string);
  h.arrived();
  await h.release;
}

type S = Record<string, unknown> & {
  id: string;
  cookie: { maxAge: number | null };
  [m: string]: unknown;
};

function view(s: S | null | undefined): unknown {
  if (s == null) return { none: String(s) };
  const data: Record<string, unknown> = {};
  for (const key of Object.keys(s)) if (key !== 'cookie') data[key] = s[key];
  return {
    id: s.id,
    user: currentUserId(s as unknown as Session),
    data,
    maxAge: s.cookie.maxAge === null ? null : 'n',
  };
}

/** Runs the ops on the framework's session accessor; errors are logged by code, never thrown. */
export async function runOps(
  ops: Op[],
  hooks: Hooks,
  store: SessionStore,
  uncaught = false,
): Promise<unknown[]> {
  const { get, unset } = hooks;
  const log: unknown[] = [];
  for (const op of ops) {
    try {
      const s = get() as S;
      const call = (m: string, ...args: unknown[]) => (s[m] as (...a: unknown[]) => unknown).apply(s, args);
      switch (op.k) {
        case 'set':
          s[op.key] = op.v;
          break;
        case 'del':
          delete s[op.key];
          break;
        case 'read':
          log.push(view(s));
          break;
        case 'login':
          await login(s as unknown as Session, op.user);
          break;
        case 'logout':
          await logout(s as unknown as Session);
          break;
        case 'regen':
          await call('regenerate');
          break;
        case 'regenKeep':
          await call('regenerate', { keep: true });
          break;
        case 'destroy':
          await call('destroy');
          break;
        case 'touch':
          call('touch');
          break;
        case 'maxAge':
          s.cookie.maxAge = op.v;
          break;
        case 'save':
          await call('save');
          break;
        case 'reload':
          await call('reload');
          break;
        case 'revoke':
          await store.destroyByUser?.(op.user);
          break;
        case 'unset':
          unset();
          break;
        case 'own':
          hooks.own();
          break;
        case 'big':
          s.a = 'x'.repeat(400);
          break;
        case 'reauth':
          await reauthenticated(s as unknown as Session);
          break;
        case 'resetMaxAge':
          call('resetMaxAge');
          break;
        case 'expires':
          (s.cookie as unknown as { expires: Date | null }).expires =
            op.v === null ? null : new Date(Date.now() + op.v);
          break;
        case 'hold':
          await hold(hooks.token);
          break;
        case 'throw':
          throw Object.assign(new Error('boom'), { code: 'BOOM' });
      }
    } catch (error) {
      if (uncaught) throw error;
      const e = error as { code?: string; name?: string };
      log.push({ op: op.k, err: e.code ?? e.name });
    }
  }
  log.push({ end: view(get()) });
  return log;
}

function encode(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}

function control(headers: Record<string, string | string[] | undefined>) {
  return {
    ops: JSON.parse(Buffer.from(String(headers['x-ops'] ?? ''), 'base64url').toString() || '[]') as Op[],
    uncaught: headers['x-uncaught'] === '1',
    token: headers['x-hold'] === undefined ? undefined : String(headers['x-hold']),
    terminal: String(headers['x-terminal'] ?? 'json'),
  };
}

export function sessionOptions(o: Opts, store: SessionStore) {
  return {
    secret: SECRET,
    name: NAME,
    store,
    rolling: o.rolling,
    saveUninitialized: o.saveUninitialized,
    resave: o.resave,
    unset: o.unset,
    cookie: { maxAge: o.maxAge },
    ...(o.absoluteTimeout === undefined ? {} : { absoluteTimeout: o.absoluteTimeout }),
    ...(o.maxSessionBytes === undefined ? {} : { maxSessionBytes: o.maxSessionBytes }),
    ...(o.renewAfter === undefined ? {} : { renewAfter: o.renewAfter }),
    ...(o.maxSessionsPerUser === undefined
      ? {}
      : { maxSessionsPerUser: o.maxSessionsPerUser, onLimit: o.onLimit ?? 'evict-oldest' }),
    // biome-ignore lint/suspicious/noExplicitAny: one options object for every adapter
  } as any;
}

function listen(server: Server): Promise<string> {
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () =>
      resolve(`http://127.0.0.1:${(server.address() as AddressInfo).port}`),
    ),
  );
}

export interface Apps {
  url: Record<Fw, string>;
  close(): Promise<void>;
}

/** Every framework's app, with the same options on one store. Only the frameworks in `which` are built. */
export async function buildApps(o: Opts, store: SessionStore, which: readonly Fw[]): Promise<Apps> {
  const url = {} as Record<Fw, string>;
  const closers: Array<() => Promise<void>> = [];
  const serve = async (fw: Fw, listener: Parameters<typeof createServer>[1]) => {
    const server = createServer(listener);
    url[fw] = await listen(server);
    closers.push(
      () =>
        new Promise((resolve) => {
          server.closeAllConnections();
          server.close(() => resolve());
        }),
    );
  };
  for (const fw of which) {
    if (fw === 'express4' || fw === 'express5') {
      const app = expressVersions[fw === 'express4' ? 0 : 1].create();
      app.use(session(sessionOptions(o, store)));
      app.all('/op', async (req, res, next) => {
        try {
          const r = req as unknown as { session?: S | null };
          const c = control(req.headers);
          const log = await runOps(
            c.ops,
            {
              get: () => r.session,
              unset: () => {
                r.session = null;
              },
              own: () => res.cookie('app', '1'),
              token: c.token,
            },
            store,
            c.uncaught,
          );
          res.setHeader('x-log', encode(log));
          if (c.terminal === 'redirect') res.redirect('/x');
          else if (c.terminal === 'empty') res.status(204).end();
          else res.json(log);
        } catch (error) {
          next(error);
        }
      });
      await serve(fw, app as never);
    } else if (fw === 'fastify4' || fw === 'fastify5') {
      const Fastify = (
        fw === 'fastify4' ? (await import('fastify4')).default : (await import('fastify')).default
      ) as typeof import('fastify').default;
      const { session: fastifySession } = await import('../../src/adapters/fastify.js');
      const app = Fastify();
      await app.register(fastifySession, sessionOptions(o, store));
      app.route({
        method: ['GET', 'HEAD'],
        url: '/op',
        exposeHeadRoute: false,
        handler: async (req, reply) => {
          const r = req as unknown as { session?: S | null };
          const c = control(req.headers);
          const log = await runOps(
            c.ops,
            {
              get: () => r.session,
              unset: () => {
                r.session = null;
              },
              own: () => reply.header('set-cookie', 'app=1; Path=/'),
              token: c.token,
            },
            store,
            c.uncaught,
          );
          reply.header('x-log', encode(log));
          if (c.terminal === 'redirect') return reply.code(302).header('location', '/x').send();
          if (c.terminal === 'empty') return reply.code(204).send();
          return log;
        },
      });
      await app.listen({ port: 0, host: '127.0.0.1' });
      const address = app.server.address() as AddressInfo;
      url[fw] = `http://127.0.0.1:${address.port}`;
      closers.push(async () => {
        app.server.closeAllConnections();
        await app.close();
      });
    } else if (fw === 'koa2' || fw === 'koa3') {
      const Koa = (
        fw === 'koa2' ? (await import('koa2')).default : (await import('koa')).default
      ) as typeof import('koa');
      const { session: koaSession } = await import('../../src/adapters/koa.js');
      const app = new Koa();
      app.silent = true;
      app.use(koaSession(sessionOptions(o, store)));
      app.use(async (ctx) => {
        const k = ctx as unknown as { session?: S | null };
        const c = control(ctx.headers);
        const log = await runOps(
          c.ops,
          {
            get: () => k.session,
            unset: () => {
              k.session = null;
            },
            own: () => ctx.cookies.set('app', '1', { httpOnly: false, sameSite: false as never }),
            token: c.token,
          },
          store,
          c.uncaught,
        );
        ctx.set('x-log', encode(log));
        if (c.terminal === 'redirect') ctx.redirect('/x');
        else if (c.terminal === 'empty') ctx.status = 204;
        else ctx.body = log;
      });
      await serve(fw, app.callback());
    } else {
      const { Hono } = await import('hono');
      const { getRequestListener } = await import('@hono/node-server');
      const { session: honoSession } = await import('../../src/adapters/hono.js');
      const app = new Hono();
      // Hono's default error handler, without its console.error.
      app.onError((error, c) =>
        'getResponse' in error
          ? (error as { getResponse(): Response }).getResponse()
          : c.text('Internal Server Error', 500),
      );
      app.use(honoSession(sessionOptions(o, store)));
      app.on(['GET', 'HEAD'], '/op', async (c) => {
        const cc = c as unknown as { get(k: string): S | null; set(k: string, v: unknown): void };
        const ctl = control(Object.fromEntries(c.req.raw.headers));
        const log = await runOps(
          ctl.ops,
          {
            get: () => cc.get('session'),
            unset: () => cc.set('session', null),
            own: () => c.header('Set-Cookie', 'app=1; Path=/', { append: true }),
            token: ctl.token,
          },
          store,
          ctl.uncaught,
        );
        c.header('x-log', encode(log));
        if (ctl.terminal === 'redirect') return c.redirect('/x');
        if (ctl.terminal === 'empty') return c.body(null, 204);
        return c.json(log);
      });
      await serve(fw, getRequestListener(app.fetch));
    }
  }
  return {
    url,
    async close() {
      for (const close of closers) await close();
    },
  };
}

/** Maps raw session IDs to id1, id2… in order of first appearance. */
export class Labels {
  private readonly map = new Map<string, string>();
  of(id: string): string {
    let label = this.map.get(id);
    if (!label) {
      label = `id${this.map.size + 1}`;
      this.map.set(id, label);
    }
    return label;
  }
  relabel(value: unknown): unknown {
    if (Array.isArray(value)) return value.map((v) => this.relabel(v));
    if (value !== null && typeof value === 'object') {
      const out: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(value))
        out[k] = k === 'id' && typeof v === 'string' ? this.of(v) : this.relabel(v);
      return out;
    }
    return value;
  }
}

function idOfCookieValue(value: string): string | null {
  const decoded = decodeURIComponent(value);
  if (!decoded.startsWith('s:')) return null;
  return decoded.slice(2, decoded.lastIndexOf('.'));
}

/** A session Set-Cookie as a browser would take it, its expiry bucketed against the request's clock. */
export function describeCookie(header: string, now: number, labels: Labels): Record<string, unknown> {
  const [pair = '', ...parts] = header.split(/;\s*/);
  const value = pair.slice(pair.indexOf('=') + 1);
  const attrs: Record<string, unknown> = {};
  let expires: number | null = null;
  for (const part of parts) {
    const at = part.indexOf('=');
    const key = (at === -1 ? part : part.slice(0, at)).toLowerCase();
    const v = at === -1 ? true : part.slice(at + 1);
    if (key === 'expires') expires = Date.parse(String(v));
    else attrs[key] = v;
  }
  const cleared = value === '' || (expires !== null && expires <= now);
  const id = idOfCookieValue(value);
  return {
    value: cleared ? 'clear' : id === null ? `raw:${value}` : labels.of(id),
    ...attrs,
    // Expires is whole seconds: bucket the lifetime to 5 s.
    expires: expires === null ? 'none' : cleared ? 'past' : Math.round((expires - now) / 5000) * 5,
  };
}

export interface Observation {
  steps: unknown[];
  end: unknown[];
}

/** Runs a program: each step at its own instant (Date faked, 1 s apart), browsers' jars kept here. */
export async function runProgram(
  o: Opts,
  store: SessionStore,
  steps: Step[],
  route: (step: Step) => Fw,
  startAt: number,
  stepMs = 1000,
): Promise<Observation> {
  const used = [
    ...new Set([
      ...steps.map(route),
      ...steps.flatMap((s) => (s.during ? [route({ ...s, ...s.during })] : [])),
      'express5' as Fw,
    ]),
  ];
  const apps = await buildApps(o, store, used);
  const labels = new Labels();
  const jars: Array<string | null> = [null, null];
  const out: unknown[] = [];
  let now = startAt;
  let holdSeq = 0;
  const request = async (fw: Fw, jar: 0 | 1, ops: Op[], step?: Step, token?: string) => {
    vi.setSystemTime(now);
    const headers: Record<string, string> = { 'x-ops': encode(ops) };
    if (token !== undefined) headers['x-hold'] = token;
    if (step?.uncaught) headers['x-uncaught'] = '1';
    if (step?.terminal) headers['x-terminal'] = step.terminal;
    const cookie = jars[jar];
    if (cookie !== null) headers.cookie = `${NAME}=${cookie}`;
    const response = await fetch(`${apps.url[fw]}/op`, {
      headers,
      method: step?.method ?? 'GET',
      redirect: 'manual',
    });
    await response.text();
    const xlog = response.headers.get('x-log');
    // An error reply keeps the handler's headers on Fastify and loses them on Express (finalhandler):
    // the framework's, not the session's, so neither the log nor the app's own cookie is compared there.
    const failed = response.status >= 400;
    const body =
      failed || xlog === null
        ? 'no-log'
        : labels.relabel(JSON.parse(Buffer.from(xlog, 'base64url').toString()));
    const own = failed
      ? []
      : response.headers
          .getSetCookie()
          .filter((h) => !h.startsWith(`${NAME}=`))
          .map((h) => h.split(';')[0]);
    const cookies = response.headers
      .getSetCookie()
      .filter((h) => h.startsWith(`${NAME}=`))
      .map((h) => {
        const d = describeCookie(h, now, labels);
        const value = h.slice(NAME.length + 1, h.indexOf(';') === -1 ? undefined : h.indexOf(';'));
        jars[jar] = d.value === 'clear' ? null : value;
        return d;
      });
    return { status: response.status, body, cookies, own };
  };
  try {
    for (const step of steps) {
      if (step.copy) jars[1] = jars[0] ?? null;
      const during = step.during;
      if (during !== undefined && step.ops.some((op) => op.k === 'hold')) {
        const token = `h${++holdSeq}`;
        const { first, reached, waited, second } = await overlapping(
          token,
          () => request(route(step), step.jar, step.ops, step, token),
          () => request(route({ ...step, ...during }), during.jar, during.ops),
          SECOND_WAIT_MS,
        );
        out.push({ jar: step.jar, ...first, during: { jar: during.jar, reached, waited, ...second } });
      } else out.push({ jar: step.jar, ...(await request(route(step), step.jar, step.ops, step)) });
      now += stepMs;
    }
    const end: unknown[] = [];
    for (const jar of [0, 1] as const) {
      const r = await request('express5', jar, [{ k: 'read' }]);
      end.push({ jar, status: r.status, body: r.body });
    }
    return { steps: out, end };
  } finally {
    await apps.close();
  }
}

const key = fc.constantFrom('a', 'b', 'c');
const user = fc.constantFrom('u1', 'u2');
/** Every session operation a fuzzer program draws, with its weight; `kind` names it for leaving it out. */
const OPS: Array<{ kind: Op['k']; weight: number; arbitrary: fc.Arbitrary<Op> }> = [
  {
    kind: 'set' as const,
    weight: 6,
    arbitrary: fc.record({ k: fc.constant('set' as const), key, v: fc.integer({ min: 0, max: 9 }) }),
  },
  { kind: 'del' as const, weight: 2, arbitrary: fc.record({ k: fc.constant('del' as const), key }) },
  { kind: 'read' as const, weight: 3, arbitrary: fc.constant({ k: 'read' as const }) },
  { kind: 'login' as const, weight: 3, arbitrary: fc.record({ k: fc.constant('login' as const), user }) },
  { kind: 'logout' as const, weight: 2, arbitrary: fc.constant({ k: 'logout' as const }) },
  { kind: 'regen' as const, weight: 1, arbitrary: fc.constant({ k: 'regen' as const }) },
  { kind: 'regenKeep' as const, weight: 1, arbitrary: fc.constant({ k: 'regenKeep' as const }) },
  { kind: 'destroy' as const, weight: 1, arbitrary: fc.constant({ k: 'destroy' as const }) },
  { kind: 'touch' as const, weight: 1, arbitrary: fc.constant({ k: 'touch' as const }) },
  {
    kind: 'maxAge' as const,
    weight: 1,
    arbitrary: fc.record({ k: fc.constant('maxAge' as const), v: fc.constantFrom(null, 30_000, 120_000) }),
  },
  { kind: 'save' as const, weight: 1, arbitrary: fc.constant({ k: 'save' as const }) },
  { kind: 'reload' as const, weight: 1, arbitrary: fc.constant({ k: 'reload' as const }) },
  { kind: 'revoke' as const, weight: 1, arbitrary: fc.record({ k: fc.constant('revoke' as const), user }) },
  { kind: 'unset' as const, weight: 1, arbitrary: fc.constant({ k: 'unset' as const }) },
  { kind: 'own' as const, weight: 1, arbitrary: fc.constant({ k: 'own' as const }) },
  { kind: 'throw' as const, weight: 1, arbitrary: fc.constant({ k: 'throw' as const }) },
  { kind: 'big' as const, weight: 1, arbitrary: fc.constant({ k: 'big' as const }) },
  { kind: 'reauth' as const, weight: 1, arbitrary: fc.constant({ k: 'reauth' as const }) },
  { kind: 'resetMaxAge' as const, weight: 1, arbitrary: fc.constant({ k: 'resetMaxAge' as const }) },
  {
    kind: 'expires' as const,
    weight: 1,
    arbitrary: fc.record({ k: fc.constant('expires' as const), v: fc.constantFrom(null, 20_000) }),
  },
];

/** A session operation, drawn as the cross-framework fuzzers draw them, but for those `without` names. */
export function sessionOp(without: ReadonlySet<Op['k']> = new Set()): fc.Arbitrary<Op> {
  return fc.oneof(...OPS.filter((entry) => !without.has(entry.kind)));
}

/** Options shared by every app of a program. */
export const sharedOptions: fc.Arbitrary<Opts> = fc.record(
  {
    rolling: fc.boolean(),
    saveUninitialized: fc.boolean(),
    resave: fc.boolean(),
    unset: fc.constantFrom<'keep' | 'destroy'>('keep', 'destroy'),
    maxAge: fc.constantFrom<number | null>(null, 60_000),
    absoluteTimeout: fc.constantFrom(4_500, 100_000),
    maxSessionBytes: fc.constantFrom(300, 100_000),
    renewAfter: fc.constantFrom(1_500, 100_000),
    maxSessionsPerUser: fc.constantFrom(1, 2, 50),
    onLimit: fc.constantFrom<'evict-oldest' | 'refuse'>('evict-oldest', 'refuse'),
  },
  { requiredKeys: ['rolling', 'saveUninitialized', 'resave', 'unset', 'maxAge'] },
);
