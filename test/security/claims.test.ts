import { randomBytes } from 'node:crypto';
import express from 'express';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateId } from '../../src/core/id.js';
import session, { currentUserId, login, type SessionOptions } from '../../src/index.js';
import type { AnyStore } from '../../src/stores/factory.js';
import { record } from '../../src/testing/conformance.js';
import { idOf, listenJson } from '../support/apps.js';
import { call, type Json, jar, type Reply } from '../support/json-calls.js';
import { type PairTarget, type StorePair, storePairs } from '../support/store-pairs.js';

/**
 * Printed claims that the other suites backed only weakly, each tried hard: two Express apps with store
 * instances of their own (two app servers; one of them talks to a networked store through a proxy that
 * delays every chunk 0–3 ms), on every store, with many requests at once.
 *
 * - README: "delta writes merged atomically … (no lost updates …)". test/security/lost-updates.test.ts
 *   runs 12 requests on one app server and one store instance. Here 32 requests on two servers each set
 *   a key of their own and delete another, while 8 read-only requests touch (`touchAfter: 0`, and
 *   `rolling` on one server): every set key must be there, every deleted key gone, and no request fail.
 * - README `maxSessionBytes`: "the store checks it again on the merged data inside its atomic update, so
 *   concurrent requests cannot add up past it". store-limits.test.ts runs one trial on one app server.
 *   Here many trials on two servers: what is stored fits, and what is stored is exactly what was answered
 *   200 (no refused write stored, no accepted one lost).
 * - README `absoluteTimeout` / SECURITY C12: "activity, rolling, ID renewal and regenerate({ keep: true })
 *   never extend it". feature-interplay.test.ts runs it on the MemoryStore, Redis and PostgreSQL, without
 *   `resave: true` or `save()`. Here on every store, both servers renewing, one of them resaving whole,
 *   with saves, touches, regenerates and cookies left over from earlier renewals: no request that finds the
 *   user starts after the limit, and afterwards no cookie loads the session and no store lists it.
 * - README "log out everywhere" (`store.destroyByUser`) under a revoke storm: many revokes of one user at
 *   once, over both instances, while the user's sessions exist. Every call must succeed (MongoStore's
 *   compare-and-set on the epoch gave up after 16 rounds) and no session of the user be left.
 */

const secret = 'printed-claims-secret-0123456789abcdef0123';
type Options = Partial<SessionOptions>;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));

/** Requests meeting at a named point wait there until `size` of them arrived (or `timeoutMs` passed). */
class Barriers {
  private readonly points = new Map<
    string,
    { size: number; arrived: number; open: Promise<void>; release(): void }
  >();

  expect(name: string, size: number): void {
    let release: () => void = () => undefined;
    const open = new Promise<void>((resolve) => {
      release = resolve;
    });
    this.points.set(name, { size, arrived: 0, open, release });
  }

  async meet(name: unknown, timeoutMs = 3_000): Promise<void> {
    const point = typeof name === 'string' ? this.points.get(name) : undefined;
    if (!point) return;
    if (++point.arrived === point.size) point.release();
    await Promise.race([point.open, sleep(timeoutMs)]);
  }

  releaseAll(): void {
    for (const point of this.points.values()) point.release();
  }
}

interface App {
  url: string;
  errors: Array<{ code?: string }>;
  close(): Promise<void>;
}

