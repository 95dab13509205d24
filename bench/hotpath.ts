/**
 * In-process hot-path benchmark: the session middleware alone, driven with real `http.IncomingMessage` /
 * `http.ServerResponse` objects and no sockets, so the figure is the middleware's own cost per request
 * (µs), free of HTTP parsing and of load-generator noise. Used for the before/after figures of each
 * optimization, and for clean CPU profiles:
 *
 *   npm run bench:hotpath -- [--iterations N] [--warmup N] [--rounds N] [--only sk,es,bare,noop] [--express]
 *                            [--store memory|redis] [--sessions N] [--observed]
 *   npm run build && node --cpu-prof --import tsx bench/hotpath.ts --only sk --scenarios write
 *
 * `--express` mounts each middleware in an Express app (driven with `app.handle`, still no sockets), so
 * the figure includes what Express charges for what the middleware adds to `req`/`res`; `bare` is the
 * same app with no session middleware, `noop` the same app with a middleware that only calls `next()`.
 * `--store redis` puts express-session on connect-redis and sessionkit on its RedisStore, each with its
 * own node-redis client (Redis on 127.0.0.1:6379): the figure then includes each store's client-side
 * work per request, and the wait for Redis's reply, which `bench:instructions` does not count. The
 * cookie scenarios cycle through `--sessions` seeded sessions (100). `--observed` subscribes a no-op
 * handler to every sessionkit diagnostics channel first: the figure then holds what publishing costs.
 */
import { IncomingMessage, ServerResponse } from 'node:http';
import { Socket } from 'node:net';
import { createInterface } from 'node:readline';
import express from 'express';
import { fromDist, median, option, redisContender, seedPayload, sessionOptions } from './common.js';

type Handler = (req: IncomingMessage, res: ServerResponse, next: (err?: unknown) => void) => void;

interface BenchSession {
  views?: number;
  user?: unknown;
  regenerate(done: (err?: unknown) => void): unknown;
  [key: string]: unknown;
}

/** The request's session; `bare` has none, so its handlers get a throwaway object. */
function sessionOf(req: IncomingMessage): BenchSession {
  return (req as unknown as { session?: BenchSession }).session ?? ({} as BenchSession);
}

type Scenario = 'no-cookie' | 'read' | 'write' | 'login';
type Side = 'sk' | 'es' | 'bare' | 'noop';

const socket = new Socket();

// The end of a request is seen from ServerResponse.prototype, not from an own `res.end`: a response
// carrying its own `end` would make sessionkit wrap it with own properties instead of its usual path.
// A Map whose entry goes at the end, not a WeakMap: V8 keeps a WeakMap entry whose key died young until a
// full collection, and scans it at every scavenge before that, which charged every contender's figure.
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

/** What a request goes through: the middleware then the route, or an Express app holding both. */
interface Target {
  handle(req: IncomingMessage, res: ServerResponse, route: Handler, done: (err?: unknown) => void): void;
}

function plainTarget(middleware: Handler | null): Target {
  return {
    handle(req, res, route, done) {
      if (!middleware) {
        route(req, res, done);
        return;
      }
      middleware(req, res, (err) => (err ? done(err) : route(req, res, done)));
    },
  };
}

/** Express's own entry point, which `app(req, res)` calls; not in its public types. */
interface ExpressInternals {
  handle(req: IncomingMessage, res: ServerResponse, done: (err?: unknown) => void): void;
}

function expressTarget(middleware: Handler | null): Target {
  const apps = new Map<Handler, express.Express>();
  return {
    handle(req, res, route, done) {
      let app = apps.get(route);
      if (!app) {
        app = express();
        app.disable('x-powered-by');
        app.set('etag', false);
        if (middleware) app.use(middleware as unknown as express.RequestHandler);
        app.use(route as unknown as express.RequestHandler);
        apps.set(route, app);
      }
      (app as unknown as ExpressInternals).handle(req, res, done);
    },
  };
}

