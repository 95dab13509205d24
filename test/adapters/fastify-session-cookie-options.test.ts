/**
 * Why: @fastify/session's `request.session.options(opts)` changes one session's cookie, the usual way to
 * give a "remember me" login a longer lifetime (or a browser-session one) on Fastify. An app that switches
 * to sessionkit/fastify keeps calling it: without it the login threw a TypeError and nobody could log in.
 * The same routes run on @fastify/session (with @fastify/cookie) and on sessionkit; what the browser gets
 * (the cookie's lifetime and attributes) and what the next request reads must match.
 */
import fastifyCookie from '@fastify/cookie';
import fastifySession from '@fastify/session';
import Fastify, { type FastifyRequest } from 'fastify';
import { describe, expect, it } from 'vitest';
import { type FastifyCookieOptions, session as sessionkit } from '../../src/adapters/fastify.js';

const secret = 'fastify-session-secret-of-at-least-32-chars!';
const DAY = 86_400_000;
type Kind = '@fastify/session' | 'sessionkit';
type Options = (request: FastifyRequest) => {
  options(opts: FastifyCookieOptions): void;
  set(k: string, v: unknown): void;
};

async function appFor(kind: Kind) {
  const app = Fastify();
  if (kind === '@fastify/session') {
    await app.register(fastifyCookie);
    await app.register(fastifySession, { secret, cookie: { secure: false, maxAge: DAY, sameSite: 'lax' } });
  } else {
    await app.register(sessionkit, {
      secret,
      resave: false,
      saveUninitialized: false,
      // SameSite set on both: sessionkit's default Lax is a README difference.
      cookie: { maxAge: DAY, sameSite: 'lax' },
      cookieName: 'sessionId',
    });
  }
  const sessionOf = ((request) => request.session) as Options;
  app.post<{ Querystring: { how: string } }>('/login', async (request) => {
    const session = sessionOf(request);
    session.set('user', 'alice');
    if (request.query.how === 'remember') session.options({ maxAge: 30 * DAY });
    else if (request.query.how === 'browser') session.options({ maxAge: null });
    else if (request.query.how === 'strict') session.options({ sameSite: 'strict', httpOnly: true });
    return 'in';
  });
  app.get('/me', async (request) => (request.session as unknown as { user?: string }).user ?? 'anonymous');
  await app.ready();
  return app;
}

async function observe(kind: Kind, how: string) {
  const app = await appFor(kind);
  try {
    const login = await app.inject({ method: 'POST', url: `/login?how=${how}` });
    const header = ([] as string[])
      .concat(login.headers['set-cookie'] ?? [])
      .find((h) => h.startsWith('sessionId='));
    if (header === undefined) return { status: login.statusCode, cookie: null };
    const expires = /Expires=([^;]+)/i.exec(header)?.[1];
    const me = await app.inject({ url: '/me', headers: { cookie: header.split(';')[0] as string } });
    return {
      status: login.statusCode,
      days: expires === undefined ? 'browser session' : Math.round((Date.parse(expires) - Date.now()) / DAY),
      sameSite: /SameSite=(\w+)/i.exec(header)?.[1]?.toLowerCase() ?? null,
      me: me.body,
    };
  } finally {
    await app.close();
  }
}

describe("@fastify/session's request.session.options()", () => {
  for (const how of ['remember', 'browser', 'strict']) {
    it(`options() for a "${how}" login: the same cookie and session as on @fastify/session`, async () => {
      const expected = await observe('@fastify/session', how);
      expect(expected).toMatchObject({ status: 200, me: 'alice' });
      expect(await observe('sessionkit', how)).toEqual(expected);
    });
  }
});
