/**
 * Servers for every adapter (and express-session) on one express-session MemoryStore (sessionkit through
 * its bridge), each answering `/who` with the loaded session's `user` ("none" for a fresh session), and
 * raw clients for HTTP/1.1 (bytes on a socket) and HTTP/2 (header fields as given, crumbs included).
 */

import { createHmac, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createH2Server, connect as h2connect, type OutgoingHttpHeaders } from 'node:http2';
import { type AddressInfo, connect as netConnect } from 'node:net';
import { serve } from '@hono/node-server';
import { getRequest } from '@sveltejs/kit/node';
import express5 from 'express';
import expressSession from 'express-session';
import express4 from 'express4';
import Fastify from 'fastify';
import { Hono } from 'hono';
import Koa from 'koa';
import { session as fastifySession } from '../../src/adapters/fastify.js';
import { session as honoSession } from '../../src/adapters/hono.js';
import { session as koaSession } from '../../src/adapters/koa.js';
import { sessionHandle } from '../../src/adapters/sveltekit.js';
import session from '../../src/index.js';
import { serveSvelteKit } from '../support/sveltekit.js';

export const SECRET = 'cookie-wire-secret-0123456789abcdefghijk';

export function newId(): string {
  return randomBytes(24).toString('base64url');
}
export function signed(id: string): string {
  const mac = createHmac('sha256', SECRET).update(id).digest('base64').replace(/=+$/, '');
  return encodeURIComponent(`s:${id}.${mac}`);
}

type Store = InstanceType<typeof expressSession.MemoryStore>;

export async function seed(store: Store, user: string): Promise<string> {
  const id = newId();
  const data = { cookie: { originalMaxAge: null, expires: null, httpOnly: true, path: '/' }, user };
  await new Promise<void>((resolve, reject) =>
    store.set(id, data as never, (error) => (error ? reject(error) : resolve())),
  );
  return id;
}

const who = (s: { user?: unknown } | undefined | null) => String(s?.user ?? 'none');

export interface Served {
  name: string;
  port: number;
  h2: boolean;
  close(): Promise<void>;
}

type Kind = 'h1' | 'h2';

async function listenNode(
  kind: Kind,
  handler: (req: IncomingMessage, res: ServerResponse) => void,
): Promise<{ server: Server; port: number }> {
  const server = (kind === 'h1' ? createServer(handler) : createH2Server(handler as never)) as Server;
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { server, port: (server.address() as AddressInfo).port };
}

function closer(server: Server): () => Promise<void> {
  return () =>
    new Promise((resolve) => {
      (server as unknown as { closeAllConnections?: () => void }).closeAllConnections?.();
      server.close(() => resolve());
    });
}

const options = (store: Store) => ({ secret: SECRET, resave: false, saveUninitialized: false, store });

