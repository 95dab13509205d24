import type { Server } from 'node:http';
import express from 'express';
import pg from 'pg';
import { createClient } from 'redis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import session, { currentUserId, login, logout } from '../../src/index.js';
import type { SessionStore } from '../../src/stores/contract.js';
import { PostgresStore } from '../../src/stores/postgres.js';
import { RedisStore } from '../../src/stores/redis.js';
import { jsonErrors } from '../support/apps.js';
import { POSTGRES_URL, REDIS_URL } from '../support/interleave.js';
import { delayingVia, runRaces } from '../support/race-loop.js';
import { deletePrefixed, redisSkipReason } from '../support/redis.js';
import { runNamespace, serviceSkipReason } from '../support/services.js';
import type { WireProxy } from '../support/wire-proxy.js';

/**
 * `regenerate({ keep: true })` moves a signed-in session to a new ID. A logout, or a "log out
 * everywhere", on another app server racing that move must stay a logout, whichever lands first. Two
 * store instances stand for two app servers, the mover's behind a proxy that delays every chunk by a
 * random 0-3 ms; each trial signs a user in, then starts the move on one server and the end on the other
 * at random offsets. Zero survivors: afterwards no cookie of the trial loads the user and no store lists
 * a session of theirs. Each race also checks it ran both ways (the move finding the session, and not).
 */

const TRIALS = 100;
/** Trials in flight at once, each on its own user. */
const LANES = 4;
const WIRE_DELAY_MS = 3;
const SECRET = 'regenerate-keep-race-secret-0123456789ab';

type Store = SessionStore & { close(): Promise<void> };

interface Target {
  name: string;
  skip: string | false;
  open(via: (url: string) => Promise<string>): Promise<{ near: Store; far: Store; dispose(): Promise<void> }>;
}

const pgAdmin = new pg.Pool({ connectionString: POSTGRES_URL, connectionTimeoutMillis: 3_000, max: 2 });
pgAdmin.on('error', () => undefined);
const pgSkip = await serviceSkipReason('PostgreSQL', () => pgAdmin.query('SELECT 1'));
const redisSkip = await redisSkipReason(REDIS_URL);

const targets: Target[] = [
  {
    name: 'Redis',
    skip: redisSkip,
    async open(via) {
      const prefix = `${runNamespace('keep_race')}:`;
      const nearClient = createClient({ url: REDIS_URL });
      const farClient = createClient({ url: await via(REDIS_URL) });
      await nearClient.connect();
      await farClient.connect();
      return {
        near: new RedisStore({ client: nearClient, prefix }),
        far: new RedisStore({ client: farClient, prefix }),
        async dispose() {
          await deletePrefixed(nearClient, prefix);
          nearClient.destroy();
          farClient.destroy();
        },
      };
    },
  },
  {
    name: 'PostgreSQL',
    skip: pgSkip,
    async open(via) {
      const table = runNamespace('keep_race');
      const near = new PostgresStore(POSTGRES_URL, { table, pruneInterval: false });
      const far = new PostgresStore(await via(POSTGRES_URL), { table, pruneInterval: false });
      await near.length();
      await far.length();
      return {
        near,
        far,
        async dispose() {
          await near.close();
          await far.close();
          await pgAdmin.query(`DROP TABLE IF EXISTS ${table}, ${table}_epochs`);
        },
      };
    },
  },
];

