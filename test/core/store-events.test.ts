import { EventEmitter } from 'node:events';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import express from 'express';
import expressSession from 'express-session';
import request from 'supertest';
import { describe, expect, it } from 'vitest';
import { SessionManager } from '../../src/engine/manager.js';
import session, { MemoryStore } from '../../src/index.js';
import { cookieOf, jsonErrors } from '../support/apps.js';

const secret = 'store-events-tests-secret-0123456789ab';
const MIDDLEWARES = 20;

function counted(app: express.Express) {
  app.get('/', (req, res) => {
    req.session.views = (req.session.views ?? 0) + 1;
    res.send(`views: ${req.session.views}`);
  });
  app.use(jsonErrors);
}

/** The process warnings raised while `action` runs (MaxListenersExceededWarning among them). */
async function warningsDuring(action: () => Promise<void>): Promise<string[]> {
  const seen: string[] = [];
  const listener = (warning: Error) => seen.push(warning.name);
  process.on('warning', listener);
  try {
    await action();
    // Node emits process warnings on the next tick.
    await new Promise((resolve) => setImmediate(resolve));
  } finally {
    process.off('warning', listener);
  }
  return seen;
}

/**
 * Middlewares made on `store` and dropped at once. Made in a function of their own, which has returned
 * before the test collects: the test's own frame could otherwise still hold the last one made.
 */
function makeAndDrop(store: MemoryStore, count: number): WeakRef<SessionManager>[] {
  const options = { secret, store, resave: false, saveUninitialized: false };
  return Array.from({ length: count }, () => new WeakRef(new SessionManager(options)));
}

describe("a store's disconnect, connect and corrupt events, with many middlewares on one store", () => {
  it('one listener per event whatever the number of middlewares, and each still honours the events', async () => {
    const store = new MemoryStore();
    const apps: express.Express[] = [];
    const warnings = await warningsDuring(async () => {
      for (let i = 0; i < MIDDLEWARES; i++) {
        const app = express();
        app.use(session({ secret, resave: false, saveUninitialized: false, store }));
        counted(app);
        apps.push(app);
      }
    });
    expect(warnings).not.toContain('MaxListenersExceededWarning');
    for (const event of ['disconnect', 'connect', 'corrupt']) expect(store.listenerCount(event)).toBe(1);

    // express-session adds its listeners per middleware: the same twenty pass Node's default limit of
    // ten (lifted here only so that the demonstration prints no warning).
    const anchorStore = new expressSession.MemoryStore();
    anchorStore.setMaxListeners(0);
    for (let i = 0; i < MIDDLEWARES; i++)
      expressSession({ secret, resave: false, saveUninitialized: false, store: anchorStore });
    expect(anchorStore.listenerCount('disconnect')).toBe(MIDDLEWARES);
    expect(MIDDLEWARES).toBeGreaterThan(EventEmitter.defaultMaxListeners);

    const cookies = await Promise.all(
      apps.map(async (app) => cookieOf(await request(app).get('/').expect(200))),
    );
    store.emit('disconnect');
    for (const [i, app] of apps.entries()) {
      const down = await request(app)
        .get('/')
        .set('Cookie', cookies[i] as string)
        .expect(503);
      expect(down.body.code).toBe('ERR_STORE_UNAVAILABLE');
    }
    store.emit('connect');
    for (const [i, app] of apps.entries())
      await request(app)
        .get('/')
        .set('Cookie', cookies[i] as string)
        .expect(200, 'views: 2');
  });

  it("reports a store's corrupt event on every middleware's error event", () => {
    const store = new MemoryStore();
    const managers = Array.from({ length: 3 }, () => new SessionManager({ secret, store }));
    const seen = managers.map((manager) => {
      const errors: unknown[] = [];
      manager.on('error', (error: unknown) => errors.push(error));
      return errors;
    });
    const problem = new Error('a record could not be read');
    store.emit('corrupt', problem);
    expect(seen).toEqual([[problem], [problem], [problem]]);
  });

  it('a middleware the application dropped is collected while its store lives', async () => {
    setFlagsFromString('--expose-gc');
    const collect = runInNewContext('gc') as () => void;
    const store = new MemoryStore();
    const kept = new SessionManager({ secret, store });
    const dropped = makeAndDrop(store, 50);
    // No deref() before the check: a target deref()'d keeps alive until the end of that job.
    for (let round = 0; round < 5; round++) {
      collect();
      await new Promise((resolve) => setImmediate(resolve));
    }
    expect(dropped.filter((ref) => ref.deref() !== undefined)).toHaveLength(0);
    // The survivor still follows the store's events.
    store.emit('disconnect');
    expect(kept.storeReady).toBe(false);
    store.emit('connect');
    expect(kept.storeReady).toBe(true);
  });
});
