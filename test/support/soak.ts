import type { Server } from 'node:http';
import { Agent, request } from 'node:http';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import express from 'express';
import session from '../../src/index.js';
import type { AnyStore } from '../../src/stores/factory.js';

/**
 * Mixed traffic over many sessions for a fixed time or a fixed number of requests, in one process (app and
 * load generator share the event loop, so the delay figures are an upper bound for the app alone). Used by
 * bench/soak.ts (60 s) and test/security/soak.test.ts (a few thousand requests, no timing assertions).
 */

export interface SoakOptions {
  /** Stops after this long, */
  seconds: number;
  /** or after this many requests, whichever comes first: a test's traffic does not depend on the machine. */
  requests?: number;
  /** Distinct sessions the clients cycle through. */
  sessions: number;
  concurrency: number;
}

export interface Window {
  rssMiB: number;
  heapMiB: number;
  delayP50Ms: number;
  delayP99Ms: number;
  delayMaxMs: number;
}

export interface SoakResult {
  requests: number;
  statuses: Record<string, number>;
  start: Window;
  end: Window;
  storeLength: number | null;
  seconds: number;
}

const MiB = 1024 * 1024;

export async function soak(store: AnyStore, options: SoakOptions): Promise<SoakResult> {
  const middleware = session({
    secret: 'soak-secret-0123456789abcdef0123456789ab',
    store,
    resave: false,
    saveUninitialized: false,
  });
  middleware.manager.on('error', () => undefined);
  const app = express();
  app.use(middleware);
  app.get('/new/:n', (req, res) => {
    (req.session as unknown as Record<string, unknown>).n = Number(req.params.n);
    res.send('new');
  });
  app.get('/read', (req, res) =>
    res.json({ n: (req.session as unknown as Record<string, unknown>).n ?? null }),
  );
  app.get('/write', (req, res) => {
    const s = req.session as unknown as Record<string, unknown>;
    s.views = ((s.views as number | undefined) ?? 0) + 1;
    s.cart = { items: [s.views], at: Date.now() };
    res.send('w');
  });
  app.get('/logout', async (req, res) => {
    await req.session.destroy();
    res.send('out');
  });
  app.use(((err, _req, res, _next) =>
    res.status(err.status ?? 500).send(err.code ?? 'error')) as express.ErrorRequestHandler);
  const server: Server = app.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  const { port } = server.address() as { port: number };
  const agent = new Agent({ keepAlive: true, maxSockets: options.concurrency });

  const cookies: (string | undefined)[] = new Array(options.sessions);
  const statuses: Record<string, number> = {};
  let requests = 0;
  let seed = 0x50a1;
  const random = () => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed / 0x7fffffff;
  };

  const get = (path: string, cookie?: string) =>
    new Promise<{ status: number; setCookie: string | undefined }>((resolve) => {
      const r = request(
        { host: '127.0.0.1', port, path, agent, headers: cookie ? { cookie } : {} },
        (res) => {
          const set = res.headers['set-cookie']?.[0]?.split(';')[0];
          res.resume();
          res.on('end', () => resolve({ status: res.statusCode ?? 0, setCookie: set }));
        },
      );
      r.on('error', () => resolve({ status: 0, setCookie: undefined }));
      r.end();
    });

  const histogram = monitorEventLoopDelay({ resolution: 10 });
  histogram.enable();
  const window = (): Window => {
    const memory = process.memoryUsage();
    return {
      rssMiB: Math.round(memory.rss / MiB),
      heapMiB: Math.round(memory.heapUsed / MiB),
      delayP50Ms: Math.round(histogram.percentile(50) / 1e5) / 10,
      delayP99Ms: Math.round(histogram.percentile(99) / 1e5) / 10,
      delayMaxMs: Math.round(histogram.max / 1e5) / 10,
    };
  };

  const started = Date.now();
  const deadline = started + options.seconds * 1000;
  const firstWindowEnd = started + Math.min(5_000, (options.seconds * 1000) / 4);
  let start: Window | null = null;

  const budget = options.requests ?? Number.POSITIVE_INFINITY;
  let sent = 0;
  const worker = async () => {
    while (Date.now() < deadline && sent < budget) {
      sent++;
      if (start === null && Date.now() >= firstWindowEnd) {
        start = window();
        histogram.reset();
      }
      const slot = Math.floor(random() * options.sessions);
      const cookie = cookies[slot];
      const roll = random();
      let path: string;
      if (!cookie) path = `/new/${slot}`;
      else if (roll < 0.6) path = '/read';
      else if (roll < 0.95) path = '/write';
      else path = '/logout';
      const res = await get(path, path.startsWith('/new') ? undefined : cookie);
      requests++;
      statuses[res.status] = (statuses[res.status] ?? 0) + 1;
      if (path.startsWith('/new') && res.setCookie) cookies[slot] = res.setCookie;
      if (path === '/logout') cookies[slot] = undefined;
    }
  };
  await Promise.all(Array.from({ length: options.concurrency }, worker));
  const end = window();
  histogram.disable();
  agent.destroy();
  await new Promise((resolve) => server.close(resolve));
  const storeLength = store.length ? await store.length() : null;
  return {
    requests,
    statuses,
    start: start ?? end,
    end,
    storeLength,
    seconds: (Date.now() - started) / 1000,
  };
}
