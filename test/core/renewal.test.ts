import express from 'express';
import request from 'supertest';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { RENEWED_KEY } from '../../src/core/auth-time.js';
import session, {
  authAge,
  currentUserId,
  logout,
  MemoryStore,
  login as sessionLogin,
} from '../../src/index.js';
import type { SQLiteStore } from '../../src/stores/sqlite.js';
import { cookieOf, idOf, jsonErrors, setCookies } from '../support/apps.js';
import { inProcessStores } from '../support/in-process-stores.js';

/**
 * ID renewal (C13): a session older than `renewAfter` moves to a new ID with its data, user and
 * authentication time; requests that still carry the old cookie, whether they started before the move
 * or arrive during the grace, are served the renewed session and lose nothing; after the grace the old
 * ID is dead.
 */

const secret = 'renewal-secret-0123456789abcdef012345678';
const MINUTE = 60_000;
const T0 = new Date('2030-01-01T00:00:00Z').valueOf();

type Data = Record<string, unknown>;

function appWith(store: MemoryStore | SQLiteStore, gate?: { arrived: () => void; open: Promise<void> }) {
  const app = express();
  app.use(
    session({
      secret,
      store,
      resave: false,
      saveUninitialized: false,
      renewAfter: 15 * MINUTE,
      renewGrace: 30_000,
      absoluteTimeout: 60 * MINUTE,
    }),
  );
  app.post('/login', async (req, res) => {
    await sessionLogin(req.session, 'alice');
    (req.session as unknown as Data).cart = ['book'];
    res.end('ok');
  });
  app.post('/set/:key', async (req, res) => {
    // Holds the request after its session loaded, so several overlap across the renewal.
    if (gate) {
      gate.arrived();
      await gate.open;
    }
    (req.session as unknown as Data)[req.params.key] = req.params.key;
    res.end('ok');
  });
  app.post('/logout', async (req, res) => {
    await logout(req.session);
    res.end('ok');
  });
  app.get('/me', (req, res) => {
    res.json({
      user: currentUserId(req.session),
      age: authAge(req.session),
      data: { ...(req.session as unknown as Data), cookie: undefined },
    });
  });
  app.use(jsonErrors);
  return app;
}

afterEach(() => {
  vi.useRealTimers();
});

