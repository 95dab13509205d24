/**
 * Side-by-side Fastify apps for the @fastify/session comparisons (test/adapters/fastify-session-*.test.ts): @fastify/session (+ @fastify/cookie) on Fastify 5,
 * and sessionkit's Fastify plugin on Fastify 4 or 5, each running the same random "route program" read
 * from request headers, and a client with one cookie jar per browser that reports what a user observes.
 */
import { Readable } from 'node:stream';
import fastifyCookie from '@fastify/cookie';
import fastifySession from '@fastify/session';
import Fastify, { type FastifyReply, type FastifyRequest } from 'fastify';
import Fastify4 from 'fastify4';
import { session as sessionkitFastify } from '../../src/adapters/fastify.js';
import type { SessionStore } from '../../src/engine/store-access.js';
import { FastifySessionSlowStore } from './framework-passport-apps.js';

export const secret = 'fastify-session-secret-of-at-least-32-chars!';

export type Key = 'a' | 'b' | 'c';
/** A value to store; 'xy'/'yx' are the same object with its keys in either order, 'arr' an array. */
export type Value = number | null | string | 'xy' | 'yx' | 'arr';
function valueFor(v: Value): unknown {
  if (v === 'xy') return { x: 1, y: 2 };
  if (v === 'yx') return { y: 2, x: 1 };
  if (v === 'arr') return [1, 2];
  return v;
}
export type Op =
  | { t: 'set'; k: Key; v: Value; style: 'prop' | 'set' }
  | { t: 'mutate'; k: Key }
  | { t: 'del'; k: Key; style: 'prop' | 'set' }
  | { t: 'get'; k: Key; style: 'prop' | 'get' }
  | { t: 'regen'; keys?: Array<Key | 'cookie'> | undefined; cb: boolean }
  | { t: 'destroy'; cb: boolean }
  | { t: 'reload'; cb: boolean }
  | { t: 'save'; cb: boolean }
  | { t: 'touch' }
  | { t: 'maxAge'; v: number }
  | { t: 'meta' };
export type Resp =
  | 'obj'
  | 'str'
  | 'buf'
  | 'stream'
  | 'redirect'
  | 'code204'
  | 'throw'
  | 'notFound'
  | 'code404'
  | 'cbSend';
export interface Req {
  jar: 0 | 1;
  ops: Op[];
  resp: Resp;
  /** Before this request jar 1 takes a copy of jar 0 (an old cookie, another tab). */
  copy?: boolean;
}
export interface Config {
  saveUninitialized: boolean;
  rolling: boolean;
  maxAge: number | null;
  /** An onSend hook of another plugin: none, registered before the session plugin, or after it. */
  hook: 'none' | 'before' | 'after';
}
export type Flavor =
  | 'fs-mem' // @fastify/session, its default MemoryStore (keeps the live object)
  | 'fs-cb' // @fastify/session, a callback store keeping JSON, answering asynchronously
  | 'sk5' // sessionkit, Fastify 5, MemoryStore
  | 'sk4' // sessionkit, Fastify 4, MemoryStore
  | 'sk5-slow'
  | 'sk4-slow'
  | 'sk5-redis';

export const isSessionkit = (f: Flavor): boolean => f.startsWith('sk');

const HOUR = 3_600_000;

export { HOUR };

type AnySession = Record<string, unknown> & {
  get(k: string): unknown;
  set(k: string, v: unknown): void;
  regenerate(...a: unknown[]): Promise<void> | undefined;
  destroy(...a: unknown[]): Promise<void> | undefined;
  reload(...a: unknown[]): Promise<void> | undefined;
  save(...a: unknown[]): Promise<void> | undefined;
  touch(): unknown;
  isModified(): boolean;
  isSaved(): boolean;
  sessionId: string;
  cookie: { maxAge: number | null };
};

function cbOrPromise(cb: boolean, call: (done?: (err?: unknown) => void) => unknown): Promise<void> {
  if (!cb) return Promise.resolve(call() as Promise<void>);
  return new Promise((resolve, reject) => {
    call((err?: unknown) => (err ? reject(err) : resolve()));
  });
}

/** What the handler saw: one entry per `get`/`meta`, plus a final snapshot. */
export type Reads = unknown[];

/**
 * The raw ID of the session cookie the request came with. `reload` runs only on a session loaded from
 * it: FILTER (README `reload()`, docs/frameworks.md "`reload` [is] `req.session`'s"): sessionkit's
 * reload of a session the store does not hold fails with ERR_SESSION_NOT_FOUND, as express-session's;
 * @fastify/session's gives an empty session under the same ID.
 */
