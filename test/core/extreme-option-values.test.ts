/**
 * Why: options are often read from environment variables, and "never expire" is often written as a huge
 * number. Users depend on such values failing with a typed error, never a 500 later: options read from
 * environment variables are refused at start-up on Express, Fastify and Koa; an expiry no Date can hold,
 * set per request, is a typed ERR_INVALID_COOKIE; a far-future one (2040, past 9999, up to 8.64e15) is
 * capped and the session stored and read back on SQLite; the size cap and SQLite's user-ID limit are
 * exact at their boundaries.
 */
import express from 'express';
import request from 'supertest';
import { afterAll, describe, expect, it } from 'vitest';
import { generateId } from '../../src/core/id.js';
import session, { login, SessionError } from '../../src/index.js';
import { SQLiteStore } from '../../src/stores/sqlite.js';
import { cookieOf } from '../support/apps.js';

const secret = 'x'.repeat(32);
const base = { secret, resave: false, saveUninitialized: false } as const;
const stores: SQLiteStore[] = [];
const sqlite = () => {
  const store = new SQLiteStore(':memory:');
  stores.push(store);
  return store;
};
afterAll(async () => {
  for (const store of stores) await store.close();
});

function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  return undefined;
}

describe('options from environment variables', () => {
  it('session(): strings, NaN and negatives are ERR_INVALID_OPTION naming the option', () => {
    const cases: [string, Record<string, unknown>][] = [
      ['cookie.maxAge', { cookie: { maxAge: '3600000' } }],
      ['cookie.maxAge', { cookie: { maxAge: Number(undefined) } }],
      ['cookie.maxAge', { cookie: { maxAge: '' } }],
      ['cookie.maxAge', { cookie: { maxAge: -1 } }],
      ['ttl', { ttl: '3600000' }],
      ['ttl', { ttl: Number.NaN }],
      ['ttl', { ttl: Number.POSITIVE_INFINITY }],
      ['storeTimeout', { storeTimeout: '5000' }],
      ['absoluteTimeout', { absoluteTimeout: '28800000' }],
      ['touchAfter', { touchAfter: Number.NaN }],
      ['renewAfter', { renewAfter: '60000' }],
    ];
    for (const [option, given] of cases)
      expect(thrown(() => session({ ...base, ...given } as never))).toMatchObject({
        code: 'ERR_INVALID_OPTION',
        option,
      });
    // `undefined` (an unset variable) is the default, as in express-session.
    expect(() => session({ ...base, cookie: { maxAge: undefined } })).not.toThrow();
  });

  it('Fastify and Koa: a string maxAge is ERR_INVALID_OPTION at start-up', async () => {
    const fastify = (await import('fastify')).default();
    const { session: fastifySession } = await import('../../src/adapters/fastify.js');
    await expect(
      fastify.register(fastifySession, { ...base, cookie: { maxAge: '3600000' as never } }).ready(),
    ).rejects.toMatchObject({ code: 'ERR_INVALID_OPTION' });
    await fastify.close();
    const { session: koaSession } = await import('../../src/adapters/koa.js');
    expect(thrown(() => koaSession({ ...base, maxAge: '86400000' as never }))).toMatchObject({
      code: 'ERR_INVALID_OPTION',
      option: 'cookie.maxAge',
    });
  });
});