async function serve(store: AnyStore, barriers: Barriers, options: Options): Promise<App> {
  const middleware = session({
    secret,
    store,
    resave: false,
    saveUninitialized: false,
    storeTimeout: 25_000,
    ...options,
  });
  const errors: Array<{ code?: string }> = [];
  middleware.manager.on('error', (error: { code?: string }) => errors.push(error));
  const app = express();
  app.use(middleware);
  const data = (req: express.Request) => req.session as unknown as Json;
  const view = (req: express.Request) => ({
    id: req.sessionID,
    user: currentUserId(req.session),
    data: { ...data(req), cookie: undefined },
  });
  app.post('/init/:n', (req, res) => {
    data(req).start = 1;
    for (let i = 0; i < Number(req.params.n); i++) data(req)[`pre${i}`] = i;
    res.json(view(req));
  });
  // Sets one key and deletes another, both of its own, once every request of the round has loaded.
  app.post('/write/:i', async (req, res) => {
    await barriers.meet(req.query.b);
    data(req)[`k${req.params.i}`] = Number(req.params.i);
    delete data(req)[`pre${req.params.i}`];
    res.json({ ok: true });
  });
  // Read-only: with touchAfter 0 it touches the session.
  app.get('/read', async (req, res) => {
    await barriers.meet(req.query.b);
    res.json({ ok: true });
  });
  app.post('/add/:key/:bytes', async (req, res) => {
    await barriers.meet(req.query.b);
    data(req)[req.params.key] = 'x'.repeat(Number(req.params.bytes));
    res.json({ ok: true });
  });
  app.get('/me', (req, res) => res.json(view(req)));
  app.post('/login/:user', async (req, res) => {
    await login(req.session, req.params.user);
    res.json(view(req));
  });
  app.post('/regenerate', async (req, res) => {
    await req.session.regenerate({ keep: true });
    res.json(view(req));
  });
  app.post('/save', async (req, res) => {
    data(req).saved = Date.now();
    await req.session.save();
    res.json(view(req));
  });
  app.post('/touch', (req, res) => {
    req.session.touch();
    res.json(view(req));
  });
  const served = await listenJson(app);
  return { url: served.url, errors, close: () => served.close() };
}

/** The statuses and error codes of replies that were not 200, for a readable failure. */
function failures(replies: Reply[]): string[] {
  return replies
    .filter((r) => r.status !== 200)
    .map((r) => `${r.status} ${String(r.body.code ?? r.body.text)}`);
}

const WRITERS = 32;
const READERS = 8;
const ROUNDS = 3;

const CAP = 4_096;
/** Two such values fit under CAP beside the session's own key; three do not. */
const VALUE_BYTES = 1_500;
const ADDERS = 6;
const CAP_TRIALS = 12;

// Long enough for a few renewals and regenerates on a loaded machine before the limit (each asserted).
const ABSOLUTE = 2_500;

const REVOKES = 48;
const REVOKED_SESSIONS = 6;
const RENEW_AFTER = 60;

const targets: PairTarget[] = await storePairs('skclm', 3, 20_000);

