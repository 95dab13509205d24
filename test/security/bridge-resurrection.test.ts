import type { Server } from 'node:http';
import { RedisStore as ConnectRedisStore } from 'connect-redis';
import express from 'express';
import expressSession from 'express-session';
import { createClient } from 'redis';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateId, storageKey } from '../../src/core/id.js';
import type { SessionDelta } from '../../src/core/types.js';
import session, { currentUserId, login, logout, MemoryStore } from '../../src/index.js';
import { ExpressStoreBridge } from '../../src/stores/express-compat/bridge.js';
import type { ExpressStoreLike } from '../../src/stores/express-compat/store.js';
import { RedisStore } from '../../src/stores/redis.js';
import { TcpProxy } from '../../src/testing/proxy.js';
import { record } from '../stores/conformance.js';
import { cookieOf, idOf } from '../support/apps.js';
import { deletePrefixed } from '../support/redis.js';
import { runNamespace, serviceSkipReason } from '../support/services.js';

/**
 * A logout through the express-session store bridge (connect-redis and friends) is never undone by a
 * write that was in flight in the same process (C16): the bridge's update reads the whole session
 * and writes it back, and a destroy landing between the two used to be overwritten.
 */

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const secret = 'bridge-race-secret-0123456789abcdef0123';

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve: () => void = () => undefined;
  const promise = new Promise<void>((done) => {
    resolve = done;
  });
  return { promise, resolve };
}

/** Lets `n` turns of the event loop pass (no timers: an order, not a duration). */
async function turns(n: number): Promise<void> {
  for (let i = 0; i < n; i++) await new Promise((resolve) => setImmediate(resolve));
}

function innerGet(store: ExpressStoreLike, sid: string): Promise<unknown> {
  return new Promise((resolve, reject) => store.get(sid, (err, sess) => (err ? reject(err) : resolve(sess))));
}

function delta(set: Record<string, unknown>): SessionDelta {
  return { set, unset: [], expiresAt: Date.now() + 60_000, lastSeenAt: Date.now() };
}

/**
 * express-session's MemoryStore whose callbacks come back after a random number of event-loop turns:
 * reads, writes and deletes overlap in every order a slow store allows.
 */
function slowedMemoryStore(random: () => number): ExpressStoreLike {
  const store = new expressSession.MemoryStore() as unknown as ExpressStoreLike;
  for (const name of ['get', 'set', 'destroy'] as const) {
    const original = store[name].bind(store) as (...args: unknown[]) => void;
    (store as unknown as Record<string, unknown>)[name] = (...args: unknown[]) => {
      const callback = args.pop() as (...results: unknown[]) => void;
      original(...args, (...results: unknown[]) => {
        void turns(Math.floor(random() * 4)).then(() => callback(...results));
      });
    };
  }
  return store;
}

/** A small seeded generator, so a failing trial can be replayed. */
function seeded(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state * 1664525 + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
}

