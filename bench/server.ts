/**
 * One benchmark contender as an HTTP server: `node --import tsx bench/server.ts <contender>`. Prints
 * `READY <port>` once listening on 127.0.0.1, and exits on SIGTERM after closing its store.
 *
 * Every contender serves the same routes with the same handler code; only the session middleware differs:
 *   GET /seed   writes the seed payload (the orchestrator takes the cookie from here)
 *   GET /read   reads one key
 *   GET /write  writes one key (a counter)
 *   GET /login  regenerates the session, then writes the user (a new session is stored)
 */
import { mkdtempSync, rmSync } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import express, { type NextFunction, type Request, type Response } from 'express';
import { type Contender, fromDist, redisContender, seedPayload, sessionOptions } from './common.js';

interface BenchSession {
  views?: number;
  user?: unknown;
  regenerate(done: (err?: unknown) => void): unknown;
  [key: string]: unknown;
}

function sessionOf(req: IncomingMessage): BenchSession | undefined {
  return (req as unknown as { session?: BenchSession }).session;
}

type Middleware = (req: Request, res: Response, next: NextFunction) => void;

async function middlewareFor(
  contender: Contender,
  cleanup: (() => Promise<void>)[],
): Promise<Middleware | null> {
  switch (contender) {
    case 'bare':
      return null;
    case 'noop':
      // The floor for any middleware: what Express charges for one more app.use() layer doing nothing.
      return (_req, _res, next) => next();
    case 'es-memory': {
      const { default: expressSession } = await import('express-session');
      return expressSession(sessionOptions());
    }
    case 'sk-memory': {
      const { default: session, MemoryStore } = await fromDist<typeof import('../src/index.js')>('index.js');
      const store = new MemoryStore();
      cleanup.push(() => store.close());
      return session({ ...sessionOptions(), store });
    }
    case 'sk-memory-enc': {
      // The same store and options as sk-memory, with encryption at rest (a fixed, bench-only key).
      const { default: session, MemoryStore } = await fromDist<typeof import('../src/index.js')>('index.js');
      const store = new MemoryStore();
      cleanup.push(() => store.close());
      const keys = [{ id: 'bench', key: Buffer.alloc(32, 7) }];
      return session({ ...sessionOptions(), store, encryption: { keys } });
    }
    case 'es-redis':
      return (await redisContender('es', cleanup)) as unknown as Middleware;
    case 'sk-redis':
      return (await redisContender('sk', cleanup)) as unknown as Middleware;
    case 'sk-sqlite': {
      const { default: session } = await fromDist<typeof import('../src/index.js')>('index.js');
      const { SQLiteStore } = await fromDist<typeof import('../src/stores/sqlite.js')>('stores/sqlite.js');
      const dir = mkdtempSync(join(tmpdir(), 'sessionkit-bench-'));
      const store = new SQLiteStore(join(dir, 'sessions.db'));
      cleanup.push(async () => {
        await store.close();
        rmSync(dir, { recursive: true, force: true });
      });
      return session({ ...sessionOptions(), store });
    }
  }
}

async function main(): Promise<void> {
  const contender = process.argv[2] as Contender;
  const cleanup: (() => Promise<void>)[] = [];
  const middleware = await middlewareFor(contender, cleanup);
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  // CPU time the server spent, read by the orchestrator around each run (before the session middleware).
  app.get('/__cpu', (_req, res) => {
    const { user, system } = process.cpuUsage();
    res.send(String(user + system));
  });
  if (middleware) app.use(middleware);

  app.get('/seed', (req, res) => {
    const s = sessionOf(req);
    if (s) Object.assign(s, seedPayload());
    res.send('seeded');
  });
  app.get('/read', (req, res) => {
    res.send(String(sessionOf(req)?.views ?? 0));
  });
  app.get('/write', (req, res) => {
    const s = sessionOf(req);
    if (s) s.views = (s.views ?? 0) + 1;
    res.send(String(s?.views ?? 0));
  });
  app.get('/login', (req, res, next) => {
    const s = sessionOf(req);
    if (!s) {
      res.send('in');
      return;
    }
    s.regenerate((err) => {
      if (err) {
        next(err);
        return;
      }
      const fresh = sessionOf(req) as BenchSession;
      fresh.user = { name: 'bench-user', roles: ['reader'] };
      res.send('in');
    });
  });

  const server = app.listen(0, '127.0.0.1', () => {
    const address = server.address();
    const port = typeof address === 'object' && address ? address.port : 0;
    process.stdout.write(`READY ${port}\n`);
  });
  server.keepAliveTimeout = 60_000;

  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    server.closeAllConnections();
    server.close();
    for (const fn of cleanup) await fn().catch(() => undefined);
    process.exit(0);
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  // Bounded: a server never outlives its orchestrator by long.
  process.on('disconnect', stop);
  setTimeout(stop, Number(process.env.BENCH_SERVER_MAX_MS ?? 20 * 60_000)).unref();
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
