import { execFileSync } from 'node:child_process';
import express from 'express';
import { createSentinel } from 'redis';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { session } from '../../src/index.js';
import { createFromUrl, RedisStore } from '../../src/stores/redis.js';
import { cookieOf, jsonErrors } from '../support/apps.js';
import { RedisSentinelHarness } from '../support/redis-sentinel.js';
import { ask, waitFor } from '../support/redis-servers.js';
import { runNamespace, serviceSkipReason } from '../support/services.js';

/**
 * A real Sentinel topology (primary, replica, three sentinels on loopback ports): sessions written
 * through the Express adapter, the primary SIGKILLed, and every request during the failover answered
 * 503 (never a hang, never a 500, never a fresh session in place of a stored one), through both
 * clients' Sentinel support. Every acknowledged session is readable after the promotion.
 */

const skip = await serviceSkipReason('redis-server binary', async () =>
  execFileSync('redis-server', ['--version'], { timeout: 5_000 }),
);

const SECRET = 'a-sentinel-test-secret-32-chars!';
const STORE_TIMEOUT = 1_500;
const SESSIONS = 40;
/** How long a read after the promotion may keep answering 503 (see readThrough). */
const RECOVERY_WINDOW_MS = 25_000;

const topology = new RedisSentinelHarness(600);

beforeAll(async () => {
  if (skip) return;
  await topology.start();
}, 60_000);

afterAll(async () => {
  if (!skip) await topology.stop();
});

interface Client {
  name: 'ioredis' | 'node-redis';
  store: RedisStore;
  app: ReturnType<typeof express>;
  cookies: Array<{ cookie: string; n: number }>;
}

function appFor(store: RedisStore) {
  const app = express();
  app.use(session({ secret: SECRET, store, resave: false, saveUninitialized: false }));
  app.post('/set/:n', (req, res) => {
    (req.session as unknown as Record<string, unknown>).n = Number(req.params.n);
    res.end('ok');
  });
  app.get('/get', (req, res) => {
    res.json({ n: (req.session as unknown as Record<string, unknown>).n ?? null });
  });
  app.use(jsonErrors);
  return app;
}

let blipsAfterRecovery = 0;

/**
 * A read (or, without a cookie, a write) after the promotion. A client may still drop its connection once more when the sentinels
 * announce the switch (ioredis's failover detector, node-redis's topology scan): that answers 503 like
 * any moment of the failover, and is retried; anything else is the answer. On a machine busy enough to
 * starve the Redis processes, the sentinels (600 ms to declare a server down) can take the promoted
 * server for down as well and go on switching for several seconds, and a starved sentinel can go into
 * TILT (see `RedisSentinelHarness`): hence the long window.
 */
