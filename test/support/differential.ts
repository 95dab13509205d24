/**
 * Differential harness: one "handler program" run against express-session and sessionkit (each with its
 * own MemoryStore, or sessionkit on express-session's through its bridge), observing only what a user
 * can see: for test/compat/differential-fuzz.test.ts.
 */
import type { ErrorRequestHandler, Request, RequestHandler } from 'express';
import express from 'express';
import expressSession from 'express-session';
import express4 from 'express4';
import session, { MemoryStore } from '../../src/index.js';
import { listenOnLoopback } from './apps.js';

export type Kind = 'express-session' | 'sessionkit';
const secret = 'differential-secret-0123456789abcdefghij';

export type Value = number | string | boolean | null | undefined | { x: number; y: number[] };
export type Op =
  | { k: 'set'; key: string; value: Value }
  | { k: 'del'; key: string }
  | { k: 'read'; key: string }
  | { k: 'nested'; key: string; value: number }
  | { k: 'maxAge'; v: number | null }
  | { k: 'expires'; v: number | null }
  | { k: 'attr'; name: 'httpOnly' | 'secure' | 'path' | 'domain' | 'sameSite'; v: unknown }
  | { k: 'touch' }
  | { k: 'resetMaxAge' }
  | { k: 'save' }
  | { k: 'reload' }
  | { k: 'regenerate' }
  | { k: 'destroy' }
  | { k: 'null' }
  | { k: 'deleteSession' }
  | { k: 'id' }
  | { k: 'cookieInfo' }
  | { k: 'keys' };
export type Terminal = 'send' | 'json' | 'end' | 'write' | 'redirect' | 'sendStatus' | 'nextErr';
export interface Step {
  jar: 0 | 1;
  path: '/' | '/a/b' | '/ab' | '/A/b' | '/a' | '/%61/b';
  /** How the jar's cookie is sent: as kept, its signature broken, or twice (a stale valid one first). */
  send?: 'plain' | 'tampered' | 'twice' | 'unsigned';
  method?: 'GET' | 'HEAD' | 'POST';
  xfp: 'none' | 'https' | 'http';
  ops: Op[];
  terminal: Terminal;
}
export interface Options {
  resave: boolean;
  saveUninitialized: boolean;
  rolling: boolean;
  unset: 'keep' | 'destroy';
  name: string;
  express4?: boolean;
  genid?: boolean;
  /** sessionkit runs on express-session's MemoryStore (through its bridge) instead of its own. */
  bridge?: boolean;
  proxy: boolean | undefined;
  cookie: {
    maxAge?: number | null;
    httpOnly?: boolean;
    secure?: boolean | 'auto';
    path?: string;
    domain?: string;
    sameSite: 'lax' | 'strict' | boolean;
  };
}

type Log = unknown[];
type Req = Omit<Request, 'session'> & { session?: Record<string, unknown> | null; sessionID: string };

/** Maps raw session IDs to id1, id2, … in order of first appearance (per implementation). */
class Labels {
  private readonly map = new Map<string, string>();
  of(id: unknown): string {
    if (typeof id !== 'string') return String(id);
    let label = this.map.get(id);
    if (!label) {
      label = `id${this.map.size + 1}`;
      this.map.set(id, label);
    }
    return label;
  }
}

const bucket = (ms: unknown) =>
  typeof ms === 'number' ? Math.round(ms / 30_000) : ms === null ? null : String(ms);

function cb(fn: (done: (err?: unknown) => void) => void): Promise<string> {
  return new Promise((resolve) => {
    try {
      fn((err) => resolve(err ? 'err' : 'ok'));
    } catch {
      resolve('throw');
    }
  });
}

