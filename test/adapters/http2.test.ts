/**
 * Why: applications serve sessionkit on `node:http2`'s compatibility API (`createSecureServer({ allowHTTP1:
 * true })`, a plain handler or a Connect-style app), where a response held while a networked store writes
 * has its calls queued and replayed. The handler must still see the response Node gives it: logins are
 * stored before their answer, a router's `if (!res.writableEnded)` fallback does not run after a route's
 * `end()` (before, it turned a 200 into a 404), the status and headers go out as they were at the first
 * write, and `write()` applies backpressure (before, a piped file was read whole into memory).
 */
import { once } from 'node:events';
import { constants, createSecureServer, type Http2ServerRequest, type Http2ServerResponse } from 'node:http2';
import { request as httpsRequest } from 'node:https';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { serve } from '@hono/node-server';
import expressSession from 'express-session';
import Fastify from 'fastify';
import { Hono } from 'hono';
import Koa from 'koa';
import { describe, expect, it } from 'vitest';
import { session as fastifySession } from '../../src/adapters/fastify.js';
import { session as honoSession } from '../../src/adapters/hono.js';
import { session as koaSession } from '../../src/adapters/koa.js';
import type { Session } from '../../src/core/session.js';
import session, { currentUserId, login, logout } from '../../src/index.js';
import { MemoryStore } from '../../src/stores/memory.js';
import { ask, type H2Handler, h1get, h2client, serveH2, sleep } from '../support/h2.js';
import { SlowMemoryStore } from '../support/slow-store.js';
import { TEST_TLS } from '../support/tls.js';

const secret = 'a-long-enough-secret-for-the-hold-tests-0123456789';
const cookieOf = (cookies: string[]) =>
  cookies.find((c) => c.startsWith('connect.sid='))?.split(';')[0] ?? '';

type Data = Record<string, unknown>;
type Next = () => void;
/** A Connect-style middleware, as the handler calls it. */
type Middleware = (req: Http2ServerRequest, res: Http2ServerResponse, next: Next) => void;

const sessionOf = (req: Http2ServerRequest) => (req as unknown as { session: Data }).session;

/** No middleware (a stand-in session), sessionkit on its MemoryStore (no hold), or on a slow store (held). */
type Flavor = 'bare' | 'memory' | 'slow';

function middlewareFor(flavor: Flavor, delayMs = 30): Middleware {
  if (flavor === 'bare')
    return (req, _res, next) => {
      (req as unknown as { session: Data }).session = {};
      next();
    };
  const store = flavor === 'memory' ? new MemoryStore() : new SlowMemoryStore(delayMs);
  return session({ secret, resave: false, saveUninitialized: false, store }) as unknown as Middleware;
}

describe('plain handler on http2.createSecureServer, slow store', () => {
  it('concurrent logins on one connection, stored before the response, RST mid-hold, logout, HTTP/1.1 beside', async () => {
    const store = new SlowMemoryStore(30);
    const middleware = session({
      secret,
      resave: false,
      saveUninitialized: false,
      store,
      cookie: { secure: 'auto' },
    });
    const reported: unknown[] = [];
    middleware.manager.on('error', (error: unknown) => reported.push(error));
    const srv = await serveH2((req, res) =>
      middleware(req as never, res as never, () => {
        const own = (req as unknown as { session: Session }).session;
        const url = new URL(req.url, 'https://x');
        if (url.pathname === '/login') {
          login(own, url.searchParams.get('u') as string);
          res.setHeader('Set-Cookie', ['a=1', 'b=2']);
          res.write('in ');
          res.end(String(url.searchParams.get('u')));
        } else if (url.pathname === '/logout') {
          logout(own);
          res.end('out');
        } else res.end(String(currentUserId(own)));
      }),
    );
    const client = h2client(srv.port);
    try {
      const logins = await Promise.all(
        Array.from({ length: 20 }, async (_, i) => {
          const answer = await ask(client, { ':path': `/login?u=user${i}` });
          // The session is in the store when the response is received.
          return { answer, stored: await store.length() };
        }),
      );
      for (const [i, { answer, stored }] of logins.entries()) {
        expect(answer.body).toBe(`in user${i}`);
        expect(answer.cookies.slice(0, 2)).toEqual(['a=1', 'b=2']);
        expect(answer.cookies[2]).toMatch(/; Secure;/);
        expect(stored).toBeGreaterThan(0);
      }
      const whos = await Promise.all(
        logins.map(({ answer }) =>
          ask(client, { ':path': '/who', cookie: ['x=1', cookieOf(answer.cookies), 'y=2'] }),
        ),
      );
      expect(whos.map((who) => who.body)).toEqual(logins.map((_, i) => `user${i}`));
      // HTTP/1.1 on the same server reads the same sessions.
      expect((await h1get(srv.port, '/who', cookieOf(logins[0]!.answer.cookies))).body).toBe('user0');
      // The client resets streams while they are held: nothing crashes, the connection goes on.
      for (let i = 0; i < 5; i++) {
        const stream = client.request({ ':path': `/login?u=gone${i}` });
        stream.on('error', () => undefined);
        await sleep(5);
        stream.close(constants.NGHTTP2_CANCEL);
      }
      await sleep(100);
      const cookie = cookieOf(logins[1]!.answer.cookies);
      const out = await ask(client, { ':path': '/logout', cookie });
      expect(out.cookies[0]).toMatch(/^connect\.sid=; /);
      expect((await ask(client, { ':path': '/who', cookie })).body).toBe('null');
      expect(reported).toEqual([]);
    } finally {
      client.close();
      await srv.close();
    }
  });
});

