/**
 * `request.session.regenerate(keys)` (@fastify/session's `regenerate(ignoreFields)`, which
 * @fastify/passport's `logIn` calls as `regenerate(['session'])`) keeps a "remember me" lifetime the
 * application set (`cookie.maxAge = 30 days`): @fastify/session builds the new session's cookie from the
 * old one's. The new cookie once got the plugin's default, and a remembered user was logged out early.
 */
import fastifyCookie from '@fastify/cookie';
import fastifySession from '@fastify/session';
import Fastify from 'fastify';
import Fastify4 from 'fastify4';
import { describe, expect, it } from 'vitest';
import { session as sessionkit } from '../../src/adapters/fastify.js';

const secret = 'fastify-session-secret-of-at-least-32-chars!';
const HOUR = 3_600_000;
const MONTH = 30 * 24 * HOUR;

type Kind = '@fastify/session' | 'sessionkit (Fastify 5)' | 'sessionkit (Fastify 4)';

async function build(kind: Kind) {
  const create = (kind === 'sessionkit (Fastify 4)' ? Fastify4 : Fastify) as unknown as typeof Fastify;
  const app = create();
  if (kind === '@fastify/session') {
    await app.register(fastifyCookie);
    await app.register(fastifySession, {
      secret,
      saveUninitialized: false,
      rolling: false,
      cookie: { secure: false, maxAge: HOUR },
    });
  } else {
    await app.register(
      sessionkit as never,
      {
        secret,
        resave: false,
        saveUninitialized: false,
        cookie: { maxAge: HOUR },
      } as never,
    );
  }
  app.post('/login', async (request) => {
    const s = request.session as unknown as { set(k: string, v: unknown): void; cookie: { maxAge: number } };
    s.set('user', 'alice');
    s.cookie.maxAge = MONTH; // "remember me"
    return { ok: true };
  });
  app.post('/elevate', async (request) => {
    const s = request.session as unknown as { regenerate(keys: string[]): Promise<void> };
    await s.regenerate(['user']);
    const next = request.session as unknown as { get(k: string): unknown };
    return { user: next.get('user') };
  });
  return app;
}

/** Seconds until the cookie expires, from Max-Age or Expires. */
function lifetime(setCookie: string): number {
  const maxAge = /max-age=(\d+)/i.exec(setCookie)?.[1];
  if (maxAge !== undefined) return Number(maxAge);
  const expires = /expires=([^;]+)/i.exec(setCookie)?.[1];
  return expires === undefined ? 0 : Math.round((Date.parse(expires) - Date.now()) / 1000);
}

async function scenario(kind: Kind) {
  const app = await build(kind);
  try {
    const login = await app.inject({ method: 'POST', url: '/login' });
    const first = String(login.headers['set-cookie']);
    const elevate = await app.inject({
      method: 'POST',
      url: '/elevate',
      headers: { cookie: first.split(';')[0] as string },
    });
    const second = String(elevate.headers['set-cookie']);
    return {
      loginLifetimeDays: Math.round(lifetime(first) / 86_400),
      user: elevate.json().user,
      newId: second.split(';')[0] !== first.split(';')[0],
      elevatedLifetimeDays: Math.round(lifetime(second) / 86_400),
    };
  } finally {
    await app.close();
  }
}

describe('regenerate(keys) keeps the session lifetime, as @fastify/session', () => {
  it('@fastify/session: the reference', async () => {
    expect(await scenario('@fastify/session')).toEqual({
      loginLifetimeDays: 30,
      user: 'alice',
      newId: true,
      elevatedLifetimeDays: 30,
    });
  });

  for (const kind of ['sessionkit (Fastify 5)', 'sessionkit (Fastify 4)'] as const)
    it(`${kind}: the rotated session's cookie still lives 30 days`, async () => {
      expect(await scenario(kind)).toEqual(await scenario('@fastify/session'));
    });
});
