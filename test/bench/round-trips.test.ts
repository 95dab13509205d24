/**
 * Store round trips per request type: counts, never timings. Each store method is wrapped and every call a
 * request causes is counted; for Redis, every command the client actually sends is counted.
 */
import express from 'express';
import { createClient } from 'redis';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import session, { MemoryStore, type SessionStore } from '../../src/index.js';
import { RedisStore } from '../../src/stores/redis.js';
import { runNamespace, serviceSkipReason } from '../support/services.js';

const secret = 'round-trips-secret-0123456789abcdef0123';
const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const METHODS = ['get', 'create', 'update', 'set', 'destroy', 'touch'] as const;
type Method = (typeof METHODS)[number];

/** Wraps the store's contract methods so each call is counted. */
function counting(store: SessionStore): { calls: Record<Method, number>; reset(): void } {
  const calls = Object.fromEntries(METHODS.map((m) => [m, 0])) as Record<Method, number>;
  for (const method of METHODS) {
    const original = store[method].bind(store) as (...args: unknown[]) => Promise<unknown>;
    // async: a wrapper of the promise contract (a plain forwarder would be taken for express-session's kind).
    (store as unknown as Record<Method, (...args: unknown[]) => Promise<unknown>>)[method] = async (
      ...args
    ) => {
      calls[method]++;
      return original(...args);
    };
  }
  return {
    calls,
    reset() {
      for (const m of METHODS) calls[m] = 0;
    },
  };
}

function app(store: SessionStore, options: { touchAfter?: number } = {}) {
  const server = express();
  server.use(
    session({
      secret,
      store,
      resave: false,
      saveUninitialized: false,
      cookie: { maxAge: 24 * 3600 * 1000 },
      ...options,
    }),
  );
  server.get('/read', (req, res) => {
    res.send(String(req.session.views ?? 0));
  });
  server.get('/write', (req, res) => {
    req.session.views = (Number(req.session.views) || 0) + 1;
    res.send(String(req.session.views));
  });
  server.get('/login', (req, res, next) => {
    req.session.regenerate((err) => {
      if (err) return next(err);
      req.session.user = 'alice';
      res.send('in');
    });
  });
  return server;
}

function cookieOf(response: request.Response): string {
  const header = response.headers['set-cookie'] as unknown as string[] | undefined;
  const cookie = header?.[0]?.split(';')[0];
  if (!cookie) throw new Error('no Set-Cookie');
  return cookie;
}

const none = { get: 0, create: 0, update: 0, set: 0, destroy: 0, touch: 0 };

describe('round trips per request (MemoryStore, counted at the store contract)', () => {
  const store = new MemoryStore();
  const counter = counting(store);
  const server = app(store);
  let cookie = '';

  beforeAll(async () => {
    cookie = cookieOf(await request(server).get('/write').expect(200, '1'));
  });
  afterAll(() => store.close());

  it('no cookie: no store call at all', async () => {
    counter.reset();
    await request(server).get('/read').expect(200, '0');
    expect(counter.calls).toEqual(none);
  });

  it('cookie + read within touchAfter: one get, no write', async () => {
    counter.reset();
    await request(server).get('/read').set('Cookie', cookie).expect(200, '1');
    expect(counter.calls).toEqual({ ...none, get: 1 });
  });

  it('cookie + write: one get and one update', async () => {
    counter.reset();
    const response = await request(server).get('/write').set('Cookie', cookie).expect(200, '2');
    expect(counter.calls).toEqual({ ...none, get: 1, update: 1 });
    expect(response.headers['set-cookie']).toBeDefined();
  });

  it('new session saved: one create', async () => {
    counter.reset();
    await request(server).get('/write').expect(200, '1');
    expect(counter.calls).toEqual({ ...none, create: 1 });
  });

  it('login with a cookie (regenerate): one get, two destroys, one create', async () => {
    counter.reset();
    const own = cookieOf(await request(server).get('/write'));
    counter.reset();
    await request(server).get('/login').set('Cookie', own).expect(200, 'in');
    // The old ID, and the one a regenerate({ keep: true }) of it in flight elsewhere would move it to.
    expect(counter.calls).toEqual({ ...none, get: 1, destroy: 2, create: 1 });
  });

  it('cookie + read past touchAfter: one get and one touch', async () => {
    const lazy = new MemoryStore();
    const lazyCounter = counting(lazy);
    const lazyServer = app(lazy, { touchAfter: 0 });
    const own = cookieOf(await request(lazyServer).get('/write'));
    lazyCounter.reset();
    await request(lazyServer).get('/read').set('Cookie', own).expect(200, '1');
    expect(lazyCounter.calls).toEqual({ ...none, get: 1, touch: 1 });
    await lazy.close();
  });
});

const redisSkip = await serviceSkipReason('Redis', async () => {
  const probe = createClient({ url: REDIS_URL, socket: { connectTimeout: 1000, reconnectStrategy: false } });
  await probe.connect();
  await probe.ping();
  await probe.close();
});

describe.skipIf(redisSkip !== false)('round trips per request (RedisStore, commands sent to Redis)', () => {
  const client = createClient({ url: REDIS_URL });
  const sent: string[] = [];
  let store: RedisStore;
  let server: ReturnType<typeof app>;
  let cookie = '';
  const prefix = `${runNamespace('rt')}:`;

  beforeAll(async () => {
    await client.connect();
    const sendCommand = client.sendCommand.bind(client);
    // Every command the store sends goes through sendCommand: count them at the client.
    (client as unknown as { sendCommand: (args: string[]) => Promise<unknown> }).sendCommand = (args) => {
      sent.push(String(args[0]).toUpperCase());
      return sendCommand(args);
    };
    store = new RedisStore({ client, prefix });
    server = app(store);
    cookie = cookieOf(await request(server).get('/write').expect(200, '1'));
    // The first write loaded the scripts (EVALSHA → NOSCRIPT → EVAL); do one update too before counting.
    await request(server).get('/write').set('Cookie', cookie).expect(200, '2');
  });

  afterAll(async () => {
    await store.clear();
    await client.close();
  });

  it('no cookie: no command', async () => {
    sent.length = 0;
    await request(server).get('/read').expect(200, '0');
    expect(sent).toEqual([]);
  });

  it('cookie + read within touchAfter: one HGETALL', async () => {
    sent.length = 0;
    await request(server).get('/read').set('Cookie', cookie).expect(200, '2');
    expect(sent).toEqual(['HGETALL']);
  });

  it('cookie + write: HGETALL then one EVALSHA', async () => {
    sent.length = 0;
    await request(server).get('/write').set('Cookie', cookie).expect(200, '3');
    expect(sent).toEqual(['HGETALL', 'EVALSHA']);
  });

  it('new session saved: one EVALSHA', async () => {
    sent.length = 0;
    await request(server).get('/write').expect(200, '1');
    expect(sent).toEqual(['EVALSHA']);
  });
});
