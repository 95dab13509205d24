import express from 'express';
import request from 'supertest';
import { afterAll, describe, expect, it } from 'vitest';
import { session as fastifySession } from '../../src/adapters/fastify.js';
import { StoreUnavailableError } from '../../src/core/errors.js';
import { sign } from '../../src/core/signature.js';
import session from '../../src/index.js';
import { type AnyStore, createStore } from '../../src/stores/factory.js';

/**
 * A store whose server cannot be reached fails the request with 503 ERR_STORE_UNAVAILABLE. The driver's
 * error says where it tried (`connect ECONNREFUSED 10.0.3.7:6379`): the error the application gets keeps
 * it as `cause`, for its own logs, but the message, which error pages show (Fastify's default reply puts
 * it in the body whatever the status), names it by class and code only. The address here is loopback's
 * port 1, which refuses at once; the assertion is on the port, which no message of sessionkit's own holds.
 * The SQL stores are where a driver's connection error reaches the request; a Redis store answers a
 * request while its client is disconnected in its own words (`the Redis client is not connected`).
 */

const SECRET = 'unreachable-store-messages-secret-0123456789';
const PORT_TEXT = '127.0.0.1:1';

const targets = [
  ['PostgreSQL', `postgres://postgres@${PORT_TEXT}/test`],
  ['MariaDB', `mysql://root@${PORT_TEXT}/test`],
] as const;

describe('a store that cannot be reached: the 503 names no host', () => {
  const stores: AnyStore[] = [];
  afterAll(async () => {
    for (const store of stores) await (store as { close?: () => Promise<void> }).close?.();
  });

  for (const [name, url] of targets) {
    it(`${name}: Express's error handler gets the driver's error as cause only; Fastify's default reply shows neither`, async () => {
      const store = await createStore(url);
      stores.push(store);
      const seen: unknown[] = [];

      const app = express();
      app.use(session({ secret: SECRET, store, resave: false, saveUninitialized: false }));
      app.get('/', (req, res) => res.json({ views: req.session.views ?? null }));
      app.use(((err, _req, res, _next) => {
        seen.push(err);
        res.status(503).end();
      }) as express.ErrorRequestHandler);

      const fastify = (await import('fastify')).default();
      await fastify.register(fastifySession, { secret: SECRET, store, saveUninitialized: false });
      fastify.get('/', async (req) => ({ views: req.session.views ?? null }));
      await fastify.ready();
      try {
        // A signed cookie makes the request read the store.
        const cookie = `connect.sid=${encodeURIComponent(`s:${sign('a'.repeat(43), SECRET)}`)}`;
        expect((await request(app).get('/').set('Cookie', cookie)).status).toBe(503);
        const reply = await fastify.inject({ method: 'GET', url: '/', headers: { cookie } });
        expect(reply.statusCode).toBe(503);
        expect(reply.json()).toMatchObject({ code: 'ERR_STORE_UNAVAILABLE' });
        expect(reply.body).not.toContain(PORT_TEXT);

        const error = seen[0] as StoreUnavailableError;
        expect(error).toBeInstanceOf(StoreUnavailableError);
        expect(error.code).toBe('ERR_STORE_UNAVAILABLE');
        expect(error.message).toMatch(/^sessionkit: store unavailable during get: /);
        expect(error.message).not.toContain(PORT_TEXT);
        expect(error.stack).not.toContain(PORT_TEXT);
        // The driver's own words are there for the application's logs.
        expect(causes(error).join('\n')).toContain(PORT_TEXT);
      } finally {
        await fastify.close();
      }
    });
  }
});

/** The messages of an error's cause chain, AggregateError members included. */
function causes(error: unknown): string[] {
  const found: string[] = [];
  const visit = (each: unknown, depth: number): void => {
    if (!(each instanceof Error) || depth > 5) return;
    found.push(each.message);
    if (each instanceof AggregateError) for (const member of each.errors) visit(member, depth + 1);
    visit(each.cause, depth + 1);
  };
  visit((error as { cause?: unknown }).cause, 0);
  return found;
}