describe('a held response reports what Node reports', () => {
  async function routerFallback(flavor: Flavor, protocol: 'h1' | 'h2') {
    const middleware = middlewareFor(flavor);
    const srv = await serveH2((req, res) =>
      middleware(req, res, () => {
        void (async () => {
          // The route: the session changed, so it is stored before the response.
          sessionOf(req).visits = 1;
          res.setHeader('content-type', 'text/plain');
          res.end('ok');
          // The router's fallback, as Node documents it.
          if (!res.writableEnded) {
            res.statusCode = 404;
            res.end('not found');
          }
        })();
      }),
    );
    try {
      if (protocol === 'h1') {
        const { status, body } = await h1get(srv.port, '/');
        return { status, body };
      }
      const client = h2client(srv.port);
      const { status, body } = await ask(client, { ':path': '/' });
      client.close();
      return { status, body };
    } finally {
      await srv.close();
    }
  }

  it("after end(), a router's `!res.writableEnded` fallback does not run", async () => {
    const expected = { status: 200, body: 'ok' };
    expect(await routerFallback('bare', 'h2')).toEqual(expected);
    expect(await routerFallback('memory', 'h2')).toEqual(expected);
    expect(await routerFallback('slow', 'h1')).toEqual(expected);
    // Held: the client got 404 with the body 'ok'.
    expect(await routerFallback('slow', 'h2')).toEqual(expected);
  });

  /** Each handler records what the response reports; what the client gets is recorded beside it. */
  const scenarios: Record<string, (res: Http2ServerResponse, reads: unknown[]) => void> = {
    '/status-after-write': (res, reads) => {
      res.write('a');
      reads.push(res.headersSent);
      res.statusCode = 404;
      res.end('b');
    },
    '/header-after-write': (res, reads) => {
      res.write('a');
      for (const change of [
        () => res.setHeader('x-late', '1'),
        () => res.appendHeader('x-late', '1'),
        () => res.removeHeader('content-type'),
        () => res.writeHead(500),
      ]) {
        try {
          change();
          reads.push('changed');
        } catch (error) {
          reads.push((error as { code?: string }).code);
        }
      }
      res.end();
    },
    '/flush-then-status': (res, reads) => {
      (res as unknown as { flushHeaders(): void }).flushHeaders();
      reads.push(res.headersSent);
      res.statusCode = 500;
      res.end('ok');
    },
    '/write-head': (res, reads) => {
      res.writeHead(201, { 'x-kind': 'created' });
      reads.push(res.headersSent, res.statusCode);
      res.end('made');
    },
    '/end-twice': (res, reads) => {
      res.end('x');
      reads.push(res.writableEnded, res.finished, res.headersSent);
      res.end('y', () => reads.push('second end called back'));
    },
    '/write-after-end': (res, reads) => {
      res.end('x');
      reads.push(res.write('y', (error) => reads.push((error as { code?: string } | null)?.code)));
    },
  };

  async function reports(flavor: Flavor) {
    const middleware = middlewareFor(flavor);
    const reads = new Map<string, unknown[]>();
    const srv = await serveH2((req, res) =>
      middleware(req, res, () => {
        sessionOf(req).visits = 1;
        res.setHeader('content-type', 'text/plain');
        const own: unknown[] = [];
        reads.set(req.url, own);
        scenarios[req.url]?.(res, own);
      }),
    );
    const client = h2client(srv.port);
    const results: Record<string, { reads: unknown; client: unknown; cookie: boolean }> = {};
    try {
      for (const path of Object.keys(scenarios)) {
        const answer = await ask(client, { ':path': path });
        await sleep(20); // callbacks given to a late call
        results[path] = {
          reads: reads.get(path),
          // A reset stream has no defined body: the client may have read part of it.
          client: answer.error ? 'reset' : { status: answer.status, body: answer.body },
          cookie: answer.cookies.some((c) => c.startsWith('connect.sid=')),
        };
      }
    } finally {
      client.close();
      await srv.close();
    }
    return results;
  }

  it('header sent at the first write, end, writeHead or flushHeaders; ended after end(), as without a hold', async () => {
    const bare = await reports('bare');
    const held = await reports('slow');
    // Without a hold: the status and headers as they were at the first write go out; later changes fail.
    expect(bare['/status-after-write']).toMatchObject({ reads: [true], client: { status: 200, body: 'ab' } });
    expect(bare['/header-after-write']).toMatchObject({ reads: Array(4).fill('ERR_HTTP2_HEADERS_SENT') });
    expect(bare['/end-twice']).toMatchObject({ reads: [true, true, true, 'second end called back'] });
    expect(bare['/write-after-end']).toMatchObject({ reads: [false, 'ERR_STREAM_WRITE_AFTER_END'] });
    for (const path of Object.keys(scenarios)) {
      const { reads, client, cookie } = held[path]!;
      expect({ path, reads, client }).toEqual({ path, reads: bare[path]!.reads, client: bare[path]!.client });
      // The held responses carry the stored session's cookie (but one the stream was reset for).
      if (client !== 'reset') expect(cookie).toBe(true);
    }
  });
});

