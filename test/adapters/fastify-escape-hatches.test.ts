/**
 * Why: applications answer through Fastify's escape hatches with a changed session (asynchronous store);
 * switching from @fastify/session (run side by side, fastify.inject and real HTTP), what the next request
 * reads must stay the same, for a session the browser holds and for a new one: setNotFoundHandler, setErrorHandler changing the session,
 * an error handler that itself throws (Fastify's fallback handler), preHandler throwing, an onSend hook
 * registered before the plugin throwing, 204, HEAD, redirect, a Web Response with its own Set-Cookie,
 * an onRequest hook replying early (before and after the plugin), reply.raw.end() without hijack (lost on
 * both, as with hijack: docs/frameworks.md).
 */
import { Readable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { describe, expect, it } from 'vitest';
import { build, cookieOf, type Kind, set } from '../support/fastify-escape-hatches.js';

type App = FastifyInstance & Record<string, never>;
// biome-ignore lint/suspicious/noExplicitAny: Fastify's route typing is beside the point here.
type Any = any;

const cases: Record<
  string,
  { setup: (app: Any) => void; method?: 'GET' | 'HEAD'; before?: (app: Any) => void }
> = {
  notFound: {
    setup: (app) =>
      app.setNotFoundHandler(async (req: Any, reply: Any) => {
        set(req, 'user', 'nf');
        reply.code(404);
        return 'nf';
      }),
  },
  errorHandler: {
    setup: (app) => {
      app.setErrorHandler(async (_e: Any, req: Any, reply: Any) => {
        set(req, 'flash', 'err');
        reply.code(500);
        return 'e';
      });
      app.get('/x', async (req: Any) => {
        set(req, 'user', 'h');
        throw new Error('boom');
      });
    },
  },
  errorHandlerThrows: {
    setup: (app) => {
      app.setErrorHandler(async (_e: Any, req: Any) => {
        set(req, 'flash', 'eht');
        throw new Error('again');
      });
      app.get('/x', async (req: Any) => {
        set(req, 'user', 'h');
        throw new Error('boom');
      });
    },
  },
  preHandlerThrows: {
    setup: (app) =>
      app.get(
        '/x',
        {
          preHandler: async (req: Any) => {
            set(req, 'user', 'ph');
            throw new Error('ph');
          },
        },
        async () => 'x',
      ),
  },
  onSendBeforePluginThrows: {
    before: (app) =>
      app.addHook('onSend', async (req: Any, _r: Any, p: Any) => {
        if (req.url === '/x' && !req.failedOnce) {
          req.failedOnce = true;
          throw new Error('os');
        }
        return p;
      }),
    setup: (app) =>
      app.get('/x', async (req: Any) => {
        set(req, 'user', 'os');
        return 'x';
      }),
  },
  code204: {
    setup: (app) =>
      app.get('/x', async (req: Any, reply: Any) => {
        set(req, 'user', '204');
        reply.code(204).send();
      }),
  },
  head: {
    method: 'HEAD',
    setup: (app) =>
      app.get('/x', async (req: Any) => {
        set(req, 'user', 'head');
        return 'x';
      }),
  },
  redirect: {
    setup: (app) =>
      app.get('/x', async (req: Any, reply: Any) => {
        set(req, 'user', 'r');
        return reply.redirect('/home');
      }),
  },
  stream: {
    setup: (app) =>
      app.get('/x', async (req: Any, reply: Any) => {
        set(req, 'user', 'st');
        return reply.send(Readable.from(['a', 'b']));
      }),
  },
  webResponse: {
    setup: (app) =>
      app.get('/x', async (req: Any, reply: Any) => {
        set(req, 'user', 'wr');
        return reply.send(new Response('w', { headers: [['set-cookie', 'a=1; Path=/']] }));
      }),
  },
  onRequestBeforePluginReplies: {
    before: (app) =>
      app.addHook('onRequest', async (req: Any, reply: Any) => {
        if (req.url === '/x') return reply.code(401).send('no');
      }),
    setup: (app) => app.get('/x', async () => 'x'),
  },
  onRequestAfterPluginReplies: {
    setup: (app) => {
      app.addHook('onRequest', async (req: Any, reply: Any) => {
        if (req.url !== '/x') return;
        set(req, 'user', 'ora');
        return reply.code(401).send('no');
      });
      app.get('/x', async () => 'x');
    },
  },
  rawEndWithoutHijack: {
    setup: (app) =>
      app.get('/x', async (req: Any, reply: Any) => {
        set(req, 'user', 'raw');
        reply.raw.writeHead(200);
        reply.raw.end('raw');
      }),
  },
};

async function run(kind: Kind, name: string, http: boolean) {
  const c = cases[name] as (typeof cases)[string];
  const app = (await build(kind, c.before)) as App;
  c.setup(app);
  let base = '';
  if (http) {
    await app.listen({ port: 0, host: '127.0.0.1' });
    base = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`;
  }
  const call = async (url: string, method: string, cookie?: string) => {
    if (!http) {
      const r = await app.inject({ method: method as 'GET', url, headers: cookie ? { cookie } : {} });
      return {
        status: r.statusCode,
        setCookie: r.headers['set-cookie'] as string[] | string | undefined,
        json: () => r.json(),
      };
    }
    const r = await fetch(base + url, { method, redirect: 'manual', headers: cookie ? { cookie } : {} });
    const text = await r.text();
    return { status: r.status, setCookie: r.headers.getSetCookie(), json: () => JSON.parse(text) };
  };
  try {
    const method = c.method ?? 'GET';
    const cookie = cookieOf((await call('/start', 'GET')).setCookie) as string;
    const held = await call('/x', method, cookie);
    const readHeld = (await call('/read', 'GET', cookie)).json();
    const fresh = await call('/x', method);
    const freshCookie = cookieOf(fresh.setCookie);
    const readFresh = freshCookie ? (await call('/read', 'GET', freshCookie)).json() : null;
    const others = [fresh.setCookie ?? []].flat().filter((v) => !/^(sessionId|connect\.sid)=/.test(v));
    return { status: held.status, readHeld, freshStatus: fresh.status, readFresh, others };
  } finally {
    await app.close();
  }
}

describe('Fastify escape hatches: sessionkit as @fastify/session', () => {
  for (const http of [false, true])
    for (const name of Object.keys(cases))
      it(`${name} (${http ? 'real HTTP' : 'inject'})`, async () => {
        expect(await run('sessionkit', name, http)).toEqual(await run('@fastify/session', name, http));
      });
});