/** One request; resolves with its Set-Cookie values when the response's real `end` ran. */
function request(target: Target, cookie: string | undefined, route: Handler): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const req = new IncomingMessage(socket);
    req.method = 'GET';
    req.url = '/x';
    req.headers = cookie ? { host: 'bench', cookie } : { host: 'bench' };
    const res = new ServerResponse(req);
    finished.set(res, resolve);
    target.handle(req, res, route, (err) => {
      finished.delete(res);
      reject(err ?? new Error('the request fell through'));
    });
  });
}

const routes: Record<Scenario | 'seed', Handler> = {
  seed: (req, res) => {
    Object.assign(sessionOf(req), seedPayload());
    res.end('seeded');
  },
  'no-cookie': (req, res) => {
    res.end(String(sessionOf(req).views ?? 0));
  },
  read: (req, res) => {
    res.end(String(sessionOf(req).views ?? 0));
  },
  write: (req, res) => {
    const s = sessionOf(req);
    s.views = (s.views ?? 0) + 1;
    res.end(String(s.views));
  },
  login: (req, res, next) => {
    if (!(req as unknown as { session?: unknown }).session) {
      res.end('in');
      return;
    }
    sessionOf(req).regenerate((err) => {
      if (err) {
        next(err);
        return;
      }
      sessionOf(req).user = { name: 'bench-user', roles: ['reader'] };
      res.end('in');
    });
  },
};

async function makeMiddleware(
  side: Side,
  store: 'memory' | 'redis',
  cleanup: (() => Promise<void>)[],
): Promise<Handler | null> {
  if (side === 'bare') return null;
  // The floor for any middleware: what one more layer doing nothing costs.
  if (side === 'noop') return (_req, _res, next) => next();
  if (store === 'redis') return (await redisContender(side, cleanup)) as unknown as Handler;
  const options = sessionOptions();
  if (side === 'sk') {
    const { default: session } = await fromDist<typeof import('../src/index.js')>('index.js');
    return session(options) as unknown as Handler;
  }
  const { default: expressSession } = await import('express-session');
  return expressSession(options) as unknown as Handler;
}

/**
 * With `--marks` (used by bench/instructions.ts, which runs this under callgrind), prints `MARK <name>`
 * around the measured loop and waits for a line on stdin, so the orchestrator can zero and dump the
 * instruction counters exactly there.
 */
const marks = process.argv.includes('--marks');
const stdinLines: AsyncIterator<string> | null = marks
  ? createInterface({ input: process.stdin })[Symbol.asyncIterator]()
  : null;

async function mark(name: string): Promise<void> {
  if (!stdinLines) return;
  process.stdout.write(`MARK ${name}\n`);
  await stdinLines.next();
}

