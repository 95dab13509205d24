import { type ChildProcess, execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');

/**
 * A module of the built package (`dist/`), typed as its source: benchmarks measure what users install.
 * Loading `src/` through tsx would measure tsx's transform too (it wraps every closure in a `__name()` call).
 * The npm bench scripts build first.
 */
export async function fromDist<Module>(path: string): Promise<Module> {
  const file = join(ROOT, 'dist', path);
  if (!existsSync(file)) throw new Error(`bench: ${file} is missing; run \`npm run build\` first`);
  return (await import(pathToFileURL(file).href)) as Module;
}

/** Options both middlewares get in every benchmark: the same on each side, on purpose. */
export const SECRET = 'bench-secret-0123456789abcdef0123456789';
export const COOKIE_MAX_AGE = 24 * 3600 * 1000;
export const SHARED_OPTIONS = {
  resave: false,
  saveUninitialized: false,
  cookie: { maxAge: COOKIE_MAX_AGE, httpOnly: true, path: '/', sameSite: 'lax' as const },
} as const;

/** A fresh copy of the shared options with the secret, for one middleware. */
export function sessionOptions() {
  return { secret: SECRET, ...SHARED_OPTIONS, cookie: { ...SHARED_OPTIONS.cookie } };
}

export const REDIS_URL = 'redis://127.0.0.1:6379';

/** What the seeded session holds (≈150 B of JSON): a counter and a small nested object. */
export function seedPayload(): Record<string, unknown> {
  return {
    views: 1,
    user: { name: 'bench-user', email: 'bench@example.test', roles: ['reader', 'writer'] },
    csrf: 'f3c1b0d6a4e24b0c9d1e2f3a4b5c6d7e',
  };
}

/** A store record holding the benchmark's payload, alive for a day from `now`. */
export function seedRecord(now: number) {
  return {
    data: seedPayload(),
    cookie: { originalMaxAge: 86_400_000 },
    expiresAt: now + 86_400_000,
    createdAt: now,
    lastSeenAt: now,
    userId: null,
  };
}

export type Contender =
  | 'bare'
  | 'noop'
  | 'es-memory'
  | 'sk-memory'
  | 'sk-memory-enc'
  | 'es-redis'
  | 'sk-redis'
  | 'sk-sqlite';

export const CONTENDER_LABEL: Record<Contender, string> = {
  bare: 'bare Express',
  noop: 'Express + a no-op middleware',
  'es-memory': 'express-session + MemoryStore',
  'sk-memory': 'sessionkit + MemoryStore',
  'sk-memory-enc': 'sessionkit + MemoryStore, encrypted',
  'es-redis': 'express-session + connect-redis',
  'sk-redis': 'sessionkit + RedisStore',
  'sk-sqlite': 'sessionkit + SQLiteStore',
};

/** True when something answers on 127.0.0.1:`port` within a second. */
export async function reachable(port: number): Promise<boolean> {
  const { connect } = await import('node:net');
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(1000, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

/** The value after `flag` on the command line (`--only sk,es`), or `fallback` when it is absent or empty. */
export function option(argv: string[], flag: string, fallback: string): string {
  const i = argv.indexOf(flag);
  return i >= 0 && argv[i + 1] ? (argv[i + 1] as string) : fallback;
}

export function median(values: number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2
    ? (sorted[mid] as number)
    : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

/** Replaces the text between `<!-- bench:<name>:start -->` and `<!-- bench:<name>:end -->` in docs/performance.md. */
export function updateDocs(name: string, markdown: string): void {
  const file = join(ROOT, 'docs', 'performance.md');
  const start = `<!-- bench:${name}:start -->`;
  const end = `<!-- bench:${name}:end -->`;
  const current = existsSync(file) ? readFileSync(file, 'utf8') : '# Performance\n';
  const block = `${start}\n${markdown.trim()}\n${end}`;
  const from = current.indexOf(start);
  const to = current.indexOf(end);
  const next =
    from >= 0 && to > from
      ? current.slice(0, from) + block + current.slice(to + end.length)
      : `${current.trimEnd()}\n\n${block}\n`;
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, next);
}

/** A session middleware as Express and the in-process harness both call it. */
export type SessionMiddleware = (req: never, res: never, next: (err?: unknown) => void) => void;

interface ScanClient {
  scanIterator(options: { MATCH: string; COUNT: number }): AsyncIterable<string[]>;
  unlink(keys: string[]): Promise<unknown>;
}

/** Removes every key a run wrote (SCAN, then UNLINK in batches). */
async function unlinkByPrefix(client: unknown, prefix: string): Promise<void> {
  const scan = client as ScanClient;
  for await (const keys of scan.scanIterator({ MATCH: `${prefix}*`, COUNT: 1000 })) {
    if (keys.length > 0) await scan.unlink(keys);
  }
}

/**
 * express-session + connect-redis (`es`) or sessionkit + RedisStore (`sk`), each on its own node-redis
 * client with that client's defaults, writing under a per-run prefix that `cleanup` removes.
 */
export async function redisContender(
  side: 'es' | 'sk',
  cleanup: (() => Promise<void>)[],
): Promise<SessionMiddleware> {
  const { createClient } = await import('redis');
  const client = createClient({ url: REDIS_URL });
  await client.connect();
  const prefix = `bench:${side}:${process.pid}-${Date.now()}:`;
  cleanup.push(async () => {
    await unlinkByPrefix(client, prefix);
    await client.close();
  });
  const options = sessionOptions();
  if (side === 'es') {
    const { default: expressSession } = await import('express-session');
    const { RedisStore } = await import('connect-redis');
    return expressSession({ ...options, store: new RedisStore({ client, prefix }) }) as SessionMiddleware;
  }
  const { default: session } = await fromDist<typeof import('../src/index.js')>('index.js');
  const { RedisStore } = await fromDist<typeof import('../src/stores/redis.js')>('stores/redis.js');
  return session({ ...options, store: new RedisStore({ client, prefix }) }) as SessionMiddleware;
}

/** An installed package's version, for a run's header ('..' is this package); 'n/a' when absent. */
export function versionOf(name: string): string {
  try {
    const file = join(ROOT, 'node_modules', name, 'package.json');
    return (JSON.parse(readFileSync(file, 'utf8')) as { version: string }).version;
  } catch {
    return 'n/a';
  }
}

/** The commit a run measured, for its header. */
export function gitHead(): string {
  try {
    return execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT }).toString().trim();
  } catch {
    return 'n/a';
  }
}

/** The port a benchmark server prints as `READY <port>` once it listens. */
export function waitForReady(child: ChildProcess, label: string, timeoutMs: number): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    let buffered = '';
    const timer = setTimeout(
      () => reject(new Error(`${label}: no READY within ${timeoutMs / 1000} s`)),
      timeoutMs,
    );
    child.stdout?.on('data', (chunk: Buffer) => {
      buffered += chunk.toString();
      const match = /READY (\d+)/.exec(buffered);
      if (match) {
        clearTimeout(timer);
        resolve(Number(match[1]));
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${label}: exited with ${code} before READY`));
    });
  });
}

/**
 * Seeds `count` sessions through a benchmark server's `/seed` route and returns each one's `Cookie`
 * header value (every cookie the server set: koa-session sends a signature cookie beside its own).
 * Stops early, with what it has, for a contender that sets no cookie.
 */
export async function seedCookies(port: number, count: number): Promise<string[]> {
  const cookies: string[] = [];
  for (let i = 0; i < count; i++) {
    const seeded = await fetch(`http://127.0.0.1:${port}/seed`);
    await seeded.text();
    const cookie = seeded.headers
      .getSetCookie()
      .map((header) => header.split(';')[0])
      .join('; ');
    if (!cookie) break;
    cookies.push(cookie);
  }
  return cookies;
}