describe('per-request expiries on SQLite', () => {
  function app(set: (cookie: { maxAge: unknown; expires: unknown }) => void) {
    const a = express();
    a.use(session({ ...base, store: sqlite() }));
    a.get('/set', (req, res) => {
      const s = req.session as unknown as { v: string; cookie: { maxAge: unknown; expires: unknown } };
      s.v = 'kept';
      set(s.cookie);
      res.send('ok');
    });
    a.get('/get', (req, res) => {
      res.send(String((req.session as unknown as { v?: string }).v));
    });
    a.use((err: { code?: string }, _req: unknown, res: express.Response, _next: unknown) => {
      res.status(500).send(String(err.code));
    });
    return a;
  }

  it('maxAge Infinity / MAX_SAFE_INTEGER and an invalid expires: ERR_INVALID_COOKIE, nothing stored', async () => {
    for (const set of [
      (c: { maxAge: unknown }) => (c.maxAge = Number.POSITIVE_INFINITY),
      (c: { maxAge: unknown }) => (c.maxAge = Number.MAX_SAFE_INTEGER),
      (c: { expires: unknown }) => (c.expires = new Date('nope')),
    ]) {
      const res = await request(app(set as never)).get('/set');
      expect(`${res.status} ${res.text}`).toBe('500 ERR_INVALID_COOKIE');
      expect(res.headers['set-cookie']).toBeUndefined();
    }
  });

  it('a lifetime to 2040, past 9999 or to the end of the Date range: capped, stored and read back', async () => {
    for (const at of [Date.UTC(2040, 0, 1), Date.UTC(10000, 0, 1), 8.64e15 - 10_000]) {
      const a = app((c) => {
        c.maxAge = at - Date.now();
      });
      const first = await request(a).get('/set');
      expect(first.status).toBe(200);
      const cookie = cookieOf(first);
      expect((await request(a).get('/get').set('Cookie', cookie)).text).toBe('kept');
    }
  });

  it('maxAge 0 and negative: the browser drops the cookie and no session loads', async () => {
    for (const ms of [0, -1000]) {
      const a = app((c) => {
        c.maxAge = ms;
      });
      const first = await request(a).get('/set');
      expect(first.status).toBe(200);
      const cookie = cookieOf(first);
      expect((await request(a).get('/get').set('Cookie', cookie)).text).toBe('undefined');
    }
  });
});

describe('size and user-ID limits on SQLite', () => {
  it('maxSessionBytes: exactly the limit is stored, one byte over is ERR_SESSION_TOO_LARGE', async () => {
    const limit = 64 * 1024;
    const a = express();
    a.use(session({ ...base, store: sqlite(), maxSessionBytes: limit }));
    a.get('/:extra', (req, res) => {
      // {"a":"…"} is 8 bytes around the value.
      (req.session as unknown as { a: string }).a = 'x'.repeat(limit - 8 + Number(req.params.extra));
      res.send('ok');
    });
    a.use((err: { code?: string }, _req: unknown, res: express.Response, _next: unknown) => {
      res.status(500).send(String(err.code));
    });
    expect((await request(a).get('/0')).status).toBe(200);
    expect((await request(a).get('/1')).text).toBe('ERR_SESSION_TOO_LARGE');
  });

  it('user IDs: 1020 bytes of UTF-8 log in, 1021 are ERR_INVALID_USER before anything changes', async () => {
    const store = sqlite();
    const fits = '€'.repeat(340); // 1020 bytes
    const over = `${fits}a`;
    const id = generateId();
    const now = Date.now();
    const record = (userId: string) => ({
      data: {},
      cookie: { originalMaxAge: null, expires: null, path: '/' },
      expiresAt: now + 60_000,
      createdAt: now,
      lastSeenAt: now,
      userId,
    });
    expect(await store.create(id, record(fits) as never)).toBe(true);
    expect((await store.get(id))?.userId).toBe(fits);
    await expect(store.create(generateId(), record(over) as never)).rejects.toBeInstanceOf(SessionError);
    await expect(store.create(generateId(), record(over) as never)).rejects.toMatchObject({
      code: 'ERR_INVALID_USER',
    });
    const a = express();
    a.use(session({ ...base, store }));
    a.get('/', async (req, res, next) => {
      try {
        await login(req.session, over);
        res.send('ok');
      } catch (error) {
        next(error);
      }
    });
    a.use((err: { code?: string }, _req: unknown, res: express.Response, _next: unknown) => {
      res.status(500).send(String(err.code));
    });
    expect((await request(a).get('/')).text).toBe('ERR_INVALID_USER');
  });
});