async function readThrough(app: ReturnType<typeof express>, cookie: string | null) {
  const started = Date.now();
  for (;;) {
    const res = await (cookie === null
      ? request(app).post('/set/99')
      : request(app).get('/get').set('Cookie', cookie));
    if (res.status !== 503 || Date.now() - started > RECOVERY_WINDOW_MS) return res;
    blipsAfterRecovery++;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe.skipIf(skip)('Redis Sentinel failover: SIGKILL the primary', () => {
  const clients: Client[] = [];

  beforeAll(async () => {
    const prefix = `${runNamespace('sks')}:`;
    for (const [name, param] of [
      ['ioredis', 'ioredis'],
      ['node-redis', 'redis'],
    ] as const) {
      const store = await createFromUrl(
        topology.url(`&client=${param}&prefix=${encodeURIComponent(prefix)}&timeout=${STORE_TIMEOUT}`),
      );
      clients.push({ name, store, app: appFor(store), cookies: [] });
    }
    // Each URL reached the Sentinel support of the client it named.
    expect(clients.map((c) => c.store.clientKind)).toEqual(['ioredis', 'node-redis-sentinel']);
  }, 30_000);

  afterAll(async () => {
    for (const { store } of clients) await store.close();
  });

  it('keeps every acknowledged session and answers 503, never 500 or a hang, until the promotion', async () => {
    const primaryPort = topology.primary.port;
    expect(await topology.masterPort()).toBe(primaryPort);

    for (const client of clients) {
      for (let n = 0; n < SESSIONS; n++) {
        const res = await request(client.app).post(`/set/${n}`);
        expect(res.status).toBe(200);
        client.cookies.push({ cookie: cookieOf(res), n });
      }
    }
    await topology.replicaCaughtUp();

    const killedAt = Date.now();
    await topology.primary.stop('SIGKILL');

    const seen: Record<string, { statuses: Map<number, number>; slowestMs: number; recoveredMs: number }> =
      {};
    await Promise.all(
      clients.map(async (client) => {
        const probe = client.cookies[0] as { cookie: string; n: number };
        const record = { statuses: new Map<number, number>(), slowestMs: 0, recoveredMs: -1 };
        seen[client.name] = record;
        while (Date.now() - killedAt < 30_000) {
          const started = Date.now();
          const res = await request(client.app).get('/get').set('Cookie', probe.cookie).timeout(10_000);
          record.slowestMs = Math.max(record.slowestMs, Date.now() - started);
          record.statuses.set(res.status, (record.statuses.get(res.status) ?? 0) + 1);
          if (res.status === 200) {
            // A 200 is only ever the stored session, never a fresh one standing in for it.
            expect(res.body).toEqual({ n: probe.n });
            record.recoveredMs = Date.now() - killedAt;
            return;
          }
          expect(res.status).toBe(503);
          expect(res.body).toEqual({ code: 'ERR_STORE_UNAVAILABLE' });
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
      }),
    );
    const report = () =>
      Object.fromEntries(
        Object.entries(seen).map(([name, r]) => [
          name,
          {
            recoveredMs: r.recoveredMs,
            slowestRequestMs: r.slowestMs,
            statuses: Object.fromEntries(r.statuses),
          },
        ]),
      );
    /** A failure names the client and shows what the sentinels saw: the cause is seldom in the test. */
    const failWith = async (what: string) =>
      expect.fail(`${what}\nduring the failover: ${JSON.stringify(report())}\n${await topology.diagnose()}`);
    for (const [name, r] of Object.entries(seen))
      if (r.recoveredMs < 0) await failWith(`${name} never read the session back within 30 s of the kill`);
    const promoted = await topology.masterPort();
    expect(promoted).toBe(topology.replica.port);

    // Every session written before the kill, through each client, readable through both.
    for (const writer of clients) {
      for (const reader of clients) {
        for (const { cookie, n } of writer.cookies) {
          const res = await readThrough(reader.app, cookie);
          if (res.status !== 200)
            await failWith(
              `${reader.name} answered ${res.status} ${JSON.stringify(res.body)} for a session ${writer.name} wrote`,
            );
          expect(res.body).toEqual({ n });
        }
      }
    }
    // And both write again, on the promoted replica.
    for (const client of clients) {
      const res = await readThrough(client.app, null);
      if (res.status !== 200)
        await failWith(`${client.name} answered ${res.status} ${JSON.stringify(res.body)} for a new session`);
      const back = await readThrough(client.app, cookieOf(res));
      expect(back.body).toEqual({ n: 99 });
    }

    console.log(
      `[redis sentinel failover] ${JSON.stringify({ sessions: SESSIONS * 2, blipsAfterRecovery, ...report() })}`,
    );
    for (const r of Object.values(seen)) {
      // A request during the failover waits at most the store's timeout, plus scheduling slack.
      expect(r.slowestMs).toBeLessThan(STORE_TIMEOUT + 1_000);
    }
  }, 90_000);

  // Runs last: it stops both servers and the sentinels for good.
  it('node-redis: a command waiting on a topology discovery that fails answers 503, not 500', async () => {
    // An application's own node-redis Sentinel client, set to give up discovery after two more tries
    // (by default 16, a second apart; the commands waiting on it fail the same way).
    const sentinel = createSentinel({
      name: topology.name,
      sentinelRootNodes: topology.sentinelPorts.map((port) => ({ host: '127.0.0.1', port })),
      maxCommandRediscovers: 2,
    });
    sentinel.on('error', () => undefined);
    await sentinel.connect();
    const store = new RedisStore({ client: sentinel, timeout: 8_000, prefix: `${runNamespace('sks')}:` });
    const app = appFor(store);
    const masterPort = await topology.masterPort();
    const master = [topology.primary, topology.replica].find((server) => server.port === masterPort);
    const masterPid = master?.pid as number;
    // No replica is left to promote (after the failover test there is none already).
    for (const server of [topology.primary, topology.replica]) if (server !== master) await server.stop();
    const first = topology.sentinelPorts[0] as number;
    const firstSentinelSays = async (flag: string, present: boolean) =>
      waitFor(`the first sentinel's master flags ${present ? 'to include' : 'to lose'} ${flag}`, async () => {
        const view = ((await ask(first, 'SENTINEL', 'MASTER', topology.name)) as unknown[]).map(String);
        return (view[view.indexOf('flags') + 1] ?? '').split(',').includes(flag) === present;
      });
    try {
      const written = await request(app).post('/set/7');
      expect(written.status).toBe(200);
      const cookie = cookieOf(written);

      // The master stalls (its connections stay open, so node-redis still has a master node) until the
      // sentinel node-redis asks first flags it down and announces it: node-redis starts a discovery,
      // which asks that sentinel, is told the master is down, and fails with "no valid master node".
      process.kill(masterPid, 'SIGSTOP');
      await firstSentinelSays('s_down', true);
      const masterDown = await request(app).get('/get').set('Cookie', cookie);
      expect([masterDown.status, masterDown.body]).toEqual([503, { code: 'ERR_STORE_UNAVAILABLE' }]);

      // Back to normal, then the same discovery while every sentinel dies: it fails with "None of the
      // sentinels are available".
      process.kill(masterPid, 'SIGCONT');
      await firstSentinelSays('s_down', false);
      await waitFor('node-redis to find the master again', async () => {
        const res = await request(app).get('/get').set('Cookie', cookie);
        return res.status === 200;
      });
      process.kill(masterPid, 'SIGSTOP');
      await firstSentinelSays('s_down', true);
      const sentinelsGone = request(app)
        .get('/get')
        .set('Cookie', cookie)
        .then((res) => res);
      await topology.killSentinels();
      const res = await sentinelsGone;
      expect([res.status, res.body]).toEqual([503, { code: 'ERR_STORE_UNAVAILABLE' }]);
    } finally {
      await master?.stop('SIGKILL');
      await sentinel.destroy().catch(() => undefined);
    }
  }, 40_000);
});

describe.skipIf(skip)('Redis Sentinel: ioredis cut off while it asks a sentinel for the master', () => {
  const own = new RedisSentinelHarness(600);
  let store: RedisStore | undefined;

  beforeAll(async () => {
    await own.start();
  }, 60_000);

  afterAll(async () => {
    await store?.close();
    await own.stop();
  });

  it('the store connects its client again after ioredis gave up for good', async () => {
    store = await createFromUrl(
      own.url(
        `&client=ioredis&prefix=${encodeURIComponent(`${runNamespace('sks')}:`)}&timeout=${STORE_TIMEOUT}`,
      ),
    );
    const app = appFor(store);
    const written = await request(app).post('/set/5');
    expect(written.status).toBe(200);
    await own.replicaCaughtUp();

    // The sentinel ioredis asks first stalls; the primary dies. ioredis's next connection attempt waits
    // on that sentinel's answer while the two others fail over and announce +switch-master, on which
    // ioredis's failover detector cuts the attempt. When the sentinel answers, ioredis finds its attempt
    // cut and ends the client for good (status `end`): no retry follows.
    const second = own.sentinelPorts[1] as number;
    const stalled = own.sentinelPids()[0] as number;
    process.kill(stalled, 'SIGSTOP');
    try {
      await own.primary.stop('SIGKILL');
      await waitFor(
        'the two other sentinels to promote the replica',
        async () => (await own.masterPort(second)) === own.replica.port,
        20_000,
      );
    } finally {
      process.kill(stalled, 'SIGCONT');
    }

    // Each request answers 503 at once while the client is down; the store connects it again.
    const answers: number[] = [];
    const started = Date.now();
    let res = await request(app).get('/get').set('Cookie', cookieOf(written));
    while (res.status === 503 && Date.now() - started < 20_000) {
      answers.push(res.status);
      await new Promise((resolve) => setTimeout(resolve, 100));
      res = await request(app).get('/get').set('Cookie', cookieOf(written));
    }
    expect([res.status, res.body], `after ${answers.length} answers of 503`).toEqual([200, { n: 5 }]);
  }, 90_000);
});
