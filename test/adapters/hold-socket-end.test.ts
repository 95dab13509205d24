/**
 * An application that ends the connection itself after answering (`res.status(403).send('banned');
 * req.socket.end()`, or `destroySoon()`) on a request whose session is being stored: the response it
 * wrote before must reach the client, as it does without a hold. A graceful end of the connection waits
 * for the release, as a destroy does; without that, the FIN went first and the client got an empty reply
 * though the session was stored.
 */
import type { Request, Response } from 'express';
import express from 'express';
import { afterEach, describe, expect, it } from 'vitest';
import session from '../../src/index.js';
import { rawExchange, type Served, secret, serve } from '../support/hold-harness.js';
import { SlowMemoryStore } from '../support/slow-store.js';

type Route = (req: Request, res: Response) => void;

const open: Served[] = [];
afterEach(async () => {
  for (const served of open.splice(0)) await served.close();
});

/** What the client receives from `route`, without the Set-Cookie, Date and ETag lines. */
async function exchange(withSession: boolean, route: Route): Promise<string> {
  const app = express();
  if (withSession)
    app.use(session({ secret, store: new SlowMemoryStore(30), resave: false, saveUninitialized: false }));
  else
    app.use((req, _res, next) => {
      (req as unknown as { session: Record<string, unknown> }).session = {};
      next();
    });
  app.get('/', (req, res) => {
    (req as unknown as { session: Record<string, unknown> }).session.visited = true;
    route(req, res);
  });
  const served = await serve(app);
  open.push(served);
  const { text } = await rawExchange(served.port, 'GET / HTTP/1.1\r\nHost: x\r\n\r\n', 2_000);
  return text.replace(/^(Set-Cookie|Date|ETag): .*\r\n/gim, '');
}

describe('a graceful end of the connection while the response is held', () => {
  it('res.send() then req.socket.end(): the client gets the response', async () => {
    const route: Route = (req, res) => {
      res.status(403).send('banned');
      req.socket.end();
    };
    const bare = await exchange(false, route);
    expect(bare).toMatch(/^HTTP\/1\.1 403 Forbidden\r\n[\s\S]*\r\n\r\nbanned$/);
    expect(await exchange(true, route)).toBe(bare);
  });

  it('res.send() then req.socket.destroySoon() in a later tick: the client gets the response', async () => {
    const route: Route = (req, res) => {
      res.status(403).send('banned');
      setImmediate(() => req.socket.destroySoon());
    };
    const bare = await exchange(false, route);
    expect(bare).toMatch(/^HTTP\/1\.1 403 Forbidden\r\n[\s\S]*\r\n\r\nbanned$/);
    expect(await exchange(true, route)).toBe(bare);
  });
});