async function measure(
  target: Target,
  scenario: Scenario,
  iterations: number,
  warmup: number,
  sessions: number,
): Promise<{ wall: number; cpu: number }> {
  // Many sessions in turn, as a server sees many users: with one cookie, caches of the last ID verified
  // or hashed would hit on every request, which real traffic does not give them.
  const cookies: Array<string | undefined> = [];
  if (scenario === 'read' || scenario === 'write') {
    for (let i = 0; i < sessions; i++) {
      const set = await request(target, undefined, routes.seed);
      // bare sets no cookie; a stand-in makes it parse a Cookie header as the others do.
      cookies.push(set[0]?.split(';')[0] ?? 'connect.sid=s%3Anone');
    }
  } else {
    cookies.push(undefined);
  }
  const route = routes[scenario];
  const cookieAt = (i: number) => cookies[i % cookies.length];
  for (let i = 0; i < warmup; i++) await request(target, cookieAt(i), route);
  await mark('warm');
  const start = process.hrtime.bigint();
  const cpuStart = process.cpuUsage();
  for (let i = 0; i < iterations; i++) await request(target, cookieAt(i), route);
  const cpu = process.cpuUsage(cpuStart);
  const elapsed = process.hrtime.bigint() - start;
  await mark('done');
  return { wall: Number(elapsed) / iterations / 1000, cpu: (cpu.user + cpu.system) / iterations };
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const value = (flag: string, fallback: string): string => option(argv, flag, fallback);
  const iterations = Number(value('--iterations', '20000'));
  const rounds = Number(value('--rounds', '5'));
  const warmup = Number(value('--warmup', String(Math.min(2000, iterations))));
  const sides = value('--only', 'sk,es').split(',') as Side[];
  const scenarios = value('--scenarios', 'no-cookie,read,write,login').split(',') as Scenario[];
  const inExpress = argv.includes('--express');
  const store = value('--store', 'memory');
  const sessions = Number(value('--sessions', '100'));
  if (store !== 'memory' && store !== 'redis') throw new Error('--store must be memory or redis');
  if (argv.includes('--observed')) await subscribeEverything();
  const cleanup: (() => Promise<void>)[] = [];
  const targets = new Map<string, Target>();
  for (const side of sides) {
    const middleware = await makeMiddleware(side, store, cleanup);
    targets.set(side, inExpress ? expressTarget(middleware) : plainTarget(middleware));
  }
  const results = new Map<string, number[]>();
  const cpuResults = new Map<string, number[]>();
  for (let round = 0; round < rounds; round++) {
    const order = round % 2 === 0 ? sides : [...sides].reverse();
    for (const scenario of scenarios) {
      for (const side of order) {
        const target = targets.get(side) as Target;
        const { wall, cpu } = await measure(target, scenario, iterations, warmup, sessions);
        const key = `${scenario}/${side}`;
        results.set(key, [...(results.get(key) ?? []), wall]);
        cpuResults.set(key, [...(cpuResults.get(key) ?? []), cpu]);
      }
    }
  }
  const cell = (us: number) => (Number.isNaN(us) ? '' : us.toFixed(2));
  const ratio = (a: number, b: number) =>
    Number.isNaN(a) || Number.isNaN(b) ? '' : `${(a / b).toFixed(2)}×`;
  const where = inExpress
    ? 'In an Express 5 app (app.handle, no sockets)'
    : 'The middleware alone (no Express)';
  const table = (title: string, from: Map<string, number[]>) => {
    console.log(`${where}, ${store} store, ${title}:`);
    console.log(
      '| Scenario | sessionkit µs/req | express-session µs/req | bare µs/req | no-op µs/req | express-session ÷ sessionkit | bare ÷ sessionkit | no-op ÷ sessionkit |',
    );
    console.log('|---|---:|---:|---:|---:|---:|---:|---:|');
    for (const scenario of scenarios) {
      const [sk, es, bare, noop] = (['sk', 'es', 'bare', 'noop'] as const).map((side) =>
        median(from.get(`${scenario}/${side}`) ?? []),
      ) as [number, number, number, number];
      console.log(
        `| ${scenario} | ${cell(sk)} | ${cell(es)} | ${cell(bare)} | ${cell(noop)} | ${ratio(es, sk)} | ${ratio(bare, sk)} | ${ratio(noop, sk)} |`,
      );
    }
  };
  // Wall time is the middleware's cost when nothing waits; with a network store it is mostly the wait for
  // replies, and CPU time (every thread of the process: GC and the JIT included) is the cost.
  table('wall time per request', results);
  table('CPU time per request', cpuResults);
  for (const fn of cleanup) await fn();
  process.exit(0);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});

/** A no-op subscriber on every sessionkit channel, so each message is built and published. */
async function subscribeEverything(): Promise<void> {
  const { subscribe, tracingChannel } = await import('node:diagnostics_channel');
  const { diagnosticsChannels } = await fromDist<{
    diagnosticsChannels: { store: Record<string, string> } & Record<string, unknown>;
  }>('index.js');
  const ignore = () => undefined;
  for (const name of Object.values(diagnosticsChannels.store)) {
    tracingChannel(name).subscribe({
      start: ignore,
      end: ignore,
      asyncStart: ignore,
      asyncEnd: ignore,
      error: ignore,
    });
  }
  for (const name of Object.values(diagnosticsChannels))
    if (typeof name === 'string') subscribe(name, ignore);
}