export async function startAll(store: Store, kind: Kind): Promise<Served[]> {
  const served: Served[] = [];
  const h2 = kind === 'h2';
  // express-session on Express 5 (reference)
  {
    const app = express5();
    app.use(expressSession({ ...options(store) }));
    app.get('/who', (req, res) => res.send(who(req.session as never)));
    if (!h2) {
      const { server, port } = await listenNode(kind, app as never);
      served.push({ name: 'express-session', port, h2, close: closer(server) });
    }
  }
  for (const [name, create] of [
    ['sk express4', () => express4()],
    ['sk express5', () => express5()],
  ] as const) {
    const app = create() as ReturnType<typeof express5>;
    app.use(session(options(store)) as never);
    app.get('/who', (req, res) => res.send(who(req.session as never)));
    if (!h2) {
      const { server, port } = await listenNode(kind, app as never);
      served.push({ name, port, h2, close: closer(server) });
    }
  }
  {
    const middleware = session(options(store));
    const { server, port } = await listenNode(kind, (req, res) =>
      middleware(req as never, res as never, () =>
        res.end(who((req as never as { session: never }).session)),
      ),
    );
    served.push({ name: 'sk node:http', port, h2, close: closer(server) });
  }
  {
    const app = Fastify(h2 ? ({ http2: true } as never) : {});
    await app.register(fastifySession, options(store) as never);
    app.get('/who', async (req) => who(req.session as never));
    await app.listen({ port: 0, host: '127.0.0.1' });
    served.push({
      name: 'sk fastify',
      port: (app.server.address() as AddressInfo).port,
      h2,
      close: () => app.close(),
    });
  }
  {
    const app = new Koa();
    app.silent = true;
    app.use(koaSession(options(store) as never));
    app.use(async (ctx) => {
      ctx.body = who(ctx.session as never);
    });
    const { server, port } = await listenNode(kind, app.callback() as never);
    served.push({ name: 'sk koa', port, h2, close: closer(server) });
  }
  {
    const app = new Hono();
    app.use(honoSession(options(store) as never) as never);
    app.get('/who', (c) => c.text(who(c.get('session' as never) as never)));
    const server = serve({
      fetch: app.fetch,
      port: 0,
      hostname: '127.0.0.1',
      ...(h2 ? { createServer: createH2Server } : {}),
    } as never) as unknown as Server;
    await once(server, 'listening');
    served.push({ name: 'sk hono', port: (server.address() as AddressInfo).port, h2, close: closer(server) });
  }
  {
    const handle = sessionHandle(options(store) as never);
    const { server, port } = await listenNode(kind, async (req, res) => {
      const request = await getRequest({ request: req, base: 'http://localhost', bodySizeLimit: 1024 });
      const response = await serveSvelteKit(
        handle,
        request,
        (event) => new Response(who(event.locals.session as never)),
      );
      res.writeHead(response.status, Object.fromEntries(response.headers));
      res.end(await response.text());
    });
    served.push({ name: 'sk sveltekit', port, h2, close: closer(server) });
  }
  return served;
}

export interface Answer {
  status: number;
  body: string;
  error?: string;
}

/** HTTP/1.1 as raw bytes: each Cookie header field as given, latin1. */
export function rawH1(port: number, cookieFields: string[]): Promise<Answer> {
  return new Promise((resolve) => {
    const socket = netConnect(port, '127.0.0.1');
    const head =
      'GET /who HTTP/1.1\r\nHost: localhost\r\n' +
      cookieFields.map((f) => `Cookie: ${f}\r\n`).join('') +
      'Connection: close\r\n\r\n';
    const chunks: Buffer[] = [];
    socket.on('data', (c) => chunks.push(c));
    socket.on('error', (e) => resolve({ status: 0, body: '', error: String(e) }));
    socket.on('close', () => {
      const text = Buffer.concat(chunks).toString('latin1');
      const status = Number(/^HTTP\/1\.1 (\d+)/.exec(text)?.[1] ?? 0);
      let body = text.slice(text.indexOf('\r\n\r\n') + 4);
      if (/transfer-encoding: chunked/i.test(text.slice(0, text.indexOf('\r\n\r\n')))) {
        const parts: string[] = [];
        let rest = body;
        for (;;) {
          const nl = rest.indexOf('\r\n');
          const size = Number.parseInt(rest.slice(0, nl), 16);
          if (!size) break;
          parts.push(rest.slice(nl + 2, nl + 2 + size));
          rest = rest.slice(nl + 2 + size + 2);
        }
        body = parts.join('');
      }
      resolve({ status, body });
    });
    socket.write(Buffer.from(head, 'latin1'));
  });
}

/** HTTP/2 (cleartext): `cookie` as several fields when given an array (crumbs). */
export function rawH2(port: number, cookie: string | string[]): Promise<Answer> {
  return new Promise((resolve) => {
    const client = h2connect(`http://127.0.0.1:${port}`);
    client.on('error', (e) => resolve({ status: 0, body: '', error: String(e) }));
    const headers: OutgoingHttpHeaders = { ':path': '/who', cookie };
    let stream: ReturnType<typeof client.request>;
    try {
      stream = client.request(headers);
    } catch (e) {
      client.close();
      resolve({ status: 0, body: '', error: String(e) });
      return;
    }
    const answer: Answer = { status: 0, body: '' };
    stream.on('response', (h) => {
      answer.status = Number(h[':status']);
    });
    stream.setEncoding('utf8');
    stream.on('data', (d: string) => {
      answer.body += d;
    });
    stream.on('error', (e) => {
      answer.error = String(e);
    });
    stream.on('close', () => {
      client.close();
      resolve(answer);
    });
    stream.end();
  });
}
