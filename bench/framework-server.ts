/**
 * One framework benchmark contender as an HTTP server: `node --import tsx bench/framework-server.ts
 * <contender>`. Prints `READY <port>` once listening on 127.0.0.1.
 *
 * Every contender serves the same routes; only the session layer differs:
 *   GET /seed   stores the seed payload (the driver takes the cookie from here)
 *   GET /read   reads one key
 *   GET /write  writes one key (a counter)
 *   GET /__cpu  the process's CPU time so far in µs, read by the driver around each measured run
 */
import type { AddressInfo } from 'node:net';
import { fromDist, SECRET, seedPayload, sessionOptions } from './common.js';
import { FRAMEWORK_CONTENDERS, type FrameworkContender } from './framework-contenders.js';

type Bag = Record<string, unknown>;

/** What each route does to a session-like bag, the same for every contender. */
const handlers = {
  seed(session: Bag | undefined): unknown {
    if (session) Object.assign(session, seedPayload());
    return { ok: true };
  },
  read(session: Bag | undefined): unknown {
    return { views: session?.views ?? 0 };
  },
  write(session: Bag | undefined): unknown {
    if (session) session.views = ((session.views as number | undefined) ?? 0) + 1;
    return { views: session?.views ?? 0 };
  },
};

const ROUTES = ['seed', 'read', 'write'] as const;

function cpuMicros(): string {
  const { user, system } = process.cpuUsage();
  return String(user + system);
}

async function fastifyServer(contender: FrameworkContender): Promise<(port: number) => Promise<number>> {
  const { default: Fastify } = await import('fastify');
  const app = Fastify();
  app.get('/__cpu', async () => cpuMicros());
  if (contender === 'fastify-session') {
    await app.register((await import('@fastify/cookie')).default);
    await app.register((await import('@fastify/session')).default, {
      secret: SECRET,
      saveUninitialized: false,
      cookie: { secure: false, maxAge: sessionOptions().cookie.maxAge, httpOnly: true, sameSite: 'lax' },
    });
  } else if (contender === 'fastify-sk') {
    const { session } = await fromDist<typeof import('../src/adapters/fastify.js')>('adapters/fastify.js');
    await app.register(session, sessionOptions());
  }
  for (const route of ROUTES) {
    app.get(`/${route}`, async (request) => {
      const session = (request as unknown as { session?: Bag }).session;
      if (contender === 'fastify-session' && session) {
        // @fastify/session keeps data behind get/set.
        const store = session as unknown as {
          get(key: string): unknown;
          set(key: string, value: unknown): void;
        };
        if (route === 'seed') for (const [k, v] of Object.entries(seedPayload())) store.set(k, v);
        if (route === 'write') store.set('views', ((store.get('views') as number | undefined) ?? 0) + 1);
        return { views: store.get('views') ?? 0 };
      }
      return handlers[route](session);
    });
  }
  return async (port) => {
    await app.listen({ port, host: '127.0.0.1' });
    return (app.server.address() as AddressInfo).port;
  };
}

async function koaServer(contender: FrameworkContender): Promise<(port: number) => Promise<number>> {
  const { default: Koa } = await import('koa');
  const app = new Koa();
  app.keys = [SECRET];
  app.use(async (ctx, next) => {
    if (ctx.path === '/__cpu') ctx.body = cpuMicros();
    else await next();
  });
  if (contender === 'koa-session') {
    const { default: koaSession } = await import('koa-session');
    const records = new Map<string, unknown>();
    app.use(
      koaSession(
        {
          maxAge: sessionOptions().cookie.maxAge,
          store: {
            get: async (key: string) => records.get(key),
            set: async (key: string, value: unknown) => void records.set(key, value),
            destroy: async (key: string) => void records.delete(key),
          },
        },
        app,
      ),
    );
  } else if (contender === 'koa-sk') {
    const { session } = await fromDist<typeof import('../src/adapters/koa.js')>('adapters/koa.js');
    app.use(session(sessionOptions()));
  }
  app.use(async (ctx) => {
    const route = ctx.path.slice(1) as (typeof ROUTES)[number];
    if (!ROUTES.includes(route)) return;
    ctx.body = handlers[route](contender === 'koa-bare' ? undefined : (ctx.session as unknown as Bag));
  });
  return async (port) => {
    const server = app.listen(port, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
    return (server.address() as AddressInfo).port;
  };
}

async function honoServer(contender: FrameworkContender): Promise<(port: number) => Promise<number>> {
  const { Hono } = await import('hono');
  const { serve } = await import('@hono/node-server');
  const app = new Hono<{ Variables: { session: Bag } }>();
  app.get('/__cpu', (c) => c.text(cpuMicros()));
  if (contender === 'hono-sk') {
    const { session } = await fromDist<typeof import('../src/adapters/hono.js')>('adapters/hono.js');
    app.use(session(sessionOptions()) as never);
  }
  for (const route of ROUTES) app.get(`/${route}`, (c) => c.json(handlers[route](c.get('session'))));
  return (port) =>
    new Promise((resolve) => {
      serve({ fetch: app.fetch, port, hostname: '127.0.0.1' }, (info) => resolve(info.port));
    });
}

const contender = process.argv[2] as FrameworkContender;
if (!(contender in FRAMEWORK_CONTENDERS)) throw new Error(`unknown contender ${contender}`);
const listen = contender.startsWith('fastify')
  ? await fastifyServer(contender)
  : contender.startsWith('koa')
    ? await koaServer(contender)
    : await honoServer(contender);
console.log(`READY ${await listen(0)}`);
// Exit through Node on SIGTERM so `--cpu-prof` writes its profile (profiling an adapter under load).
process.once('SIGTERM', () => process.exit(0));
