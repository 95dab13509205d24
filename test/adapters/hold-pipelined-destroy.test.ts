/**
 * Two pipelined requests, the first of which destroys the connection after answering: as without a
 * hold, nothing of the second response goes out. Node puts the header in front of a Buffer body without
 * the gate's `_writeRaw`, so a held response that began after the destroy drops everything it holds at
 * the release, header included.
 */
import type { Request, Response } from 'express';
import express from 'express';
import { afterEach, describe, expect, it } from 'vitest';
import session from '../../src/index.js';
import { rawExchange, type Served, secret, serve, statusLines } from '../support/hold-harness.js';
import { SlowMemoryStore } from '../support/slow-store.js';

const open: Served[] = [];
afterEach(async () => {
  for (const served of open.splice(0)) await served.close();
});

async function exchange(withSession: boolean): Promise<string> {
  const app = express();
  if (withSession)
    app.use(session({ secret, store: new SlowMemoryStore(20), resave: false, saveUninitialized: false }));
  else
    app.use((req, _res, next) => {
      (req as unknown as { session: Record<string, unknown> }).session = {};
      next();
    });
  app.get('/:n', (req: Request, res: Response) => {
    (req as unknown as { session: Record<string, unknown> }).session.n = req.params.n;
    res.send(`b-${req.params.n}`);
    if (req.params.n === '1') req.socket.destroy();
  });
  const served = await serve(app);
  open.push(served);
  const ask = (n: string) => `GET /${n} HTTP/1.1\r\nHost: x\r\n\r\n`;
  const { text } = await rawExchange(served.port, ask('1') + ask('2'), 2_000);
  return text.replace(/^(Set-Cookie|Date|ETag): .*\r\n/gim, '');
}

describe('a destroy in the first of two pipelined held responses', () => {
  it('sends the first response only, as without a hold: nothing of the second', async () => {
    const bare = await exchange(false);
    expect(statusLines(bare)).toEqual(['HTTP/1.1 200 OK']);
    const held = await exchange(true);
    expect(statusLines(held)).toEqual(['HTTP/1.1 200 OK']);
    expect(held).toBe(bare);
  });
});