for (const [name, make] of inProcessStores) {
  describe(`renewAfter on ${name}`, () => {
    it('renews the ID keeping data, user and authTime; the old ID works for the grace only (C13)', async () => {
      vi.useFakeTimers({ toFake: ['Date'] });
      vi.setSystemTime(T0);
      const store = make();
      const app = appWith(store);
      const login = cookieOf(await request(app).post('/login').expect(200));

      vi.setSystemTime(T0 + 14 * MINUTE);
      const early = await request(app).get('/me').set('Cookie', login).expect(200);
      expect(setCookies(early)).toEqual([]);

      vi.setSystemTime(T0 + 16 * MINUTE);
      const renewed = await request(app).get('/me').set('Cookie', login).expect(200);
      const fresh = cookieOf(renewed);
      expect(idOf(fresh)).not.toBe(idOf(login));
      expect(renewed.body).toEqual({ user: 'alice', age: 16 * MINUTE, data: { cart: ['book'] } });
      // The old record holds no data any more, only the marker.
      expect((await store.get(idOf(login)))?.data).toEqual({ [RENEWED_KEY]: T0 + 16 * MINUTE });
      expect((await store.get(idOf(fresh)))?.userId).toBe('alice');

      // Within the grace the old cookie leads to the renewed session, and is told the new cookie.
      vi.setSystemTime(T0 + 16 * MINUTE + 20_000);
      const late = await request(app).get('/me').set('Cookie', login).expect(200);
      expect(late.body.data).toEqual({ cart: ['book'] });
      expect(idOf(cookieOf(late))).toBe(idOf(fresh));

      // Not renewed again before another renewAfter.
      vi.setSystemTime(T0 + 30 * MINUTE);
      expect(setCookies(await request(app).get('/me').set('Cookie', fresh).expect(200))).toEqual([]);

      // After the grace the old ID is dead; the renewed session lives on.
      expect((await request(app).get('/me').set('Cookie', login).expect(200)).body.user).toBeNull();
      expect((await request(app).get('/me').set('Cookie', fresh).expect(200)).body.user).toBe('alice');
    });

    it('overlapping requests with the old cookie all land in the renewed session; none is lost', async () => {
      vi.useFakeTimers({ toFake: ['Date'] });
      vi.setSystemTime(T0);
      const store = make();
      const keys = ['a', 'b', 'c', 'd', 'e', 'f'];
      let open!: () => void;
      let allArrived!: () => void;
      const arrivedAll = new Promise<void>((resolve) => {
        allArrived = resolve;
      });
      let arrived = 0;
      const gate = {
        arrived: () => {
          if (++arrived === keys.length) allArrived();
        },
        open: new Promise<void>((resolve) => {
          open = resolve;
        }),
      };
      const app = appWith(store, gate);
      const login = cookieOf(await request(appWith(store)).post('/login').expect(200));

      vi.setSystemTime(T0 + 16 * MINUTE);
      // Six requests load the old session, then all commit at once: each is due for renewal.
      const inFlight = keys.map((key) =>
        request(app)
          .post(`/set/${key}`)
          .set('Cookie', login)
          .then((r) => r),
      );
      await arrivedAll;
      open();
      const done = await Promise.all(inFlight);
      const ids = new Set(done.map((res) => idOf(cookieOf(res))));
      expect(done.map((res) => res.status)).toEqual([200, 200, 200, 200, 200, 200]);
      expect(ids.size).toBe(1);
      const [fresh] = [...ids] as [string];
      expect(fresh).not.toBe(idOf(login));
      const stored = await store.get(fresh);
      expect(stored?.userId).toBe('alice');
      expect(stored?.data).toMatchObject({ cart: ['book'], a: 'a', b: 'b', c: 'c', d: 'd', e: 'e', f: 'f' });
    });

    it('a logout after a renewal is not undone by a request that loaded the old session before it (C16)', async () => {
      vi.useFakeTimers({ toFake: ['Date'] });
      vi.setSystemTime(T0);
      const store = make();
      let open!: () => void;
      let arrivedOne!: () => void;
      const arrived = new Promise<void>((resolve) => {
        arrivedOne = resolve;
      });
      const gate = {
        arrived: () => arrivedOne(),
        open: new Promise<void>((resolve) => {
          open = resolve;
        }),
      };
      const plain = appWith(store);
      const login = cookieOf(await request(plain).post('/login').expect(200));
      vi.setSystemTime(T0 + 16 * MINUTE);
      // A slow request loads the session under its old ID and waits.
      const slow = request(appWith(store, gate))
        .post('/set/late')
        .set('Cookie', login)
        .then((r) => r);
      await arrived;
      // Meanwhile another request renews it, and the user logs out with the new cookie.
      const fresh = cookieOf(await request(plain).get('/me').set('Cookie', login).expect(200));
      await request(plain).post('/logout').set('Cookie', fresh).expect(200);
      open();
      await slow;
      expect(await store.get(idOf(fresh))).toBeNull();
      for (const cookie of [fresh, login])
        expect((await request(plain).get('/me').set('Cookie', cookie).expect(200)).body.user).toBeNull();
    });

    it('keeps counting the absolute timeout from the session’s creation', async () => {
      vi.useFakeTimers({ toFake: ['Date'] });
      vi.setSystemTime(T0);
      const app = appWith(make());
      let cookie = cookieOf(await request(app).post('/login').expect(200));
      for (const minute of [16, 32, 48]) {
        vi.setSystemTime(T0 + minute * MINUTE);
        const res = await request(app).get('/me').set('Cookie', cookie).expect(200);
        expect(res.body.user).toBe('alice');
        cookie = cookieOf(res);
      }
      vi.setSystemTime(T0 + 61 * MINUTE);
      expect((await request(app).get('/me').set('Cookie', cookie).expect(200)).body.user).toBeNull();
    });
  });
}

describe('renewAfter options', () => {
  it.each([
    ['renewAfter', 0],
    ['renewAfter', -1],
    ['renewGrace', Number.NaN],
  ])('refuses %s = %s', (option, value) => {
    expect(() => session({ secret, [option]: value })).toThrow(
      expect.objectContaining({ code: 'ERR_INVALID_OPTION', option }),
    );
  });
});

describe('renewAfter with encryption at rest', () => {
  it('renews a sealed session, and the marker and the authentication time are sealed too', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(T0);
    const store = new MemoryStore();
    const app = express();
    app.use(
      session({
        secret,
        store,
        resave: false,
        saveUninitialized: false,
        renewAfter: 15 * MINUTE,
        encryption: { keys: [{ id: 'k1', key: Buffer.alloc(32, 7) }] },
      }),
    );
    app.post('/login', async (req, res) => {
      await sessionLogin(req.session, 'alice');
      (req.session as unknown as Data).cart = ['book'];
      res.end('ok');
    });
    app.get('/me', (req, res) => {
      res.json({
        user: currentUserId(req.session),
        age: authAge(req.session),
        cart: (req.session as unknown as Data).cart,
      });
    });
    const login = cookieOf(await request(app).post('/login').expect(200));
    vi.setSystemTime(T0 + 16 * MINUTE);
    const renewed = await request(app).get('/me').set('Cookie', login).expect(200);
    expect(renewed.body).toEqual({ user: 'alice', age: 16 * MINUTE, cart: ['book'] });
    const fresh = idOf(cookieOf(renewed));
    for (const id of [fresh, idOf(login)]) {
      for (const value of Object.values((await store.get(id))?.data ?? {}))
        expect(String(value)).toMatch(/^\$sk1\$k1\$/);
    }
    const late = await request(app).get('/me').set('Cookie', login).expect(200);
    expect(late.body.cart).toEqual(['book']);
    expect(idOf(cookieOf(late))).toBe(fresh);
  });
});
