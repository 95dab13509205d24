import type { Request, Response } from 'express';
import { afterEach, describe, expect, it } from 'vitest';
import session from '../../src/index.js';
import { type App, expressVersions } from '../support/apps.js';
import { rawExchange, type Served, secret, serve } from '../support/hold-harness.js';
import { SlowMemoryStore } from '../support/slow-store.js';

/**
 * What a client receives when the connection is destroyed, or an informational response is written,
 * while a response is held, compared byte for byte with the same app without a session (where Node
 * writes at once). Every app changes the session, so sessionkit holds each response while a slow store
 * writes it.
 */
type Route = (req: Request, res: Response) => void;

const open: Served[] = [];
afterEach(async () => {
  for (const served of open.splice(0)) await served.close();
});

/** The bytes `raw` gets from `route`, with the session's Set-Cookie line and the Date taken out. */
async function exchange(create: () => App, withSession: boolean, route: Route, raw: string): Promise<string> {
  const app = create();
  if (withSession)
    app.use(session({ secret, store: new SlowMemoryStore(20), resave: false, saveUninitialized: false }));
  else
    app.use((req, _res, next) => {
      (req as { session?: Record<string, unknown> }).session = {};
      next();
    });
  app.get('/', (req, res) => {
    (req as { session: Record<string, unknown> }).session.n = 1;
    route(req, res);
  });
  const served = await serve(app);
  open.push(served);
  const { text, closed } = await rawExchange(served.port, raw, 2_000);
  const lines = text.split('\r\n').filter((line) => !/^set-cookie:/i.test(line));
  return `${lines.map((line) => (/^date:/i.test(line) ? 'Date: -' : line)).join('\r\n')}${closed ? '' : '<open>'}`;
}

const GET = 'GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n';

async function beside(create: () => App, route: Route, raw = GET) {
  return {
    held: await exchange(create, true, route, raw),
    bare: await exchange(create, false, route, raw),
  };
}

for (const { name, create } of expressVersions)
  describe(`a destroyed connection under a held response, ${name}`, () => {
    it('write() then destroy() in the same tick: nothing goes out, the connection goes at once, the write callback gets the error', async () => {
      const seen: Record<string, unknown[]> = { held: [], bare: [] };
      const run =
        (key: string): Route =>
        (_req, res) => {
          res.write('corked-', (error) => {
            seen[key]?.push((error as { code?: string } | null | undefined)?.code);
          });
          res.destroy();
          seen[key]?.push(res.socket?.destroyed);
        };
      const held = await exchange(create, true, run('held'), GET);
      const bare = await exchange(create, false, run('bare'), GET);
      expect(held).toBe('');
      expect(held).toBe(bare);
      expect(seen).toEqual({ held: [true, 'ERR_STREAM_DESTROYED'], bare: [true, 'ERR_STREAM_DESTROYED'] });
    });

    it('what an earlier tick wrote goes out; the same tick as the destroy does not', async () => {
      const outcome = await beside(create, (_req, res) => {
        res.write('earlier-');
        setTimeout(() => {
          res.write('same-tick-');
          res.destroy();
        }, 1);
      });
      expect(outcome.held).toContain('earlier-');
      expect(outcome.held).not.toContain('same-tick-');
      expect(outcome.held).toBe(outcome.bare);
    });

    it('what is written after a destroy in a later tick never goes out; what came before does', async () => {
      const outcome = await beside(create, (req, res) => {
        res.write('before-');
        setImmediate(() => {
          req.socket.destroy();
          res.end('after-destroy');
        });
      });
      expect(outcome.held).toContain('before-');
      expect(outcome.held).not.toContain('after-destroy');
      expect(outcome.held).toBe(outcome.bare);
    });

    it("after Node destroys the connection (a bad pipelined request), the app's end() sends nothing", async () => {
      // Node answers the malformed second request with a 400 and destroys the connection: the held
      // response, built by writeHead and ended only afterwards, must not follow that 400 on the wire.
      const outcome = await beside(
        create,
        (_req, res) => {
          res.writeHead(200, { 'Content-Type': 'text/plain' });
          setTimeout(() => res.end('late'), 5);
        },
        'GET / HTTP/1.1\r\nHost: x\r\n\r\nBAD\r\n\r\n',
      );
      expect(outcome.held).toBe('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
      expect(outcome.held).toBe(outcome.bare);
    });

    it('after a response timeout destroys the connection, the end() that follows sends nothing', async () => {
      const outcome = await beside(create, (_req, res) => {
        res.setTimeout(5);
        res.writeHead(200, { 'Content-Type': 'text/plain' });
        // Well after the timeout, so that a busy event loop cannot run the two timers as one.
        setTimeout(() => res.end('too late'), 150);
      });
      expect(outcome.held).toBe('');
      expect(outcome.held).toBe(outcome.bare);
    });
  });

for (const { name, create } of expressVersions)
  describe(`an informational response under a held response, ${name}`, () => {
    it('103 Early Hints after writeHead goes out before the final header, with a Buffer body', async () => {
      const outcome = await beside(create, (_req, res) => {
        res.writeHead(200, { 'Content-Length': '4', 'Content-Type': 'text/plain' });
        res.writeEarlyHints({ link: '</app.css>; rel=preload; as=style' });
        res.end(Buffer.from('body'));
      });
      expect(outcome.held).toMatch(/^HTTP\/1\.1 103 Early Hints\r\n[\s\S]*\r\n\r\nHTTP\/1\.1 200 OK\r\n/);
      expect(outcome.held).toBe(outcome.bare);
    });
  });

describe('a destroy that dropped all of a held response', () => {
  it('leaves no header to correct when the store write then finds the session gone: no error is reported', async () => {
    const store = new SlowMemoryStore(20);
    const middleware = session({
      secret,
      store,
      resave: false,
      saveUninitialized: false,
      cookie: { maxAge: 60_000 },
    });
    const reported: unknown[] = [];
    middleware.manager.on('error', (error) => reported.push(error));
    const app = expressVersions[1].create();
    app.use(middleware);
    app.get('/', (req, res) => {
      const data = req.session as unknown as Record<string, unknown>;
      data.n = ((data.n as number | undefined) ?? 0) + 1;
      if (data.n === 1) {
        res.send('stored');
        return;
      }
      res.write('dropped');
      res.destroy();
    });
    const served = await serve(app);
    open.push(served);
    const first = await rawExchange(served.port, GET);
    const cookie = /^Set-Cookie: ([^;]+)/m.exec(first.text)?.[1];
    expect(cookie).toBeDefined();
    // A logout elsewhere lands while this request's update is in flight: the cookie set at the call is wrong.
    const update = store.update.bind(store);
    let written: Promise<boolean> | undefined;
    store.update = (id, delta) => {
      written = store.destroy(id).then(() => update(id, delta));
      return written;
    };
    const second = await rawExchange(served.port, `GET / HTTP/1.1\r\nHost: x\r\nCookie: ${cookie}\r\n\r\n`);
    expect(second.text).toBe('');
    expect(await written).toBe(false);
    // The release runs in the microtasks after the write: done before the next macrotask.
    await new Promise((resolve) => setImmediate(resolve));
    expect(reported).toEqual([]);
  });
});