afterAll(async () => {
  await pgAdmin.end();
});

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** One app server over `store`; `/keep` waits `?wait=` ms after its load, then moves the session. */
async function appServer(store: Store): Promise<{ url: string; close(): Promise<void> }> {
  const app = express();
  app.use(session({ store, secret: SECRET, resave: false, saveUninitialized: false, storeTimeout: 15_000 }));
  app.post('/login/:user', async (req, res) => {
    await login(req.session, req.params.user);
    (req.session as unknown as Record<string, string>).cart = '3';
    res.send('in');
  });
  app.post('/keep', async (req, res) => {
    await pause(Number(req.query.wait));
    await req.session.regenerate({ keep: true });
    res.json({ moved: currentUserId(req.session) !== null });
  });
  app.post('/logout', async (req, res) => {
    await logout(req.session);
    res.send('out');
  });
  app.get('/me', (req, res) => {
    res.json({ user: currentUserId(req.session) });
  });
  app.use(jsonErrors);
  const server: Server = app.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}`,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

async function post(url: string, cookie?: string): Promise<Response> {
  return fetch(url, { method: 'POST', headers: cookie ? { cookie } : {} });
}

for (const target of targets) {
  describe.skipIf(target.skip)(
    `regenerate({ keep: true }) racing an end on another server: ${target.name}`,
    () => {
      let opened: Awaited<ReturnType<Target['open']>>;
      let near: Awaited<ReturnType<typeof appServer>>;
      let far: Awaited<ReturnType<typeof appServer>>;
      const proxies: WireProxy[] = [];

      beforeAll(async () => {
        opened = await target.open(delayingVia(proxies, WIRE_DELAY_MS));
        near = await appServer(opened.near);
        far = await appServer(opened.far);
      });

      afterAll(async () => {
        await near?.close();
        await far?.close();
        await opened?.dispose();
        for (const proxy of proxies) await proxy.stop();
      });

      for (const end of ['logout', 'log out everywhere'] as const) {
        it(`${end} on one server, regenerate({ keep: true }) on the other: never back (${TRIALS} trials)`, async () => {
          const survivors: string[] = [];
          const failures: string[] = [];
          let trials = 0;
          const login = async (user: string) => {
            const answer = await post(`${near.url}/login/${user}`);
            return (answer.headers.get('set-cookie') ?? '').split(';')[0] as string;
          };
          const ending = (user: string, cookie: string): Promise<unknown> =>
            end === 'logout'
              ? post(`${near.url}/logout`, cookie).then((answer) => {
                  if (answer.status !== 200) failures.push(`logout ${answer.status}`);
                })
              : (opened.near.destroyByUser?.(user) ?? Promise.resolve());
          const { won: moved, lost: missed } = await runRaces({
            trials: TRIALS,
            lanes: LANES,
            async timeOne() {
              const cookie = await login(`warm-${end === 'logout' ? 'out' : 'all'}-${trials++}`);
              const start = performance.now();
              await post(`${far.url}/keep?wait=0`, cookie);
              return performance.now() - start;
            },
            async race(spreadMs) {
              const user = `keep-${end === 'logout' ? 'out' : 'all'}-${trials++}`;
              const cookie = await login(user);
              const keeping = post(`${far.url}/keep?wait=${Math.random() * WIRE_DELAY_MS}`, cookie);
              const ended = pause(Math.random() * spreadMs).then(() => ending(user, cookie));
              const [answer] = await Promise.all([keeping, ended]);
              let moved = false;
              if (answer.status !== 200) failures.push(`keep ${answer.status}: ${await answer.text()}`);
              else moved = ((await answer.json()) as { moved: boolean }).moved;
              const cookies = [
                cookie,
                ...answer.headers.getSetCookie().map((header) => header.split(';')[0] as string),
              ];
              for (const each of cookies) {
                const me = (await (await fetch(`${near.url}/me`, { headers: { cookie: each } })).json()) as {
                  user: string | null;
                };
                if (me.user !== null) survivors.push(`${user}: ${each === cookie ? 'old' : 'new'} cookie`);
              }
              for (const store of [opened.near, opened.far])
                if ((await store.listByUser?.(user))?.length) survivors.push(`${user}: listed`);
              return moved;
            },
          });
          expect(failures).toEqual([]);
          expect(survivors).toEqual([]);
          // The race ran both ways: otherwise the test proved nothing.
          expect({ moved: moved > 0, missed: missed > 0 }, `moved ${moved}, missed ${missed}`).toEqual({
            moved: true,
            missed: true,
          });
        });
      }
    },
  );
}