export function incomingId(headers: Record<string, unknown>): string | undefined {
  const cookie = String(headers.cookie ?? '');
  for (const part of cookie.split(';')) {
    const [n, ...rest] = part.trim().split('=');
    const v = rest.join('=');
    if (n === 'connect.sid') return rawId('sk5', v);
    if (n === 'sessionId') return rawId('fs-cb', v);
  }
  return undefined;
}

export async function runOps(
  request: { session: unknown; headers?: Record<string, unknown> },
  ops: Op[],
  reads: Reads,
): Promise<void> {
  const loadedFrom = incomingId(request.headers ?? {});
  for (const op of ops) {
    const s = request.session as AnySession | null;
    if (s === null || s === undefined || typeof s.get !== 'function') {
      if (op.t === 'get' || op.t === 'meta') reads.push('no-session');
      continue;
    }
    try {
      switch (op.t) {
        case 'set':
          if (op.style === 'prop') s[op.k] = valueFor(op.v);
          else s.set(op.k, valueFor(op.v));
          break;
        case 'mutate': {
          const cur = s.get(op.k);
          if (Array.isArray(cur)) cur.push(3);
          else if (cur !== null && typeof cur === 'object') (cur as Record<string, unknown>).z = 3;
          break;
        }
        case 'del':
          if (op.style === 'prop') delete s[op.k];
          else s.set(op.k, undefined);
          break;
        case 'get':
          reads.push({ [op.k]: (op.style === 'prop' ? s[op.k] : s.get(op.k)) ?? null });
          break;
        case 'regen':
          await cbOrPromise(op.cb, (done) =>
            op.keys
              ? done
                ? s.regenerate(op.keys, done)
                : s.regenerate(op.keys)
              : done
                ? s.regenerate(done)
                : s.regenerate(),
          );
          break;
        case 'destroy':
          await cbOrPromise(op.cb, (done) => (done ? s.destroy(done) : s.destroy()));
          break;
        case 'reload':
          if (s.sessionId !== loadedFrom) break;
          await cbOrPromise(op.cb, (done) => (done ? s.reload(done) : s.reload()));
          break;
        case 'save':
          // FILTER (README `saveUninitialized`: "such a session is neither stored nor given a cookie, even
          // when the handler calls save()"): no save() of an empty session the store does not hold.
          if (s.sessionId !== loadedFrom && !(['a', 'b', 'c'] as const).some((k) => s.get(k) !== undefined))
            break;
          await cbOrPromise(op.cb, (done) => (done ? s.save(done) : s.save()));
          break;
        case 'touch':
          s.touch();
          break;
        case 'maxAge':
          s.cookie.maxAge = op.v;
          break;
        case 'meta':
          reads.push({ id: `#${s.sessionId}`, modified: s.isModified(), saved: s.isSaved() });
          break;
      }
    } catch (error) {
      reads.push({ op: op.t, error: (error as { code?: string }).code ?? (error as Error).message });
    }
  }
  const s = request.session as AnySession | null;
  reads.push(
    s && typeof s.get === 'function'
      ? { end: `#${s.sessionId}`, a: s.get('a') ?? null, b: s.get('b') ?? null, c: s.get('c') ?? null }
      : { end: 'no-session' },
  );
}

export interface Built {
  inject(opts: { url: string; headers: Record<string, string> }): Promise<{
    statusCode: number;
    headers: Record<string, unknown>;
    body: string;
  }>;
  reads: Map<string, Reads>;
  close(): Promise<void>;
}

export interface MakeOptions {
  /** sessionkit's store for 'sk*-redis' (and any override). */
  store?: SessionStore;
  /** Serve on a real socket (fetch over loopback) instead of fastify.inject. */
  socket?: boolean;
}