describe('backpressure on a held response', () => {
  const SOURCE = 64 * 1024 * 1024;
  const CHUNK = 64 * 1024;

  /** MB a piped source produced while the store (400 ms) writes and the client reads nothing. */
  async function readDuringHold(flavor: 'bare' | 'express-session' | 'sessionkit', protocol: 'h1' | 'h2') {
    const options = { secret, resave: false, saveUninitialized: false };
    const store = new SlowMemoryStore(400);
    const middleware =
      flavor === 'bare'
        ? middlewareFor('bare')
        : flavor === 'sessionkit'
          ? (session({ ...options, store }) as unknown as Middleware)
          : (expressSession({
              ...options,
              store: store as unknown as expressSession.Store,
            }) as unknown as Middleware);
    let produced = 0;
    const chunk = Buffer.alloc(CHUNK, 97);
    const srv = await serveH2((req, res) =>
      middleware(req, res, () => {
        sessionOf(req).download = 'report.csv';
        res.setHeader('content-type', 'text/csv');
        new Readable({
          read() {
            if (produced >= SOURCE) this.push(null);
            else {
              produced += CHUNK;
              this.push(chunk);
            }
          },
        })
          .on('error', () => undefined)
          .pipe(res);
      }),
    );
    try {
      if (protocol === 'h2') {
        const client = h2client(srv.port);
        client.request({ ':path': '/' }).on('error', () => undefined);
        await sleep(250);
        client.destroy();
      } else {
        const request = httpsRequest({
          host: '127.0.0.1',
          port: srv.port,
          path: '/',
          rejectUnauthorized: false,
        });
        request.on('error', () => undefined);
        request.end();
        await sleep(250);
        request.destroy();
      }
      return produced / 1024 / 1024;
    } finally {
      await sleep(200); // the store answers; nothing is left running
      await srv.close();
    }
  }

  it('a piped stream is not read whole into memory while the store writes', async () => {
    expect(await readDuringHold('bare', 'h2')).toBeLessThan(1);
    expect(await readDuringHold('express-session', 'h2')).toBeLessThan(1);
    expect(await readDuringHold('sessionkit', 'h1')).toBeLessThan(1);
    // Held: all 64 MB were read into the queue.
    expect(await readDuringHold('sessionkit', 'h2')).toBeLessThan(1);
  });

  it("write() returns false past the high-water mark while held, and 'drain' lets the rest through", async () => {
    const middleware = middlewareFor('slow');
    const falses: number[] = [];
    const srv = await serveH2((req, res) =>
      middleware(req, res, () => {
        sessionOf(req).download = 'big';
        let left = 64;
        let refused = 0;
        const more = () => {
          while (left > 0) {
            left--;
            if (!res.write(Buffer.alloc(16 * 1024, 98))) {
              refused++;
              res.once('drain', more);
              return;
            }
          }
          falses.push(refused);
          res.end();
        };
        more();
      }),
    );
    const client = h2client(srv.port);
    try {
      const answer = await ask(client, { ':path': '/' });
      expect(answer.body.length).toBe(64 * 16 * 1024);
      expect(cookieOf(answer.cookies)).not.toBe('');
      expect(falses[0]).toBeGreaterThan(0);
    } finally {
      client.close();
      await srv.close();
    }
  });
});

