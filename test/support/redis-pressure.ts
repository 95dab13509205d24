import express from 'express';
import { Redis } from 'ioredis';
import request from 'supertest';
import { afterAll, beforeAll, expect } from 'vitest';
import session, { currentUserId, login, logout } from '../../src/index.js';
import type { RedisStore } from '../../src/stores/redis.js';
import { cookieOf, jsonErrors } from './apps.js';
import { RedisServer, removeDir, tempDir } from './redis-servers.js';

export const secret = 'redis-pressure-secret-0123456789abcdef';
type Data = Record<string, unknown>;
export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
export const CLIENTS = ['ioredis', 'redis'] as const;

export function appOn(store: RedisStore, options: Record<string, unknown> = {}) {
  const app = express();
  app.use(express.json());
  app.use(session({ secret, store, resave: false, saveUninitialized: false, ...options }));
  app.post('/visit', (req, res) => {
    (req.session as unknown as Data).note = (req.body as Data).note;
    res.json({ user: currentUserId(req.session) });
  });
  app.post('/login', async (req, res) => {
    await login(req.session, String((req.body as Data).user));
    res.json({ user: currentUserId(req.session) });
  });
  app.post('/logout', async (req, res) => {
    await logout(req.session);
    res.json({ ok: true });
  });
  app.get('/me', (req, res) => {
    res.json({ user: currentUserId(req.session) });
  });
  app.use(jsonErrors);
  return app;
}

export type App = ReturnType<typeof appOn>;

/** An anonymous visit with a stored session, then a login as `user`: the cookie after the login. */
export async function signIn(app: App, user: string): Promise<string> {
  const visit = await request(app).post('/visit').send({ note: user });
  const done = await request(app).post('/login').set('Cookie', cookieOf(visit)).send({ user });
  expect(done.status).toBe(200);
  return cookieOf(done);
}

export async function whoIs(app: App, cookie: string): Promise<string | null> {
  const res = await request(app).get('/me').set('Cookie', cookie);
  expect(res.status).toBe(200);
  return (res.body as { user: string | null }).user;
}

export async function usedMemory(raw: Redis): Promise<number> {
  return Number(/used_memory:(\d+)/.exec(await raw.info('memory'))?.[1]);
}

/** Puts a noeviction server over its memory limit: every command that may grow memory now gets OOM. */
export async function overMemoryLimit(raw: Redis): Promise<void> {
  await raw.config('SET', 'maxmemory-policy', 'noeviction');
  await raw.config('SET', 'maxmemory', String(Math.floor((await usedMemory(raw)) / 2)));
  await expect(raw.set('probe', 'x')).rejects.toThrow(/^OOM/);
}

/** Returns once the clock has moved past the current millisecond: logins then get distinct createdAt. */
export async function nextMillisecond(): Promise<void> {
  const start = Date.now();
  while (Date.now() === start) await new Promise((resolve) => setImmediate(resolve));
}

/**
 * A redis-server of this suite's own on a free port, started before the suite's tests and stopped after
 * them, with a plain client on it (`raw`) for setting limits and policies: the tests change its memory
 * settings, which no shared server may see.
 */
export function privateRedis(
  name: string,
  args?: (port: number) => string[],
): { readonly server: RedisServer; readonly raw: Redis } {
  const dir = tempDir(name);
  let server: RedisServer | undefined;
  let raw: Redis | undefined;
  beforeAll(async () => {
    server = await RedisServer.startOnFreePort(dir, args);
    raw = new Redis({ port: server.port, host: '127.0.0.1' });
  });
  afterAll(async () => {
    raw?.disconnect();
    await server?.stop();
    removeDir(dir);
  });
  return {
    get server() {
      if (!server) throw new Error('the private redis-server has not started');
      return server;
    },
    get raw() {
      if (!raw) throw new Error('the private redis-server has not started');
      return raw;
    },
  };
}
