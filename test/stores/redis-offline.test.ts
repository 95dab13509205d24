import express from 'express';
import { Redis } from 'ioredis';
import { createClient } from 'redis';
import request from 'supertest';
import { afterEach, describe, expect, it } from 'vitest';
import { generateId } from '../../src/core/id.js';
import { sign } from '../../src/core/signature.js';
import { session } from '../../src/index.js';
import { type RedisClientInput, RedisStore } from '../../src/stores/redis.js';
import { TcpProxy } from '../../src/testing/proxy.js';
import { jsonErrors } from '../support/apps.js';
import { closedPort } from '../support/black-hole.js';
import { redisSkipReason } from '../support/redis.js';

/**
 * Issue 23 item 12: with the application's own Redis client and Redis down, a store that can see its
 * client is not connected fails at once (ERR_STORE_UNAVAILABLE, a 503) instead of making every request
 * wait its whole timeout; and the documented way to start a node-redis client does not hang start-up.
 */

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
/** The store's default: what each call and request waited before. */
const STORE_TIMEOUT = 5_000;
/**
 * "At once", with room for a loaded machine: a call is refused without any I/O (well under a
 * millisecond when measured), a request also goes through HTTP and Express (a few milliseconds warm).
 */
const CALL_AT_ONCE = 250;
const REQUEST_AT_ONCE = 1_000;
const SECRET = 'a-test-secret-of-32-characters!!';

/**
 * node-redis with its defaults (offline queue on), started as docs/stores/redis.md shows for a Redis
 * that may be down: connecting in the background, never awaited.
 */
function nodeRedisClient(port: number) {
  const client = createClient({
    url: `redis://127.0.0.1:${port}`,
    socket: { reconnectStrategy: (retries: number) => Math.min(50 * 2 ** retries, 200) },
  });
  client.on('error', () => undefined);
  client.connect().catch(() => undefined);
  return client;
}

/** ioredis with its defaults (offline queue on, twenty retries per command): an application's own. */
function ioredisClient(port: number) {
  const client = new Redis(port, '127.0.0.1', {
    retryStrategy: (times: number) => Math.min(times * 50, 200),
  });
  client.on('error', () => undefined);
  return client;
}

/** Resolves when `check` holds; polls, since neither client has one event for every state here. */
async function until(check: () => boolean, what: string): Promise<void> {
  for (let waited = 0; !check(); waited += 10) {
    if (waited > 5_000) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

async function elapsed<T>(run: () => Promise<T>): Promise<{ ms: number; result: PromiseSettledResult<T> }> {
  const started = performance.now();
  const [result] = await Promise.allSettled([run()]);
  return { ms: performance.now() - started, result: result as PromiseSettledResult<T> };
}

interface ClientKind<C extends RedisClientInput> {
  name: string;
  make(port: number): C;
  /** The client knows Redis is away (node-redis: not ready; ioredis: reconnecting). */
  offline(client: C): boolean;
  ready(client: C): boolean;
  end(client: C): void;
}

const nodeRedis: ClientKind<ReturnType<typeof nodeRedisClient>> = {
  name: 'node-redis',
  make: nodeRedisClient,
  offline: (c) => !c.isReady,
  ready: (c) => c.isReady,
  end: (c) => c.destroy(),
};

const ioredis: ClientKind<Redis> = {
  name: 'ioredis',
  make: ioredisClient,
  offline: (c) => c.status === 'reconnecting',
  ready: (c) => c.status === 'ready',
  end: (c) => c.disconnect(),
};

const skip = await redisSkipReason(REDIS_URL);

function suite<C extends RedisClientInput>(kind: ClientKind<C>): void {
  describe(`RedisStore over ${kind.name} fails at once while its client is not connected (issue 23 item 12)`, () => {
    const cleanups: Array<() => unknown> = [];
    afterEach(async () => {
      for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
    });

    it('Redis down from the start: every call and request fails fast', async () => {
      const port = await closedPort();
      const client = kind.make(port);
      cleanups.push(() => kind.end(client));
      await until(() => kind.offline(client), 'the client to see Redis is down');
      const store = new RedisStore({ client, prefix: 'sk-offline:' });
      expect(store.timeout).toBe(STORE_TIMEOUT);

      const call = await elapsed(() => store.get(generateId()));
      expect(call.result).toMatchObject({ status: 'rejected', reason: { code: 'ERR_STORE_UNAVAILABLE' } });
      expect(call.ms).toBeLessThan(CALL_AT_ONCE);

      const app = express();
      app.use(session({ secret: SECRET, store, resave: false, saveUninitialized: false }));
      app.get('/', (req, res) => {
        res.send(String(req.session.id));
      });
      app.use(jsonErrors);
      const cookie = `connect.sid=${encodeURIComponent(`s:${sign(generateId(), SECRET)}`)}`;
      const started = performance.now();
      const res = await request(app).get('/').set('Cookie', cookie);
      expect(res.status).toBe(503);
      expect(res.body).toEqual({ code: 'ERR_STORE_UNAVAILABLE' });
      expect(performance.now() - started).toBeLessThan(REQUEST_AT_ONCE);
    });

    it.skipIf(skip)(
      'fails fast while Redis is away, and serves again when it is back, without a restart',
      async () => {
        const upstream = new URL(REDIS_URL);
        const proxy = new TcpProxy(upstream.hostname || '127.0.0.1', Number(upstream.port || 6379));
        const port = await proxy.start();
        cleanups.push(() => proxy.stop());
        const client = kind.make(port);
        cleanups.push(() => kind.end(client));
        await until(() => kind.ready(client), 'the client to connect');
        const store = new RedisStore({ client, prefix: 'sk-offline:' });
        expect(await store.get(generateId())).toBeNull();

        await proxy.stop();
        await until(() => kind.offline(client), 'the client to see Redis is down');
        const call = await elapsed(() => store.get(generateId()));
        expect(call.result).toMatchObject({ status: 'rejected', reason: { code: 'ERR_STORE_UNAVAILABLE' } });
        expect(call.ms).toBeLessThan(CALL_AT_ONCE);

        await proxy.start();
        await until(() => kind.ready(client), 'the client to reconnect');
        expect(await store.get(generateId())).toBeNull();
      },
    );
  });
}

suite(nodeRedis);
suite(ioredis);
