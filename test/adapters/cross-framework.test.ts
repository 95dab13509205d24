import { Hono } from 'hono';
import Koa, { type Context as KoaContext } from 'koa';
import { createClient } from 'redis';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { session as fastifySession } from '../../src/adapters/fastify.js';
import { session as honoSession, type SessionEnv } from '../../src/adapters/hono.js';
import { session as koaSession } from '../../src/adapters/koa.js';
import type { TypedSession } from '../../src/core/session.js';
import session, { currentUserId, login, logout } from '../../src/index.js';
import { RedisStore } from '../../src/stores/redis.js';
import { expressVersions } from '../support/apps.js';
import { runNamespace, serviceSkipReason } from '../support/services.js';

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

async function redisClient() {
  const client = createClient({
    url: REDIS_URL,
    socket: { connectTimeout: 2_000, reconnectStrategy: false },
  });
  client.on('error', () => undefined);
  await client.connect();
  return client;
}

const skip = await serviceSkipReason(`Redis at ${REDIS_URL}`, async () => {
  const client = await redisClient();
  await client.quit();
});

const secret = 'one-secret-shared-by-every-framework-app';
const prefix = `${runNamespace('sk_cross')}:`;

/** What every app answers: the session's user and data, as its own framework sees them. */
interface Me {
  user: string | null;
  data: Record<string, unknown>;
}

function me(current: TypedSession): Me {
  const data: Record<string, unknown> = {};
  for (const key of Object.keys(current)) if (key !== 'cookie') data[key] = current[key];
  return { user: currentUserId(current), data };
}

/** The same three routes on each framework: who am I, add an item to the cart, log out. */
type Route = (current: () => TypedSession, item: string | null) => Promise<Me> | Me;
const routes: Record<string, Route> = {
  '/me': (current) => me(current()),
  '/add': (current, item) => {
    const cart = (current().cart as string[] | undefined) ?? [];
    current().cart = [...cart, item ?? 'nothing'];
    return me(current());
  },
  '/logout': async (current) => {
    await logout(current());
    return me(current());
  },
};

interface Client {
  name: string;
  get(path: string, cookie: string): Promise<{ body: Me; setCookie: string[] }>;
  close(): Promise<void>;
}

const stores: RedisStore[] = [];
async function sharedStore(): Promise<RedisStore> {
  const store = new RedisStore({ client: await redisClient(), closeClient: true, prefix });
  stores.push(store);
  return store;
}

const options = async () => ({ secret, store: await sharedStore(), resave: false, saveUninitialized: false });

function item(url: string): string | null {
  return new URL(url, 'http://x.invalid').searchParams.get('item');
}

async function expressClient(): Promise<Client & { login(user: string): Promise<string> }> {
  const app = expressVersions[1].create();
  app.use(session(await options()));
  app.get('/login', async (req, res, next) => {
    try {
      await login(req.session, String(req.query.user));
      req.session.cart = ['book'];
      res.json(me(req.session));
    } catch (error) {
      next(error);
    }
  });
  for (const [path, route] of Object.entries(routes))
    app.get(path, async (req, res) => res.json(await route(() => req.session, item(req.url))));
  return {
    name: 'Express',
    async login(user) {
      const response = await request(app).get(`/login?user=${user}`).expect(200);
      const header = ([] as string[]).concat(response.headers['set-cookie'] ?? [])[0] as string;
      return header.slice(0, header.indexOf(';'));
    },
    async get(path, cookie) {
      const response = await request(app).get(path).set('Cookie', cookie).expect(200);
      return {
        body: response.body as Me,
        setCookie: ([] as string[]).concat(response.headers['set-cookie'] ?? []),
      };
    },
    close: async () => undefined,
  };
}

async function fastifyClient(): Promise<Client> {
  const fastify = (await import('fastify')).default();
  await fastify.register(fastifySession, await options());
  for (const [path, route] of Object.entries(routes))
    fastify.get(path, async (req) => route(() => req.session, item(req.url)));
  await fastify.ready();
  return {
    name: 'Fastify',
    async get(path, cookie) {
      const response = await fastify.inject({ url: path, headers: { cookie } });
      expect(response.statusCode).toBe(200);
      return {
        body: response.json() as Me,
        setCookie: ([] as string[]).concat(response.headers['set-cookie'] ?? []),
      };
    },
    close: () => fastify.close(),
  };
}

async function koaClient(): Promise<Client> {
  const koa = new Koa();
  koa.use(koaSession(await options()));
  koa.use(async (ctx: KoaContext) => {
    const route = routes[ctx.path];
    if (route) ctx.body = await route(() => ctx.session, item(ctx.url));
  });
  const handler = koa.callback();
  return {
    name: 'Koa',
    async get(path, cookie) {
      const response = await request(handler).get(path).set('Cookie', cookie).expect(200);
      return {
        body: response.body as Me,
        setCookie: ([] as string[]).concat(response.headers['set-cookie'] ?? []),
      };
    },
    close: async () => undefined,
  };
}

async function honoClient(): Promise<Client> {
  const hono = new Hono<SessionEnv>();
  hono.use(honoSession(await options()));
  for (const [path, route] of Object.entries(routes))
    hono.get(path, async (c) => c.json(await route(() => c.get('session'), c.req.query('item') ?? null)));
  return {
    name: 'Hono',
    async get(path, cookie) {
      const response = await hono.request(path, { headers: { cookie } });
      expect(response.status).toBe(200);
      return { body: (await response.json()) as Me, setCookie: response.headers.getSetCookie() };
    },
    close: async () => undefined,
  };
}

describe.skipIf(skip)('one session across Express, Fastify, Koa and Hono on one Redis', () => {
  let express: Awaited<ReturnType<typeof expressClient>>;
  let others: Client[];

  beforeAll(async () => {
    express = await expressClient();
    others = [await fastifyClient(), await koaClient(), await honoClient()];
  });

  afterAll(async () => {
    for (const client of others ?? []) await client.close();
    await stores[0]?.clear();
    for (const store of stores) await store.close();
  });

  it('a user logged in on Express is the same user, with the same data, on every other framework', async () => {
    const cookie = await express.login('alice');
    for (const client of others) {
      const { body, setCookie } = await client.get('/me', cookie);
      expect([client.name, body]).toEqual([client.name, { user: 'alice', data: { cart: ['book'] } }]);
      expect(setCookie).toEqual([]);
    }
  });

  it('a write on any framework is read by all the others', async () => {
    const cookie = await express.login('bob');
    const expected = ['book'];
    for (const writer of others) {
      await writer.get(`/add?item=${writer.name}`, cookie);
      expected.push(writer.name);
      for (const reader of [express, ...others])
        expect([reader.name, (await reader.get('/me', cookie)).body.data.cart]).toEqual([
          reader.name,
          expected,
        ]);
    }
  });

  it('a logout on any one framework is seen by all', async () => {
    for (const leaver of [express, ...others]) {
      const cookie = await express.login('carol');
      const out = await leaver.get('/logout', cookie);
      expect(out.body).toEqual({ user: null, data: {} });
      expect(out.setCookie[0]).toMatch(/^connect\.sid=; Path=\/; Expires=Thu, 01 Jan 1970/);
      for (const client of [express, ...others]) {
        const { body } = await client.get('/me', cookie);
        expect([leaver.name, client.name, body]).toEqual([
          leaver.name,
          client.name,
          { user: null, data: {} },
        ]);
      }
    }
  });
});
