import express from 'express';
import { createClient } from 'redis';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import session from '../../src/index.js';
import { MemoryStore } from '../../src/stores/memory.js';
import { RedisStore } from '../../src/stores/redis.js';
import { cookieOf } from '../support/apps.js';
import { REDIS_URL } from '../support/interleave.js';
import { redisSkipReason } from '../support/redis.js';
import { runNamespace } from '../support/services.js';

/**
 * `regenerate({ keep: true })` moves a signed-in session to a new ID with no new proof of identity. A
 * "log out everywhere" (`destroyByUser`) that lands while a request holds the session, before that
 * request regenerates it, must not be escaped under the new ID: the new record would otherwise take the
 * user's revocation stamp of after the revoke. Each trial signs the user in, then races a request on one
 * app server that loaded the session and regenerates it after a random pause against a revoke on the
 * other, started at a random offset. Zero survivors: afterwards the user has no session, and the cookie
 * the request answered with is signed in as nobody. The race must also have run both ways: revokes that
 * landed before the request loaded the session, and revokes that landed while it held it.
 */

const TRIALS = 150;
const SECRET = 'regenerate-revoke-race-secret-0123456789';
const USER = 'alice';

type Store = MemoryStore | RedisStore;

function app(store: Store) {
  const a = express();
  a.use(session({ store, secret: SECRET, resave: false, saveUninitialized: false }));
  a.post('/login', async (req, res) => {
    await req.session.login(USER);
    res.send('in');
  });
  a.post('/regenerate', async (req, res) => {
    const loadedAs = req.session.currentUserId();
    await new Promise((resolve) => setTimeout(resolve, Math.random() * 6));
    await req.session.regenerate({ keep: true });
    res.json({ loadedAs });
  });
  a.get('/me', (req, res) => res.json({ user: req.session.currentUserId() }));
  return a;
}

/**
 * A request loads a signed-in session holding a flag (a passed step-up, say) and waits; the session ends
 * on the other app server (a logout, or a "log out everywhere"); then the waiting request calls login()
 * or reauthenticated(). Each is a new proof of identity, so the user may end up signed in, but as a later
 * login would: from an empty session. The ended session's flag must not come back under the new ID.
 */
async function rotateAfterEnd(near: Store, far: Store, trials: number): Promise<void> {
  let release: () => void = () => undefined;
  let loaded: () => void = () => undefined;
  const build = (store: Store) => {
    const a = app(store);
    a.post('/flag', (req, res) => {
      (req.session as unknown as Record<string, string>).stepUp = 'passed';
      res.send('flagged');
    });
    a.post('/logout', async (req, res) => {
      await req.session.logout();
      res.send('out');
    });
    a.post('/slow/:how', async (req, res) => {
      loaded();
      await new Promise<void>((resolve) => {
        release = resolve;
      });
      if (req.params.how === 'login') await req.session.login(USER);
      else await req.session.reauthenticated();
      res.json({ stepUp: (req.session as unknown as Record<string, string>).stepUp ?? null });
    });
    return a;
  };
  const one = build(near);
  const other = build(far);
  const carried: string[] = [];
  for (let trial = 0; trial < trials; trial++)
    for (const how of ['login', 'reauthenticated'] as const)
      for (const end of ['logout', 'revoke'] as const) {
        const cookie = cookieOf(await request(one).post('/login').expect(200));
        await request(one).post('/flag').set('Cookie', cookie).expect(200);
        const waiting = new Promise<void>((resolve) => {
          loaded = resolve;
        });
        const slow = request(other)
          .post(`/slow/${how}`)
          .set('Cookie', cookie)
          .then((answer) => answer);
        await waiting;
        if (end === 'logout') await request(one).post('/logout').set('Cookie', cookie).expect(200);
        else await near.destroyByUser(USER);
        release();
        const answer = await slow;
        expect(answer.status, answer.text).toBe(200);
        const me = await request(one).get('/me').set('Cookie', cookieOf(answer)).expect(200);
        expect((me.body as { user: string | null }).user).toBe(USER);
        if ((answer.body as { stepUp: string | null }).stepUp !== null) carried.push(`${how} after ${end}`);
        for (const summary of await near.listByUser(USER))
          if (summary.data.stepUp !== undefined) carried.push(`${how} after ${end}: stored`);
        await near.destroyByUser(USER);
      }
  expect(carried).toEqual([]);
}

async function race(near: Store, far: Store): Promise<void> {
  const one = app(near);
  const other = app(far);
  const survivors: number[] = [];
  let revokedFirst = 0;
  let revokedDuring = 0;
  for (let trial = 0; trial < TRIALS; trial++) {
    const cookie = cookieOf(await request(one).post('/login').expect(200));
    const [answer] = await Promise.all([
      request(other).post('/regenerate').set('Cookie', cookie),
      new Promise((resolve) => setTimeout(resolve, Math.random() * 6)).then(() => far.destroyByUser(USER)),
    ]);
    expect(answer.status, answer.text).toBe(200);
    if ((answer.body as { loadedAs: string | null }).loadedAs === USER) revokedDuring++;
    else revokedFirst++;
    const answered = answer.headers['set-cookie'] === undefined ? cookie : cookieOf(answer);
    const me = await request(one).get('/me').set('Cookie', answered).expect(200);
    const left = (await near.listByUser(USER)).length;
    if ((me.body as { user: string | null }).user !== null || left > 0) survivors.push(trial);
    await near.destroyByUser(USER);
  }
  expect(survivors).toEqual([]);
  // Loaded signed in and then revoked (the case that matters), and revoked before the load: both ran.
  expect(
    { during: revokedDuring > 0, first: revokedFirst > 0 },
    `${revokedDuring} / ${revokedFirst}`,
  ).toEqual({
    during: true,
    first: true,
  });
}

describe('regenerate({ keep: true }) racing "log out everywhere"', () => {
  it(`MemoryStore, two middlewares on one store: no session escapes the revoke (${TRIALS} trials)`, async () => {
    const store = new MemoryStore();
    await race(store, store);
  });

  it('MemoryStore: login() and reauthenticated() after the session ended carry none of its data', async () => {
    const store = new MemoryStore();
    await rotateAfterEnd(store, store, 5);
  });
});

const redisSkip = await redisSkipReason(REDIS_URL);

describe.skipIf(redisSkip)('regenerate({ keep: true }) racing "log out everywhere", on Redis', () => {
  const prefix = `${runNamespace('regen-revoke')}:`;
  const clients = [createClient({ url: REDIS_URL }), createClient({ url: REDIS_URL })];
  beforeAll(async () => {
    for (const client of clients) await client.connect();
  });
  afterAll(async () => {
    const [first] = clients as [ReturnType<typeof createClient>];
    for await (const keys of first.scanIterator({ MATCH: `${prefix}*` }))
      if (keys.length) await first.del(keys);
    for (const client of clients) client.destroy();
  });

  it(`two app servers, two store instances: no session escapes the revoke (${TRIALS} trials)`, async () => {
    const [near, far] = clients.map((client) => new RedisStore({ client, prefix })) as [
      RedisStore,
      RedisStore,
    ];
    await race(near, far);
  });

  it('two app servers: login() and reauthenticated() after the session ended carry none of its data', async () => {
    const [near, far] = clients.map((client) => new RedisStore({ client, prefix })) as [
      RedisStore,
      RedisStore,
    ];
    await rotateAfterEnd(near, far, 5);
  });
});
