/**
 * Why: a logger or an `error` listener is the application's code, and may throw (a pino method passed
 * unbound, a metrics listener with a bug). The middleware reports absorbed failures and warnings to them
 * from inside requests and from callbacks after the response: a throw there must neither fail nor hang
 * the request (a store outage under `onStoreError: 'anonymous'` is still served anonymously) nor reach the
 * process as an unhandled rejection or uncaught exception. It becomes a process warning instead.
 */
import express from 'express';
import expressSession from 'express-session';
import request from 'supertest';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import session, { MemoryStore } from '../../src/index.js';
import { adapters, BASE, cookieOf, processWatch, type Route, tick } from '../support/callback-adapters.js';

let watch: ReturnType<typeof processWatch>;
const warnings: Error[] = [];
const onWarning = (warning: Error) => warnings.push(warning);
beforeEach(() => {
  watch = processWatch();
  warnings.length = 0;
  process.on('warning', onWarning);
});
afterEach(() => {
  watch.stop();
  process.off('warning', onWarning);
});

const routes: Record<string, Route> = {
  '/w': (s) => {
    s.n = ((s.n as number | undefined) ?? 0) + 1;
    return s.n;
  },
};
const brokenLogger = {
  warn() {
    throw new TypeError('logger broken');
  },
  error() {
    throw new TypeError('logger broken');
  },
};

for (const adapter of adapters) {
  describe(adapter.name, () => {
    it("store down under onStoreError 'anonymous' with a throwing logger.error: the request is served anonymously", async () => {
      const store = new MemoryStore();
      const made = await adapter.create(
        {
          ...BASE,
          store,
          storeTimeout: 100,
          onStoreError: 'anonymous',
          logger: { warn() {}, error: brokenLogger.error },
        },
        routes,
      );
      const cookie = cookieOf((await made.request('/w')).setCookie) as string;
      (store as unknown as { get: () => Promise<never> }).get = () => new Promise(() => {});
      const res = await made.request('/w', { cookie });
      await tick(100);
      expect({ status: res.status, body: res.body, escaped: watch.errors.map(String) }).toEqual({
        status: 200,
        body: '1',
        escaped: [],
      });
      expect(warnings.map((w) => w.message).join('\n')).toMatch(
        /logger\.error\(\) threw \(TypeError: logger broken\)/,
      );
      await made.close?.();
    });

    it('a per-request warning through a throwing logger.warn does not fail the request', async () => {
      const made = await adapter.create(
        { ...BASE, cookie: () => ({ sameSite: 'none' }), logger: brokenLogger },
        routes,
      );
      const res = await made.request('/w');
      expect(res.status).toBe(200);
      await tick(10);
      expect(warnings.map((w) => w.message).join('\n')).toMatch(/SameSite=None.*logger\.warn\(\) threw/);
      await made.close?.();
    });
  });
}

it('Express over an express-session store: a throwing error listener hearing a failure after the response throws nothing out of finished()', async () => {
  type Touch = (sid: string, sess: unknown, cb?: (err?: unknown) => void) => void;
  class FlakyTouch extends expressSession.MemoryStore {
    fail = false;
    touch(sid: string, sess: unknown, cb?: (err?: unknown) => void) {
      const own = (expressSession.MemoryStore.prototype as unknown as { touch: Touch }).touch;
      if (!this.fail) return own.call(this, sid, sess, cb);
      const e = Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
      setImmediate(() => cb?.(e));
    }
  }
  const store = new FlakyTouch();
  const mw = session({ ...BASE, store, touchAfter: 0, onStoreError: 'anonymous' } as never);
  (mw as unknown as { manager: NodeJS.EventEmitter }).manager.on('error', () => {
    throw new TypeError('metrics listener broken');
  });
  const app = express();
  app.use(mw);
  app.get('/w', (req, res) => {
    (req.session as unknown as { n: number }).n = 1;
    res.send('w');
  });
  const cookie = cookieOf(
    (await request(app).get('/w')).headers['set-cookie'] as unknown as string[],
  ) as string;
  store.fail = true;
  const res = await request(app).get('/w').set('cookie', cookie);
  await tick(100);
  expect(res.status).toBe(200);
  expect(watch.errors.map(String)).toEqual([]);
  expect(warnings.map((w) => w.message).join('\n')).toMatch(
    /an 'error' listener threw \(TypeError: metrics listener broken\)/,
  );
});
