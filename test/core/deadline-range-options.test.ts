/**
 * Why: every store holds a session's deadline only within a Date's range (±8.64e15 ms). A `ttl` (the
 * deadline of a browser-session cookie is now + ttl) or a `renewGrace` (a renewed ID's marker lives twice
 * the grace) past it, set to mean "never", must be refused at session() with ERR_INVALID_OPTION naming
 * the option, as README promises for every option, not answer 500 on every request that stores or renews
 * a session. The largest accepted values store and renew on a store that enforces the range.
 */
import express from 'express';
import request from 'supertest';
import { afterAll, describe, expect, it } from 'vitest';
import { MAX_SPAN_MS } from '../../src/core/time.js';
import session, { type SessionOptions } from '../../src/index.js';
import { SQLiteStore } from '../../src/stores/sqlite.js';

const stores: SQLiteStore[] = [];
afterAll(async () => {
  for (const store of stores) await store.close();
});

function options(given: Partial<SessionOptions>): SessionOptions {
  const store = new SQLiteStore(':memory:');
  stores.push(store);
  return { secret: 'x'.repeat(32), resave: false, saveUninitialized: false, store, ...given };
}

function app(given: Partial<SessionOptions>): express.Express {
  const app = express();
  app.use(session(options(given)));
  app.get('/', (req, res) => {
    const s = req.session as unknown as { views?: number };
    s.views = (s.views ?? 0) + 1;
    res.send(String(s.views));
  });
  app.use((err: { status?: number; code?: string }, _req: unknown, res: express.Response, _next: unknown) => {
    res.status(err.status ?? 500).send(String(err.code));
  });
  return app;
}

const cookieOf = (res: request.Response): string =>
  String((res.headers['set-cookie'] as unknown as string[])[0]).split(';')[0] as string;

describe('durations whose deadline no store could hold', () => {
  for (const [option, value] of [
    ['ttl', Number.MAX_SAFE_INTEGER],
    ['ttl', MAX_SPAN_MS + 1],
    ['renewGrace', Number.MAX_SAFE_INTEGER],
    ['renewGrace', Math.floor(MAX_SPAN_MS / 2) + 1],
  ] as const) {
    it(`${option}: ${value} is refused at session()`, () => {
      expect(() => session(options({ [option]: value }))).toThrow(
        expect.objectContaining({ code: 'ERR_INVALID_OPTION', option }),
      );
    });
  }

  it('the largest ttl accepted stores and loads a session', async () => {
    const server = app({ ttl: MAX_SPAN_MS });
    const first = await request(server).get('/');
    expect(`${first.status} ${first.text}`).toBe('200 1');
    const second = await request(server).get('/').set('Cookie', cookieOf(first));
    expect(second.text).toBe('2');
  });

  it('the largest renewGrace accepted renews an ID', async () => {
    const server = app({ renewAfter: 1, renewGrace: Math.floor(MAX_SPAN_MS / 2) });
    const first = await request(server).get('/');
    expect(first.status).toBe(200);
    await new Promise((resolve) => setTimeout(resolve, 5));
    // renewAfter has passed: this request moves the session to a new ID.
    const second = await request(server).get('/').set('Cookie', cookieOf(first));
    expect(`${second.status} ${second.text}`).toBe('200 2');
    expect(cookieOf(second)).not.toBe(cookieOf(first));
  });
});