describe('bridge: a destroy between the read and the write of an update (C16)', () => {
  it('store level, destroy landing while the update reads: never written back (deterministic)', async () => {
    const inner = new expressSession.MemoryStore() as unknown as ExpressStoreLike;
    const bridge = new ExpressStoreBridge(inner);
    const original = inner.get.bind(inner);
    for (let trial = 0; trial < 50; trial++) {
      const id = generateId();
      await bridge.create(id, record());
      const reading = deferred();
      const release = deferred();
      inner.get = (sid, callback) =>
        original(sid, (err, sess) => {
          reading.resolve();
          void release.promise.then(() => callback(err, sess));
        });
      const update = bridge.update(id, delta({ late: trial }));
      await reading.promise;
      inner.get = original;
      const destroy = bridge.destroy(id);
      release.resolve();
      const [updated] = await Promise.all([update, destroy]);
      expect(updated).toBe(false);
      expect(await innerGet(inner, id)).toBeUndefined();
    }
  });

  it('store level, many random interleavings over a slowed store and two bridges: zero resurrections', async () => {
    let survivors = 0;
    for (let trial = 0; trial < 300; trial++) {
      const random = seeded(trial + 1);
      const inner = slowedMemoryStore(random);
      // Two middlewares of one process over one store: each makes its own bridge.
      const bridges = [new ExpressStoreBridge(inner), new ExpressStoreBridge(inner)];
      const pick = () => bridges[Math.floor(random() * 2)] as ExpressStoreBridge;
      const id = generateId();
      await pick().create(id, record());
      const work: Promise<unknown>[] = [];
      const destroyAt = Math.floor(random() * 4);
      for (let step = 0; step < 4; step++) {
        if (step === destroyAt) work.push(pick().destroy(id));
        const which = random();
        if (which < 0.6) work.push(pick().update(id, delta({ [`k${step}`]: step })));
        else if (which < 0.8) work.push(pick().touch(id, Date.now() + 60_000, Date.now()));
        else work.push(pick().set(id, record({ data: { whole: step } })));
        await turns(Math.floor(random() * 3));
      }
      await Promise.all(work);
      if ((await innerGet(inner, id)) !== undefined) survivors++;
    }
    expect(survivors).toBe(0);
  });

  it('a destroy that stopped waiting for a hung write still wins once the write lands', async () => {
    const inner = new expressSession.MemoryStore() as unknown as ExpressStoreLike;
    const bridge = new ExpressStoreBridge(inner, undefined, 20);
    const id = generateId();
    await bridge.create(id, record());
    const writing = deferred();
    const release = deferred();
    const originalSet = inner.set.bind(inner);
    inner.set = (sid, sess, callback) => {
      writing.resolve();
      void release.promise.then(() => originalSet(sid, sess, callback));
    };
    const update = bridge.update(id, delta({ late: true }));
    await writing.promise;
    inner.set = originalSet;
    // The destroy waits 20 ms for the hung write, then goes ahead and reaches the store first.
    await bridge.destroy(id);
    expect(await innerGet(inner, id)).toBeUndefined();
    release.resolve();
    await update;
    expect(await innerGet(inner, id)).toBeUndefined();
  });

  it('refuses non-string IDs with ERR_INVALID_ARGUMENT', async () => {
    const bridge = new ExpressStoreBridge(new expressSession.MemoryStore() as unknown as ExpressStoreLike);
    const bad = { $ne: null } as unknown as string;
    const invalid = { code: 'ERR_INVALID_ARGUMENT' };
    await expect(bridge.get(bad)).rejects.toMatchObject(invalid);
    await expect(bridge.update(bad, delta({ a: 1 }))).rejects.toMatchObject(invalid);
    await expect(bridge.set(bad, record())).rejects.toMatchObject(invalid);
    await expect(bridge.destroy(bad)).rejects.toMatchObject(invalid);
    await expect(bridge.touch(bad, Date.now(), Date.now())).rejects.toMatchObject(invalid);
    await expect(bridge.create(generateId(), record({ userId: bad }))).rejects.toMatchObject(invalid);
  });
});

