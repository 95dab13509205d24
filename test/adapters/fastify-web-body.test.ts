/**
 * When the commit fails (the store is down) the reply becomes a 503 and the body the route gave is never
 * read. Whatever feeds it (a file, a database cursor, an upstream fetch) must be let go at once, for a
 * WHATWG ReadableStream or a `Response` (Fastify 5 sends both) as for a Node stream: otherwise each
 * request during an outage holds one open until the process runs out of descriptors.
 */
import { Readable } from 'node:stream';
import Fastify from 'fastify';
import { describe, expect, it } from 'vitest';
import { session } from '../../src/adapters/fastify.js';
import { SlowMemoryStore } from '../support/slow-store.js';

const secret = 'fastify-reply-secret-0123456789abcdefghijkl';

async function released(kind: 'node' | 'web' | 'response'): Promise<{ status: number; released: boolean }> {
  const store = new SlowMemoryStore(10);
  const app = Fastify();
  await app.register(session, { secret, store, resave: false, saveUninitialized: false });
  let closed = false;
  app.get('/', (request, reply) => {
    (request.session as unknown as Record<string, unknown>).views = 1;
    if (kind === 'node') {
      reply.send(
        new Readable({
          read() {},
          destroy(error, callback) {
            closed = true;
            callback(error);
          },
        }),
      );
      return;
    }
    const web = new ReadableStream<Uint8Array>({
      pull() {},
      cancel() {
        closed = true;
      },
    });
    reply.send(kind === 'web' ? web : new Response(web));
  });
  await app.ready();
  // The store goes down: the commit's create fails.
  store.create = async () => {
    throw Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
  };
  try {
    const response = await app.inject({ url: '/' });
    await new Promise((resolve) => setTimeout(resolve, 100));
    return { status: response.statusCode, released: closed };
  } finally {
    await app.close();
  }
}

describe('Fastify: a body nobody will read after a failed commit', () => {
  it('a Node stream is closed', async () => {
    expect(await released('node')).toEqual({ status: 503, released: true });
  });
  it('a WHATWG ReadableStream is cancelled too', async () => {
    expect(await released('web')).toEqual({ status: 503, released: true });
  });
  it("a Response's body is cancelled too", async () => {
    expect(await released('response')).toEqual({ status: 503, released: true });
  });
});
