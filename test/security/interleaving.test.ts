import type { Server } from 'node:http';
import express from 'express';
import request from 'supertest';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { keptId, renewedId } from '../../src/core/renewal.js';
import session, { currentUserId, login, logout } from '../../src/index.js';
import type { AnyStore } from '../../src/stores/factory.js';
import { cookieOf, idOf, jsonErrors, setCookies } from '../support/apps.js';
import { Choreography, StoreGates, storeTargets } from '../support/interleave.js';

/**
 * B23 race scripts, forced into exact orders with checkpoints (no sleeps), against every store that can
 * run here. Route handlers stop at `?at=<name>` after the session loaded and before the response commits;
 * `StoreGates` stops chosen store calls before or after they reach the backend.
 */

const secret = 'interleaving-secret-0123456789abcdef0123';
const targets = await storeTargets('skil');

type Res = request.Response;

for (const target of targets) {
  describe.skipIf(target.skip)(`interleavings on ${target.name}`, () => {
    let store: AnyStore;
    let server: Server;
    let url: string;
    let renewServer: Server;
    let renewUrl: string;
    let choreo = new Choreography();
    let gates = new StoreGates();

    beforeAll(async () => {
      store = await target.open();
      // One app for the whole suite; every test gets fresh checkpoints and gates through these closures.
      const gated = new Proxy(store, {
        get: (_t, prop) => Reflect.get(gates.wrap(store), prop),
      });
      const options = {
        secret,
        store: gated,
        resave: false,
        saveUninitialized: false,
        touchAfter: 0,
        storeTimeout: 15_000,
      };
      const middleware = session(options);
      const app = express();
      app.use(middleware);
      app.get('/set/:key/:value', async (req, res) => {
        await choreo.pass(req.query.at);
        (req.session as unknown as Record<string, string>)[req.params.key] = req.params.value;
        res.send('ok');
      });
      app.get('/read', async (req, res) => {
        await choreo.pass(req.query.at);
        res.json({ id: req.sessionID, user: currentUserId(req.session), data: { ...req.session } });
      });
      app.get('/login/:user', async (req, res) => {
        await choreo.pass(req.query.at);
        await login(req.session, req.params.user);
        res.send('in');
      });
      app.get('/logout', async (req, res) => {
        await choreo.pass(req.query.at);
        await logout(req.session);
        res.send('out');
      });
      app.get('/destroy', async (req, res) => {
        await choreo.pass(req.query.at);
        await req.session.destroy();
        res.send('gone');
      });
      app.get('/regenerate', async (req, res) => {
        await choreo.pass(req.query.at);
        await req.session.regenerate({ keep: true });
        res.send('new');
      });
      app.use(jsonErrors);
      server = app.listen(0, '127.0.0.1');
      await new Promise((resolve) => server.once('listening', resolve));
      url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;

      // The same store with ID renewal: any session older than 1 ms moves to a new ID on its next request.
      const renewing = express();
      renewing.use(session({ ...options, renewAfter: 1 }));
      renewing.get('/login/:user', async (req, res) => {
        await login(req.session, req.params.user);
        res.send('in');
      });
      renewing.get('/read', (req, res) => {
        res.json({ id: req.sessionID, user: currentUserId(req.session) });
      });
      renewing.use(jsonErrors);
      renewServer = renewing.listen(0, '127.0.0.1');
      await new Promise((resolve) => renewServer.once('listening', resolve));
      renewUrl = `http://127.0.0.1:${(renewServer.address() as { port: number }).port}`;
    });

    afterEach(() => {
      choreo.releaseAll();
      gates.releaseAll();
      choreo = new Choreography();
      gates = new StoreGates();
    });

    afterAll(async () => {
      choreo.releaseAll();
      gates.releaseAll();
      await new Promise((resolve) => server?.close(resolve));
      await new Promise((resolve) => renewServer?.close(resolve));
      if (store) await target.dispose(store);
    });

    /** Starts a request now; the promise settles when its response is complete. */
    const send = (path: string, cookie?: string): Promise<Res> => {
      const req = request(url).get(path);
      if (cookie) req.set('Cookie', cookie);
      return req.then((r) => r);
    };

    const fresh = async (key = 'start') => cookieOf(await send(`/set/${key}/1`).then(expectOk));
    const loginAs = async (user: string) => cookieOf(await send(`/login/${user}`).then(expectOk));
    const loadsAs = async (cookie: string) =>
      (await send('/read', cookie)).body as {
        id: string;
        user: string | null;
        data: Record<string, unknown>;
      };

    it('disjoint-key writes both survive, whichever commits first', async () => {
      for (const order of [
        ['A', 'B'],
        ['B', 'A'],
      ]) {
        const cookie = await fresh();
        const a = choreo.point(`A${order.join('')}`);
        const b = choreo.point(`B${order.join('')}`);
        const ra = send(`/set/a/1?at=${a.name}`, cookie);
        const rb = send(`/set/b/2?at=${b.name}`, cookie);
        await Promise.all([a.reached, b.reached]); // both loaded the same version
        const steps = { A: { point: a, res: ra }, B: { point: b, res: rb } };
        for (const name of order as ('A' | 'B')[]) {
          steps[name].point.release();
          expectOk(await steps[name].res);
        }
        expect((await store.get(idOf(cookie)))?.data).toEqual({ start: '1', a: '1', b: '2' });
      }
    });

    it('disjoint-key writes both survive when one commit is held inside the store', async () => {
      const cookie = await fresh();
      const held = gates.hold('update', 'before');
      const ra = send('/set/a/1', cookie);
      await held.reached; // A's delta is on its way to the store
      expectOk(await send('/set/b/2', cookie));
      held.release();
      expectOk(await ra);
      expect((await store.get(idOf(cookie)))?.data).toEqual({ start: '1', a: '1', b: '2' });
    });

    it('eight overlapping requests on one session, released in a shuffled order, lose no key', async () => {
      const cookie = await fresh();
      const points = Array.from({ length: 8 }, (_, i) => choreo.point(`K${i}`));
      const pending = points.map((p, i) => send(`/set/k${i}/${i}?at=${p.name}`, cookie));
      await Promise.all(points.map((p) => p.reached));
      for (const i of [5, 2, 7, 0, 3, 6, 1, 4]) (points[i] as (typeof points)[number]).release();
      for (const r of await Promise.all(pending)) expectOk(r);
      const data = (await store.get(idOf(cookie)))?.data ?? {};
      expect(Object.keys(data).sort()).toEqual(['k0', 'k1', 'k2', 'k3', 'k4', 'k5', 'k6', 'k7', 'start']);
    });

    it('a logout is never undone by a writing request that loaded the session earlier (C16)', async () => {
      const cookie = await loginAs('u-logout');
      const a = choreo.point('A');
      const ra = send(`/set/late/1?at=A`, cookie);
      await a.reached;
      const out = await send('/logout', cookie);
      expect(out.text).toBe('out');
      a.release();
      const late = expectOk(await ra);
      expect(setCookies(late)).toEqual([]);
      expect(await store.get(idOf(cookie))).toBeNull();
      expect((await loadsAs(cookie)).id).not.toBe(idOf(cookie));
    });

    it('a logout is never undone by a read-only request whose touch comes after it', async () => {
      const cookie = await loginAs('u-touch');
      const a = choreo.point('A');
      const ra = send('/read?at=A', cookie);
      await a.reached;
      await send('/destroy', cookie).then(expectOk);
      a.release();
      const late = expectOk(await ra);
      expect(setCookies(late)).toEqual([]);
      expect(await store.get(idOf(cookie))).toBeNull();
      expect((await loadsAs(cookie)).user).toBeNull();
    });

    it('a logout holds when the earlier request’s commit is already inside the store call', async () => {
      const cookie = await loginAs('u-inflight');
      const held = gates.hold('update', 'before');
      const ra = send('/set/late/1', cookie);
      await held.reached;
      await send('/logout', cookie).then(expectOk);
      held.release();
      expect(setCookies(expectOk(await ra))).toEqual([]);
      expect(await store.get(idOf(cookie))).toBeNull();
    });

    it('a logout holds when the earlier request read the record just before it was destroyed', async () => {
      const cookie = await loginAs('u-stale-read');
      const id = idOf(cookie);
      const held = gates.hold('get', 'after', (args) => args[0] === id);
      const ra = send('/set/late/1', cookie);
      await held.reached; // the stale record is in hand, not yet attached to the request
      await send('/logout', cookie).then(expectOk);
      held.release();
      expect(setCookies(expectOk(await ra))).toEqual([]);
      expect(await store.get(id)).toBeNull();
    });

    it('regenerate with requests in flight leaves no usable old ID', async () => {
      const cookie = await fresh();
      const oldId = idOf(cookie);
      const a = choreo.point('A');
      const b = choreo.point('B');
      const ra = send('/set/a/1?at=A', cookie);
      const rb = send('/read?at=B', cookie);
      await Promise.all([a.reached, b.reached]);
      const login = expectOk(await send('/login/u-regen', cookie));
      const newCookie = cookieOf(login);
      expect(idOf(newCookie)).not.toBe(oldId);
      a.release();
      b.release();
      for (const r of await Promise.all([ra, rb])) expect(setCookies(expectOk(r))).toEqual([]);
      expect(await store.get(oldId)).toBeNull();
      expect((await loadsAs(cookie)).id).not.toBe(oldId);
      expect(await loadsAs(newCookie)).toMatchObject({ id: idOf(newCookie), user: 'u-regen' });
    });

    it('a request that loads the old ID while regenerate is destroying it cannot revive it', async () => {
      const cookie = await fresh();
      const oldId = idOf(cookie);
      const destroying = gates.hold('destroy', 'before', (args) => args[0] === oldId);
      const rc = send('/regenerate', cookie);
      await destroying.reached; // regenerate has started; the old record still exists
      const d = choreo.point('D');
      const rd = send('/set/d/1?at=D', cookie);
      await d.reached; // D loaded the old session
      destroying.release();
      const regenerated = expectOk(await rc);
      d.release();
      expect(setCookies(expectOk(await rd))).toEqual([]);
      expect(await store.get(oldId)).toBeNull();
      expect((await loadsAs(cookie)).id).not.toBe(oldId);
      expect((await store.get(idOf(cookieOf(regenerated))))?.data).toEqual({
        start: '1',
        'sessionkit:renewedAt': expect.any(Number),
      });
    });

    it('destroyByUser (revoke-all) holds against in-flight requests of that user (C17)', async () => {
      const user = `u-revoke-${target.name}`;
      const c1 = await loginAs(user);
      const c2 = await loginAs(user);
      const other = await loginAs('u-bystander');
      const a = choreo.point('A');
      const b = choreo.point('B');
      const ra = send('/set/late/1?at=A', c1);
      const rb = send('/read?at=B', c2);
      await Promise.all([a.reached, b.reached]);
      expect(await store.destroyByUser?.(user)).toBe(2);
      a.release();
      b.release();
      for (const r of await Promise.all([ra, rb])) expect(setCookies(expectOk(r))).toEqual([]);
      expect(await store.get(idOf(c1))).toBeNull();
      expect(await store.get(idOf(c2))).toBeNull();
      expect(await store.listByUser?.(user)).toEqual([]);
      expect((await loadsAs(c1)).user).toBeNull();
      expect((await loadsAs(c2)).user).toBeNull();
      expect((await loadsAs(other)).user).toBe('u-bystander');
    });

    // A renewal is three store calls (create the new ID, read the old, replace it with a marker); a
    // revoke-all may land between any two. The in-process MemoryStore does each in one synchronous step.
    const renewalGates: Array<[string, 'create' | 'get' | 'set', 'before' | 'after', number]> = [
      ['before its create', 'create', 'before', 1],
      ['after its create', 'create', 'after', 1],
      ['after it read the old record alive', 'get', 'after', 2],
      ['before its marker', 'set', 'before', 1],
    ];
    for (const [when, op, phase, nth] of renewalGates) {
      it.skipIf(target.name === 'memory')(
        `a renewal never outlives a revoke-all that lands ${when} (C13, C17)`,
        async () => {
          const user = `u-renew-${target.name}-${op}-${phase}`;
          const old = cookieOf(expectOk(await request(renewUrl).get(`/login/${user}`)));
          const oldId = idOf(old);
          const start = Date.now();
          while (Date.now() - start < 2) await new Promise((resolve) => setImmediate(resolve));
          let seen = 0;
          const hold = gates.hold(op, phase, (args) =>
            args[0] === oldId || args[0] === renewedId(secret, oldId) ? ++seen === nth : false,
          );
          const renewal = request(renewUrl)
            .get('/read')
            .set('Cookie', old)
            .then((r) => r);
          await hold.reached;
          await store.destroyByUser?.(user);
          hold.release();
          const res = await renewal;
          expect(res.status).toBeLessThan(500);
          const newId = renewedId(secret, oldId);
          expect((await store.get(newId))?.userId ?? null).toBeNull();
          expect((await store.get(oldId))?.userId ?? null).toBeNull();
          expect(await store.listByUser?.(user)).toEqual([]);
          for (const cookie of [old, ...setCookies(res).map((header) => header.split(';')[0] as string)]) {
            const after = (await request(renewUrl).get('/read').set('Cookie', cookie)).body as {
              user: string | null;
            };
            expect(after.user).toBeNull();
          }
        },
      );
    }

    // regenerate({ keep: true }) of a stored session is three store calls too (create the derived ID, read
    // the old record, destroy it); a logout through the other cookie, or a revoke-all, may land between
    // any two, or before the first.
    const keepGates: Array<[string, 'create' | 'get' | 'destroy', 'before' | 'after', number]> = [
      ['before its create', 'create', 'before', 1],
      ['after its create', 'create', 'after', 1],
      ['after it read the old record alive', 'get', 'after', 2],
      ['before it destroys the old record', 'destroy', 'before', 1],
    ];
    for (const [when, op, phase, nth] of keepGates)
      for (const end of ['logout', 'revoke-all'] as const)
        it(`regenerate({ keep: true }) never outlives a ${end} that lands ${when} (C16)`, async () => {
          const user = `u-keep-${target.name}-${op}-${phase}-${end}`;
          const old = await loginAs(user);
          const oldId = idOf(old);
          const newId = keptId(secret, oldId);
          let seen = 0;
          const hold = gates.hold(op, phase, (args) =>
            args[0] === (op === 'create' ? newId : oldId) ? ++seen === nth : false,
          );
          const moving = send('/regenerate', old);
          await hold.reached;
          if (end === 'logout') expectOk(await send('/logout', old));
          else await store.destroyByUser?.(user);
          hold.release();
          const res = await moving;
          expect(res.status).toBeLessThan(500);
          expect(await store.get(newId)).toBeNull();
          expect(await store.listByUser?.(user)).toEqual([]);
          for (const cookie of [old, ...setCookies(res).map((header) => header.split(';')[0] as string)])
            expect((await loadsAs(cookie)).user).toBeNull();
        });

    it('regenerate({ keep: true }) with nothing racing it moves the session whole and ends the old ID', async () => {
      const user = `u-keep-${target.name}-alone`;
      const old = await loginAs(user);
      expectOk(await send('/set/cart/3', old));
      const res = expectOk(await send('/regenerate', old));
      const moved = cookieOf(res);
      expect(idOf(moved)).toBe(keptId(secret, idOf(old)));
      expect(await loadsAs(moved)).toMatchObject({ user, data: { cart: '3' } });
      expect((await loadsAs(old)).user).toBeNull();
      expect(await store.get(idOf(old))).toBeNull();
      expect((await store.listByUser?.(user))?.length).toBe(1);
    });

    it('destroyByUser with `except` keeps the current session and ends the in-flight others (C18)', async () => {
      const user = `u-except-${target.name}`;
      const keep = await loginAs(user);
      const drop = await loginAs(user);
      const b = choreo.point('B');
      const rb = send('/set/late/1?at=B', drop);
      await b.reached;
      expect(await store.destroyByUser?.(user, { except: idOf(keep) })).toBe(1);
      b.release();
      expect(setCookies(expectOk(await rb))).toEqual([]);
      expect(await store.get(idOf(drop))).toBeNull();
      expect((await loadsAs(keep)).user).toBe(user);
      expect((await store.listByUser?.(user))?.length).toBe(1);
    });
  });
}

function expectOk<T extends { status: number; text: string }>(res: T): T {
  if (res.status !== 200) throw new Error(`expected 200, got ${res.status}: ${res.text}`);
  return res;
}
