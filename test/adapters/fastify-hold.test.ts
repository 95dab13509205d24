/**
 * A Fastify reply held while its session is stored goes out as it was sent, as bare Fastify sends it: a
 * handler that throws after its `reply.send()` (a failed side task after the answer) does not turn that
 * answer into a 500.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import Fastify, { type FastifyInstance } from 'fastify';
import { describe, expect, it } from 'vitest';
import { session } from '../../src/adapters/fastify.js';
import { SlowMemoryStore } from '../support/slow-store.js';

const secret = 'fastify-hold-secret-0123456789abcdefghij';

async function appFor(withSession: boolean): Promise<FastifyInstance> {
  const app = Fastify();
  if (withSession)
    await app.register(session, {
      secret,
      store: new SlowMemoryStore(25),
      resave: false,
      saveUninitialized: false,
    });
  app.post('/order', async (request, reply) => {
    if (withSession) (request.session as unknown as Record<string, unknown>).cart = ['book'];
    reply.code(201).header('x-order', '7').type('text/plain').send('ordered');
    await sleep(1);
    throw new Error('analytics down');
  });
  await app.ready();
  return app;
}

describe('Fastify: a reply held while the session is stored', () => {
  it('a handler that throws after reply.send(): the reply goes out as sent, as on bare Fastify', async () => {
    const outcome: Record<string, unknown> = {};
    for (const withSession of [false, true]) {
      const app = await appFor(withSession);
      const res = await app.inject({ method: 'POST', url: '/order' });
      outcome[withSession ? 'sessionkit' : 'bare'] = {
        status: res.statusCode,
        body: res.body,
        type: res.headers['content-type'],
        order: res.headers['x-order'],
      };
      if (withSession) expect(res.headers['set-cookie']).toBeDefined();
      await app.close();
    }
    expect(outcome.bare).toEqual({ status: 201, body: 'ordered', type: 'text/plain', order: '7' });
    expect(outcome.sessionkit).toEqual(outcome.bare);
  });
});
