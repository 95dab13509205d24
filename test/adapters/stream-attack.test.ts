import { once } from 'node:events';
import { createServer, get, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import Fastify, { type FastifyReply, type FastifyRequest } from 'fastify';
import Koa from 'koa';
import { afterEach, describe, expect, it } from 'vitest';
import { session as fastifySession } from '../../src/adapters/fastify.js';
import { session as koaSession } from '../../src/adapters/koa.js';
import { SlowMemoryStore } from '../support/slow-store.js';

/**
 * Attacks on the Fastify and Koa adapters over real HTTP, with a store whose calls take 30 ms: the
 * session is changed in the handler, so the response waits for a store write in the adapter's hook.
 */
const options = {
  secret: 'stream-attack-secret-of-at-least-32-characters',
  resave: false,
  saveUninitialized: false,
} as const;

/** The uncaught exceptions of the test running now: a user's process exits on one. */
const uncaught: Error[] = [];
const record = (error: Error): void => {
  uncaught.push(error);
};
process.on('uncaughtException', record);
afterEach(() => {
  const errors = uncaught.splice(0);
  expect(errors.map((error) => error.message)).toEqual([]);
});

/** A stream that fails 5 ms after the handler hands it over, while the store still writes. */
function failingStream(): Readable {
  const stream = new Readable({ read() {} });
  setTimeout(() => stream.destroy(new Error('stream failed midway')), 5);
  return stream;
}

interface Answer {
  status: number | 'reset';
  cookies: number;
  body: string;
}

/** A GET over a new connection; a connection reset is an answer too. */
function fetchOnce(port: number, path: string): Promise<Answer> {
  return new Promise((resolve) => {
    const request = get({ host: '127.0.0.1', port, path, agent: false }, (response: IncomingMessage) => {
      let body = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => {
        body += chunk;
      });
      response.on('end', () =>
        resolve({
          status: response.statusCode ?? 0,
          cookies: response.headers['set-cookie']?.length ?? 0,
          body,
        }),
      );
      response.on('error', () => resolve({ status: 'reset', cookies: 0, body }));
    });
    request.on('error', () => resolve({ status: 'reset', cookies: 0, body: '' }));
  });
}

/** Lets a stream's late error surface (or not) before the test ends. */
const settle = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 60));

describe('Fastify 5 with a slow store', () => {
  async function listen(withSession: boolean, route: (request: FastifyRequest, reply: FastifyReply) => void) {
    const app = Fastify();
    if (withSession) await app.register(fastifySession, { ...options, store: new SlowMemoryStore(30) });
    app.get('/', route);
    await app.listen({ port: 0, host: '127.0.0.1' });
    return { app, port: (app.server.address() as AddressInfo).port };
  }

  it('answers a streamed reply that fails while the session is stored as Fastify does, without a crash', async () => {
    const answers: Answer[] = [];
    for (const withSession of [false, true]) {
      const { app, port } = await listen(withSession, (request, reply) => {
        if (withSession) request.session.views = 1;
        reply.send(failingStream());
      });
      answers.push(await fetchOnce(port, '/'));
      await settle();
      await app.close();
    }
    const [bare, withSession] = answers as [Answer, Answer];
    expect(withSession.status).toBe(bare.status);
    expect(withSession.body).toBe(bare.body);
    // The session was stored: its cookie rides on the error reply.
    expect(withSession.cookies).toBe(1);
  });

  it('sends the first of two reply.send() calls, with the cookie, as Fastify does without a store call', async () => {
    const answers: Answer[] = [];
    for (const withSession of [false, true]) {
      const { app, port } = await listen(withSession, (request, reply) => {
        if (withSession) request.session.views = 1;
        reply.send('first');
        reply.send('second');
      });
      answers.push(await fetchOnce(port, '/'));
      await settle();
      await app.close();
    }
    const [bare, withSession] = answers as [Answer, Answer];
    expect(bare).toEqual({ status: 200, cookies: 0, body: 'first' });
    expect(withSession).toEqual({ status: 200, cookies: 1, body: 'first' });
  });
});

describe('Koa 3 with a slow store', () => {
  it('leaves a streamed body that fails while the session is stored to Koa, without a crash', async () => {
    const answers: Answer[] = [];
    for (const withSession of [false, true]) {
      const app = new Koa();
      app.silent = true;
      if (withSession) app.use(koaSession({ ...options, store: new SlowMemoryStore(30) }));
      app.use((ctx) => {
        if (withSession) ctx.session.views = 1;
        ctx.body = failingStream();
      });
      const server: Server = createServer(app.callback()).listen(0, '127.0.0.1');
      await once(server, 'listening');
      answers.push(await fetchOnce((server.address() as AddressInfo).port, '/'));
      await settle();
      server.closeAllConnections();
      server.close();
    }
    const [bare, withSession] = answers as [Answer, Answer];
    expect(withSession.status).toBe(bare.status);
    expect(withSession.body).toBe(bare.body);
  });
});
