/**
 * Apps and backends for the migration tests from express-session: express-session and sessionkit apps
 * over one database, with the three express-session stores sessionkit's `legacy` readers cover
 * (connect-redis, connect-pg-simple, express-mysql-session) and the native store reading each one's
 * layout. Every backend works under its own runNamespace() prefix or tables, and `close()` deletes them.
 */
import connectPgSimple from 'connect-pg-simple';
import { RedisStore as ConnectRedisStore } from 'connect-redis';
import express, { type NextFunction, type Request, type RequestHandler, type Response } from 'express';
import expressMysqlSession from 'express-mysql-session';
import expressSession from 'express-session';
import mysql from 'mysql2/promise';
import pg from 'pg';
import { createClient } from 'redis';
import request from 'supertest';
import session, {
  type ExpressStoreLike,
  login,
  type Session,
  type SessionOptions,
  type SessionStore,
} from '../../src/index.js';
import { MySQLStore } from '../../src/stores/mysql.js';
import { PostgresStore } from '../../src/stores/postgres.js';
import { RedisStore } from '../../src/stores/redis.js';
import { cookieOf } from './apps.js';
import { deletePrefixed, redisSkipReason } from './redis.js';
import { mysqlConnection, runNamespace, serviceSkipReason } from './services.js';

export const secret = 'migration-apps-secret-0123456789abcdefghij';
export const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
export const POSTGRES_URL = process.env.POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
export const MYSQL_URL = process.env.MYSQL_URL ?? 'mysql://root@127.0.0.1:3306/test';

export interface Backend {
  /** The express-session store the application had (connect-redis, connect-pg-simple, express-mysql-session). */
  anchor: ExpressStoreLike;
  /** The native sessionkit store with `legacy` reading the anchor's layout. */
  native: SessionStore;
  /** The anchor's raw record for `id`, parsed, or null. */
  legacyRaw(id: string): Promise<unknown>;
  /** Closes the connections and deletes every key and table the backend made. */
  close(): Promise<void>;
}

export interface BackendOptions {
  /**
   * The anchor's own lifetime for a session whose cookie has no expiry (connect-redis and
   * connect-pg-simple `ttl`, express-mysql-session `expiration`), in seconds. Default: each store's own.
   */
  ttlSeconds?: number;
}

export async function openRedis(options: BackendOptions = {}): Promise<Backend> {
  const client = createClient({ url: REDIS_URL });
  client.on('error', () => undefined);
  await client.connect();
  const legacyPrefix = `${runNamespace('migration_sess')}:`;
  const prefix = `${runNamespace('migration_sk')}:`;
  const anchor = new ConnectRedisStore({
    client,
    prefix: legacyPrefix,
    ...(options.ttlSeconds === undefined ? {} : { ttl: options.ttlSeconds }),
  });
  const native = new RedisStore({ client, prefix, legacy: 'connect-redis', legacyPrefix });
  return {
    anchor,
    native,
    legacyRaw: async (id) => {
      const raw = await client.get(`${legacyPrefix}${id}`);
      return raw === null ? null : JSON.parse(raw);
    },
    close: async () => {
      await deletePrefixed(client, legacyPrefix).catch(() => {});
      await deletePrefixed(client, prefix).catch(() => {});
      await client.close().catch(() => {});
    },
  };
}

export async function openPg(options: BackendOptions = {}): Promise<Backend> {
  const admin = new pg.Pool({ connectionString: POSTGRES_URL, max: 3 });
  admin.on('error', () => undefined);
  const legacyTable = runNamespace('migration_cps');
  const table = runNamespace('migration_pg');
  await admin.query(
    `CREATE TABLE ${legacyTable} (sid varchar NOT NULL COLLATE "default", sess json NOT NULL, expire timestamp(6) NOT NULL, PRIMARY KEY (sid))`,
  );
  const PgSession = connectPgSimple(expressSession);
  const anchor = new PgSession({
    pool: admin,
    tableName: legacyTable,
    pruneSessionInterval: false,
    ...(options.ttlSeconds === undefined ? {} : { ttl: options.ttlSeconds }),
  });
  const native = new PostgresStore(POSTGRES_URL, {
    table,
    legacy: { layout: 'connect-pg-simple', table: legacyTable },
  });
  return {
    anchor,
    native,
    legacyRaw: async (id) => {
      const { rows } = await admin.query<{ s: string }>(
        `SELECT sess::text AS s FROM ${legacyTable} WHERE sid = $1`,
        [id],
      );
      return rows[0] ? JSON.parse(rows[0].s) : null;
    },
    close: async () => {
      await native.close();
      await admin.query(`DROP TABLE IF EXISTS ${table}, ${table}_epochs, ${legacyTable}`).catch(() => {});
      await admin.end();
    },
  };
}

