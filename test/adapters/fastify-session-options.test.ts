/**
 * @fastify/session's options kept by an application that switches: `cookieName` and `idGenerator` mean
 * what they meant there (sessionkit's `name` and `genid`); the ones that would change the cookie's format
 * (`cookiePrefix` other than 's:', `algorithm` other than 'sha256') are refused at registration. Ignored,
 * the cookie was renamed (every user logged out by the switch) and the application's ID generator never
 * called. @fastify/session on the same app is the reference.
 */
import fastifyCookie from '@fastify/cookie';
import fastifySession from '@fastify/session';
import Fastify from 'fastify';
import { describe, expect, it } from 'vitest';
import { session as sessionkit } from '../../src/adapters/fastify.js';

const secret = 'fastify-session-secret-of-at-least-32-chars!';
const myId = () => `tenant42-${Math.random().toString(36).slice(2)}${'x'.repeat(24)}`;

/** What the application sees: the cookie's name and whether the ID is one of its idGenerator's. */
async function observe(kind: '@fastify/session' | 'sessionkit', options: Record<string, unknown>) {
  const app = Fastify();
  try {
    if (kind === '@fastify/session') {
      await app.register(fastifyCookie);
      await app.register(fastifySession, { secret, cookie: { secure: false }, ...options } as never);
    } else {
      await app.register(
        sessionkit as never,
        { secret, resave: false, saveUninitialized: true, ...options } as never,
      );
    }
    app.get('/', async (request) => {
      (request.session as unknown as { set(k: string, v: unknown): void }).set('seen', true);
      return { id: (request.session as unknown as { sessionId: string }).sessionId };
    });
    await app.ready();
  } catch (error) {
    await app.close();
    return { refused: (error as { code?: string }).code };
  }
  try {
    const res = await app.inject({ url: '/' });
    const setCookie = String(res.headers['set-cookie']);
    return {
      cookieName: setCookie.slice(0, setCookie.indexOf('=')),
      idFromIdGenerator: String(res.json().id).startsWith('tenant42-'),
    };
  } finally {
    await app.close();
  }
}

describe("@fastify/session's options are honoured or refused, never silently dropped", () => {
  it('cookieName: @fastify/session names the cookie by it', async () => {
    expect(await observe('@fastify/session', { cookieName: 'sid' })).toMatchObject({ cookieName: 'sid' });
  });

  it('cookieName: sessionkit names the cookie by it, or refuses it with ERR_INVALID_OPTION', async () => {
    const seen = await observe('sessionkit', { cookieName: 'sid' });
    expect(seen, 'a switched application silently gets a cookie named connect.sid').toSatisfy(
      (s: { cookieName?: string; refused?: string }) =>
        s.cookieName === 'sid' || s.refused === 'ERR_INVALID_OPTION',
    );
  });

  it('idGenerator: @fastify/session mints IDs with it', async () => {
    expect(await observe('@fastify/session', { idGenerator: myId })).toMatchObject({
      idFromIdGenerator: true,
    });
  });

  it('idGenerator: sessionkit mints IDs with it, or refuses it with ERR_INVALID_OPTION', async () => {
    const seen = await observe('sessionkit', { idGenerator: myId });
    expect(seen, "a switched application's IDs silently stop being its own").toSatisfy(
      (s: { idFromIdGenerator?: boolean; refused?: string }) =>
        s.idFromIdGenerator === true || s.refused === 'ERR_INVALID_OPTION',
    );
  });
});

describe('@fastify/session options that would change the cookie format', () => {
  it('are refused at registration, naming the option; the values sessionkit writes anyway are accepted', async () => {
    const base = { secret, resave: false, saveUninitialized: false };
    for (const [name, value] of [
      ['cookiePrefix', ''],
      ['algorithm', 'sha512'],
    ] as const) {
      const app = Fastify();
      await expect(
        app.register(sessionkit as never, { ...base, [name]: value } as never),
      ).rejects.toMatchObject({
        code: 'ERR_INVALID_OPTION',
        option: name,
      });
    }
    const app = Fastify();
    await app.register(sessionkit as never, { ...base, cookiePrefix: 's:', algorithm: 'sha256' } as never);
    await app.ready();
    await app.close();
  });
});
