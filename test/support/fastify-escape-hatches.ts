/** Why: one Fastify app with @fastify/session or sessionkit on an asynchronous store, for side-by-side runs. */
import fastifyCookie from '@fastify/cookie';
import fastifySession from '@fastify/session';
import Fastify, { type FastifyInstance } from 'fastify';
import { session as sessionkit } from '../../src/adapters/fastify.js';
import { FastifySessionSlowStore } from './framework-passport-apps.js';
import { SlowMemoryStore } from './slow-store.js';

export const secret = 'fastify-escape-hatches-secret-of-32-chars!!';
export type Kind = '@fastify/session' | 'sessionkit';

export async function build(
  kind: Kind,
  before?: (app: FastifyInstance) => void,
  delay = 15,
): Promise<FastifyInstance> {
  const app = Fastify();
  before?.(app);
  if (kind === '@fastify/session') {
    await app.register(fastifyCookie);
    await app.register(fastifySession, {
      secret,
      saveUninitialized: false,
      rolling: false,
      cookie: { secure: false },
      store: new FastifySessionSlowStore(delay) as never,
    });
  } else {
    await app.register(
      sessionkit as never,
      {
        secret,
        resave: false,
        saveUninitialized: false,
        store: new SlowMemoryStore(delay),
      } as never,
    );
  }
  app.get('/read', async (request) => {
    const s = request.session as unknown as { get(k: string): unknown };
    return { user: s.get('user') ?? null, flash: s.get('flash') ?? null };
  });
  app.get('/start', async (request) => {
    (request.session as unknown as { set(k: string, v: unknown): void }).set('user', 'anon');
    return 'started';
  });
  return app;
}

export function cookieOf(setCookie: string | string[] | undefined): string | undefined {
  if (setCookie === undefined) return undefined;
  const list = Array.isArray(setCookie) ? setCookie : [setCookie];
  const last = list.filter((c) => c.startsWith('sessionId=') || c.startsWith('connect.sid=')).pop();
  return last?.split(';')[0];
}

export const set = (request: { session: unknown }, k: string, v: unknown) =>
  (request.session as unknown as { set(k: string, v: unknown): void }).set(k, v);
