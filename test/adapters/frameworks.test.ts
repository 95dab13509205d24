import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { type Context, Hono } from 'hono';
import { HTTPException } from 'hono/http-exception';
import type { Context as KoaContext } from 'koa';
import Koa from 'koa';
import request from 'supertest';
import { describe, expect, it } from 'vitest';
import { session as fastifySession } from '../../src/adapters/fastify.js';
import { session as honoSession, type SessionEnv } from '../../src/adapters/hono.js';
import { session as koaSession } from '../../src/adapters/koa.js';
import type { SessionError } from '../../src/core/errors.js';
import type { SessionRecord } from '../../src/core/types.js';
import { MemoryStore } from '../../src/stores/memory.js';

const secret = 'framework-tests-secret-of-at-least-32-chars';
const base = { secret, resave: false, saveUninitialized: false } as const;

/** A MemoryStore whose creates fail as a refused connection, counting the attempts. */
class RefusingStore extends MemoryStore {
  creates = 0;
  override async create(_id: string, _record: SessionRecord): Promise<boolean> {
    this.creates++;
    throw Object.assign(new Error('connect ECONNREFUSED 10.0.0.9:6379'), { code: 'ECONNREFUSED' });
  }
}

function cookiesOf(value: unknown): string[] {
  if (value === undefined) return [];
  return Array.isArray(value) ? value.map(String) : [String(value)];
}

const fastifyMajors = [
  { name: 'Fastify 5', load: () => import('fastify') },
  { name: 'Fastify 4', load: () => import('fastify4') },
];

for (const { name, load } of fastifyMajors) {
  describe(`${name} plugin`, () => {
    async function app(options: Parameters<typeof fastifySession>[1], trustProxy = false) {
      const fastify = (await load()).default as typeof import('fastify').default;
      const instance = fastify({ trustProxy });
      await instance.register(fastifySession, options);
      instance.get('/write', async (req, reply) => {
        reply.header('set-cookie', 'theme=dark; Path=/');
        req.session.views = 1;
        return { id: req.session.id };
      });
      instance.get('/health', async (req) => ({ session: req.session }));
      await instance.ready();
      return instance;
    }

    it("keeps the application's Set-Cookie beside the session's", async () => {
      const instance = await app({ ...base, name: 'sid' });
      const response = await instance.inject({ url: '/write' });
      const cookies = cookiesOf(response.headers['set-cookie']);
      expect(cookies).toHaveLength(2);
      expect(cookies[0]).toBe('theme=dark; Path=/');
      expect(cookies[1]).toMatch(/^sid=s%3A/);
    });

    it('tries the store once when the save fails, and answers 503', async () => {
      const store = new RefusingStore();
      const instance = await app({ ...base, store });
      const response = await instance.inject({ url: '/write' });
      expect(response.statusCode).toBe(503);
      expect(JSON.parse(response.body).code).toBe('ERR_STORE_UNAVAILABLE');
      expect(cookiesOf(response.headers['set-cookie'])).not.toContainEqual(
        expect.stringMatching(/^connect\.sid=/),
      );
      // The error reply passes through onSend again: it must not write the session a second time.
      expect(store.creates).toBe(1);
    });

    it('does no session work for a request `skip` exempts', async () => {
      const instance = await app({ ...base, skip: (req) => req.url === '/health' });
      const response = await instance.inject({ url: '/health' });
      expect(JSON.parse(response.body)).toEqual({ session: null });
      expect(response.headers['set-cookie']).toBeUndefined();
    });

    it("the owasp preset's Cache-Control: no-store goes with the cookie", async () => {
      const instance = await app({ secret, preset: 'owasp' }, true);
      const response = await instance.inject({ url: '/write', headers: { 'x-forwarded-proto': 'https' } });
      expect(cookiesOf(response.headers['set-cookie'])[1]).toMatch(/^__Host-sid=.*; Secure/);
      expect(response.headers['cache-control']).toBe('no-store');
    });

    it('a hijacked reply stores what save() stored before the hijack, as documented', async () => {
      const fastify = (await load()).default as typeof import('fastify').default;
      const instance = fastify();
      await instance.register(fastifySession, { ...base, store: new MemoryStore() });
      const count = (req: { session: unknown }, by: number) => {
        const data = req.session as { views?: number };
        data.views = (data.views ?? 0) + by;
      };
      instance.get('/write', async (req) => {
        count(req, 1);
        return { views: req.session.views };
      });
      instance.get('/hijack-saved', async (req, reply) => {
        count(req, 10);
        await req.session.save();
        reply.hijack();
        reply.raw.end('raw');
      });
      instance.get('/hijack-unsaved', async (req, reply) => {
        count(req, 100);
        reply.hijack();
        reply.raw.end('raw');
      });
      await instance.ready();
      const cookie = (
        cookiesOf((await instance.inject({ url: '/write' })).headers['set-cookie'])[0] ?? ''
      ).split(';')[0] as string;
      expect((await instance.inject({ url: '/hijack-saved', headers: { cookie } })).body).toBe('raw');
      expect((await instance.inject({ url: '/hijack-unsaved', headers: { cookie } })).body).toBe('raw');
      // onSend never ran for either: only the explicit save() reached the store.
      expect(JSON.parse((await instance.inject({ url: '/write', headers: { cookie } })).body)).toEqual({
        views: 12,
      });
    });

    it('emits the manager events through fastify.sessionManager', async () => {
      const instance = await app(base);
      const created: unknown[] = [];
      instance.sessionManager.on('create', (event) => created.push(event));
      await instance.inject({ url: '/write' });
      expect(created).toEqual([{ handle: expect.any(String) }]);
    });
  });
}

