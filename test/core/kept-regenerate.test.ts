import express from 'express';
import expressSession from 'express-session';
import request from 'supertest';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { keptId, renewedId } from '../../src/core/renewal.js';
import type { SessionRecord } from '../../src/core/types.js';
import session, { currentUserId, login, logout, MemoryStore, type SessionOptions } from '../../src/index.js';
import { cookieOf, idOf, jsonErrors, setCookies } from '../support/apps.js';
import { Checkpoint } from '../support/interleave.js';

/**
 * `regenerate({ keep: true })` of a stored session moves it to an ID derived from the old one (see
 * docs/security-features.md, "Kept regenerate"). The races against a logout are in
 * security/interleaving.test.ts and security/regenerate-keep-race.test.ts; these are the flows around
 * the move that must keep working.
 */

const secret = 'kept-regenerate-secret-0123456789abcdef';

function appWith(options: Partial<SessionOptions> = {}, routes?: (app: express.Express) => void) {
  const store = (options.store as MemoryStore | undefined) ?? new MemoryStore();
  const app = express();
  const middleware = session({ secret, store, resave: false, saveUninitialized: false, ...options });
  app.use(middleware);
  // The test's own routes first: they may replace the defaults below.
  routes?.(app);
  app.get('/set/:key/:value', (req, res) => {
    (req.session as unknown as Record<string, string>)[req.params.key] = req.params.value;
    res.json(req.session);
  });
  app.get('/get', (req, res) => res.json({ ...req.session, id: req.session.id }));
  app.get('/me', (req, res) => res.json({ user: currentUserId(req.session) }));
  app.post('/login', async (req, res) => {
    await login(req.session, 'u-kept');
    res.send('in');
  });
  app.post('/keep', async (req, res) => {
    await req.session.regenerate({ keep: true });
    res.send('moved');
  });
  app.use(jsonErrors);
  return { app, store, middleware };
}

type StoreCall = (...args: unknown[]) => Promise<unknown>;

/**
 * `store` through a Proxy whose `method` runs `replacement`, given the store's own method (called on the
 * store) and the call's arguments. Every other member is read as it is, so the engine still sees the
 * MemoryStore's own methods there.
 */
function replacing(
  store: MemoryStore,
  method: 'get' | 'create' | 'destroy',
  replacement: (original: StoreCall, ...args: unknown[]) => Promise<unknown>,
): MemoryStore {
  return new Proxy(store, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver) as unknown;
      if (prop !== method || typeof value !== 'function') return value;
      const original: StoreCall = async (...args) =>
        (value as (...a: unknown[]) => unknown).apply(target, args);
      // An async function: a plain one forwarding its arguments would be taken for an express-session
      // store's callback-style method.
      return async (...args: unknown[]) => replacement(original, ...args);
    },
  });
}

