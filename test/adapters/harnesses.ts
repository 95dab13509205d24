import type { IncomingMessage } from 'node:http';
import type { Context as KoaContext } from 'koa';
import request from 'supertest';
import { SessionError } from '../../src/core/errors.js';
import type { AdapterHarness, SuiteApp, SuiteResponse, SuiteRoute } from '../../src/testing/index.js';
import { type App, expressVersions } from '../support/apps.js';
import { serveSvelteKit } from '../support/sveltekit.js';

/** The Set-Cookie values of a Node-style header bag. */
function cookiesOf(value: unknown): string[] {
  if (value === undefined) return [];
  return Array.isArray(value) ? value.map(String) : [String(value)];
}

function supertestApp(handler: Parameters<typeof request>[0]): SuiteApp {
  return {
    async request(path, headers = {}) {
      const response = await request(handler).get(path).set(headers);
      return {
        status: response.status,
        setCookie: cookiesOf(response.headers['set-cookie']),
        body: response.text,
      };
    },
  };
}

/** One harness per Express major, on the root export. */
export const expressHarnesses: AdapterHarness[] = expressVersions.map(({ name, create }) => ({
  name,
  async create(options, routes, { trustProxy }) {
    const { default: session } = await import('../../src/index.js');
    const app: App = create();
    if (trustProxy) app.set('trust proxy', true);
    app.use(session(options));
    for (const [path, route] of Object.entries(routes)) {
      app.get(path, async (req, res, next) => {
        try {
          res.json(
            await route({
              session: () => req.session,
              url: req.originalUrl,
              unset: () => {
                (req as { session?: unknown }).session = null;
              },
            }),
          );
        } catch (error) {
          next(error);
        }
      });
    }
    return supertestApp(app);
  },
}));

type FastifyFactory = typeof import('fastify').default;

/** Fastify 4 or 5, driven by `inject`. */
export function fastifyHarness(name: string, load: () => Promise<{ default: unknown }>): AdapterHarness {
  return {
    name,
    async create(options, routes, { trustProxy }) {
      const fastify = (await load()).default as FastifyFactory;
      const { session } = await import('../../src/adapters/fastify.js');
      const app = fastify({ trustProxy });
      await app.register(session, options);
      for (const [path, route] of Object.entries(routes))
        app.get(path, async (req) =>
          route({
            session: () => req.session,
            url: req.url,
            unset: () => {
              (req as { session?: unknown }).session = null;
            },
          }),
        );
      await app.ready();
      return {
        async request(path, headers = {}): Promise<SuiteResponse> {
          const response = await app.inject({ method: 'GET', url: path, headers });
          return {
            status: response.statusCode,
            setCookie: cookiesOf(response.headers['set-cookie']),
            body: response.body,
          };
        },
        close: () => app.close(),
      };
    },
  };
}

/** Koa 2 or 3, through supertest on `app.callback()`. */
export function koaHarness(name: string, load: () => Promise<{ default: unknown }>): AdapterHarness {
  return {
    name,
    async create(options, routes, { trustProxy }) {
      const Koa = (await load()).default as typeof import('koa');
      const { session } = await import('../../src/adapters/koa.js');
      const app = new Koa();
      app.proxy = trustProxy;
      app.silent = true;
      app.use(session(options));
      app.use(async (ctx: KoaContext) => {
        const route: SuiteRoute | undefined = routes[ctx.path];
        if (route === undefined) return;
        ctx.body = await route({
          session: () => ctx.session,
          url: ctx.url,
          unset: () => {
            (ctx as { session?: unknown }).session = null;
          },
        });
      });
      return supertestApp(app.callback() as (req: IncomingMessage, res: unknown) => void);
    },
  };
}

/** Hono, through `app.request` with real `Request` objects. */
export const honoHarness: AdapterHarness = {
  name: 'Hono',
  async create(options, routes, { trustProxy }) {
    const { Hono } = await import('hono');
    const { session } = await import('../../src/adapters/hono.js');
    const app = new Hono<import('../../src/adapters/hono.js').SessionEnv>();
    // Hono has no proxy setting of its own: the adapter's `proxy` option is how to trust the header.
    app.use(session({ ...options, proxy: trustProxy ? true : options.proxy }));
    for (const [path, route] of Object.entries(routes))
      app.get(path, async (c) =>
        c.json(
          await route({
            session: () => c.get('session'),
            url: c.req.url,
            unset: () => c.set('session', null as never),
          }),
        ),
      );
    return {
      async request(path, headers = {}): Promise<SuiteResponse> {
        // Hono has no proxy trust of its own: on @hono/node-server the adapter takes the client's address
        // from the socket, which a trusted proxy's X-Forwarded-For stands for here.
        const forwardedFor = trustProxy ? headers['x-forwarded-for'] : undefined;
        const env =
          forwardedFor === undefined
            ? undefined
            : {
                incoming: {
                  headers: Object.fromEntries(
                    Object.entries(headers).map(([name, value]) => [name.toLowerCase(), value]),
                  ),
                  socket: { remoteAddress: forwardedFor },
                },
              };
        const response = await app.request(path, { headers }, env);
        return {
          status: response.status,
          setCookie: response.headers.getSetCookie(),
          body: await response.text(),
        };
      },
    };
  },
};

/** SvelteKit's `handle` with real Request objects, through its hooks as SvelteKit runs them. */
export const svelteKitHarness: AdapterHarness = {
  name: 'SvelteKit',
  async create(options, routes, { trustProxy }) {
    const { sessionHandle } = await import('../../src/adapters/sveltekit.js');
    const { error } = await import('@sveltejs/kit');
    // SvelteKit's Node adapter trusts a proxy through PROTOCOL_HEADER, which shapes event.url; here,
    // as with no such setting, the adapter's `proxy` option is how to trust X-Forwarded-Proto.
    const handle = sessionHandle({ ...options, proxy: trustProxy ? true : options.proxy });
    return {
      async request(path, headers = {}): Promise<SuiteResponse> {
        const request = new Request(new URL(path, 'http://localhost'), { headers });
        const response = await serveSvelteKit(
          handle,
          request,
          async (event) => {
            const route = routes[event.url.pathname];
            if (!route) return new Response('not found', { status: 404 });
            try {
              return Response.json(
                await route({
                  session: () => event.locals.session,
                  url: event.url.href,
                  unset: () => {
                    event.locals.session = null as never;
                  },
                }),
              );
            } catch (failure) {
              // What an application's endpoint does with a store outage: SvelteKit answers an error thrown
              // inside `resolve` with 500 and never shows it to the hook.
              if (failure instanceof SessionError) error(failure.status, 'Service Unavailable');
              throw failure;
            }
            // The Node adapter's ADDRESS_HEADER: behind a trusted proxy, the client's address is its header's.
          },
          (trustProxy ? headers['x-forwarded-for'] : undefined) ?? '127.0.0.1',
        );
        return {
          status: response.status,
          setCookie: response.headers.getSetCookie(),
          body: await response.text(),
        };
      },
    };
  },
};