describe('Koa middleware', () => {
  function app(options: Parameters<typeof koaSession>[0]) {
    const koa = new Koa();
    koa.silent = true;
    koa.use(koaSession(options));
    koa.use(async (ctx: KoaContext) => {
      ctx.session.views = 1;
      if (ctx.path === '/throw') throw new Error('handler failed');
      ctx.cookies.set('theme', 'dark', { httpOnly: false });
      ctx.body = { id: ctx.session.id };
    });
    return koa.callback();
  }

  it('stores nothing for a request whose handler throws', async () => {
    const store = new MemoryStore();
    const response = await request(app({ ...base, store })).get('/throw');
    expect(response.status).toBe(500);
    expect(response.headers['set-cookie']).toBeUndefined();
    expect(await store.length()).toBe(0);
  });

  it("keeps the application's Set-Cookie beside the session's", async () => {
    const response = await request(app({ ...base, name: 'sid' })).get('/');
    const cookies = cookiesOf(response.headers['set-cookie']);
    expect(cookies.map((cookie) => cookie.slice(0, cookie.indexOf('=')))).toEqual(['theme', 'sid']);
  });

  it("the owasp preset's Cache-Control: no-store goes with the cookie", async () => {
    const koa = new Koa();
    koa.proxy = true;
    koa.use(koaSession({ secret, preset: 'owasp' }));
    koa.use(async (ctx: KoaContext) => {
      ctx.session.views = 1;
      ctx.body = { ok: true };
    });
    const response = await request(koa.callback()).get('/').set('X-Forwarded-Proto', 'https');
    expect(cookiesOf(response.headers['set-cookie'])).toEqual([
      expect.stringMatching(/^__Host-sid=.*; Secure/),
    ]);
    expect(response.headers['cache-control']).toBe('no-store');
  });

  it('leaves a response the application sent itself (`ctx.respond = false`) alone', async () => {
    const store = new MemoryStore();
    const koa = new Koa();
    koa.silent = true;
    const errors: unknown[] = [];
    koa.on('error', (error: unknown) => errors.push(error));
    const warnings: string[] = [];
    koa.use(koaSession({ ...base, store, logger: { warn: (message: string) => warnings.push(message) } }));
    koa.use(async (ctx: KoaContext) => {
      ctx.session.views = 1;
      ctx.respond = false;
      ctx.res.statusCode = 200;
      ctx.res.end('written by hand');
    });
    const response = await request(koa.callback()).get('/');
    expect(response.status).toBe(200);
    expect(response.text).toBe('written by hand');
    expect(response.headers['set-cookie']).toBeUndefined();
    expect(errors).toEqual([]);
    // The browser never got a cookie for this new session: storing it would leave it unreachable.
    expect(await store.length()).toBe(0);
    expect(warnings).toEqual([expect.stringMatching(/cookie could not be sent/)]);
  });

  it('stores what a response sent by hand changed in the session the browser holds', async () => {
    const store = new MemoryStore();
    const koa = new Koa();
    koa.use(koaSession({ ...base, store }));
    koa.use(async (ctx: KoaContext) => {
      ctx.session.views = ((ctx.session.views as number | undefined) ?? 0) + 1;
      if (ctx.path !== '/by-hand') {
        ctx.body = { views: ctx.session.views };
        return;
      }
      ctx.respond = false;
      ctx.res.statusCode = 200;
      ctx.res.end('written by hand');
    });
    const agent = request.agent(koa.callback());
    await agent.get('/').expect(200, { views: 1 });
    await agent.get('/by-hand').expect(200, 'written by hand');
    await agent.get('/').expect(200, { views: 3 });
  });

  it('answers 503 with a body that names no host when the store is down', async () => {
    const response = await request(app({ ...base, store: new RefusingStore() })).get('/');
    expect(response.status).toBe(503);
    expect(response.text).not.toContain('10.0.0.9');
  });
});

