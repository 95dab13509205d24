// Type-level drop-in checks: TypeScript programs written for express-session (with @types/express-session,
// installed here as @types/express-session-real) and for the frameworks' own session plugins, compiled
// against dist/'s declaration files (built before this project runs) with only the import changed to
// 'sessionkit', plus what README.md's "Typing req.session" section asks for where a program types
// req.session (`declare module 'sessionkit'` and the one `SessionkitRequest` line). Where a program is
// written for express-session, it is compiled as written first, and must compile there too.
//
// Programs are kept in memory (a compiler host serving them from test/types/virtual/, which is not on
// disk) so that no file with deliberate type errors lands where the repository's own `tsc --noEmit`
// (which includes test/) reads.
import { createRequire } from 'node:module';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const require = createRequire(import.meta.url);
const ts = require('typescript') as typeof import('typescript');

const ROOT = resolve(import.meta.dirname, '../..');
const VIRTUAL = resolve(import.meta.dirname, 'virtual');
const ES_TYPES = resolve(ROOT, 'node_modules/@types/express-session-real/index.d.ts');

/**
 * @types/connect-pg-simple as DefinitelyTyped ships it (types/connect-pg-simple/index.d.ts, trimmed to
 * what the program uses): a store factory that takes express-session's `session` function.
 */
const CONNECT_PG_SIMPLE_TYPES = `
import { RequestHandler } from "express";
import { Store, SessionData, SessionOptions } from "express-session";
declare function connectPgSimple(session: (options?: SessionOptions) => RequestHandler): typeof connectPgSimple.PGStore;
declare namespace connectPgSimple {
  class PGStore extends Store {
    constructor(options?: PGStoreOptions);
    close(): void;
    get(sid: string, callback: (err: any, session?: SessionData | null) => void): void;
    set(sid: string, session: SessionData, callback?: (err?: any) => void): void;
    destroy(sid: string, callback?: (err?: any) => void): void;
    touch(sid: string, session: SessionData, callback?: () => void): void;
  }
  interface PGStoreOptions { conString?: string; tableName?: string; ttl?: number }
}
export = connectPgSimple;
`;

interface CompileOptions {
  /** `types` of the program: `['node']`, or with 'express-session-real' (@types/express-session kept). */
  types?: string[];
  /** The frameworks' typings (Koa, SvelteKit, Next) reach DOM and have errors of their own: skip them. */
  dom?: boolean;
  ext?: '.ts' | '.cts';
  /** `false`: every declaration file in the program is checked, sessionkit's included. */
  skipLibCheck?: boolean;
}

const sourceCache = new Map<string, import('typescript').SourceFile | undefined>();
let counter = 0;

/** Compiles one program (plus the virtual files it names) and returns its diagnostics, formatted. */
function compile(
  code: string,
  { types = ['node'], dom = false, ext = '.ts', skipLibCheck = true }: CompileOptions = {},
): string[] {
  const file = resolve(VIRTUAL, `program-${++counter}${ext}`);
  const virtual = new Map<string, string>([
    [file, code],
    [resolve(VIRTUAL, 'connect-pg-simple.d.cts'), CONNECT_PG_SIMPLE_TYPES],
  ]);
  const options: import('typescript').CompilerOptions = {
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    lib: dom ? ['lib.es2023.d.ts', 'lib.dom.d.ts', 'lib.dom.iterable.d.ts'] : ['lib.es2023.d.ts'],
    types,
    strict: true,
    skipLibCheck,
    esModuleInterop: true,
    noEmit: true,
    baseUrl: ROOT,
    paths: {
      'express-session': [ES_TYPES],
      'connect-pg-simple': [resolve(VIRTUAL, 'connect-pg-simple.d.cts')],
    },
  };
  const host = ts.createCompilerHost(options);
  const getSourceFile = host.getSourceFile.bind(host);
  host.getSourceFile = (name, language, onError, create) => {
    const text = virtual.get(resolve(name));
    if (text !== undefined) return ts.createSourceFile(name, text, language);
    const key = `${name}\0${typeof language === 'object' ? language.impliedNodeFormat : language}`;
    if (!sourceCache.has(key)) sourceCache.set(key, getSourceFile(name, language, onError, create));
    return sourceCache.get(key);
  };
  const fileExists = host.fileExists.bind(host);
  host.fileExists = (name) => virtual.has(resolve(name)) || fileExists(name);
  const readFile = host.readFile.bind(host);
  host.readFile = (name) => virtual.get(resolve(name)) ?? readFile(name);
  const directoryExists = host.directoryExists?.bind(host);
  host.directoryExists = (name) => resolve(name) === VIRTUAL || (directoryExists?.(name) ?? true);
  const program = ts.createProgram([file], options, host);
  return ts.getPreEmitDiagnostics(program).map((d) => {
    const text = ts.flattenDiagnosticMessageText(d.messageText, '\n  ');
    if (!d.file || d.start === undefined) return `TS${d.code}: ${text}`;
    const { line, character } = d.file.getLineAndCharacterOfPosition(d.start);
    const where = d.file.fileName.startsWith(VIRTUAL) ? 'program' : d.file.fileName.replace(`${ROOT}/`, '');
    return `${where}(${line + 1},${character + 1}): TS${d.code}: ${text}`;
  });
}