export async function openMysql(options: BackendOptions = {}): Promise<Backend> {
  const connection = mysqlConnection(MYSQL_URL);
  const admin = mysql.createPool({ ...connection, connectionLimit: 2 });
  const legacyTable = runNamespace('migration_ems');
  const table = runNamespace('migration_my');
  const LegacyStore = expressMysqlSession(expressSession);
  const anchor = new LegacyStore({
    ...connection,
    clearExpired: false,
    schema: { tableName: legacyTable },
    ...(options.ttlSeconds === undefined ? {} : { expiration: options.ttlSeconds * 1000 }),
  });
  await anchor.onReady();
  const native = new MySQLStore(MYSQL_URL, {
    table,
    legacy: { layout: 'express-mysql-session', table: legacyTable },
  });
  return {
    anchor,
    native,
    legacyRaw: async (id) => {
      const [rows] = await admin.query<Array<mysql.RowDataPacket & { data: string }>>(
        `SELECT data FROM ${legacyTable} WHERE session_id = ?`,
        [id],
      );
      return rows[0] ? JSON.parse(rows[0].data) : null;
    },
    close: async () => {
      await native.close();
      await anchor.close();
      const [tables] = await admin.query<mysql.RowDataPacket[]>(`SHOW TABLES LIKE '${table}%'`);
      for (const row of tables)
        await admin.query(`DROP TABLE IF EXISTS \`${String(Object.values(row)[0])}\``);
      await admin.query(`DROP TABLE IF EXISTS ${legacyTable}`).catch(() => {});
      await admin.end();
    },
  };
}

export interface BackendEntry {
  /** The express-session store the backend's anchor is. */
  name: 'connect-redis' | 'connect-pg-simple' | 'express-mysql-session';
  /** Why the server cannot be used (the suite is skipped; in CI it fails), or false. */
  skip: string | false;
  open(options?: BackendOptions): Promise<Backend>;
}

/** The three backends, each with its server probed (serviceSkipReason). */
export async function migrationBackends(): Promise<BackendEntry[]> {
  const pgSkip = await serviceSkipReason('PostgreSQL', async () => {
    const probe = new pg.Client({ connectionString: POSTGRES_URL, connectionTimeoutMillis: 3_000 });
    probe.on('error', () => undefined);
    try {
      await probe.connect();
      await probe.query('SELECT 1');
    } finally {
      await probe.end().catch(() => {});
    }
  });
  const mysqlSkip = await serviceSkipReason('MySQL/MariaDB', async () => {
    const probe = await mysql.createConnection({ ...mysqlConnection(MYSQL_URL), connectTimeout: 3_000 });
    try {
      await probe.query('SELECT 1');
    } finally {
      await probe.end().catch(() => {});
    }
  });
  return [
    { name: 'connect-redis', skip: await redisSkipReason(REDIS_URL), open: openRedis },
    { name: 'connect-pg-simple', skip: pgSkip, open: openPg },
    { name: 'express-mysql-session', skip: mysqlSkip, open: openMysql },
  ];
}

/** Fixtures handed to apps in-process (Dates, -0, lone surrogates survive no HTTP body). */
export const fixtures = new Map<string, Fixture>();
export interface Fixture {
  data: Record<string, unknown>;
  /** Run on req.session.cookie in the handler after the data is set. */
  mutate?: ((cookie: Record<string, unknown>) => void) | undefined;
}

export interface Snapshot {
  id: string;
  data: Record<string, unknown>;
  cookie: Record<string, unknown>;
}

/** What the handlers use of `req.session`, on either middleware. */
interface AnySession {
  cookie: Record<string, unknown>;
  destroy(callback: (err?: unknown) => void): void;
  regenerate(callback: (err?: unknown) => void): void;
  [key: string]: unknown;
}

function sessionOf(req: Request): AnySession {
  return (req as unknown as { session: AnySession }).session;
}

export function snap(req: Request): Snapshot {
  const s = sessionOf(req);
  const data: Record<string, unknown> = {};
  for (const k of Object.keys(s)) if (k !== 'cookie') data[k] = s[k];
  const c = s.cookie;
  const expires = c.expires as Date | null | false | undefined;
  return {
    id: req.sessionID,
    data: JSON.parse(JSON.stringify(data)),
    cookie: {
      originalMaxAge: c.originalMaxAge,
      maxAge: c.maxAge,
      expires: expires instanceof Date ? expires.toISOString() : expires,
      path: c.path,
      domain: c.domain,
      httpOnly: c.httpOnly,
      secure: c.secure,
      sameSite: c.sameSite,
      partitioned: c.partitioned,
      priority: c.priority,
    },
  };
}

