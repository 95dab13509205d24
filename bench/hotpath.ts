/**
 * In-process hot-path benchmark: the session middleware alone, driven with real `http.IncomingMessage` /
 * `http.ServerResponse` objects and no sockets, so the figure is the middleware's own cost per request
 * (µs), free of HTTP parsing and of load-generator noise. Used for the before/after figures of each
 * optimization, and for clean CPU profiles:
 *
 *   npm run bench:hotpath -- [--iterations N] [--rounds N] [--only sk|es]
 *   npm run build && node --cpu-prof --import tsx bench/hotpath.ts --only sk --scenarios write
 */
import { IncomingMessage, ServerResponse } from 'node:http';
import { Socket } from 'node:net';
import { fromDist, median, SECRET, SHARED_OPTIONS, seedPayload } from './common.js';

type Handler = (req: IncomingMessage, res: ServerResponse, next: (err?: unknown) => void) => void;

interface BenchSession {
  views?: number;
  user?: unknown;
  regenerate(done: (err?: unknown) => void): unknown;
  [key: string]: unknown;
}

function sessionOf(req: IncomingMessage): BenchSession {
  return (req as unknown as { session: BenchSession }).session;
}

type Scenario = 'no-cookie' | 'read' | 'write' | 'login';

const socket = new Socket();

/** One request through `middleware` and then `route`; resolves when the response's real `end` ran. */
function request(middleware: Handler, cookie: string | undefined, route: Handler): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const req = new IncomingMessage(socket);
    req.method = 'GET';
    req.url = '/x';
    req.headers = cookie ? { host: 'bench', cookie } : { host: 'bench' };
    const res = new ServerResponse(req);
    const end = res.end;
    res.end = function patchedEnd(this: ServerResponse, ...args: unknown[]) {
      const result = (end as (...a: unknown[]) => ServerResponse).apply(this, args);
      const header = res.getHeader('set-cookie');
      resolve(header === undefined ? [] : Array.isArray(header) ? header : [String(header)]);
      return result;
    } as typeof res.end;
    middleware(req, res, (err) => {
      if (err) {
        reject(err);
        return;
      }
      route(req, res, (error) => reject(error));
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

async function makeMiddleware(side: 'sk' | 'es'): Promise<Handler> {
  const options = { secret: SECRET, ...SHARED_OPTIONS, cookie: { ...SHARED_OPTIONS.cookie } };
  if (side === 'sk') {
    const { default: session } = await fromDist<typeof import('../src/index.js')>('index.js');
    return session(options) as unknown as Handler;
  }
  const { default: expressSession } = await import('express-session');
  return expressSession(options) as unknown as Handler;
}

async function measure(middleware: Handler, scenario: Scenario, iterations: number): Promise<number> {
  let cookie: string | undefined;
  if (scenario === 'read' || scenario === 'write') {
    const set = await request(middleware, undefined, routes.seed);
    cookie = set[0]?.split(';')[0];
  }
  const route = routes[scenario];
  const warm = Math.min(2000, iterations);
  for (let i = 0; i < warm; i++) await request(middleware, cookie, route);
  const start = process.hrtime.bigint();
  for (let i = 0; i < iterations; i++) await request(middleware, cookie, route);
  return Number(process.hrtime.bigint() - start) / iterations / 1000;
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const value = (flag: string, fallback: string): string => {
    const i = argv.indexOf(flag);
    return i >= 0 && argv[i + 1] ? (argv[i + 1] as string) : fallback;
  };
  const iterations = Number(value('--iterations', '20000'));
  const rounds = Number(value('--rounds', '5'));
  const sides = value('--only', 'sk,es').split(',') as ('sk' | 'es')[];
  const scenarios = value('--scenarios', 'no-cookie,read,write,login').split(',') as Scenario[];
  const middlewares = new Map<string, Handler>();
  for (const side of sides) middlewares.set(side, await makeMiddleware(side));
  const results = new Map<string, number[]>();
  for (let round = 0; round < rounds; round++) {
    const order = round % 2 === 0 ? sides : [...sides].reverse();
    for (const scenario of scenarios) {
      for (const side of order) {
        const us = await measure(middlewares.get(side) as Handler, scenario, iterations);
        const key = `${scenario}/${side}`;
        results.set(key, [...(results.get(key) ?? []), us]);
      }
    }
  }
  console.log('| Scenario | sessionkit µs/req | express-session µs/req | express-session ÷ sessionkit |');
  console.log('|---|---:|---:|---:|');
  for (const scenario of scenarios) {
    const sk = median(results.get(`${scenario}/sk`) ?? []);
    const es = median(results.get(`${scenario}/es`) ?? []);
    console.log(
      `| ${scenario} | ${Number.isNaN(sk) ? '' : sk.toFixed(2)} | ${Number.isNaN(es) ? '' : es.toFixed(2)} | ${
        Number.isNaN(sk) || Number.isNaN(es) ? '' : `${(es / sk).toFixed(2)}×`
      } |`,
    );
  }
  process.exit(0);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