export async function makeApp(flavor: Flavor, cfg: Config, extra: MakeOptions = {}): Promise<Built> {
  const v4 = flavor === 'sk4' || flavor === 'sk4-slow';
  const create = (v4 ? Fastify4 : Fastify) as unknown as typeof Fastify;
  const app = create({ logger: false });
  const reads = new Map<string, Reads>();
  const otherHook = async () => {
    app.addHook('onSend', async (_request, reply, payload) => {
      const sc = reply.getHeader('set-cookie');
      reply.header('x-hook-saw-cookie', String(sc !== undefined));
      return payload;
    });
  };
  if (cfg.hook === 'before') await otherHook();
  if (flavor === 'fs-mem' || flavor === 'fs-cb') {
    await app.register(fastifyCookie);
    await app.register(fastifySession, {
      secret,
      saveUninitialized: cfg.saveUninitialized,
      rolling: cfg.rolling,
      cookie: { secure: false, sameSite: 'lax', ...(cfg.maxAge === null ? {} : { maxAge: cfg.maxAge }) },
      ...(flavor === 'fs-cb' ? { store: new FastifySessionSlowStore(1) } : {}),
    } as never);
  } else {
    const { MemoryStore } = await import('../../src/stores/memory.js');
    const { SlowMemoryStore } = await import('../support/slow-store.js');
    const store = extra.store ?? (flavor.endsWith('-slow') ? new SlowMemoryStore(3) : new MemoryStore());
    await app.register(
      sessionkitFastify as never,
      {
        secret,
        store,
        resave: false,
        saveUninitialized: cfg.saveUninitialized,
        rolling: cfg.rolling,
        cookie: { maxAge: cfg.maxAge },
      } as never,
    );
  }
  if (cfg.hook === 'after') await otherHook();

  const handlerAsync = async (
    request: { headers: Record<string, unknown>; session: unknown },
    reply: FastifyReply,
  ) => {
    const n = String(request.headers['x-n']);
    const ops = JSON.parse(String(request.headers['x-ops'])) as Op[];
    const resp = String(request.headers['x-resp']) as Resp;
    const r: Reads = [];
    reads.set(n, r);
    await runOps(request, ops, r);
    switch (resp) {
      case 'obj':
        return { ok: true };
      case 'str':
        return 'text';
      case 'buf':
        reply.type('application/octet-stream');
        return Buffer.from('buf');
      case 'stream':
        reply.type('text/plain');
        return reply.send(Readable.from(['str', 'eam']));
      case 'redirect':
        return reply.redirect('/elsewhere');
      case 'code204':
        return reply.code(204).send();
      case 'throw':
        throw Object.assign(new Error('boom'), { statusCode: 500 });
      case 'notFound':
        return reply.callNotFound();
      case 'code404':
        return reply.code(404).send({ missing: true });
      default:
        return { ok: true };
    }
  };
  app.get('/r', (request: FastifyRequest, reply: FastifyReply) => {
    if (String(request.headers['x-resp']) === 'cbSend') {
      const n = String(request.headers['x-n']);
      const ops = JSON.parse(String(request.headers['x-ops'])) as Op[];
      const r: Reads = [];
      reads.set(n, r);
      runOps(request, ops, r).then(
        () => reply.send({ cb: true }),
        (e) => reply.send(e),
      );
      return reply;
    }
    return handlerAsync(request, reply);
  });
  await app.ready();
  if (extra.socket) {
    const url = await app.listen({ port: 0, host: '127.0.0.1' });
    return {
      inject: async (opts) => {
        const res = await fetch(`${url}${opts.url}`, { headers: opts.headers, redirect: 'manual' });
        const headers: Record<string, unknown> = {};
        res.headers.forEach((v, k) => {
          headers[k] = v;
        });
        headers['set-cookie'] = res.headers.getSetCookie();
        return { statusCode: res.status, headers, body: await res.text() };
      },
      reads,
      close: () => app.close(),
    };
  }
  return {
    inject: async (opts) => {
      const res = await app.inject({ method: 'GET', url: opts.url, headers: opts.headers });
      return { statusCode: res.statusCode, headers: res.headers as Record<string, unknown>, body: res.body };
    },
    reads,
    close: () => app.close(),
  };
}

export interface CookieSeen {
  kind: 'set' | 'clear';
  id?: string;
  httpOnly: boolean;
  secure: boolean;
  sameSite: string | null;
  path: string | null;
  /** Seconds from now, in 10 s buckets; null: browser-session cookie. */
  expiresIn: number | null;
}

export const cookieName = (f: Flavor): string => (isSessionkit(f) ? 'connect.sid' : 'sessionId');

/** The raw session ID inside a cookie value of either layer. */
export function rawId(f: Flavor, value: string): string {
  const v = decodeURIComponent(value);
  return isSessionkit(f) ? v.slice(2, v.lastIndexOf('.')) : v.slice(0, v.lastIndexOf('.'));
}