export type Kind = 'express-session' | 'sessionkit';
export interface AppOptions {
  /** Cookie options as express-session takes them (the generators include values sessionkit normalises). */
  cookie: Record<string, unknown>;
  rolling?: boolean;
  resave?: boolean;
}

let last: Snapshot | null = null;

/** express-session's or sessionkit's middleware over `store`, with the same options. */
function middleware(kind: Kind, store: ExpressStoreLike | SessionStore, options: AppOptions): RequestHandler {
  const common = {
    secret,
    resave: options.resave ?? false,
    saveUninitialized: false,
    rolling: options.rolling ?? false,
    proxy: true,
    cookie: { ...options.cookie },
  };
  if (kind === 'sessionkit') {
    // Silent: the generated options include some sessionkit warns about (SameSite=None without Secure).
    const sessionkitOptions = {
      ...common,
      store,
      cookie: common.cookie as SessionOptions['cookie'],
      logger: { warn() {}, error() {} },
    };
    return session(sessionkitOptions) as unknown as RequestHandler;
  }
  return expressSession({ ...common, store: store as ExpressStoreLike });
}

type Handler = (req: Request, res: Response) => unknown;
const route =
  (h: Handler): RequestHandler =>
  async (req, res, next) => {
    try {
      await h(req, res);
    } catch (e) {
      next(e);
    }
  };

/**
 * An app on `kind`'s middleware: /put (the fixture `?k=` names), /read, /write (counts `sk`), /destroy,
 * /regenerate (then sets `fresh`), /login (sessionkit's login()). Each records a snapshot of the session.
 */
export function app(kind: Kind, store: ExpressStoreLike | SessionStore, options: AppOptions) {
  const a = express();
  a.set('trust proxy', true);
  const path = (options.cookie.path as string | undefined) ?? '/';
  const base = path === '/' ? '' : path;
  a.use(middleware(kind, store, options));
  a.get(
    `${base}/put`,
    route((req, res) => {
      const f = fixtures.get(String(req.query.k));
      if (!f) throw new Error(`no fixture ${String(req.query.k)}`);
      Object.assign(sessionOf(req), f.data);
      f.mutate?.(sessionOf(req).cookie);
      last = snap(req);
      res.send('ok');
    }),
  );
  a.get(
    `${base}/read`,
    route((req, res) => {
      last = snap(req);
      res.send('ok');
    }),
  );
  a.get(
    `${base}/write`,
    route((req, res) => {
      const s = sessionOf(req);
      s.sk = ((s.sk as number | undefined) ?? 0) + 1;
      last = snap(req);
      res.send('ok');
    }),
  );
  a.get(
    `${base}/destroy`,
    route(async (req, res) => {
      await new Promise<void>((ok, ko) => sessionOf(req).destroy((e) => (e ? ko(e) : ok())));
      res.send('ok');
    }),
  );
  a.get(
    `${base}/regenerate`,
    route(async (req, res) => {
      await new Promise<void>((ok, ko) => sessionOf(req).regenerate((e) => (e ? ko(e) : ok())));
      sessionOf(req).fresh = 1;
      last = snap(req);
      res.send('ok');
    }),
  );
  a.get(
    `${base}/login`,
    route(async (req, res) => {
      await login(sessionOf(req) as unknown as Session, 'u1');
      last = snap(req);
      res.send('ok');
    }),
  );
  a.use(
    (
      err: { status?: number; code?: string; message?: string },
      _req: Request,
      res: Response,
      _next: NextFunction,
    ) => {
      res.status(err.status ?? 500).send(`ERR ${err.code ?? ''} ${err.message ?? ''}`);
    },
  );
  return { app: a, base };
}

export interface Hit {
  status: number;
  text: string;
  setCookie: string[];
  /** The session as the handler saw it, or null when no handler ran. */
  snap: Snapshot | null;
}

export async function hit(
  a: ReturnType<typeof app>,
  path: string,
  cookie?: string,
  query = '',
): Promise<Hit> {
  last = null;
  let req = request(a.app).get(`${a.base}/${path}${query}`).set('X-Forwarded-Proto', 'https');
  if (cookie) req = req.set('Cookie', cookie);
  const res = await req;
  const sc: unknown = res.headers['set-cookie'];
  return {
    status: res.status,
    text: res.text,
    setCookie: sc === undefined ? [] : Array.isArray(sc) ? sc.map(String) : [String(sc)],
    snap: last,
  };
}

/** The `name=value` pair of the session's Set-Cookie (not a clearing one). */
export function pairOf(h: Hit): string | null {
  const c = h.setCookie.find((v) => v.startsWith('connect.sid=s%3A'));
  return c ? (c.split(';')[0] as string) : null;
}

