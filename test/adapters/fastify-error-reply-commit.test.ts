/**
 * A session change the error handler makes after an `onSend` hook registered after the session plugin
 * failed (a response checker, a signer, a cache layer): the first reply never left, and the error reply
 * stores what changed since the first commit (a "something went wrong" flash), its cookies replacing the
 * first commit's, as @fastify/session saves again on the error reply. It was dropped, with nothing
 * reporting it. @fastify/session on the same app is the reference.
 */
import fastifyCookie from '@fastify/cookie';
import fastifySession from '@fastify/session';
import Fastify from 'fastify';
import Fastify4 from 'fastify4';
import { describe, expect, it } from 'vitest';
import { session as sessionkit } from '../../src/adapters/fastify.js';
import { MemoryStore } from '../../src/stores/memory.js';
import { FastifySessionSlowStore } from '../support/framework-passport-apps.js';
import { SlowMemoryStore } from '../support/slow-store.js';

const secret = 'fastify-session-secret-of-at-least-32-chars!';

type Kind =
  | '@fastify/session'
  | 'sessionkit Fastify 5'
  | 'sessionkit Fastify 4'
  | 'sessionkit Fastify 5, slow store';

async function scenario(kind: Kind) {
  const create = (kind === 'sessionkit Fastify 4' ? Fastify4 : Fastify) as unknown as typeof Fastify;
  const app = create();
  if (kind === '@fastify/session') {
    await app.register(fastifyCookie);
    await app.register(fastifySession, {
      secret,
      saveUninitialized: false,
      rolling: false,
      cookie: { secure: false },
      store: new FastifySessionSlowStore(2) as never,
    });
  } else {
    await app.register(
      sessionkit as never,
      {
        secret,
        resave: false,
        saveUninitialized: false,
        store: kind.endsWith('slow store') ? new SlowMemoryStore(3) : new MemoryStore(),
      } as never,
    );
  }
  // Another plugin's onSend hook, registered after the session plugin, that fails on this reply.
  const failed = new WeakSet<object>();
  app.addHook('onSend', async (request, _reply, payload) => {
    if (request.url !== '/checkout' || failed.has(request)) return payload;
    failed.add(request);
    if (request.url === '/checkout')
      throw Object.assign(new Error('response check failed'), { statusCode: 502 });
    return payload;
  });
  app.setErrorHandler(async (error: Error & { statusCode?: number }, request, reply) => {
    (request.session as unknown as { set(k: string, v: unknown): void }).set('flash', error.message);
    reply.code(error.statusCode ?? 500);
    return { error: error.message };
  });
  app.get('/checkout', async (request) => {
    (request.session as unknown as { set(k: string, v: unknown): void }).set('cart', ['book']);
    return { ok: true };
  });
  app.get('/read', async (request) => {
    const s = request.session as unknown as { get(k: string): unknown };
    return { cart: s.get('cart') ?? null, flash: s.get('flash') ?? null };
  });
  try {
    const checkout = await app.inject({ url: '/checkout' });
    const setCookie = checkout.headers['set-cookie'];
    const cookie = String(Array.isArray(setCookie) ? setCookie[setCookie.length - 1] : setCookie).split(
      ';',
    )[0];
    const read = await app.inject({ url: '/read', headers: { cookie: cookie as string } });
    return { status: checkout.statusCode, body: checkout.json(), next: read.json() };
  } finally {
    await app.close();
  }
}

describe("a session change made by the error handler of a failed onSend is kept, as @fastify/session's", () => {
  it('@fastify/session: the reference', async () => {
    expect(await scenario('@fastify/session')).toEqual({
      status: 502,
      body: { error: 'response check failed' },
      next: { cart: ['book'], flash: 'response check failed' },
    });
  });

  for (const kind of [
    'sessionkit Fastify 5',
    'sessionkit Fastify 4',
    'sessionkit Fastify 5, slow store',
  ] as const)
    it(`${kind}: the flash the error handler set is there on the next request`, async () => {
      expect(await scenario(kind)).toEqual(await scenario('@fastify/session'));
    });
});