/** The program with only its import changed: every 'express-session' module name becomes 'sessionkit'. */
const toSessionkit = (code: string) => code.replaceAll("'express-session'", "'sessionkit'");

/** README "Typing req.session": the one line that types req.session on every Express request. */
const README_LINE = `
import type { SessionkitRequest as ReadmeSessionkitRequest } from 'sessionkit';
declare global { namespace Express { interface Request extends ReadmeSessionkitRequest {} } }
`;

describe('express-session programs compile against sessionkit with only the import changed', () => {
  // What a user depends on: express-session's default export is also a namespace, so TypeScript code
  // names its types through it: `const opts: session.SessionOptions = {...}` built apart from the call,
  // `session.SessionData`, and `session.Store` / `session.MemoryStore` / `session.Cookie` as types. The
  // ESM declarations get that namespace from the build (scripts/cjs-entry.mjs), the CommonJS ones too.
  it('types named through the default import: session.SessionOptions, session.SessionData, session.Store', () => {
    const program = `
      import express from 'express';
      import session from 'express-session';

      const opts: session.SessionOptions = {
        secret: 'keyboard cat keyboard cat keyboard cat',
        resave: false,
        saveUninitialized: false,
        cookie: { maxAge: 60_000, httpOnly: true },
      };
      const store: session.Store = new session.MemoryStore();
      const memory: session.MemoryStore = new session.MemoryStore();
      const cookie: session.Cookie = new session.Cookie();
      const attributes: session.CookieOptions = { sameSite: 'lax' };
      export function remember(data: session.SessionData): session.SessionData { return data; }
      export function current(s: session.Session): string { return s.id; }
      const app = express();
      app.use(session({ ...opts, store }));
      export { app, cookie, memory, attributes };
    `;
    expect(compile(program, { types: ['node', 'express-session-real'] })).toEqual([]);
    expect(compile(toSessionkit(program), { types: ['node', 'express-session-real'] })).toEqual([]);
    expect(compile(toSessionkit(program))).toEqual([]);
  });

  // What a user depends on: express-session's SessionData always has `cookie` (every store receives
  // `{ cookie: {...}, ...data }`), so custom stores read the record's lifetime from it in set()/touch()
  // (`sess.cookie.expires`, `sess.cookie.maxAge`). An application's augmentation of SessionData still
  // types req.session, whose `cookie` stays the session's Cookie.
  it('a callback store subclassing session.Store reads sess.cookie from SessionData', () => {
    const program = `
      import express from 'express';
      import session, { type SessionData } from 'express-session';

      declare module 'express-session' {
        interface SessionData { views: number }
      }
      class MapStore extends session.Store {
        private readonly map = new Map<string, SessionData>();
        get(sid: string, callback: (err: any, session?: SessionData | null) => void): void {
          callback(null, this.map.get(sid) ?? null);
        }
        set(sid: string, sess: SessionData, callback?: (err?: any) => void): void {
          const expires = sess.cookie.expires;
          void expires;
          this.map.set(sid, sess);
          callback?.();
        }
        destroy(sid: string, callback?: (err?: any) => void): void {
          this.map.delete(sid);
          callback?.();
        }
        touch(sid: string, sess: SessionData, callback?: () => void): void {
          const ttl = sess.cookie.maxAge ?? 86_400_000;
          void ttl;
          callback?.();
        }
      }
      const app = express();
      app.use(session({ secret: 'keyboard cat', store: new MapStore(), resave: false, saveUninitialized: false }));
      app.get('/', (req, res) => {
        req.session.views = (req.session.views ?? 0) + 1;
        const originalMaxAge: number | null = req.session.cookie.originalMaxAge;
        res.json({ views: req.session.views, originalMaxAge });
      });
      export const initial: SessionData = { cookie: new session.Cookie(), views: 0 };
    `;
    expect(compile(program)).toEqual([]);
    expect(compile(toSessionkit(program) + README_LINE)).toEqual([]);
  });

  // What a user depends on: `Store` is the type of "any store", as express-session's abstract class is: a
  // helper that builds options from `store: Store`, a DI container's provider typed `Store`.
  it('a value typed Store is accepted by the store option', () => {
    const program = `
      import session, { Store, MemoryStore, type SessionOptions } from 'express-session';

      export function options(store: Store): SessionOptions {
        return { secret: 'keyboard cat', store, resave: false, saveUninitialized: false };
      }
      const memory: Store = new MemoryStore();
      export const middleware = session(options(memory));
      export const again = session({ secret: 'keyboard cat', store: memory });
    `;
    expect(compile(program)).toEqual([]);
    expect(compile(toSessionkit(program))).toEqual([]);
  });

  // What a user depends on: on Express, `genid(req)` and a per-request `cookie(req)` function receive
  // Express's request (@types/express-session types them so): `req.secure`, `req.hostname`, `req.ip`,
  // `req.baseUrl`. A function annotated with express's own `Request` type is accepted too.
  it('genid and a cookie function see the Express request (req.secure, req.hostname, req.ip)', () => {
    const program = `
      import express, { type Request } from 'express';
      import session from 'express-session';

      const app = express();
      app.set('trust proxy', 1);
      app.use(
        session({
          secret: 'keyboard cat',
          resave: false,
          saveUninitialized: false,
          genid: (req) => \`\${req.ip}-\${Date.now()}\`,
          cookie: (req) => ({ secure: req.secure, domain: req.hostname, path: req.baseUrl || '/' }),
        }),
      );
      const byHost = (req: Request) => ({ domain: req.hostname });
      app.use(session({ secret: 'keyboard cat', genid: (req: Request) => req.path, cookie: byHost }));
      export default app;
    `;
    expect(compile(program)).toEqual([]);
    expect(compile(toSessionkit(program))).toEqual([]);
  });

  // What a user depends on: sessionkit's declarations need no @types/express: an application on plain
  // node:http (or Connect) compiles without it, with sessionkit's declarations checked (skipLibCheck off).
  it('a node:http application without @types/express checks clean, declarations included', () => {
    const program = `
      import { createServer } from 'node:http';
      import session, { type SessionRequest } from 'sessionkit';

      const middleware = session({ secret: 'a-secret-of-at-least-thirty-two-characters', genid: (req) => String(req.url) });
      createServer((req, res) => {
        middleware(req, res, () => {
          const { session: current } = req as SessionRequest;
          res.end(current.id);
        });
      });
    `;
    expect(compile(program, { skipLibCheck: false })).toEqual([]);
  });

  // What a user depends on: express-session's MemoryStore (and every callback store) is used directly
  // with callbacks in admin routes: `store.all(cb)`, `store.length(cb)`, `store.get(sid, cb)`,
  // `store.destroy(sid, cb)`, `store.clear(cb)`. sessionkit's MemoryStore answers each (the bridge its
  // base class installs), beside its promise forms.
  it("MemoryStore's callback methods: all, length, get, destroy, clear", () => {
    const program = `
      import express from 'express';
      import session from 'express-session';

      const memory = new session.MemoryStore();
      const app = express();
      app.use(session({ secret: 'keyboard cat', store: memory, resave: false, saveUninitialized: true }));
      app.get('/admin/sessions', (req, res, next) => {
        memory.all((err, sessions) => (err ? next(err) : res.json(Object.keys(sessions ?? {}))));
      });
      app.get('/admin/count', (req, res, next) => {
        memory.length((err, n) => (err ? next(err) : res.json({ n })));
      });
      app.get('/admin/get/:sid', (req, res, next) => {
        memory.get(req.params.sid, (err, sess) => (err ? next(err) : res.json(sess ?? null)));
      });
      app.post('/admin/kill/:sid', (req, res, next) => {
        memory.destroy(req.params.sid, (err) => (err ? next(err) : res.end()));
      });
      app.post('/admin/clear', (req, res) => {
        memory.clear(() => res.end());
      });
    `;
    expect(compile(program)).toEqual([]);
    expect(compile(toSessionkit(program))).toEqual([]);
    // ... and the promise forms, sessionkit's own
    const promises = `
      import { MemoryStore } from 'sessionkit';
      const memory = new MemoryStore();
      export async function count(): Promise<number> {
        const record = await memory.get('id');
        await memory.destroy('id');
        return (record ? 1 : 0) + (await memory.length()) + Object.keys(await memory.all()).length;
      }
    `;
    expect(compile(promises)).toEqual([]);
  });

  // What a user depends on: `req.sessionStore` is express-session's Store, so handlers call its callback
  // methods: `req.sessionStore.get(sid, (err, sess) => sess?.cookie...)` (socket.io auth, admin pages),
  // `req.sessionStore.all?.(cb)`. Every store answers them, sessionkit's included.
  it("req.sessionStore callback methods with README's SessionkitRequest line", () => {
    const program = `
      import express from 'express';
      import session from 'express-session';

      const app = express();
      app.use(session({ secret: 'keyboard cat', resave: false, saveUninitialized: true }));
      app.post('/kill-mine', (req, res, next) => {
        req.sessionStore.destroy(req.sessionID, (err) => (err ? next(err) : res.end()));
      });
      app.get('/peek/:sid', (req, res, next) => {
        req.sessionStore.get(req.params.sid, (err, sess) => (err ? next(err) : res.json(sess?.cookie ?? null)));
      });
      app.get('/all', (req, res, next) => {
        req.sessionStore.all?.((err, all) => (err ? next(err) : res.json(all)));
      });
    `;
    expect(compile(program)).toEqual([]);
    expect(compile(toSessionkit(program) + README_LINE)).toEqual([]);
  });

  // What a user depends on: store factories in the connect-redis-3 / connect-pg-simple style take the
  // session function, `(options?: SessionOptions) => RequestHandler`: sessionkit's `session` takes its
  // options as optional, as express-session's does.
  it('a store factory typed against the session function: connectPgSimple(session)', () => {
    const factory = `
      import express, { type RequestHandler } from 'express';
      import session, { Store, type SessionOptions } from 'sessionkit';

      declare function connectStore(session: (options?: SessionOptions) => RequestHandler): new () => Store;
      const PgStore = connectStore(session);
      express().use(session({ secret: 'keyboard cat', store: new PgStore(), resave: false, saveUninitialized: false }));
    `;
    expect(compile(factory)).toEqual([]);
    // Typed by @types/connect-pg-simple, against express-session's own SessionOptions, whose `secret` is
    // Node's `CipherKey` (a KeyObject, any typed array): sessionkit takes those too.
    const program = `
      import express from 'express';
      import session from 'express-session';
      import connectPgSimple from 'connect-pg-simple';

      const PgStore = connectPgSimple(session);
      const app = express();
      app.use(
        session({
          secret: 'keyboard cat',
          store: new PgStore({ conString: 'postgres://localhost/app' }),
          resave: false,
          saveUninitialized: false,
        }),
      );
    `;
    expect(compile(program)).toEqual([]);
    expect(compile(toSessionkit(program))).toEqual([]);
  });

  // What a user depends on: express-session's callbacks are typed `(err: any) => void`, so handlers
  // annotate the error as they like: `req.session.destroy((err: Error) => ...)`,
  // `req.session.save((err: Error | null) => ...)`.
  it('session method callbacks annotated (err: Error) or (err: Error | null)', () => {
    const program = `
      import express from 'express';
      import session from 'express-session';

      const app = express();
      app.use(session({ secret: 'keyboard cat', resave: false, saveUninitialized: false }));
      app.post('/logout', (req, res) => {
        req.session.destroy((err: Error) => {
          if (err) console.error(err.message);
          res.redirect('/');
        });
      });
      app.post('/save', (req, res) => {
        req.session.save((err: Error | null) => res.status(err ? 500 : 204).end());
      });
    `;
    expect(compile(program)).toEqual([]);
    expect(compile(toSessionkit(program) + README_LINE)).toEqual([]);
  });

  // What a user depends on: `app.use(session())`, signing with cookie-parser's req.secret, as
  // @types/express-session types it (its options optional).
  it('session() without options', () => {
    const program = `
      import express from 'express';
      import cookieParser from 'cookie-parser';
      import session from 'express-session';

      const app = express();
      app.use(cookieParser('keyboard cat'));
      app.use(session());
    `;
    expect(compile(program)).toEqual([]);
    expect(compile(toSessionkit(program))).toEqual([]);
  });
});