describe('bridge over HTTP: a slow write against a logout (C16)', () => {
  let server: Server;
  let url: string;
  const inner = new expressSession.MemoryStore() as unknown as ExpressStoreLike;
  const originalGet = inner.get.bind(inner);
  /** The read that waits: the `readsLeft`-th read from now (the commit's read-merge-write). */
  let gate: { reading: () => void; release: Promise<void> } | null = null;
  let readsLeft = 0;
  let logoutCalled = deferred();

  beforeAll(async () => {
    inner.get = (sid, callback) => {
      const held = gate;
      if (!held || --readsLeft > 0) return originalGet(sid, callback);
      gate = null;
      originalGet(sid, (err, sess) => {
        held.reading();
        void held.release.then(() => callback(err, sess));
      });
    };
    const app = express();
    app.use(session({ secret, store: inner, resave: false, saveUninitialized: false }));
    app.get('/login', async (req, res) => {
      await login(req.session, 'u1');
      res.send('in');
    });
    app.get('/slow-write', (req, res) => {
      (req.session as unknown as Record<string, unknown>).cart = ['book'];
      res.send('ok');
    });
    app.get('/logout', async (req, res) => {
      const done = logout(req.session);
      logoutCalled.resolve();
      await done;
      res.send('bye');
    });
    app.get('/whoami', (req, res) => {
      res.send(String(currentUserId(req.session)));
    });
    server = app.listen(0, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
    url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  });

  afterAll(async () => {
    await new Promise((resolve) => server?.close(resolve));
  });

  it('a request that read the session before a logout cannot write it back (30 trials)', async () => {
    let resurrected = 0;
    for (let trial = 0; trial < 30; trial++) {
      const cookie = cookieOf(await request(url).get('/login').expect(200));
      const reading = deferred();
      const release = deferred();
      logoutCalled = deferred();
      // The slow request's first read loads its session; its second (the commit's) waits for the logout.
      gate = { reading: reading.resolve, release: release.promise };
      readsLeft = 2;
      const slow = request(url)
        .get('/slow-write')
        .set('Cookie', cookie)
        .then((res) => res);
      await reading.promise;
      const logout = request(url)
        .get('/logout')
        .set('Cookie', cookie)
        .then((res) => res);
      await logoutCalled.promise;
      await turns(trial % 4);
      release.resolve();
      const [slowRes, logoutRes] = await Promise.all([slow, logout]);
      expect(logoutRes.status).toBe(200);
      expect(slowRes.status).toBeLessThan(500);
      const who = await request(url).get('/whoami').set('Cookie', cookie);
      if (who.text !== 'null' || (await innerGet(inner, idOf(cookie))) !== undefined) resurrected++;
    }
    expect(resurrected).toBe(0);
  });
});

const redisSkip = await serviceSkipReason('Redis', async () => {
  const client = createClient({ url: REDIS_URL, socket: { reconnectStrategy: false, connectTimeout: 2000 } });
  await client.connect();
  await client.ping();
  await client.quit();
});

describe.skipIf(redisSkip)('bridge over connect-redis behind a slow link (C16)', () => {
  const prefix = `${runNamespace('bridge-race')}:`;
  const upstream = new URL(REDIS_URL);
  const proxy = new TcpProxy(upstream.hostname, Number(upstream.port || 6379));
  let client: ReturnType<typeof createClient>;
  let direct: ReturnType<typeof createClient>;

  beforeAll(async () => {
    const port = await proxy.start();
    proxy.delayMs = 2;
    client = createClient({ url: `redis://127.0.0.1:${port}` });
    direct = createClient({ url: REDIS_URL });
    await client.connect();
    await direct.connect();
  });

  afterAll(async () => {
    await deletePrefixed(direct, prefix);
    // The proxy does not pass the server's close after QUIT on to the client: drop the link instead.
    client?.destroy();
    await direct?.quit();
    await proxy.stop();
  });

  it('update racing destroy through one connect-redis store: zero resurrections in 100 trials', async () => {
    const inner = new ConnectRedisStore({ client, prefix }) as unknown as ExpressStoreLike;
    const bridges = [new ExpressStoreBridge(inner), new ExpressStoreBridge(inner)];
    let survivors = 0;
    for (let trial = 0; trial < 100; trial++) {
      const id = generateId();
      await (bridges[0] as ExpressStoreBridge).create(id, record());
      const update = (bridges[trial % 2] as ExpressStoreBridge).update(id, delta({ late: trial }));
      await turns(trial % 3);
      const destroy = (bridges[(trial + 1) % 2] as ExpressStoreBridge).destroy(id);
      await Promise.all([update, destroy]);
      if ((await direct.get(`${prefix}${id}`)) !== null) survivors++;
    }
    expect(survivors).toBe(0);
  }, 60_000);

  it('lists sessions by handle, never by ID, and keeps the ID out of the data', async () => {
    const inner = new ConnectRedisStore({ client, prefix }) as unknown as ExpressStoreLike;
    const bridge = new ExpressStoreBridge(inner);
    await bridge.clear();
    const ids = [generateId(), generateId()];
    for (const id of ids) await bridge.create(id, record({ userId: 'lister' }));
    const { sessions } = await bridge.list();
    expect(sessions.map((s) => s.handle).sort()).toEqual(ids.map(storageKey).sort());
    const text = JSON.stringify(sessions);
    for (const id of ids) expect(text).not.toContain(id);
    expect(sessions.every((s) => s.userId === 'lister' && !('__sessionkit' in s.data))).toBe(true);
  });
});

describe('bridge listing over express-session MemoryStore', () => {
  it('lists by handle, never by ID', async () => {
    const bridge = new ExpressStoreBridge(new expressSession.MemoryStore() as unknown as ExpressStoreLike);
    const id = generateId();
    await bridge.create(id, record({ userId: 'u' }));
    const { sessions } = await bridge.list();
    expect(sessions.map((s) => s.handle)).toEqual([storageKey(id)]);
    expect(JSON.stringify(sessions)).not.toContain(id);
    expect(sessions[0]?.userId).toBe('u');
  });
});

/**
 * The other direction: express-session itself over sessionkit's stores (the way back, or a gradual move).
 * A route that answers and then destroys the session makes express-session issue the save (at `end()`)
 * and the destroy in the same tick; connect-redis applies them in that order on its one connection.
 */
describe.skipIf(redisSkip)(
  'express-session over sessionkit stores: a destroy issued after a save wins (C16)',
  () => {
    const prefix = `${runNamespace('es-over-sk')}:`;
    let client: ReturnType<typeof createClient>;

    beforeAll(async () => {
      client = createClient({ url: REDIS_URL });
      await client.connect();
    });

    afterAll(async () => {
      await deletePrefixed(client, prefix);
      await client?.quit();
    });

    /** A sessionkit MemoryStore whose every call answers a few milliseconds later, as across a network. */
    class SlowStore extends MemoryStore {
      override async get(id: string) {
        await new Promise((resolve) => setTimeout(resolve, 3));
        return super.get(id);
      }
      override async set(id: string, record: Parameters<MemoryStore['set']>[1]) {
        await new Promise((resolve) => setTimeout(resolve, 3));
        return super.set(id, record);
      }
      override async destroy(id: string) {
        await new Promise((resolve) => setTimeout(resolve, 3));
        return super.destroy(id);
      }
    }

    const stores: Array<[string, () => expressSession.Store]> = [
      ['connect-redis (the anchor)', () => new ConnectRedisStore({ client, prefix: `${prefix}cr:` })],
      ['sessionkit RedisStore', () => new RedisStore({ client, prefix: `${prefix}sk:` }) as never],
      ['a slow sessionkit MemoryStore', () => new SlowStore() as never],
    ];

    for (const [name, make] of stores)
      for (const resave of [false, true])
        it(`${name}, resave: ${resave}: the logout stands (20 trials)`, async () => {
          const app = express();
          app.use(expressSession({ secret, store: make(), resave, saveUninitialized: false }));
          app.get('/login', (req, res) => {
            (req.session as unknown as Record<string, unknown>).user = 'u1';
            res.send('in');
          });
          app.get('/logout', (req, res) => {
            if (!resave) (req.session as unknown as Record<string, unknown>).bye = 1;
            res.redirect('/');
            req.session.destroy(() => undefined);
          });
          app.get('/me', (req, res) => {
            res.json((req.session as unknown as Record<string, unknown>).user ?? null);
          });
          let undone = 0;
          for (let trial = 0; trial < 20; trial++) {
            const cookie = cookieOf(await request(app).get('/login').expect(200));
            await request(app).get('/logout').set('Cookie', cookie).expect(302);
            // The save and the destroy were issued before the redirect went out; let both land.
            await new Promise((resolve) => setTimeout(resolve, 20));
            const me = await request(app).get('/me').set('Cookie', cookie).expect(200);
            if (me.body !== null) undone++;
          }
          expect(undone).toBe(0);
        });
  },
);