async function runOps(req: Req, ops: Op[], labels: Labels): Promise<Log> {
  const log: Log = [];
  for (const op of ops) {
    const s = req.session as
      | (Record<string, unknown> & { cookie: Record<string, unknown> })
      | null
      | undefined;
    if (op.k === 'id') {
      log.push(['id', labels.of(req.sessionID), s ? labels.of(s.id) : 'none']);
      continue;
    }
    if (!s) {
      log.push([op.k, s === null ? 'null' : 'nosession']);
      continue;
    }
    try {
      switch (op.k) {
        case 'set':
          s[op.key] = op.value === undefined ? undefined : structuredClone(op.value);
          break;
        case 'del':
          delete s[op.key];
          break;
        case 'read':
          log.push(['read', op.key, JSON.stringify(s[op.key]) ?? 'undef']);
          break;
        case 'nested': {
          const v = s[op.key];
          if (v && typeof v === 'object') (v as { x: number }).x = op.value;
          else log.push(['nested', 'noobj']);
          break;
        }
        case 'maxAge':
          s.cookie.maxAge = op.v;
          break;
        case 'expires':
          s.cookie.expires = op.v === null ? null : new Date(Date.now() + op.v);
          break;
        case 'attr':
          s.cookie[op.name] = op.v;
          break;
        case 'touch':
          (s.touch as () => void)();
          break;
        case 'resetMaxAge':
          (s.resetMaxAge as () => void)();
          break;
        case 'save':
          log.push(['save', await cb((d) => (s.save as (c: typeof d) => void)(d))]);
          break;
        case 'reload':
          log.push(['reload', await cb((d) => (s.reload as (c: typeof d) => void)(d))]);
          break;
        case 'regenerate':
          log.push(['regenerate', await cb((d) => (s.regenerate as (c: typeof d) => void)(d))]);
          break;
        case 'destroy':
          log.push(['destroy', await cb((d) => (s.destroy as (c: typeof d) => void)(d))]);
          break;
        case 'null':
          req.session = null;
          break;
        case 'deleteSession':
          delete req.session;
          break;
        case 'cookieInfo': {
          const c = s.cookie;
          log.push([
            'cookie',
            bucket(c.maxAge),
            bucket(c.originalMaxAge),
            c.expires == null ? 'noexp' : 'exp',
            c.httpOnly,
            c.secure,
            c.path,
            c.domain,
            c.sameSite,
          ]);
          break;
        }
        case 'keys':
          log.push([
            'keys',
            Object.keys(s)
              .filter((k) => k !== 'cookie')
              .sort()
              .join(','),
          ]);
          break;
      }
    } catch (error) {
      log.push([op.k, 'throw', (error as Error).message.slice(0, 0)]);
    }
  }
  return log;
}

function middlewareFor(kind: Kind, options: Options): RequestHandler {
  const cookie = { ...options.cookie };
  const { express4: _e4, genid: useGenid, bridge, ...rest } = options;
  let n = 0;
  const genid = useGenid ? () => `custom-id-${String(++n).padStart(16, '0')}-${kind.length}` : undefined;
  const common = { ...rest, cookie, secret, ...(genid ? { genid } : {}) };
  return kind === 'express-session'
    ? expressSession({ ...common, store: new expressSession.MemoryStore() } as expressSession.SessionOptions)
    : (session({
        ...common,
        store: bridge ? new expressSession.MemoryStore() : new MemoryStore(),
        // sessionkit only: its warnings (Secure over HTTP, short genid, …) are logged, not emitted.
        logger: { warn() {}, error() {} },
      } as never) as unknown as RequestHandler);
}

export interface Observation {
  status: number;
  log: unknown;
  cookies: string[];
}