for (const target of targets) {
  describe.skipIf(target.skip)(
    `printed claims on ${target.name}, two app servers`,
    { concurrent: true },
    () => {
      let pair: StorePair | null = null;
      const barriers = new Barriers();
      const apps: App[] = [];
      /** One app server per store instance: `far` (behind the proxy for network stores) and `near`. */
      const servers = async (farOptions: Options, nearOptions: Options = farOptions): Promise<[App, App]> => {
        if (!pair) throw new Error('store pair not open');
        const made: [App, App] = [
          await serve(pair.far, barriers, farOptions),
          await serve(pair.near, barriers, nearOptions),
        ];
        apps.push(...made);
        return made;
      };

      beforeAll(async () => {
        pair = await target.open();
      });

      afterAll(async () => {
        barriers.releaseAll();
        for (const app of apps) await app.close();
        if (pair) await target.dispose(pair);
      });

      it.sequential(`no lost update: ${WRITERS} requests over two servers each set a key and delete another while ${READERS} touch (${ROUNDS} rounds)`, async () => {
        const [far, near] = await servers({ touchAfter: 0 }, { touchAfter: 0, rolling: true });
        for (let round = 0; round < ROUNDS; round++) {
          const init = await call(round % 2 ? near : far, 'POST', `/init/${WRITERS}`);
          expect(init.status).toBe(200);
          const cookie = jar('', init);
          const b = `lost-${round}`;
          barriers.expect(b, WRITERS + READERS);
          const replies = await Promise.all([
            ...Array.from({ length: WRITERS }, (_, i) =>
              call(i % 2 ? near : far, 'POST', `/write/${i}?b=${b}`, cookie),
            ),
            ...Array.from({ length: READERS }, (_, i) =>
              call(i % 2 ? far : near, 'GET', `/read?b=${b}`, cookie),
            ),
          ]);
          expect(failures(replies), `round ${round}: every request answered 200`).toEqual([]);
          for (const server of [far, near]) {
            const { body } = await call(server, 'GET', '/me', cookie);
            const stored = body.data as Json;
            const lost = Array.from({ length: WRITERS }, (_, i) => i).filter((i) => stored[`k${i}`] !== i);
            const back = Object.keys(stored).filter((key) => key.startsWith('pre'));
            expect({ lost, back, start: stored.start }, `round ${round}`).toEqual({
              lost: [],
              back: [],
              start: 1,
            });
          }
        }
      }, 60_000);

      it.sequential(`maxSessionBytes: ${ADDERS} concurrent additions over two servers never store past the cap, and store exactly what was accepted (${CAP_TRIALS} trials)`, async () => {
        const [far, near] = await servers({ maxSessionBytes: CAP });
        const trial = async (t: number) => {
          const init = await call(t % 2 ? near : far, 'POST', '/init/0');
          expect(init.status).toBe(200);
          const cookie = jar('', init);
          const b = `cap-${t}`;
          barriers.expect(b, ADDERS);
          const replies = await Promise.all(
            Array.from({ length: ADDERS }, (_, i) =>
              call(i % 2 ? near : far, 'POST', `/add/a${i}/${VALUE_BYTES}?b=${b}`, cookie),
            ),
          );
          for (const reply of replies)
            if (reply.status !== 200)
              expect(reply.body, `trial ${t}`).toEqual({ code: 'ERR_SESSION_TOO_LARGE' });
          const accepted = replies.flatMap((reply, i) => (reply.status === 200 ? [`a${i}`] : []));
          expect(accepted.length, `trial ${t}: at least one addition fits`).toBeGreaterThanOrEqual(1);
          for (const server of [far, near]) {
            const stored = (await call(server, 'GET', '/me', cookie)).body.data as Json;
            const keys = Object.keys(stored)
              .filter((key) => key.startsWith('a'))
              .sort();
            expect(keys, `trial ${t}: stored exactly the accepted additions`).toEqual(accepted.sort());
            expect(Buffer.byteLength(JSON.stringify({ ...stored, cookie: undefined }))).toBeLessThanOrEqual(
              CAP,
            );
          }
        };
        // A few sessions at a time, as a busy site has.
        for (let t = 0; t < CAP_TRIALS; t += 4) await Promise.all([0, 1, 2, 3].map((j) => trial(t + j)));
      }, 60_000);

      it.sequential('absoluteTimeout: renewals on both servers, resave, rolling, touches, saves and regenerate({ keep: true }) never extend it', async () => {
        /**
         * One session driven through its whole life under `absolute`: every request carrying the newest
         * cookie that ends before the limit finds the user, none that starts after it does. Gives how many
         * such requests found the user before the limit, and how many IDs the session had.
         */
        const scenario = async (absolute: number): Promise<{ alive: number; ids: number }> => {
          const common: Options = { absoluteTimeout: absolute, renewAfter: RENEW_AFTER, touchAfter: 0 };
          const [far, near] = await servers({ ...common, rolling: true }, { ...common, resave: true });
          const store = (pair as StorePair).near;
          const user = `u-abs-${randomBytes(5).toString('hex')}`;
          const login = await call(far, 'POST', `/login/${user}`);
          expect(login.status).toBe(200);
          let cookie = jar('', login);
          const created = (await store.get(idOf(cookie)))?.createdAt as number;
          expect(typeof created).toBe('number');
          const held = [cookie];
          /** When each request that still found the user started, counted from the session's creation. */
          const alive: number[] = [];
          let aliveCurrent = 0;
          const actions = [
            ['GET', '/me'],
            ['POST', '/save'],
            ['POST', '/touch'],
            ['POST', '/regenerate'],
          ] as const;
          for (let i = 0; Date.now() - created < absolute + 200; i++) {
            await sleep(RENEW_AFTER / 2);
            const server = i % 2 ? near : far;
            const [method, path] = actions[i % actions.length] as (typeof actions)[number];
            // Now and then a tab still holding a cookie from before an earlier renewal.
            const stale = i % 5 === 4 ? held[Math.floor(Math.random() * held.length)] : undefined;
            const started = Date.now() - created;
            const reply = await call(server, method, path, stale ?? cookie);
            const ended = Date.now() - created;
            expect(reply.status, `${method} ${path} at ${started} ms`).toBe(200);
            if (reply.body.user === user) alive.push(started);
            // The newest cookie is never refused before the limit: the session does not end early.
            if (stale === undefined && ended < absolute) {
              expect(reply.body.user, `${method} ${path} from ${started} to ${ended} ms`).toBe(user);
              aliveCurrent++;
            }
            // The browser keeps what any tab's response sets for the live session: a stale tab's
            // regenerate, which followed the renewal to the session, moved it to a new ID.
            if (stale === undefined || reply.body.user === user) {
              cookie = jar(cookie, reply);
              if (!held.includes(cookie)) held.push(cookie);
            }
          }
          if (alive.length > 0)
            expect(Math.max(...alive), 'no request found the user once the limit had passed').toBeLessThan(
              absolute,
            );
          for (const old of held)
            for (const server of [far, near])
              expect((await call(server, 'GET', '/me', old)).body.user).toBeNull();
          // Nor does any store list it, or count it under a per-user limit: its deadline was capped too.
          for (const instance of [(pair as StorePair).far, store])
            expect(await instance.listByUser?.(user)).toEqual([]);
          expect([...far.errors, ...near.errors]).toEqual([]);
          return { alive: aliveCurrent, ids: held.length };
        };
        // A machine too busy to fit several renewals into the limit gets a longer one: what is checked
        // holds at any speed, but only a session that lived through several renewals checks much.
        let seen = { alive: 0, ids: 0 };
        for (let absolute = ABSOLUTE; absolute <= 4 * ABSOLUTE; absolute *= 2) {
          seen = await scenario(absolute);
          if (seen.alive > 3 && seen.ids > 3) break;
        }
        expect(seen.ids, 'the session moved to new IDs several times').toBeGreaterThan(3);
        expect(seen.alive, 'several requests found the session alive before its limit').toBeGreaterThan(3);
      }, 90_000);

      it.sequential(`log out everywhere: ${REVOKES} concurrent destroyByUser of one user over two instances all succeed, and end every session`, async () => {
        if (!pair) throw new Error('store pair not open');
        const { far, near } = pair;
        const user = `u-storm-${randomBytes(5).toString('hex')}`;
        const ids = Array.from({ length: REVOKED_SESSIONS }, () => generateId());
        for (const [i, id] of ids.entries())
          expect(await (i % 2 ? near : far).create(id, record({ userId: user }))).toBe(true);
        const outcomes = await Promise.allSettled(
          Array.from({ length: REVOKES }, (_, i) => (i % 2 ? near : far).destroyByUser?.(user)),
        );
        expect(outcomes.filter((o) => o.status === 'rejected').map((o) => String(o.reason))).toEqual([]);
        for (const instance of [far, near]) {
          for (const id of ids) expect(await instance.get(id)).toBeNull();
          expect(await instance.listByUser?.(user)).toEqual([]);
        }
      }, 60_000);
    },
  );
}
