/**
 * The cost of encryption at rest per request, in-process (real `IncomingMessage`/`ServerResponse`, no
 * sockets): sessionkit on a MemoryStore with and without `encryption`, interleaved rounds, median µs.
 *
 *   npm run bench:encryption -- [--iterations N] [--rounds N]
 *
 * The MemoryStore answers in the same tick, so the plain figure is sessionkit's synchronous fast path;
 * with encryption every store call goes through the asynchronous path, and that difference is part of
 * what is measured. `--store sqlite` compares on a SQLite file instead, where both sides are
 * asynchronous and the figure is the sealing alone.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { IncomingMessage, ServerResponse } from 'node:http';
import { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fromDist, median, option, seedPayload, sessionOptions } from './common.js';

type Handler = (req: IncomingMessage, res: ServerResponse, next: (err?: unknown) => void) => void;
interface Index {
  session(options: Record<string, unknown>): Handler;
  MemoryStore: new () => unknown;
}
interface SqliteModule {
  SQLiteStore: new (path: string) => unknown;
}

const finished = new Map<ServerResponse, (setCookie: string[]) => void>();
const realEnd = ServerResponse.prototype.end as (...args: unknown[]) => ServerResponse;
ServerResponse.prototype.end = function benchEnd(this: ServerResponse, ...args: unknown[]) {
  const result = realEnd.apply(this, args);
  const header = this.getHeader('set-cookie');
  const resolve = finished.get(this);
  finished.delete(this);
  resolve?.(header === undefined ? [] : Array.isArray(header) ? header : [String(header)]);
  return result;
} as typeof ServerResponse.prototype.end;

const socket = new Socket();

function request(middleware: Handler, cookie: string | undefined, route: Handler): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const req = new IncomingMessage(socket);
    req.method = 'GET';
    req.url = '/x';
    req.headers = cookie ? { host: 'bench', cookie } : { host: 'bench' };
    const res = new ServerResponse(req);
    finished.set(res, resolve);
    middleware(req, res, (err) => (err ? reject(err) : route(req, res, reject)));
  });
}

type Session = Record<string, unknown>;
const sessionOf = (req: IncomingMessage) => (req as unknown as { session: Session }).session;
const routes: Record<'seed' | 'read' | 'write', Handler> = {
  seed: (req, res) => {
    Object.assign(sessionOf(req), seedPayload());
    res.end('seeded');
  },
  read: (req, res) => {
    res.end(String(sessionOf(req).views));
  },
  write: (req, res) => {
    const s = sessionOf(req);
    s.views = Number(s.views) + 1;
    res.end('ok');
  },
};

async function main(): Promise<void> {
  const iterations = Number(option(process.argv, '--iterations', '20000'));
  const rounds = Number(option(process.argv, '--rounds', '5'));
  const storeKind = option(process.argv, '--store', 'memory');
  const { session, MemoryStore } = await fromDist<Index>('index.js');
  const dir = mkdtempSync(join(tmpdir(), 'sk-bench-enc-'));
  const { SQLiteStore } =
    storeKind === 'sqlite' ? await fromDist<SqliteModule>('stores/sqlite.js') : { SQLiteStore: null };
  const makeStore = (name: string) =>
    SQLiteStore ? new SQLiteStore(join(dir, `${name}.db`)) : new MemoryStore();
  const keys = [{ id: 'k1', key: randomBytes(32) }];
  const sides = {
    plain: session({ ...sessionOptions(), store: makeStore('plain') }),
    encrypted: session({ ...sessionOptions(), store: makeStore('enc'), encryption: { keys } }),
  };
  const cookies: Record<string, string> = {};
  for (const [name, middleware] of Object.entries(sides)) {
    const set = await request(middleware, undefined, routes.seed);
    cookies[name] = (set[0] as string).split(';')[0] as string;
  }
  const results: Record<string, Record<string, number[]>> = {};
  for (let round = 0; round < rounds; round++) {
    for (const scenario of ['read', 'write'] as const) {
      for (const [name, middleware] of Object.entries(sides)) {
        const route = routes[scenario];
        const started = process.hrtime.bigint();
        for (let i = 0; i < iterations; i++) await request(middleware, cookies[name], route);
        const us = Number(process.hrtime.bigint() - started) / 1000 / iterations;
        const byName = results[scenario] ?? {};
        results[scenario] = byName;
        byName[name] = [...(byName[name] ?? []), us];
      }
    }
  }
  console.log(`store: ${storeKind}, ${iterations} requests × ${rounds} rounds, median µs per request`);
  for (const [scenario, byName] of Object.entries(results)) {
    const plain = median(byName.plain as number[]);
    const encrypted = median(byName.encrypted as number[]);
    console.log(
      `${scenario.padEnd(6)} plain ${plain.toFixed(2)}  encrypted ${encrypted.toFixed(2)}  (+${(((encrypted - plain) / plain) * 100).toFixed(1)} %)`,
    );
  }
}

await main();
