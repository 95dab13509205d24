/**
 * The non-Express adapters, each driven as its tests drive it (fastify.inject, Koa's callback through
 * supertest, Hono's app.request, Next.js inside its own request store, SvelteKit's handle with real
 * Request objects), mounted over one store with routes that answer JSON.
 */
import '../support/next-setup.js';
import { SessionError } from '../../src/core/errors.js';
import type { AdapterHarness, SuiteResponse } from '../../src/testing/index.js';
import { fastifyHarness, honoHarness, koaHarness, svelteKitHarness } from '../adapters/harnesses.js';
import { runNext } from '../support/next-real.js';

export const nextHarness: AdapterHarness = {
  name: 'Next.js',
  async create(options, routes) {
    const { createSession } = await import('../../src/adapters/next.js');
    const { getSession } = createSession({
      ...(options as Parameters<typeof createSession>[0]),
      proxy: false,
    });
    return {
      async request(path, headers = {}): Promise<SuiteResponse> {
        const url = new URL(path, 'http://localhost');
        const route = routes[url.pathname];
        if (!route) throw new Error(`no route ${url.pathname}`);
        const run = await runNext(new Request(url, { headers }), async () => {
          try {
            const session = await getSession();
            const body = await route({
              session: () => ((session.req as { session?: unknown }).session ?? session) as never,
              url: url.href,
            });
            await session.save();
            return { status: 200, body: JSON.stringify(body) };
          } catch (error) {
            // What an application's Route Handler does with a SessionError (docs/frameworks.md).
            if (error instanceof SessionError) return { status: error.status, body: error.code };
            // Anything else is the platform's 500.
            return { status: 500, body: 'Internal Server Error' };
          }
        });
        return { status: run.result.status, setCookie: run.setCookies, body: run.result.body };
      },
    };
  },
};

export const harnesses: AdapterHarness[] = [
  fastifyHarness('Fastify 5', () => import('fastify')),
  fastifyHarness('Fastify 4', () => import('fastify4')),
  koaHarness('Koa 3', () => import('koa')),
  koaHarness('Koa 2', () => import('koa2')),
  honoHarness,
  nextHarness,
  svelteKitHarness,
];

/** The `name=value` of the session cookie among Set-Cookie values. */
export function cookieFrom(setCookie: string[], name = 'connect.sid'): string {
  const found = setCookie.find((c) => c.startsWith(`${name}=`));
  if (!found) throw new Error(`no ${name} cookie in ${JSON.stringify(setCookie)}`);
  return found.split(';')[0] as string;
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