export function parseSetCookie(f: Flavor, lines: string[]): CookieSeen[] {
  const out: CookieSeen[] = [];
  for (const line of lines) {
    const [pair, ...attrs] = line.split(';').map((p) => p.trim());
    const eq = (pair as string).indexOf('=');
    const n = (pair as string).slice(0, eq);
    const v = (pair as string).slice(eq + 1);
    if (n !== cookieName(f)) continue;
    const attr = (k: string) => attrs.find((a) => a.toLowerCase().startsWith(`${k}=`))?.split('=')[1] ?? null;
    const expires = attr('expires');
    const maxAge = attr('max-age');
    const expMs =
      maxAge !== null ? Number(maxAge) * 1000 : expires === null ? null : Date.parse(expires) - Date.now();
    const cleared = v === '' || (expMs !== null && expMs <= 0);
    out.push({
      kind: cleared ? 'clear' : 'set',
      ...(cleared ? {} : { id: `#${rawId(f, v)}` }),
      httpOnly: attrs.some((a) => a.toLowerCase() === 'httponly'),
      secure: attrs.some((a) => a.toLowerCase() === 'secure'),
      sameSite: attr('samesite')?.toLowerCase() ?? null,
      path: attr('path'),
      expiresIn: cleared || expMs === null ? null : Math.round(expMs / 10_000) * 10,
    });
  }
  return out;
}

export type Jar = Map<string, string>;

export function applyToJar(jar: Jar, lines: string[]): void {
  for (const line of lines) {
    const pair = line.split(';')[0] as string;
    const eq = pair.indexOf('=');
    const n = pair.slice(0, eq);
    const v = pair.slice(eq + 1);
    const exp = /expires=([^;]+)/i.exec(line)?.[1];
    const maxAge = /max-age=([^;]+)/i.exec(line)?.[1];
    if (
      v === '' ||
      (maxAge !== undefined && Number(maxAge) <= 0) ||
      (exp !== undefined && Date.parse(exp) <= Date.now())
    )
      jar.delete(n);
    else jar.set(n, v);
  }
}

export interface Step {
  status: number;
  body: string;
  reads: Reads | null;
  cookies: CookieSeen[];
  hookSaw: string | null;
  /** The ID the browser sent, as a label. */
  held: string | null;
}

export function setCookieLines(headers: Record<string, unknown>): string[] {
  const v = headers['set-cookie'];
  if (v === undefined) return [];
  return Array.isArray(v) ? (v as string[]) : [String(v)];
}

/** Runs the program (plus a final plain read from each jar) and relabels every session ID by first appearance. */
export async function runProgram(
  flavor: Flavor,
  cfg: Config,
  reqs: Req[],
  extra: MakeOptions = {},
): Promise<Step[]> {
  const app = await makeApp(flavor, cfg, extra);
  const jars: [Jar, Jar] = [new Map(), new Map()];
  const steps: Step[] = [];
  const all: Req[] = [
    ...reqs,
    { jar: 0, ops: [{ t: 'meta' }], resp: 'obj' },
    { jar: 1, ops: [{ t: 'meta' }], resp: 'obj' },
  ];
  try {
    let n = 0;
    for (const r of all) {
      if (r.copy) jars[1] = new Map(jars[0]);
      const jar = jars[r.jar];
      const cookie = [...jar].map(([k, v]) => `${k}=${v}`).join('; ');
      const held = jar.get(cookieName(flavor));
      const key = String(n++);
      const res = await app.inject({
        url: '/r',
        headers: {
          'x-n': key,
          'x-ops': JSON.stringify(r.ops),
          'x-resp': r.resp,
          ...(cookie ? { cookie } : {}),
        },
      });
      const lines = setCookieLines(res.headers);
      steps.push({
        status: res.statusCode,
        body: res.statusCode >= 500 ? `<${res.statusCode}>` : res.body,
        reads: app.reads.get(key) ?? null,
        cookies: parseSetCookie(flavor, lines),
        hookSaw: (res.headers['x-hook-saw-cookie'] as string | undefined) ?? null,
        held: held === undefined ? null : `#${rawId(flavor, held)}`,
      });
      applyToJar(jar, lines);
    }
  } finally {
    await app.close();
  }
  return relabel(steps);
}

/** Replaces every `#<raw id>` string by S1, S2… in order of first appearance. */
export function relabel<T>(value: T): T {
  const labels = new Map<string, string>();
  const json = JSON.stringify(value, (_k, v) => {
    if (typeof v === 'string' && v.startsWith('#')) {
      if (!labels.has(v)) labels.set(v, `S${labels.size + 1}`);
      return labels.get(v);
    }
    return v;
  });
  return JSON.parse(json) as T;
}