describe("adapters: typing as the frameworks' own session plugins type it", () => {
  // What a user depends on: @fastify/session's documented typing, declaration merging into fastify's
  // `Session` interface (`declare module 'fastify' { interface Session { user_id: string } }`), types
  // request.session.user_id and request.session.get/set; docs/frameworks.md says code written for
  // @fastify/session runs unchanged on sessionkit/fastify.
  it("@fastify/session's `declare module 'fastify' { interface Session }` types request.session", () => {
    const program = `
      import Fastify from 'fastify';
      import fastifyCookie from '@fastify/cookie';
      import fastifySession from '@fastify/session';

      declare module 'fastify' {
        interface Session {
          user_id: string;
          views: number;
        }
      }
      const app = Fastify();
      app.register(fastifyCookie);
      app.register(fastifySession, { secret: 'a secret with minimum length of 32 characters' });
      app.get('/', async (request) => {
        request.session.user_id = 'u1';
        request.session.set('views', (request.session.get('views') ?? 0) + 1);
        const views: number | undefined = request.session.views;
        return { views, id: request.session.sessionId };
      });
      export default app;
    `;
    const sessionkit = program.replace(
      "import fastifySession from '@fastify/session';",
      "import { session as fastifySession } from 'sessionkit/fastify';",
    );
    expect(compile(program)).toEqual([]);
    expect(compile(sessionkit)).toEqual([]);
  });

  // What a user depends on (docs/frameworks.md, Koa): `ctx.session = null` logs out and
  // `ctx.session = { ... }` replaces the data, "as with koa-session"; koa-session's options `signed: true`
  // and `overwrite: true` change nothing, and koa-session's `session(CONFIG, app)` call shape runs.
  it("Koa: koa-session's ctx.session = null / = {...}, signed/overwrite options and session(CONFIG, app)", () => {
    const baseline = `
      import Koa from 'koa';
      import createSession from 'koa-session';
      const app = new Koa();
      app.keys = ['keyboard cat'];
      const CONFIG = { key: 'koa.sess', maxAge: 86_400_000, overwrite: true, signed: true, httpOnly: true };
      app.use(createSession(CONFIG, app));
    `;
    const program = `
      import Koa from 'koa';
      import { session } from 'sessionkit/koa';
      import type {} from 'sessionkit';

      declare module 'sessionkit' {
        interface SessionData { views: number }
      }
      const app = new Koa();
      app.keys = ['keyboard cat'];
      app.use(
        session(
          { secret: 'a-secret-of-at-least-thirty-two-characters', key: 'koa.sess', maxAge: 86_400_000, overwrite: true, signed: true, httpOnly: true },
          app,
        ),
      );
      app.use(async (ctx) => {
        if (ctx.path === '/logout') {
          ctx.session = null;
          return;
        }
        if (ctx.path === '/reset') ctx.session = { views: 0 };
        ctx.session.views = (ctx.session.views ?? 0) + 1;
        ctx.body = { views: ctx.session.views, fresh: ctx.session.isNew };
      });
      // @ts-expect-error: refused at start-up (the cookie is always signed)
      session({ secret: 'a-secret-of-at-least-thirty-two-characters', signed: false });
    `;
    expect(compile(baseline, { dom: true })).toEqual([]);
    expect(compile(program, { dom: true })).toEqual([]);
  });

  // What a user depends on (docs/frameworks.md): on Hono `c.set('session', null)` is express-session's
  // `req.session = null`; on SvelteKit `event.locals.session = null` is. Reading the session stays typed
  // as the session itself.
  it("Hono c.set('session', null) and SvelteKit locals.session = null, as documented", () => {
    const hono = `
      import { Hono } from 'hono';
      import { session, type SessionEnv } from 'sessionkit/hono';
      const app = new Hono<SessionEnv<{ views: number }>>();
      app.use(session({ secret: 'a-secret-of-at-least-thirty-two-characters', resave: false, saveUninitialized: false }));
      app.post('/logout', (c) => {
        c.set('session', null);
        return c.body(null, 204);
      });
      app.get('/', (c) => c.json({ views: c.get('session').views ?? 0, id: c.var.session.id }));
    `;
    const svelte = `
      import type { Handle, RequestEvent } from '@sveltejs/kit';
      import { sessionHandle } from 'sessionkit/sveltekit';
      export const handle: Handle = sessionHandle({ secret: 'a-secret-of-at-least-thirty-two-characters' });
      export async function logout({ locals }: RequestEvent) {
        const id: string = locals.session.id;
        locals.session = null;
        return id;
      }
    `;
    expect([...compile(hono, { dom: true }), ...compile(svelte, { dom: true })]).toEqual([]);
  });

  // What a user depends on: that an option the types accept is not refused at start-up. sessionkit/fastify
  // takes `cookiePrefix: 's:'` and `algorithm: 'sha256'` only (registration refuses any other value);
  // sessionkit/next refuses `binding.ip: true` (Next.js gives no client address). Each expected error
  // below must occur (an unused directive is an error); Fastify's overloaded `register` reports a refused
  // option at the call.
  it('options the types accept but start-up refuses: fastify cookiePrefix/algorithm, next binding.ip', () => {
    const program = `
      import Fastify from 'fastify';
      import { session } from 'sessionkit/fastify';
      import { createSession } from 'sessionkit/next';

      const app = Fastify();
      const secret = 'a-secret-of-at-least-thirty-two-characters';
      // @ts-expect-error: refused at registration (only 's:')
      app.register(session, { secret, cookiePrefix: '' });
      // @ts-expect-error: refused at registration (only 'sha256')
      app.register(session, { secret, algorithm: 'sha512' });
      app.register(session, { secret, cookiePrefix: 's:', algorithm: 'sha256' });
      createSession({
        secret,
        // @ts-expect-error: refused by createSession() on Next.js
        binding: { ip: true },
      });
      createSession({ secret, binding: { userAgent: true, ip: false } });
    `;
    expect(compile(program, { dom: true })).toEqual([]);
  });
});

