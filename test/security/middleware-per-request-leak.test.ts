/**
 * Why: `app.use((req, res, next) => session({ ... })(req, res, next))`, a middleware made per request
 * with the default MemoryStore, is a common mistake. The user depends on each such middleware, its store
 * and the sessions in it being collected once nothing references them (as express-session's are): the
 * store's sweep timer holds it only weakly, so a live interval does not keep every store ever made alive.
 */
import express from 'express';
import expressSession from 'express-session';
import request from 'supertest';
import { describe, expect, it } from 'vitest';
import session, { MemoryStore } from '../../src/index.js';
import { collector, Retention } from '../support/leak-harness.js';

const N = 100;

async function run(flavor: 'sessionkit' | 'express-session' | 'sessionkit-no-sweep') {
  const gc = collector();
  const stores = new Retention(gc);
  const app = express();
  app.use((req, res, next) => {
    const middleware =
      flavor === 'sessionkit'
        ? session({
            secret: 'a-long-enough-secret-0123456789abcdef',
            resave: false,
            saveUninitialized: false,
          })
        : flavor === 'sessionkit-no-sweep'
          ? session({
              secret: 'a-long-enough-secret-0123456789abcdef',
              resave: false,
              saveUninitialized: false,
              store: new MemoryStore({ sweepInterval: 0 }),
            })
          : expressSession({
              secret: 'a-long-enough-secret-0123456789abcdef',
              resave: false,
              saveUninitialized: false,
            });
    middleware(req, res, (err?: unknown) => {
      // The store the middleware made (req.sessionStore on both), tracked once the request is done.
      stores.track((req as unknown as { sessionStore: object }).sessionStore);
      next(err);
    });
  });
  app.get('/', (req, res) => {
    (req.session as unknown as Record<string, unknown>).n = 1;
    res.send('ok');
  });
  const server = app.listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  const agent = request(server);
  for (let i = 0; i < N; i++) expect((await agent.get('/')).status).toBe(200);
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
  return { tracked: stores.tracked, retained: await stores.retained() };
}

describe('a session() middleware made per request, with the default store', () => {
  it('is collected once the request is over (express-session: it is), not kept alive by the sweep timer', async () => {
    const reference = await run('express-session');
    expect(reference.tracked).toBe(N);
    expect(reference.retained).toBeLessThanOrEqual(2);
    // Control: the same per-request middleware over a MemoryStore without its sweep timer is collected,
    // so the timer is what keeps the default store alive.
    const noSweep = await run('sessionkit-no-sweep');
    expect(noSweep.retained).toBeLessThanOrEqual(2);
    const ours = await run('sessionkit');
    expect(ours.tracked).toBe(N);
    // Observed: all N stores (with their sessions) stay reachable from their never-cleared intervals.
    expect(ours.retained).toBeLessThanOrEqual(2);
  });
});