describe('regenerate({ keep: true }) of a stored session', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('regenerate({ keep: true }) right after login() in one request keeps the user signed in', async () => {
    const { app, store } = appWith({}, (a) =>
      a.post('/login-then-keep', async (req, res) => {
        await login(req.session, 'u-lk');
        await req.session.regenerate({ keep: true });
        res.send('in');
      }),
    );
    const anon = cookieOf(await request(app).get('/set/cart/2'));
    const res = await request(app).post('/login-then-keep').set('Cookie', anon).expect(200);
    const record = await store.get(idOf(cookieOf(res)));
    expect(record).toMatchObject({ userId: 'u-lk', data: { cart: '2' } });
    expect(await store.listByUser('u-lk')).toHaveLength(1);
    expect(await store.get(idOf(anon))).toBeNull();
  });

  it('regenerate({ keep: true }) under maxSessionsPerUser takes no other session’s place (C31)', async () => {
    for (const onLimit of ['evict-oldest', 'refuse'] as const) {
      const { app, store } = appWith({ maxSessionsPerUser: 2, onLimit }, (a) => {
        a.post('/login', async (req, res) => {
          await login(req.session, 'u-limit');
          res.send('in');
        });
        a.post('/keep', async (req, res) => {
          await req.session.regenerate({ keep: true });
          res.send('moved');
        });
      });
      const first = cookieOf(await request(app).post('/login').expect(200));
      const second = cookieOf(await request(app).post('/login').expect(200));
      const moved = cookieOf(await request(app).post('/keep').set('Cookie', first).expect(200));
      expect((await store.get(idOf(moved)))?.userId, onLimit).toBe('u-limit');
      expect((await store.get(idOf(second)))?.userId, onLimit).toBe('u-limit');
      expect(await store.get(idOf(first)), onLimit).toBeNull();
      expect(await store.listByUser('u-limit'), onLimit).toHaveLength(2);
    }
  });

  it('regenerate({ keep: true }) failing at any store call leaves the session as it was, and no copy', async () => {
    for (const failing of ['create', 'get', 'destroy'] as const) {
      const store = new MemoryStore();
      let armed = false;
      // Armed by the handler, after the request's own load: the next call is the move's.
      const flaky = replacing(store, failing, async (original, ...args) => {
        if (armed) {
          armed = false;
          throw Object.assign(new Error('connection reset'), { code: 'ECONNRESET' });
        }
        return original(...args);
      });
      const { app } = appWith({ store: flaky }, (a) => {
        a.post('/login', async (req, res) => {
          await login(req.session, 'u-flaky');
          res.send('in');
        });
        a.post('/keep', async (req, res) => {
          armed = true;
          await req.session.regenerate({ keep: true });
          res.send('moved');
        });
      });
      const cookie = cookieOf(await request(app).post('/login').expect(200));
      await request(app).get('/set/cart/4').set('Cookie', cookie).expect(200);
      const res = await request(app).post('/keep').set('Cookie', cookie);
      expect(res.status, failing).toBe(503);
      expect(setCookies(res), failing).toEqual([]);
      expect((await request(app).get('/get').set('Cookie', cookie)).body, failing).toMatchObject({
        cart: '4',
      });
      expect(await store.listByUser('u-flaky'), failing).toHaveLength(1);
    }
  });

  it('two regenerate({ keep: true }) of one session at once: one moves it, the other sends no cookie', async () => {
    for (const rolling of [false, true]) {
      // Both requests load the session before either moves it.
      const points = [new Checkpoint('first'), new Checkpoint('second')];
      const { app, store } = appWith({ rolling }, (a) => {
        a.post('/login', async (req, res) => {
          await login(req.session, 'u-twice');
          res.send('in');
        });
        a.post('/keep/:n', async (req, res) => {
          await points[Number(req.params.n)]?.pass();
          await req.session.regenerate({ keep: true });
          res.send('moved');
        });
      });
      const cookie = cookieOf(await request(app).post('/login').expect(200));
      const both = points.map((_, n) =>
        request(app)
          .post(`/keep/${n}`)
          .set('Cookie', cookie)
          .expect(200)
          .then((answer) => answer),
      );
      await Promise.all(points.map((point) => point.reached));
      for (const point of points) point.release();
      const answers = await Promise.all(both);
      const sent = answers.flatMap((answer) => setCookies(answer));
      expect(sent, `rolling: ${rolling}`).toHaveLength(1);
      const moved = (sent[0] as string).split(';')[0] as string;
      expect((await store.get(idOf(moved)))?.userId, `rolling: ${rolling}`).toBe('u-twice');
      expect(await store.listByUser('u-twice'), `rolling: ${rolling}`).toHaveLength(1);
    }
  });

  it('from a cookie whose session the first of a double submit already moved: the move stands', async () => {
    const { app, store } = appWith();
    const cookie = cookieOf(await request(app).post('/login').expect(200));
    const first = await request(app).post('/keep').set('Cookie', cookie).expect(200);
    const moved = cookieOf(first);
    expect(idOf(moved)).toBe(keptId(secret, idOf(cookie)));
    // The second submit still carries the old cookie, and arrives after the move: it sends no cookie
    // (a clearing one, arriving last, would sign the browser out of the moved session).
    const second = await request(app).post('/keep').set('Cookie', cookie).expect(200);
    expect(setCookies(second)).toEqual([]);
    expect((await request(app).get('/me').set('Cookie', moved).expect(200)).body).toEqual({ user: 'u-kept' });
    expect(await store.listByUser('u-kept')).toHaveLength(1);
  });

  it('a logout, destroy() or unset from a cookie whose session was moved ends where it went', async () => {
    for (const end of ['logout', 'destroy', 'unset'] as const) {
      const { app, store } = appWith({ unset: 'destroy' }, (a) =>
        a.post('/end', async (req, res) => {
          if (end === 'logout') await logout(req.session);
          else if (end === 'destroy') await req.session.destroy();
          else req.session = null as never;
          res.send('out');
        }),
      );
      const cookie = cookieOf(await request(app).post('/login').expect(200));
      const moved = cookieOf(await request(app).post('/keep').set('Cookie', cookie).expect(200));
      await request(app).post('/end').set('Cookie', cookie).expect(200);
      expect((await request(app).get('/me').set('Cookie', moved)).body, end).toEqual({ user: null });
      expect(await store.listByUser('u-kept'), end).toEqual([]);
    }
  });

  it('then req.session = null stores nothing under the moved ID, under either unset', async () => {
    for (const unset of ['keep', 'destroy'] as const) {
      const { app, store } = appWith({ unset }, (a) =>
        a.post('/keep-then-drop', async (req, res) => {
          await req.session.regenerate({ keep: true });
          req.session = null as never;
          res.send('dropped');
        }),
      );
      const cookie = cookieOf(await request(app).post('/login').expect(200));
      const res = await request(app).post('/keep-then-drop').set('Cookie', cookie).expect(200);
      expect(await store.get(keptId(secret, idOf(cookie))), unset).toBeNull();
      expect(await store.listByUser('u-kept'), unset).toEqual([]);
      expect(
        setCookies(res).every((header) => /Expires=Thu, 01 Jan 1970/.test(header)),
        unset,
      ).toBe(true);
    }
  });

  it('racing an ID renewal of the same session: the move goes on from the renewed ID, signed in', async () => {
    const loaded = new Checkpoint('loaded');
    const { app, store } = appWith({ renewAfter: 100 }, (a) =>
      a.post('/slow-keep', async (req, res) => {
        await loaded.pass();
        await req.session.regenerate({ keep: true });
        res.send('moved');
      }),
    );
    // The clock is set, not waited on: on a loaded machine a request meant to come before the renewal
    // could otherwise come after it.
    vi.useFakeTimers({ toFake: ['Date'] });
    const start = Date.now();
    const cookie = cookieOf(await request(app).post('/login').expect(200));
    await request(app).get('/set/cart/5').set('Cookie', cookie).expect(200);
    vi.setSystemTime(start + 110);
    const current = cookieOf(await request(app).get('/get').set('Cookie', cookie).expect(200));
    vi.setSystemTime(start + 220);
    const slow = request(app)
      .post('/slow-keep')
      .set('Cookie', current)
      .then((answer) => answer);
    await loaded.reached;
    // Another request of the same browser renews the session meanwhile.
    const renewed = cookieOf(await request(app).get('/get').set('Cookie', current).expect(200));
    expect(idOf(renewed)).toBe(renewedId(secret, idOf(current)));
    loaded.release();
    const answer = await slow;
    expect(answer.status).toBe(200);
    const moved = cookieOf(answer);
    expect(idOf(moved)).toBe(keptId(secret, idOf(renewed)));
    expect((await request(app).get('/get').set('Cookie', moved)).body).toMatchObject({ cart: '5' });
    expect((await request(app).get('/me').set('Cookie', moved)).body).toEqual({ user: 'u-kept' });
    for (const stale of [current, renewed])
      expect((await request(app).get('/me').set('Cookie', stale)).body).toEqual({ user: null });
    expect(await store.listByUser('u-kept')).toHaveLength(1);
  });

  it('with renewAfter, the moved ID is not renewed again on the next request', async () => {
    const { app } = appWith({ renewAfter: 100 });
    // The clock is set, not waited on: the next request must come within renewAfter of the move.
    vi.useFakeTimers({ toFake: ['Date'] });
    const start = Date.now();
    const cookie = cookieOf(await request(app).post('/login').expect(200));
    vi.setSystemTime(start + 110);
    const moved = cookieOf(await request(app).post('/keep').set('Cookie', cookie).expect(200));
    vi.setSystemTime(start + 160);
    const next = await request(app).get('/me').set('Cookie', moved).expect(200);
    expect(next.body).toEqual({ user: 'u-kept' });
    expect(setCookies(next)).toEqual([]);
  });

  it('racing a renewal that read the old record alive too: the move goes on from the renewed ID', async () => {
    const store = new MemoryStore();
    let oldId = '';
    let gets = 0;
    // At the move's read of the old record, another request's renewal has just created the renewed ID
    // (its response will name it) and read the old record alive as well.
    const racing = replacing(store, 'get', async (original, id) => {
      const record = (await original(id)) as SessionRecord | null;
      if (id === oldId && ++gets === 2 && record !== null)
        await store.create(renewedId(secret, oldId), { ...record, data: { ...record.data } });
      return record;
    });
    const { app } = appWith({ store: racing, renewAfter: 60_000 });
    const cookie = cookieOf(await request(app).post('/login').expect(200));
    oldId = idOf(cookie);
    const moved = cookieOf(await request(app).post('/keep').set('Cookie', cookie).expect(200));
    // So a logout through the renewal's cookie ends it (a logout ends the IDs a move of its ID makes).
    expect(idOf(moved)).toBe(keptId(secret, renewedId(secret, oldId)));
    expect((await request(app).get('/me').set('Cookie', moved)).body).toEqual({ user: 'u-kept' });
    expect(await store.listByUser('u-kept')).toHaveLength(1);
  });

  it('racing a renewal that then undoes itself (it found the old record gone): the first move stands', async () => {
    const store = new MemoryStore();
    let oldId = '';
    let gets = 0;
    let renewedGets = 0;
    const racing = replacing(store, 'get', async (original, id) => {
      const renewed = renewedId(secret, oldId);
      // The move sees the renewed record once (and goes on from it); the renewal then reads the old
      // record gone and removes its own, just as the move reads it again to move it.
      if (id === renewed && ++renewedGets === 2) await store.destroy(renewed);
      const record = (await original(id)) as SessionRecord | null;
      if (id === oldId && ++gets === 2 && record !== null)
        await store.create(renewed, { ...record, data: { ...record.data } });
      return record;
    });
    const { app } = appWith({ store: racing, renewAfter: 60_000 });
    const cookie = cookieOf(await request(app).post('/login').expect(200));
    oldId = idOf(cookie);
    const moved = cookieOf(await request(app).post('/keep').set('Cookie', cookie).expect(200));
    expect(idOf(moved)).toBe(keptId(secret, oldId));
    expect((await request(app).get('/me').set('Cookie', moved)).body).toEqual({ user: 'u-kept' });
    expect(await store.listByUser('u-kept')).toHaveLength(1);
  });

  it('with renewAfter, a renewal successor that cannot be ended is reported; the move stands', async () => {
    const store = new MemoryStore();
    let failRenewed: string | null = null;
    const flaky = replacing(store, 'destroy', async (original, id) => {
      if (id === failRenewed) throw Object.assign(new Error('connection reset'), { code: 'ECONNRESET' });
      return original(id);
    });
    const { app, middleware } = appWith({ store: flaky, renewAfter: 60_000 });
    const reported: unknown[] = [];
    middleware.manager.on('error', (error: unknown) => reported.push(error));
    const cookie = cookieOf(await request(app).post('/login').expect(200));
    failRenewed = renewedId(secret, idOf(cookie));
    const moved = cookieOf(await request(app).post('/keep').set('Cookie', cookie).expect(200));
    expect((await request(app).get('/me').set('Cookie', moved)).body).toEqual({ user: 'u-kept' });
    expect((await request(app).get('/me').set('Cookie', cookie)).body).toEqual({ user: null });
    expect(reported).toHaveLength(1);
  });

  it('on an express-session store (no create that can say an ID is taken) moves to a random ID', async () => {
    const store = new expressSession.MemoryStore();
    const { app } = appWith({ store: store as unknown as MemoryStore });
    const cookie = cookieOf(await request(app).get('/set/cart/6').expect(200));
    const moved = cookieOf(await request(app).post('/keep').set('Cookie', cookie).expect(200));
    expect(idOf(moved)).not.toBe(idOf(cookie));
    expect(idOf(moved)).not.toBe(keptId(secret, idOf(cookie)));
    expect((await request(app).get('/get').set('Cookie', moved)).body).toMatchObject({ cart: '6' });
  });

  it('then destroy() in the same request ends the moved session once', async () => {
    const { app, middleware, store } = appWith({}, (a) =>
      a.post('/keep-then-destroy', async (req, res) => {
        await req.session.regenerate({ keep: true });
        await req.session.destroy();
        res.send('gone');
      }),
    );
    const cookie = cookieOf(await request(app).post('/login').expect(200));
    const destroyed: unknown[] = [];
    middleware.manager.on('destroy', (event: unknown) => destroyed.push(event));
    await request(app).post('/keep-then-destroy').set('Cookie', cookie).expect(200);
    // The old record (by the move), then the moved one (by destroy()): once each.
    expect(destroyed).toHaveLength(2);
    expect(await store.listByUser('u-kept')).toEqual([]);
  });

  it('after the response started stores nothing under the derived ID (no cookie could name it)', async () => {
    const { app, store } = appWith({}, (a) =>
      a.post('/late-keep', async (req, res) => {
        res.write('started');
        await req.session.regenerate({ keep: true });
        res.end();
      }),
    );
    const cookie = cookieOf(await request(app).post('/login').expect(200));
    await request(app).post('/late-keep').set('Cookie', cookie).expect(200);
    expect(await store.get(keptId(secret, idOf(cookie)))).toBeNull();
  });

  it('a double submit racing an ID renewal: one moves it from the renewed ID, the other waits for nothing', async () => {
    const points = [new Checkpoint('first'), new Checkpoint('second')];
    // storeTimeout well above the bound below, and the bound well above three requests on a loaded machine.
    const { app, store } = appWith({ renewAfter: 100, storeTimeout: 10_000 }, (a) =>
      a.post('/slow-keep/:n', async (req, res) => {
        await points[Number(req.params.n)]?.pass();
        await req.session.regenerate({ keep: true });
        res.send('moved');
      }),
    );
    const cookie = cookieOf(await request(app).post('/login').expect(200));
    await new Promise((resolve) => setTimeout(resolve, 110));
    const started = Date.now();
    const both = points.map((_, n) =>
      request(app)
        .post(`/slow-keep/${n}`)
        .set('Cookie', cookie)
        .then((answer) => answer),
    );
    await Promise.all(points.map((point) => point.reached));
    // A third request of the same browser renews the session while both wait.
    const renewed = cookieOf(await request(app).get('/get').set('Cookie', cookie).expect(200));
    for (const point of points) point.release();
    const answers = await Promise.all(both);
    // The one that found the derived ID taken did not wait out storeTimeout for the marker to go.
    expect(Date.now() - started).toBeLessThan(5_000);
    const sent = answers.flatMap((answer) => setCookies(answer));
    expect(sent).toHaveLength(1);
    const moved = (sent[0] as string).split(';')[0] as string;
    expect(idOf(moved)).toBe(keptId(secret, idOf(renewed)));
    expect(await store.listByUser('u-kept')).toHaveLength(1);
  });
});

