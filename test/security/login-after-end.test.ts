import express from 'express';
import { createClient } from 'redis';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import session, { currentUserId, login, logout, reauthenticated } from '../../src/index.js';
import { MemoryStore } from '../../src/stores/memory.js';
import { RedisStore } from '../../src/stores/redis.js';
import { cookieOf } from '../support/apps.js';
import { Checkpoint, REDIS_URL } from '../support/interleave.js';
import { deletePrefixed, redisSkipReason } from '../support/redis.js';
import { runNamespace } from '../support/services.js';

/**
 * A login carries the session's data to its new ID. From a request that loaded the session before
 * another request ended it (a logout, or a "log out everywhere" on another app server), it must carry
 * none of it: the login, a new proof of identity, goes on as a later login would.
 */

const SECRET = 'login-after-end-secret-0123456789abcdef';
const USER = 'alice';

type Store = MemoryStore | RedisStore;

function app(store: Store) {
  const a = express();
  a.use(session({ store, secret: SECRET, resave: false, saveUninitialized: false }));
  a.post('/login', async (req, res) => {
    await login(req.session, USER);
    res.send('in');
  });
  a.get('/me', (req, res) => res.json({ user: currentUserId(req.session) }));
  return a;
}

/**
 * A request loads a signed-in session holding a flag (a passed step-up, say) and waits; the session ends
 * on the other app server (a logout, or a "log out everywhere"); then the waiting request calls login()
 * or reauthenticated(). Each is a new proof of identity, so the user may end up signed in, but as a later
 * login would: from an empty session. The ended session's flag must not come back under the new ID.
 */
async function rotateAfterEnd(near: Store, far: Store, trials: number): Promise<void> {
  let loaded = new Checkpoint('loaded');
  const build = (store: Store) => {
    const a = app(store);
    a.post('/flag', (req, res) => {
      (req.session as unknown as Record<string, string>).stepUp = 'passed';
      res.send('flagged');
    });
    a.post('/logout', async (req, res) => {
      await logout(req.session);
      res.send('out');
    });
    a.post('/slow/:how', async (req, res) => {
      await loaded.pass();
      if (req.params.how === 'login') await login(req.session, USER);
      else await reauthenticated(req.session);
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
        loaded = new Checkpoint('loaded');
        const slow = request(other)
          .post(`/slow/${how}`)
          .set('Cookie', cookie)
          .then((answer) => answer);
        await loaded.reached;
        if (end === 'logout') await request(one).post('/logout').set('Cookie', cookie).expect(200);
        else await near.destroyByUser(USER);
        loaded.release();
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

describe('login() and reauthenticated() after another request ended the session', () => {
  it('a second login on the session object this request already moved keeps the data', async () => {
    const store = new MemoryStore();
    const a = app(store);
    a.post('/flag', (req, res) => {
      (req.session as unknown as Record<string, string>).cart = '3';
      res.send('flagged');
    });
    a.post('/twice', async (req, res) => {
      const held = req.session;
      await login(held, USER);
      await login(held, USER);
      res.json({ cart: (req.session as unknown as Record<string, string>).cart ?? null });
    });
    const cookie = cookieOf(await request(a).post('/flag').expect(200));
    const answer = await request(a).post('/twice').set('Cookie', cookie).expect(200);
    expect(answer.body).toEqual({ cart: '3' });
  });

  it('MemoryStore: login() and reauthenticated() after the session ended carry none of its data', async () => {
    const store = new MemoryStore();
    await rotateAfterEnd(store, store, 5);
  });
});

const redisSkip = await redisSkipReason(REDIS_URL);

describe.skipIf(redisSkip)('login() and reauthenticated() after the session ended, on Redis', () => {
  const prefix = `${runNamespace('login-after-end')}:`;
  const clients = [createClient({ url: REDIS_URL }), createClient({ url: REDIS_URL })];
  beforeAll(async () => {
    for (const client of clients) await client.connect();
  });
  afterAll(async () => {
    const [first] = clients as [ReturnType<typeof createClient>];
    await deletePrefixed(first, prefix);
    for (const client of clients) client.destroy();
  });

  it('two app servers: login() and reauthenticated() after the session ended carry none of its data', async () => {
    const [near, far] = clients.map((client) => new RedisStore({ client, prefix })) as [
      RedisStore,
      RedisStore,
    ];
    await rotateAfterEnd(near, far, 5);
  });
});
