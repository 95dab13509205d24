import type { Server } from 'node:http';
import express from 'express';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import session, { currentUserId, login } from '../../src/index.js';
import type { AnyStore } from '../../src/stores/factory.js';
import { cookieOf, jsonErrors } from '../support/apps.js';
import { storeTargets } from '../support/interleave.js';

/**
 * Store-level limits seen through the middleware, on every store: the size cap holds against concurrent
 * requests, and a login with a user ID the store cannot hold leaves the user as they were.
 */

const secret = 'store-limits-secret-0123456789abcdef0123';
const targets = await storeTargets('sklim');
const MiB = 1024 * 1024;
const CHUNK = 'x'.repeat(900 * 1024);

/** User IDs some stores cannot hold exactly, and the stores that must refuse each. */
const USER_IDS: Record<string, { userId: string; refusedBy: string[] | 'all' }> = {
  lone: { userId: 'bob\ud800', refusedBy: 'all' },
  nul: { userId: 'bob\u0000admin', refusedBy: ['postgres'] },
  long: { userId: 'b'.repeat(1_100), refusedBy: ['sqlite', 'postgres', 'mysql'] },
};

for (const target of targets) {
  describe.skipIf(target.skip)(`store limits on ${target.name}`, () => {
    let store: AnyStore;
    let server: Server;
    let url: string;
    /** Requests of the concurrent round wait here until all of them have loaded the session. */
    let barrier: { size: number; arrived: number; release: () => void; all: Promise<void> };

    const newBarrier = (size: number) => {
      let release: () => void = () => undefined;
      const all = new Promise<void>((resolve) => {
        release = resolve;
      });
      barrier = { size, arrived: 0, release, all };
    };

    beforeAll(async () => {
      store = await target.open();
      const app = express();
      app.use(
        session({
          secret,
          store,
          resave: false,
          saveUninitialized: false,
          maxSessionBytes: MiB,
          storeTimeout: 20_000,
        }),
      );
      app.get('/start', (req, res) => {
        (req.session as unknown as Record<string, unknown>).started = true;
        res.send('ok');
      });
      app.get('/add/:key', async (req, res) => {
        if (++barrier.arrived === barrier.size) barrier.release();
        await barrier.all;
        (req.session as unknown as Record<string, string>)[req.params.key] = CHUNK;
        res.send('ok');
      });
      app.get('/read', (req, res) => {
        res.json({ user: currentUserId(req.session), data: { ...req.session, cookie: undefined } });
      });
      app.get('/login/:kind', async (req, res) => {
        const entry = USER_IDS[req.params.kind];
        await login(req.session, entry ? entry.userId : req.params.kind);
        res.send('in');
      });
      app.use(jsonErrors);
      server = app.listen(0, '127.0.0.1');
      await new Promise((resolve) => server.once('listening', resolve));
      const address = server.address() as { port: number };
      url = `http://127.0.0.1:${address.port}`;
    });

    afterAll(async () => {
      await new Promise((resolve) => server?.close(resolve));
      if (store) await target.dispose(store);
    });

    it('six concurrent requests each adding 0.9 MB under a 1 MiB cap: at most what fits is stored', async () => {
      const start = await request(url).get('/start').expect(200);
      const cookie = cookieOf(start);
      newBarrier(6);
      const results = await Promise.all(
        Array.from({ length: 6 }, (_, i) => request(url).get(`/add/k${i}`).set('Cookie', cookie)),
      );
      const ok = results.filter((r) => r.status === 200);
      expect(ok).toHaveLength(1);
      for (const r of results)
        if (r.status !== 200) expect(r.body).toEqual({ code: 'ERR_SESSION_TOO_LARGE' });
      const read = await request(url).get('/read').set('Cookie', cookie).expect(200);
      const data = read.body.data as Record<string, unknown>;
      expect(Object.keys(data).filter((key) => key.startsWith('k'))).toHaveLength(1);
      expect(Buffer.byteLength(JSON.stringify(data))).toBeLessThanOrEqual(MiB);
    }, 60_000);

    for (const [kind, { refusedBy }] of Object.entries(USER_IDS)) {
      const refused = refusedBy === 'all' || refusedBy.includes(target.name);
      it(`login with a ${kind} user ID: ${refused ? 'refused, and the user stays as they were' : 'stored exactly'}`, async () => {
        const start = await request(url).get('/start').expect(200);
        const cookie = cookieOf(start);
        const login = await request(url).get(`/login/${kind}`).set('Cookie', cookie);
        if (refused) {
          expect(login.status).toBe(500);
          expect(login.body).toEqual({ code: 'ERR_INVALID_USER' });
          const read = await request(url).get('/read').set('Cookie', cookie).expect(200);
          expect(read.body).toEqual({ user: null, data: { started: true } });
        } else {
          expect(login.status).toBe(200);
          const read = await request(url).get('/read').set('Cookie', cookieOf(login)).expect(200);
          expect(read.body.user).toBe(USER_IDS[kind]?.userId);
        }
      });
    }
  });
}
