/**
 * A graceful `server.close()` (on SIGTERM, at every deploy) while a large response is held must not cut
 * its body. The application has called `end()`, so Node counts the response as finished and destroys its
 * connection; the destroy waits for the release, and must then wait for the released bytes to be sent
 * (bounded by `storeTimeout`), as express-session's unfinished response keeps the connection until its
 * bytes are out. express-session, on the same gated store, is the reference.
 */
import { once } from 'node:events';
import { connect } from 'node:net';
import type { Request, Response } from 'express';
import { describe, expect, it } from 'vitest';
import type { SessionRecord } from '../../src/core/types.js';
import { appFor, type Flavor, flavors, serve } from '../support/hold-harness.js';
import { SlowMemoryStore } from '../support/slow-store.js';

const BODY = Buffer.alloc(8 * 1024 * 1024, 'x');

function deferred() {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

/** A store whose writes wait until the test lets them go: the hold is in flight exactly as long as wanted. */
class GatedStore extends SlowMemoryStore {
  readonly writeStarted = deferred();
  readonly letGo = deferred();

  override async create(id: string, record: SessionRecord): Promise<boolean> {
    this.writeStarted.resolve();
    await this.letGo.promise;
    return super.create(id, record);
  }

  override async set(id: string, record: SessionRecord): Promise<void> {
    this.writeStarted.resolve();
    await this.letGo.promise;
    return super.set(id, record);
  }
}

async function download(flavor: Flavor): Promise<{ declared: number; received: number }> {
  const store = new GatedStore(1);
  const app = appFor(flavor, store, (routes) => {
    routes.get('/download', (req: Request, res: Response) => {
      (req.session as unknown as Record<string, unknown>).downloads = 1;
      res.type('application/octet-stream').send(BODY);
    });
  });
  const served = await serve(app);
  const socket = connect(served.port, '127.0.0.1');
  const chunks: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  socket.on('error', () => undefined);
  socket.write('GET /download HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
  const closed = once(socket, 'close');
  // The application has answered and the store is writing the session: a graceful shutdown begins.
  await store.writeStarted.promise;
  await new Promise((resolve) => setImmediate(resolve));
  served.server.close();
  store.letGo.resolve();
  await closed;
  const text = Buffer.concat(chunks);
  const headerEnd = text.indexOf('\r\n\r\n');
  const header = text.subarray(0, headerEnd).toString('latin1');
  const declared = Number(/content-length: (\d+)/i.exec(header)?.[1]);
  return { declared, received: text.length - headerEnd - 4 };
}

describe('server.close() while a large response is held', () => {
  it('the client still receives the whole body, as with express-session', async () => {
    const outcome = {} as Record<Flavor, { declared: number; received: number }>;
    for (const flavor of flavors) outcome[flavor] = await download(flavor);
    expect(outcome['express-session']).toEqual({ declared: BODY.length, received: BODY.length });
    expect(outcome.sessionkit).toEqual({ declared: BODY.length, received: BODY.length });
  });
});