async function exercise(port: number) {
  const client = h2client(port);
  const a = await ask(client, { ':path': '/login' });
  const b = await ask(client, { ':path': '/who', cookie: ['z=1', cookieOf(a.cookies)] });
  client.close();
  return {
    cookies: a.cookies.length,
    secure: a.cookies.some((c) => /connect\.sid=.*; Secure/.test(c)),
    who: b.body,
  };
}
const options = () => ({
  secret,
  resave: false,
  saveUninitialized: false,
  store: new SlowMemoryStore(30),
  cookie: { secure: 'auto' as const },
});
const expected = { cookies: 2, secure: true, who: 'u1' };

describe('frameworks on HTTP/2 with TLS, slow store', () => {
  it('Fastify { http2: true, https }', async () => {
    const app = Fastify({ http2: true, https: { ...TEST_TLS, allowHTTP1: true } });
    await app.register(fastifySession, options());
    app.get('/login', async (req, reply) => {
      login(req.session as unknown as Session, 'u1');
      reply.header('set-cookie', 'a=1');
      return 'in';
    });
    app.get('/who', async (req) => String(currentUserId(req.session as unknown as Session)));
    await app.listen({ port: 0, host: '127.0.0.1' });
    try {
      expect(await exercise((app.server.address() as AddressInfo).port)).toEqual(expected);
    } finally {
      await app.close();
    }
  });

  it("Koa's app.callback() on createSecureServer", async () => {
    const app = new Koa();
    app.use(koaSession(options()));
    app.use(async (ctx) => {
      const own = (ctx as unknown as { session: Session }).session;
      if (ctx.path === '/login') {
        login(own, 'u1');
        ctx.set('set-cookie', ['a=1']);
        ctx.body = 'in';
      } else ctx.body = String(currentUserId(own));
    });
    const server = createSecureServer(
      { ...TEST_TLS, allowHTTP1: true },
      app.callback() as unknown as H2Handler,
    );
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    try {
      expect(await exercise((server.address() as AddressInfo).port)).toEqual(expected);
    } finally {
      server.close();
    }
  });

  it('Hono on @hono/node-server with createServer: createSecureServer', async () => {
    const app = new Hono<{ Variables: { session: Session } }>();
    app.use(honoSession(options()) as never);
    app.get('/login', (c) => {
      login(c.get('session'), 'u1');
      c.header('set-cookie', 'a=1', { append: true });
      return c.text('in');
    });
    app.get('/who', (c) => c.text(String(currentUserId(c.get('session')))));
    const server = serve({
      fetch: app.fetch,
      port: 0,
      hostname: '127.0.0.1',
      createServer: createSecureServer,
      serverOptions: { ...TEST_TLS, allowHTTP1: true },
    });
    await once(server, 'listening');
    try {
      expect(await exercise((server.address() as AddressInfo).port)).toEqual(expected);
    } finally {
      server.close();
    }
  });
});