describe('Hono middleware', () => {
  function app(options: Parameters<typeof honoSession>[0]) {
    const hono = new Hono<SessionEnv>();
    const errors: unknown[] = [];
    hono.onError((error, c) => {
      errors.push(error);
      return error instanceof HTTPException ? error.getResponse() : c.text('error', 500);
    });
    hono.use(honoSession(options));
    hono.get('/write', (c) => {
      c.header('Set-Cookie', 'theme=dark; Path=/', { append: true });
      c.var.session.views = 1;
      return c.json({ id: c.get('session').id });
    });
    return { hono, errors };
  }

  it("keeps the application's Set-Cookie beside the session's", async () => {
    const { hono } = app({ ...base, name: 'sid' });
    const cookies = (await hono.request('/write')).headers.getSetCookie();
    expect(cookies.map((cookie) => cookie.slice(0, cookie.indexOf('=')))).toEqual(['theme', 'sid']);
  });

  it('a store failure reaches onError as an HTTPException carrying the SessionError', async () => {
    const { hono, errors } = app({ ...base, store: new RefusingStore() });
    const response = await hono.request('/write');
    expect(response.status).toBe(503);
    expect(await response.text()).toBe('Service Unavailable');
    const [error] = errors as HTTPException[];
    expect(error).toBeInstanceOf(HTTPException);
    expect((error?.cause as SessionError | undefined)?.code).toBe('ERR_STORE_UNAVAILABLE');
  });

  it('an https URL makes the request secure, with no proxy setting', async () => {
    const { hono } = app({ ...base, cookie: { secure: true } });
    const secure = await hono.request('https://app.example/write');
    expect(secure.headers.getSetCookie()[1]).toMatch(/; Secure; SameSite=Lax$/);
    expect((await hono.request('http://app.example/write')).headers.getSetCookie()).toHaveLength(1);
  });

  it('on @hono/node-server: reads the Node request, trusting X-Forwarded-Proto only with proxy: true', async () => {
    const { serve } = await import('@hono/node-server');
    for (const proxy of [true, false]) {
      const { hono } = app({ ...base, proxy, cookie: { secure: true } });
      const server = serve({ fetch: hono.fetch, port: 0, hostname: '127.0.0.1' });
      await once(server, 'listening');
      const { port } = server.address() as AddressInfo;
      try {
        const response = await fetch(`http://127.0.0.1:${port}/write`, {
          headers: { 'x-forwarded-proto': 'https' },
        });
        const ours = response.headers.getSetCookie().filter((cookie) => cookie.startsWith('connect.sid='));
        expect([proxy, ours.length]).toEqual([proxy, proxy ? 1 : 0]);
        if (proxy) {
          const cookie = (ours[0] as string).split(';')[0] as string;
          const again = await fetch(`http://127.0.0.1:${port}/write`, {
            headers: { cookie, 'x-forwarded-proto': 'https' },
          });
          expect(((await again.json()) as { id: string }).id).toBe(decodeURIComponent(cookie).slice(14, 57));
        }
      } finally {
        server.close();
        await once(server, 'close');
      }
    }
  });

  it('sets the cookie on a response whose headers are immutable (Response.redirect), in Hono and on Node', async () => {
    const { hono } = app(base);
    hono.get('/away', (c) => {
      c.var.session.views = 1;
      return Response.redirect('http://app.example/', 302);
    });
    const direct = await hono.request('/away');
    expect(direct.status).toBe(302);
    expect(direct.headers.getSetCookie().map((cookie) => cookie.split('=')[0])).toEqual(['connect.sid']);

    const { serve } = await import('@hono/node-server');
    const server = serve({ fetch: hono.fetch, port: 0, hostname: '127.0.0.1' });
    await once(server, 'listening');
    const { port } = server.address() as AddressInfo;
    try {
      for (const path of ['/away', '/write']) {
        const response = await fetch(`http://127.0.0.1:${port}${path}`, { redirect: 'manual' });
        await response.arrayBuffer();
        expect(
          response.headers.getSetCookie().filter((cookie) => cookie.startsWith('connect.sid=')),
        ).toHaveLength(1);
      }
    } finally {
      server.close();
      await once(server, 'close');
    }
  });

  it("on @hono/node-server: keeps the application's Set-Cookie beside the session's, whatever the response", async () => {
    const { serve } = await import('@hono/node-server');
    const { stream } = await import('hono/streaming');
    // With a maxAge, a write to a stored session sends its cookie again, as express-session does.
    const { hono } = app({ ...base, cookie: { maxAge: 60_000 } });
    const own = 'theme=dark; Path=/';
    const routes: Record<string, (c: Context<SessionEnv>) => Response | Promise<Response>> = {
      // c.header() makes the response's headers a WHATWG Headers.
      '/headers': (c) => {
        c.header('Set-Cookie', own, { append: true });
        c.header('X-Other', 'kept');
        return c.text('ok');
      },
      // A plain record, as @hono/node-server passes it to writeHead untouched.
      '/record': () => new Response('ok', { headers: { 'Set-Cookie': own, 'X-Other': 'kept' } }),
      '/records': () =>
        new Response('ok', {
          headers: [
            ['Set-Cookie', own],
            ['Set-Cookie', 'lang=en'],
            ['X-Other', 'kept'],
          ],
        }),
      '/json': (c) => c.json({ ok: true }),
      // Set on the Node response itself: writeHead keeps it when the handler's headers have no Set-Cookie.
      '/node': (c) => {
        (c.env as { outgoing: import('node:http').ServerResponse }).outgoing.setHeader('Set-Cookie', own);
        return c.text('ok');
      },
      '/stream': (c) => {
        c.header('Set-Cookie', own, { append: true });
        return stream(c, async (out) => {
          await out.write('o');
          await out.write('k');
        });
      },
      '/body-stream': () =>
        new Response(
          new ReadableStream({
            start(controller) {
              controller.enqueue(new TextEncoder().encode('ok'));
              controller.close();
            },
          }),
          { headers: { 'Set-Cookie': own } },
        ),
    };
    for (const [path, handler] of Object.entries(routes))
      hono.get(path, (c) => {
        c.var.session.views = ((c.var.session.views as number | undefined) ?? 0) + 1;
        return handler(c);
      });
    const server = serve({ fetch: hono.fetch, port: 0, hostname: '127.0.0.1' });
    await once(server, 'listening');
    const { port } = server.address() as AddressInfo;
    try {
      const first = await fetch(`http://127.0.0.1:${port}/json`);
      expect(await first.json()).toEqual({ ok: true });
      expect(first.headers.get('content-type')).toMatch(/^application\/json/);
      const session = (first.headers.getSetCookie()[0] as string).split(';')[0] as string;
      expect(session).toMatch(/^connect\.sid=s%3A/);
      for (const path of Object.keys(routes)) {
        // Each request twice: a new session, and a write to a stored one.
        for (const cookie of [undefined, session]) {
          const response = await fetch(
            `http://127.0.0.1:${port}${path}`,
            cookie ? { headers: { cookie } } : {},
          );
          const names = response.headers.getSetCookie().map((value) => value.slice(0, value.indexOf('=')));
          const expected =
            path === '/json'
              ? ['connect.sid']
              : path === '/records'
                ? ['theme', 'lang', 'connect.sid']
                : ['theme', 'connect.sid'];
          expect([path, cookie, names]).toEqual([path, cookie, expected]);
          if (path !== '/json') expect(await response.text()).toBe('ok');
          if (path === '/headers' || path === '/record' || path === '/records')
            expect(response.headers.get('x-other')).toBe('kept');
        }
      }
    } finally {
      server.close();
      await once(server, 'close');
    }
  });

  it('on @hono/node-server: a session cookie goes with Cache-Control: no-store under the owasp preset', async () => {
    const { serve } = await import('@hono/node-server');
    // The preset's cookie is Secure: the proxy's header says the request came over HTTPS.
    const { hono } = app({ ...base, preset: 'owasp', proxy: true });
    hono.get('/cached', (c) => {
      c.var.session.views = 1;
      return c.text('ok', 200, { 'Cache-Control': 'public, max-age=60' });
    });
    const server = serve({ fetch: hono.fetch, port: 0, hostname: '127.0.0.1' });
    await once(server, 'listening');
    const { port } = server.address() as AddressInfo;
    try {
      for (const path of ['/cached', '/write']) {
        const response = await fetch(`http://127.0.0.1:${port}${path}`, {
          headers: { 'x-forwarded-proto': 'https' },
        });
        await response.arrayBuffer();
        expect([path, response.headers.get('cache-control')]).toEqual([path, 'no-store']);
        expect(
          response.headers
            .getSetCookie()
            .some((value) => value.startsWith('__Host-') || value.startsWith('connect.sid=')),
        ).toBe(true);
      }
    } finally {
      server.close();
      await once(server, 'close');
    }
  });

  it("`skip`, `genid` and `cookie` functions get a carrier whose host is Hono's context", async () => {
    const seen: string[] = [];
    const { hono } = app({
      ...base,
      genid: (carrier) => {
        seen.push(carrier.host.req.path);
        return `id-${seen.length}-abcdefghijklmnop`;
      },
    });
    const response = await hono.request('/write');
    expect(seen).toEqual(['/write']);
    expect(((await response.json()) as { id: string }).id).toBe('id-1-abcdefghijklmnop');
  });
});
