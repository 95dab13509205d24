/**
 * Why: Node's timers hold at most 2^31-1 ms (about 24.8 days); a longer delay fires after 1 ms. An
 * application that sets `storeTimeout` (or a store's `timeout`) to "30 days", meaning "never time out",
 * relies on being told at start-up: otherwise every store call that does not settle within a millisecond
 * fails with ERR_STORE_UNAVAILABLE, and every request with a session answers 503 on a healthy store.
 * session() refuses such a `storeTimeout`, and the base every sessionkit store inherits such a `timeout`,
 * with ERR_INVALID_OPTION naming the option; the longest a timer holds is accepted and works.
 */
import express from 'express';
import request from 'supertest';
import { describe, expect, it } from 'vitest';
import { MAX_TIMER_MS } from '../../src/core/time.js';
import session, { MemoryStore } from '../../src/index.js';
import { SlowMemoryStore } from '../support/slow-store.js';

const OVER = MAX_TIMER_MS + 1;
const DAY = 24 * 3600_000;

function options(storeTimeout: number) {
  return {
    secret: 'x'.repeat(32),
    resave: false,
    saveUninitialized: false,
    store: new MemoryStore(),
    storeTimeout,
  };
}

describe('store timeouts past what a Node timer holds', () => {
  for (const storeTimeout of [OVER, 30 * DAY]) {
    it(`session({ storeTimeout: ${storeTimeout} }) is refused with ERR_INVALID_OPTION`, () => {
      expect(() => session(options(storeTimeout))).toThrow(
        expect.objectContaining({ code: 'ERR_INVALID_OPTION', option: 'storeTimeout' }),
      );
    });
  }

  it('session({ storeTimeout: 2^31-1 }) on a store that answers later: the request succeeds', async () => {
    const app = express();
    app.use(session({ ...options(MAX_TIMER_MS), store: new SlowMemoryStore(20) }));
    app.get('/', (req, res) => {
      (req.session as unknown as { views: number }).views = 1;
      res.send('ok');
    });
    const res = await request(app).get('/');
    expect(`${res.status} ${res.text}`).toBe('200 ok');
  });

  for (const timeout of [OVER, 30 * DAY, Number.POSITIVE_INFINITY, Number.NaN, 0, -1]) {
    it(`a sessionkit store's base refuses timeout: ${timeout}`, () => {
      expect(() => new MemoryStore({ timeout })).toThrow(
        expect.objectContaining({ code: 'ERR_INVALID_OPTION', option: 'timeout' }),
      );
    });
  }

  it("a sessionkit store's base accepts timeout: 2^31-1", async () => {
    const store = new MemoryStore({ timeout: MAX_TIMER_MS });
    expect(store.timeout).toBe(MAX_TIMER_MS);
    await store.close();
  });
});
