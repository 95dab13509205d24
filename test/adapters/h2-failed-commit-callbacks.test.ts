import { once } from 'node:events';
import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { connect as connectHttp2, createServer as createHttp2Server } from 'node:http2';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import type { SessionRecord } from '../../src/core/types.js';
import session from '../../src/index.js';
import { secret } from '../support/hold-harness.js';
import { SlowMemoryStore } from '../support/slow-store.js';

/**
 * A held response whose first commit fails, on HTTP/2 compatibility mode, where the held calls are
 * queued: each dropped `write` or `end` callback gets `write after end`, as the HTTP/1 hold's dropped
 * bytes do, so an application awaiting its write (a hand-rolled copy loop) goes on instead of waiting
 * for ever with what it holds open.
 */
class FailingStore extends SlowMemoryStore {
  override async create(_id: string, _record: SessionRecord): Promise<boolean> {
    await sleep(this.delayMs);
    throw new Error('store write failed');
  }
}

type WithSession = IncomingMessage & { session: Record<string, unknown> };

async function run(protocol: 'h1' | 'h2'): Promise<string> {
  const middleware = session({
    secret,
    store: new FailingStore(20),
    resave: false,
    saveUninitialized: false,
  });
  let settled = 'callback never called';
  const handler = (req: IncomingMessage, res: ServerResponse) => {
    middleware(req as never, res as never, (error?: unknown) => {
      if (error) {
        // The error handler answers.
        res.statusCode = 500;
        res.end('error page');
        return;
      }
      (req as WithSession).session.user = 'u1';
      res.setHeader('Content-Type', 'text/plain');
      res.write('chunk', (writeError?: Error | null) => {
        settled = writeError ? `callback: ${(writeError as { code?: string }).code}` : 'callback: ok';
      });
    });
  };
  if (protocol === 'h1') {
    const server = createHttpServer(handler);
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    try {
      const response = await fetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`);
      await response.text().catch(() => undefined);
      await sleep(200);
      return settled;
    } finally {
      server.closeAllConnections();
      server.close();
    }
  }
  const server = createHttp2Server(handler as never);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const client = connectHttp2(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
  client.on('error', () => undefined);
  try {
    await new Promise<void>((resolve) => {
      const stream = client.request({ ':path': '/' });
      stream.resume();
      stream.on('close', () => resolve());
      stream.on('error', () => resolve());
    });
    await sleep(200);
    return settled;
  } finally {
    client.close();
    server.close();
  }
}

describe('HTTP/2 compat: a failed first commit', () => {
  it("calls a dropped write's callback, as on HTTP/1", async () => {
    expect(await run('h1')).toBe('callback: ERR_STREAM_WRITE_AFTER_END');
    expect(await run('h2')).toBe('callback: ERR_STREAM_WRITE_AFTER_END');
  });
});