// Patterns that compiled before the fixes above, kept so that none of them breaks one: README's typing,
// socket.io, CommonJS, connect-mongo, the other adapters' typing. They also show that the in-memory
// compiler resolves 'sessionkit' to dist/.
describe('patterns that already compiled keep compiling', () => {
  it("README's SessionData augmentation and SessionkitRequest line: handlers typed Request, every method", () => {
    const program = `
      import express, { type NextFunction, type Request, type Response } from 'express';
      import session from 'express-session';
      import { randomUUID } from 'node:crypto';

      declare module 'express-session' {
        interface SessionData { user: { id: string; name: string }; views: number; returnTo: string }
      }
      const app = express();
      const mw = session({
        secret: 'keyboard cat keyboard cat keyboard cat',
        resave: false,
        saveUninitialized: false,
        genid: () => randomUUID(),
        cookie: { maxAge: 60_000, secure: 'auto', sameSite: 'lax' },
      });
      app.use(mw);
      express.Router().use(mw);
      app.get('/', (req: Request, res: Response) => {
        req.session.user = { id: '1', name: 'a' };
        req.session.views = (req.session.views ?? 0) + 1;
        req.session.cookie.maxAge = 1000;
        req.session.cookie.expires = new Date(Date.now() + 1000);
        const orig: number | null = req.session.cookie.originalMaxAge;
        res.send(\`\${req.sessionID}\${req.session.id}\${orig}\`);
      });
      app.post('/login', (req, res, next) => {
        req.session.regenerate((err) => {
          if (err) return next(err);
          req.session.user = { id: '1', name: 'a' };
          req.session.save((err) => (err ? next(err) : res.redirect(req.session.returnTo ?? '/')));
        });
      });
      app.get('/reload', (req, res, next) => {
        req.session.reload((err) => {
          if (err) return next(err);
          req.session.touch().resetMaxAge();
          req.session.destroy((err) => (err ? next(err) : res.end()));
        });
      });
      export function requireUser(req: Request, res: Response, next: NextFunction) {
        if (!req.session.user) return res.status(401).end();
        next();
      }
    `;
    expect(compile(program)).toEqual([]);
    const sessionkit = toSessionkit(program) + README_LINE;
    expect(compile(sessionkit)).toEqual([]);
    // ... and with @types/express-session kept, the augmentation left on 'express-session'
    const kept = sessionkit.replace("declare module 'sessionkit'", "declare module 'express-session'");
    expect(compile(kept.replace(README_LINE, ''), { types: ['node', 'express-session-real'] })).toEqual([]);
  });

  it("socket.io's io.engine.use(sessionMiddleware) and socket.request's session", () => {
    const program = `
      import { createServer } from 'node:http';
      import express from 'express';
      import session from 'express-session';
      import { Server } from 'socket.io';

      const app = express();
      const sessionMiddleware = session({ secret: 'changeit', resave: true, saveUninitialized: true });
      app.use(sessionMiddleware);
      const io = new Server(createServer(app));
      io.engine.use(sessionMiddleware);
      io.on('connection', (socket) => {
        const req = socket.request as express.Request;
        socket.join(req.session.id);
        req.session.reload((err) => (err ? socket.disconnect() : req.session.save()));
      });
    `;
    expect(compile(program)).toEqual([]);
    expect(compile(toSessionkit(program) + README_LINE)).toEqual([]);
    expect(compile(toSessionkit(program), { types: ['node', 'express-session-real'] })).toEqual([]);
  });

  it('CommonJS: import session = require(...), session.SessionOptions, session.Store subclass (types kept)', () => {
    const program = `
      import express = require('express');
      import session = require('express-session');

      const app = express();
      const store = new session.MemoryStore();
      const options: session.SessionOptions = { secret: 'keyboard cat', store, resave: false, saveUninitialized: false };
      app.use(session(options));
      class LegacyStore extends session.Store {
        get(sid: string, cb: (err: any, s?: session.SessionData | null) => void) { cb(null, null); }
        set(sid: string, s: session.SessionData, cb?: (err?: any) => void) { cb?.(); }
        destroy(sid: string, cb?: (err?: any) => void) { cb?.(); }
      }
      app.use(session({ secret: 's', store: new LegacyStore() }));
    `;
    expect(compile(program, { ext: '.cts' })).toEqual([]);
    expect(compile(toSessionkit(program), { ext: '.cts', types: ['node', 'express-session-real'] })).toEqual(
      [],
    );
  });

  it("connect-mongo's MongoStore.create() as store (its typings import express-session)", () => {
    const program = `
      import express from 'express';
      import session from 'express-session';
      import MongoStore from 'connect-mongo';
      const app = express();
      app.use(session({ secret: 'foo', store: MongoStore.create({ mongoUrl: 'mongodb://localhost/test-app' }) }));
    `;
    expect(compile(program)).toEqual([]);
    expect(compile(toSessionkit(program))).toEqual([]);
  });

  it('Hono SessionEnv merged with other Variables; Next createSession; SvelteKit locals typed', () => {
    const hono = `
      import { Hono } from 'hono';
      import { session, type SessionEnv } from 'sessionkit/hono';
      type Env = SessionEnv<{ views: number }> & { Variables: { user: string } };
      const app = new Hono<Env>();
      app.use(session({ secret: 'a-secret-of-at-least-thirty-two-characters' }));
      app.get('/', (c) => {
        const s = c.get('session');
        s.views = (s.views ?? 0) + 1;
        return c.text(\`\${c.get('user')} \${c.var.session.views}\`);
      });
    `;
    const next = `
      import { createSession } from 'sessionkit/next';
      import type {} from 'sessionkit';
      declare module 'sessionkit' { interface SessionData { views: number } }
      export const { getSession } = createSession({ secret: 'a-secret-of-at-least-thirty-two-characters' });
      export async function POST() {
        const session = await getSession();
        session.views = (session.views ?? 0) + 1;
        await session.save();
        return Response.json({ views: session.views });
      }
    `;
    const svelte = `
      import type { Handle, RequestEvent } from '@sveltejs/kit';
      import { sessionHandle } from 'sessionkit/sveltekit';
      import type {} from 'sessionkit';
      declare module 'sessionkit' { interface SessionData { views: number } }
      declare global { namespace App { interface Locals { user?: { id: string } } } }
      export const handle: Handle = sessionHandle({ secret: 'a-secret-of-at-least-thirty-two-characters' });
      export function load({ locals }: RequestEvent) {
        locals.session.views = (locals.session.views ?? 0) + 1;
        return { views: locals.session.views, user: locals.user };
      }
    `;
    expect([hono, next, svelte].flatMap((code) => compile(code, { dom: true }))).toEqual([]);
  });
});