/** Set-Cookie attributes, lower-cased names, without Expires. */
export function attrs(setCookie: string): Record<string, string | true> {
  const out: Record<string, string | true> = {};
  for (const part of setCookie.split(';').slice(1)) {
    const [k, ...v] = part.trim().split('=');
    const key = (k as string).toLowerCase();
    if (key === 'expires') continue;
    out[key] = v.length ? v.join('=').toLowerCase() : true;
  }
  return out;
}

/**
 * The read-only user of the idle-timeout tests: an app on `kind` (sessionkit with `ttl` the store lifetime)
 * with /login (sets `user`) and /account (answers `user: …`), without `resave` or `saveUninitialized`.
 */
function readOnlyApp(kind: Kind, store: ExpressStoreLike | SessionStore, lifetimeS: number) {
  const a = express();
  const options = { secret, resave: false, saveUninitialized: false };
  a.use(
    kind === 'sessionkit'
      ? (session({ ...options, store, ttl: lifetimeS * 1000 }) as unknown as RequestHandler)
      : expressSession({ ...options, store: store as ExpressStoreLike }),
  );
  a.get('/login', (req, res) => {
    (req as unknown as { session: { user?: string } }).session.user = 'alice';
    res.send('in');
  });
  a.get('/account', (req, res) => {
    res.send(`user: ${(req as unknown as { session: { user?: string } }).session.user ?? 'anonymous'}`);
  });
  return a;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

type ReadOnlyNext = 'express-session' | 'sessionkit (bridge)' | 'sessionkit (legacy)';

/** The clicks' timing: each page every `intervalMs`; `touchAfterS`, the store's own (connect-mongo's). */
export interface ClickPace {
  intervalMs?: number;
  touchAfterS?: number;
}

/**
 * Logs in on express-session, then clicks read-only pages on `next` every `intervalMs` (from one click's
 * start to the next), 5 times: each answer, and whether every click came soon enough after the one before
 * that its session was bound to be still alive (the longest gap, login included, under `boundMs`).
 */
async function browseReadOnly(
  backend: Backend,
  next: ReadOnlyNext,
  lifetimeS: number,
  intervalMs: number,
  boundMs: number,
): Promise<{ seen: string[]; inTime: boolean }> {
  let previous = Date.now();
  const cookie = cookieOf(
    await request(readOnlyApp('express-session', backend.anchor, lifetimeS))
      .get('/login')
      .expect(200),
  );
  const served =
    next === 'express-session'
      ? readOnlyApp('express-session', backend.anchor, lifetimeS)
      : readOnlyApp(
          'sessionkit',
          next === 'sessionkit (bridge)' ? backend.anchor : backend.native,
          lifetimeS,
        );
  const seen: string[] = [];
  let inTime = true;
  let due = Date.now() + intervalMs;
  for (let i = 0; i < 5; i++) {
    await sleep(due - Date.now());
    const started = Date.now();
    seen.push((await request(served).get('/account').set('Cookie', cookie)).text);
    // The store saw the one before and this one somewhere within these two requests.
    if (Date.now() - previous >= boundMs) inTime = false;
    previous = started;
    due = started + intervalMs;
  }
  return { seen, inTime };
}

/**
 * The same user side by side on express-session, on sessionkit through the bridge (the anchor) and on
 * sessionkit's native store with `legacy`, with the store lifetime `lifetimeS`: the pages each one saw,
 * and `inTime`, whether every click of the three came soon enough after the one before to find the
 * session alive under any store that extends it on a read once `touchAfterS` (or sessionkit's default,
 * a tenth of the lifetime) has passed. A loaded machine can space the clicks further apart than that:
 * what such a run saw says nothing, and the caller runs it again with a longer lifetime.
 */
export async function readOnlyClicks(
  backend: Backend,
  lifetimeS: number,
  { intervalMs = 700, touchAfterS = 0 }: ClickPace = {},
): Promise<{ stayed: string[]; bridged: string[]; legacy: string[]; inTime: boolean }> {
  const boundMs = (lifetimeS - Math.max(touchAfterS, lifetimeS / 10)) * 1000;
  const [stayed, bridged, legacy] = await Promise.all([
    browseReadOnly(backend, 'express-session', lifetimeS, intervalMs, boundMs),
    browseReadOnly(backend, 'sessionkit (bridge)', lifetimeS, intervalMs, boundMs),
    browseReadOnly(backend, 'sessionkit (legacy)', lifetimeS, intervalMs, boundMs),
  ]);
  return {
    stayed: stayed.seen,
    bridged: bridged.seen,
    legacy: legacy.seen,
    inTime: stayed.inTime && bridged.inTime && legacy.inTime,
  };
}