describe('an ID renewal whose new record a kept regenerate ended meanwhile', () => {
  it('sends no cookie for it', async () => {
    const store = new MemoryStore();
    // The renewed ID's record is gone by the time the renewal carries a write over to it, as when a kept
    // regenerate that read the old record alive too moved the session and ended that ID.
    let gone = '';
    const wrapped = new Proxy(store, {
      get(target, prop, receiver) {
        const value = Reflect.get(target, prop, receiver) as unknown;
        if (typeof value !== 'function') return value;
        if (prop === 'update')
          return async (id: string, delta: unknown) =>
            id === gone ? false : (value as (i: string, d: unknown) => unknown).call(target, id, delta);
        return (value as (...args: unknown[]) => unknown).bind(target);
      },
    });
    const { app } = appWith({ store: wrapped as unknown as MemoryStore, renewAfter: 50 }, (a) =>
      a.get('/bump', async (req, res) => {
        // Another request's write lands in the old record after this one loaded it: the renewal carries
        // it over, which is where it finds the record gone.
        await store.update(req.sessionID, {
          set: { other: 'x' },
          unset: [],
          expiresAt: Date.now() + 60_000,
          lastSeenAt: Date.now(),
        });
        (req.session as unknown as Record<string, number>).seen = 1;
        res.send('read');
      }),
    );
    const cookie = cookieOf(await request(app).post('/login').expect(200));
    gone = renewedId(secret, idOf(cookie));
    await new Promise((resolve) => setTimeout(resolve, 60));
    const answer = await request(app).get('/bump').set('Cookie', cookie).expect(200);
    expect(setCookies(answer)).toEqual([]);
  });
});