/** Parses a Set-Cookie into a normalised description; null for a cookie that clears. */
function normaliseCookie(header: string, labels: Labels): { text: string; clears: boolean } {
  const [pair, ...attrs] = header.split(';').map((p) => p.trim());
  const eq = (pair as string).indexOf('=');
  const name = (pair as string).slice(0, eq);
  const raw = decodeURIComponent((pair as string).slice(eq + 1));
  const value = raw.startsWith('s:')
    ? labels.of(raw.slice(2, raw.lastIndexOf('.')))
    : raw === ''
      ? ''
      : 'unsigned';
  const out: string[] = [`${name}=${value}`];
  let life: number | undefined;
  for (const attr of attrs) {
    const [k, v] = attr.split('=') as [string, string | undefined];
    const key = k.toLowerCase();
    if (key === 'max-age') life = Number(v) * 1000;
    else if (key === 'expires') life ??= Date.parse(v as string) - Date.now();
    else out.push(v === undefined ? key : `${key}=${v.toLowerCase()}`);
  }
  const clears = life !== undefined && life <= 0;
  out.push(life === undefined ? 'session-cookie' : clears ? 'expired' : `life~${Math.round(life / 30_000)}`);
  return { text: out.sort().join(';'), clears };
}

/** Runs the program on one implementation and returns what each request showed. */
export async function run(kind: Kind, options: Options, steps: Step[]): Promise<Observation[]> {
  const labels = new Labels();
  const app = (options.express4 ? express4() : express()) as ReturnType<typeof express>;
  app.use(middlewareFor(kind, options));
  app.use((request, res, next) => {
    const req = request as unknown as Req;
    const index = Number(req.query.i);
    const step = steps[index] as Step;
    runOps(req, step.ops, labels).then((log) => {
      res.setHeader('x-log', JSON.stringify(log));
      switch (step.terminal) {
        case 'send':
          res.send('body');
          break;
        case 'json':
          res.json({ ok: 1 });
          break;
        case 'end':
          res.end('end');
          break;
        case 'write':
          res.write('a');
          setImmediate(() => res.end('b'));
          break;
        case 'redirect':
          res.redirect('/elsewhere');
          break;
        case 'sendStatus':
          res.sendStatus(204);
          break;
        case 'nextErr':
          next(new Error('app error'));
          break;
      }
    }, next);
  });
  const onError: ErrorRequestHandler = (_err, _req, res, _next) => {
    if (res.headersSent) return;
    res.status(500).send('error');
  };
  app.use(onError);
  const server = await listenOnLoopback(app);
  const jars: (string | undefined)[] = [undefined, undefined];
  const out: Observation[] = [];
  try {
    for (const [i, step] of steps.entries()) {
      const headers: Record<string, string> = {};
      const jar = jars[step.jar];
      if (jar) {
        const [name, value] = jar.split('=') as [string, string];
        const other = jars[1 - step.jar];
        if (step.send === 'tampered') headers.cookie = `${name}=${value.slice(0, -3)}abc`;
        else if (step.send === 'unsigned')
          headers.cookie = `${name}=${decodeURIComponent(value).slice(2, decodeURIComponent(value).lastIndexOf('.'))}`;
        else if (step.send === 'twice' && other) headers.cookie = `${other}; ${jar}`;
        else headers.cookie = jar;
      }
      if (step.xfp !== 'none') headers['x-forwarded-proto'] = step.xfp;
      const res = await fetch(`${server.url}${step.path}?i=${i}`, {
        headers,
        redirect: 'manual',
        method: step.method ?? 'GET',
      });
      await res.arrayBuffer();
      const cookies: string[] = [];
      for (const header of res.headers.getSetCookie()) {
        const c = normaliseCookie(header, labels);
        if (c.clears) {
          // Filter (README differences, row "destroy() sends no cookie"): sessionkit sends an expiring
          // cookie when a session ends; express-session sends none. Such a cookie from sessionkit is
          // treated as not sent at all (the browser keeps the dead cookie, as with express-session), so
          // what follows is compared as express-session would have it.
          if (kind === 'sessionkit') continue;
          jars[step.jar] = undefined;
        } else {
          jars[step.jar] = header.split(';')[0];
        }
        cookies.push(c.text);
      }
      const rawLog = res.headers.get('x-log');
      if (process.env.ZZ_DEBUG) console.log(kind, i, headers.cookie, res.headers.getSetCookie());
      out.push({ status: res.status, log: rawLog ? JSON.parse(rawLog) : null, cookies });
    }
  } finally {
    await server.close();
  }
  return out;
}
