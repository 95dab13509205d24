import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { connect as connectHttp2, createServer as createHttp2Server } from 'node:http2';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import compression from 'compression';
import express from 'express';
import expressSession from 'express-session';
import helmet from 'helmet';
import request from 'supertest';
import { afterAll, describe, expect, it } from 'vitest';
import session from '../../src/index.js';
import { cookieOf, setCookies } from '../support/apps.js';
import {
  appFor,
  backends,
  middlewareFor,
  rawExchange,
  secret,
  serve,
  side,
  statusLines,
} from '../support/hold-harness.js';
import { SlowMemoryStore } from '../support/slow-store.js';

/**
 * Common middleware and protocols around a held response, each beside express-session with the same app
 * and the same kind of store (a store that answers ~25 ms later, and Redis), so every response is held.
 */
const all = await backends();
const dir = mkdtempSync(join(tmpdir(), 'sk-hold-'));
writeFileSync(join(dir, 'page.txt'), 'static file body\n'.repeat(200));
afterAll(async () => {
  for (const backend of all) await backend.close();
  rmSync(dir, { recursive: true, force: true });
});

type WithSession = IncomingMessage & { session: Record<string, unknown> & { save(): unknown } };

for (const backend of all) {
  describe.skipIf(backend.skip)(`held responses with common middleware on ${backend.name}`, () => {
    it('helmet() after the session: its headers and the cookie both go out', async () => {
      const outcome = await side(backend, async (flavor, store) => {
        const app = appFor(
          flavor,
          store,
          (routes) => {
            routes.get('/', (req, res) => {
              req.session.n = 1;
              res.send('ok');
            });
          },
          { after: [helmet()] },
        );
        const res = await request(app).get('/').expect(200, 'ok');
        return {
          csp: typeof res.headers['content-security-policy'],
          frame: res.headers['x-frame-options'],
          cookies: setCookies(res).length,
        };
      });
      expect(outcome.sessionkit).toEqual({ csp: 'string', frame: 'SAMEORIGIN', cookies: 1 });
      expect(outcome.sessionkit).toEqual(outcome['express-session']);
    });

    it('compression() mounted before the session, as apps usually order them', async () => {
      const body = 'y'.repeat(3000);
      const outcome = await side(backend, async (flavor, store) => {
        const app = express();
        app.use(compression({ threshold: 0 }));
        app.use(
          flavor === 'sessionkit'
            ? session({ secret, store, resave: false, saveUninitialized: false })
            : expressSession({
                secret,
                store: store as unknown as expressSession.Store,
                resave: false,
                saveUninitialized: false,
              }),
        );
        app.get('/', (req, res) => {
          req.session.n = 1;
          res.setHeader('Content-Type', 'text/plain');
          res.write(body);
          res.end(body);
        });
        const res = await request(app).get('/').set('Accept-Encoding', 'gzip');
        return [
          res.status,
          res.headers['content-encoding'],
          res.text === body + body,
          setCookies(res).length,
        ];
      });
      expect(outcome.sessionkit).toEqual([200, 'gzip', true, 1]);
      expect(outcome.sessionkit).toEqual(outcome['express-session']);
    });

    it('express.static and res.sendFile stream the file after the session is stored', async () => {
      const outcome = await side(backend, async (flavor, store) => {
        const app = appFor(
          flavor,
          store,
          (routes) => {
            routes.get('/send', (req, res, next) => {
              req.session.n = 1;
              res.sendFile(join(dir, 'page.txt'), (error) => error && next(error));
            });
            routes.use('/static', express.static(dir));
          },
          { saveUninitialized: true },
        );
        const sent = await request(app).get('/send').expect(200);
        const file = await request(app).get('/static/page.txt').expect(200);
        const again = await request(app)
          .get('/static/page.txt')
          .set('If-None-Match', String(file.headers.etag));
        return {
          sent: [sent.text.length, setCookies(sent).length],
          file: [file.text.length, setCookies(file).length],
          conditional: [again.status, again.text, setCookies(again).length],
          stored: (await request(app).get('/read').set('Cookie', cookieOf(sent))).body,
        };
      });
      expect(outcome.sessionkit).toEqual({
        sent: [3400, 1],
        file: [3400, 1],
        conditional: [304, '', 1],
        stored: { n: 1 },
      });
      expect(outcome.sessionkit).toEqual(outcome['express-session']);
    });

    it('HEAD and 304 answers carry the cookie and no body', async () => {
      const outcome = await side(backend, async (flavor, store) => {
        const app = appFor(flavor, store, (routes) => {
          routes.get('/page', (req, res) => {
            req.session.n = ((req.session.n as number) ?? 0) + 1;
            res.set('ETag', '"fixed"').send('a page body');
          });
        });
        const head = await request(app).head('/page').expect(200);
        const cookie = cookieOf(head);
        const fresh = await request(app).get('/page').set('Cookie', cookie).set('If-None-Match', '"fixed"');
        return {
          head: [head.headers['content-length'], head.text ?? '', setCookies(head).length],
          fresh: [fresh.status, fresh.text, setCookies(fresh).length],
          stored: (await request(app).get('/read').set('Cookie', cookie)).body,
        };
      });
      expect(outcome.sessionkit.head).toEqual(['11', '', 1]);
      expect(outcome.sessionkit.fresh[0]).toBe(304);
      expect(outcome.sessionkit.stored).toEqual({ n: 2 });
      expect(outcome.sessionkit).toEqual(outcome['express-session']);
    });

    it('pipelined keep-alive requests are answered in order, each with its cookie', async () => {
      const outcome = await side(backend, async (flavor, store) => {
        const app = appFor(flavor, store, (routes) => {
          routes.get('/:name', (req, res) => {
            req.session.name = req.params.name;
            res.send(`body-${req.params.name}`);
          });
        });
        const served = await serve(app);
        try {
          const ask = (name: string, last = false) =>
            `GET /${name} HTTP/1.1\r\nHost: x\r\n${last ? 'Connection: close\r\n' : ''}\r\n`;
          const { text, closed } = await rawExchange(served.port, ask('a') + ask('b') + ask('c', true));
          return {
            statusLines: statusLines(text),
            bodies: text.match(/body-\w/g),
            cookies: (text.match(/^Set-Cookie: connect\.sid=/gm) ?? []).length,
            closed,
          };
        } finally {
          await served.close();
        }
      });
      expect(outcome.sessionkit).toEqual({
        statusLines: ['HTTP/1.1 200 OK', 'HTTP/1.1 200 OK', 'HTTP/1.1 200 OK'],
        bodies: ['body-a', 'body-b', 'body-c'],
        cookies: 3,
        closed: true,
      });
      expect(outcome.sessionkit).toEqual(outcome['express-session']);
    });

    it('HTTP/2 compatibility mode: the response is held and released with its cookie', async () => {
      const outcome = await side(backend, async (flavor, store) => {
        const middleware = middlewareFor(flavor, store);
        const server = createHttp2Server((req, res) => {
          const httpReq = req as unknown as WithSession;
          middleware(httpReq, res as unknown as ServerResponse, (error) => {
            if (error) {
              res.statusCode = 500;
              res.end();
              return;
            }
            if (req.url === '/write') httpReq.session.n = 1;
            res.setHeader('Content-Type', 'text/plain');
            res.write('h2-');
            res.end(`n=${String(httpReq.session.n)}`);
          });
        });
        server.listen(0, '127.0.0.1');
        await once(server, 'listening');
        const client = connectHttp2(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
        client.on('error', () => undefined);
        const ask = (path: string, cookie?: string) =>
          new Promise<{ status: number; cookies: string[]; body: string }>((resolve, reject) => {
            const stream = client.request({ ':path': path, ...(cookie ? { cookie } : {}) });
            let status = 0;
            let cookies: string[] = [];
            let body = '';
            stream.on('response', (headers) => {
              status = Number(headers[':status']);
              cookies = (headers['set-cookie'] as string[] | undefined) ?? [];
            });
            stream.setEncoding('utf8');
            stream.on('data', (chunk: string) => {
              body += chunk;
            });
            stream.on('end', () => resolve({ status, cookies, body }));
            stream.on('error', reject);
          });
        try {
          const written = await ask('/write');
          const cookie = written.cookies[0]?.split(';')[0];
          const read = await ask('/read', cookie);
          return { written: [written.status, written.cookies.length, written.body], read: read.body };
        } finally {
          client.close();
          server.close();
        }
      });
      expect(outcome.sessionkit).toEqual({ written: [200, 1, 'h2-n=1'], read: 'h2-n=1' });
      expect(outcome.sessionkit).toEqual(outcome['express-session']);
    });

    it('a WebSocket upgrade reads the session through the middleware', async () => {
      const outcome = await side(backend, async (flavor, store) => {
        const middleware = middlewareFor(flavor, store);
        const app = appFor(flavor, store, (routes) => {
          routes.post('/login', (req, res) => {
            req.session.user = 'u1';
            res.send('in');
          });
        });
        const served = await serve(app);
        // The pattern express-session documents for `ws`: the middleware run on the upgrade request with
        // a stand-in response, then the socket answered by hand.
        served.server.on('upgrade', (req: IncomingMessage, socket) => {
          middleware(req, {} as ServerResponse, () => {
            const user = (req as WithSession).session?.user;
            socket.end(
              `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\nuser=${String(user)}`,
            );
          });
        });
        try {
          const login = await request(served.server).post('/login').expect(200);
          const { text } = await rawExchange(
            served.port,
            `GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nCookie: ${cookieOf(login)}\r\n\r\n`,
          );
          return { status: statusLines(text), user: text.slice(text.indexOf('user=')) };
        } finally {
          await served.close();
        }
      });
      expect(outcome.sessionkit).toEqual({ status: ['HTTP/1.1 101 Switching Protocols'], user: 'user=u1' });
      expect(outcome.sessionkit).toEqual(outcome['express-session']);
    });
  });
}

describe('HTTP/2 compatibility mode, where calls are still queued', () => {
  it('a header Node rejects fails the writeHead call, as without a hold; the session is stored, the server lives', async () => {
    // While held, HTTP/2 calls are queued; a queued writeHead still applies its status and headers at the
    // call (a logger reading res.statusCode after it sees the status), so a header the response refuses
    // fails there, where the application can catch it, as it does without a session.
    const store = new SlowMemoryStore(20);
    const middleware = session({ secret, store, resave: false, saveUninitialized: false });
    const errors: unknown[] = [];
    middleware.manager.on('error', (error) => errors.push((error as { code?: string }).code));
    const thrown: unknown[] = [];
    const server = createHttp2Server((req, res) => {
      const httpReq = req as unknown as WithSession;
      middleware(httpReq, res as unknown as ServerResponse, () => {
        httpReq.session.n = 1;
        if (req.url === '/bad') {
          try {
            res.writeHead(200, { 'Bad Header': 'x' } as Record<string, string>);
          } catch (error) {
            thrown.push((error as { code?: string }).code);
            res.statusCode = 500;
          }
        }
        res.end('body');
      });
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const client = connectHttp2(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
    client.on('error', () => undefined);
    const ask = (path: string) =>
      new Promise<string>((resolve) => {
        const stream = client.request({ ':path': path });
        let body = '';
        stream.setEncoding('utf8');
        stream.on('data', (chunk: string) => {
          body += chunk;
        });
        stream.on('end', () => resolve(`ended:${body}`));
        stream.on('error', (error: { code?: string }) => resolve(`error:${error.code}`));
      });
    try {
      expect(await ask('/bad')).toBe('ended:body');
      expect(thrown).toEqual(['ERR_INVALID_HTTP_TOKEN']);
      expect(errors).toEqual([]);
      expect(Object.keys(await store.all())).toHaveLength(1);
      expect(await ask('/good')).toBe('ended:body');
    } finally {
      client.close();
      server.close();
    }
  });
});
