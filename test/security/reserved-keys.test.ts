/**
 * Attacker-chosen keys and values in session data, beyond what the shared adapter suite merges
 * (src/testing/adapter-suite.ts, "merges hostile request bodies…"): sessionkit's metadata key with an
 * express-session server sharing the store, values JSON drops, and data nested deep by another writer.
 */
import { randomBytes } from 'node:crypto';
import express from 'express';
import expressSession from 'express-session';
import request from 'supertest';
import { describe, expect, it } from 'vitest';
import { MAX_DEPTH } from '../../src/core/serializer.js';
import session, { authAge, currentUserId, login, MemoryStore, type SessionRecord } from '../../src/index.js';
import type { AdapterHarness, SuiteRoute } from '../../src/testing/index.js';
import { expressHarnesses, fastifyHarness, honoHarness, koaHarness } from '../adapters/harnesses.js';
import { cookieOf, idOf } from '../support/apps.js';

const secret = 'reserved-keys-secret-0123456789abcdefgh';
const NAME = 'sid';
const FUTURE = Date.now() + 10 * 365 * 86_400_000;

type Data = Record<string, unknown>;

describe('sessionkit and express-session serving one store', () => {
  /** A sessionkit app that copies the query's JSON body into the session, as apps copy request bodies. */
  function sessionkitApp(store: unknown) {
    const app = express();
    const middleware = session({ secret, store: store as never, resave: false, saveUninitialized: false });
    app.use(middleware);
    app.get('/merge', (req, res) => {
      Object.assign(req.session, JSON.parse(String(req.query.json)) as Data);
      res.send('merged');
    });
    app.get('/who', (req, res) => res.json({ user: currentUserId(req.session), age: authAge(req.session) }));
    // The store as sessionkit reads it (through the bridge for an express-session store).
    return { app, records: middleware.manager.store };
  }

  /** An express-session app on the same store: any request that changes the session writes it whole. */
  function expressSessionApp(store: unknown) {
    const app = express();
    app.use(expressSession({ secret, store: store as never, resave: false, saveUninitialized: false }));
    app.get('/bump', (req, res) => {
      const data = req.session as unknown as Record<string, number>;
      data.n = (data.n ?? 0) + 1;
      res.send('bumped');
    });
    return app;
  }

  it.each([
    ["express-session's MemoryStore, through the bridge", () => new expressSession.MemoryStore()],
    ["sessionkit's MemoryStore, which express-session also uses", () => new MemoryStore()],
  ])(
    "data under sessionkit's metadata key binds no user after an express-session write: %s",
    async (_, make) => {
      const store = make();
      const { app: ours, records } = sessionkitApp(store);
      const cookie = cookieOf(await request(ours).get('/merge?json={"a":1}').expect(200));
      const createdAt = (await records.get(idOf(cookie)))?.createdAt;
      const claims = { userId: 'admin', createdAt: FUTURE, reserved: { 'sessionkit:authTime': Date.now() } };
      await request(ours)
        .get(`/merge?json=${encodeURIComponent(JSON.stringify({ __sessionkit: claims }))}`)
        .set('Cookie', cookie)
        .expect(200);
      await request(expressSessionApp(store)).get('/bump').set('Cookie', cookie).expect(200);
      const who = await request(ours).get('/who').set('Cookie', cookie).expect(200);
      expect(who.body).toEqual({ user: null, age: null });
      // Not the claimed creation time, which absoluteTimeout would count from. (express-session's write
      // drops sessionkit's own record of it, which the bridge then takes as now.)
      expect((await records.get(idOf(cookie)))?.createdAt).toBeGreaterThanOrEqual(createdAt as number);
      expect((await records.get(idOf(cookie)))?.createdAt).toBeLessThanOrEqual(Date.now());
    },
  );
});

/** The harnesses of the shared suite, on routes of this file. */
const harnesses: AdapterHarness[] = [
  ...expressHarnesses,
  fastifyHarness('Fastify 5', () => import('fastify')),
  koaHarness('Koa 3', () => import('koa')),
  honoHarness,
];

const data = (session: unknown) => session as Data;

const routes: Record<string, SuiteRoute> = {
  '/write': ({ session }) => {
    data(session()).kept = 1;
    data(session()).gone = 'stored';
    return 'ok';
  },
  // An object whose toJSON() gives undefined: JSON.stringify leaves such a member out.
  '/no-json': ({ session }) => {
    data(session()).gone = { toJSON: () => undefined };
    data(session()).added = { toJSON: () => undefined };
    data(session()).seen = 1;
    return 'ok';
  },
  '/read': ({ session }) => ({
    user: currentUserId(session()),
    data: { ...data(session()), cookie: undefined },
  }),
  '/login': async ({ session }) => {
    await login(session(), 'u1');
    return 'ok';
  },
  // Saves at once, so a refusal is seen with its code; undone then, so the response changes nothing.
  '/nest': async ({ session, url }) => {
    let value: unknown = 'leaf';
    for (let depth = Number(new URL(url, 'http://x').searchParams.get('depth')); depth > 0; depth--)
      value = [value];
    const previous = data(session()).nested;
    data(session()).nested = value;
    try {
      await session().save();
    } catch (error) {
      data(session()).nested = previous;
      return { refused: (error as { code?: unknown }).code };
    }
    return { saved: true };
  },
};

function pairOf(setCookie: string[]): string {
  const header = setCookie.find((value) => value.startsWith(`${NAME}=s`));
  if (header === undefined) throw new Error(`no session cookie in ${JSON.stringify(setCookie)}`);
  return header.slice(0, header.indexOf(';'));
}

describe.each(harnesses)('hostile values on $name', (harness) => {
  async function appOn(store: MemoryStore, encryption = false) {
    return harness.create(
      {
        name: NAME,
        secret,
        store,
        resave: false,
        saveUninitialized: false,
        ...(encryption ? { encryption: { keys: [{ id: 'k1', key: randomBytes(32) }] } } : {}),
      },
      routes,
      { trustProxy: false },
    );
  }

  it.each([false, true])(
    'a value whose toJSON() gives undefined is left out, as JSON leaves it out (encryption: %s)',
    async (encryption) => {
      const store = new MemoryStore();
      const app = await appOn(store, encryption);
      try {
        // A new session, then one the store already holds, where the value replaces a stored one.
        const created = await app.request('/no-json');
        expect(created.status, created.body).toBe(200);
        // Keys only: with encryption the store holds each value sealed.
        expect(Object.keys((await store.get(idOf(pairOf(created.setCookie))))?.data ?? {})).toEqual(['seen']);
        const cookie = pairOf((await app.request('/write')).setCookie);
        const changed = await app.request('/no-json', { cookie });
        expect(changed.status, changed.body).toBe(200);
        const read = await app.request('/read', { cookie });
        expect(JSON.parse(read.body)).toEqual({ user: null, data: { kept: 1, seen: 1 } });
      } finally {
        await app.close?.();
      }
    },
  );

  it(`refuses data nested more than ${MAX_DEPTH} deep with ERR_SESSION_DATA, and the session stays as it was`, async () => {
    const store = new MemoryStore();
    const app = await appOn(store);
    try {
      const cookie = pairOf((await app.request('/login')).setCookie);
      const id = idOf(cookie);
      // The data object is the first level.
      expect(JSON.parse((await app.request(`/nest?depth=${MAX_DEPTH - 1}`, { cookie })).body)).toEqual({
        saved: true,
      });
      const stored = await store.get(id);
      const refused = await app.request(`/nest?depth=${MAX_DEPTH}`, { cookie });
      expect(JSON.parse(refused.body)).toEqual({ refused: 'ERR_SESSION_DATA' });
      expect(await store.get(id)).toMatchObject({ data: stored?.data, userId: 'u1' });
      expect(JSON.parse((await app.request('/read', { cookie })).body).user).toBe('u1');
    } finally {
      await app.close?.();
    }
  });

  it('loads a session whose stored data another writer nested deeper than JSON.parse revivers reach', async () => {
    const store = new MemoryStore();
    const app = await appOn(store);
    try {
      const cookie = pairOf((await app.request('/login')).setCookie);
      const id = idOf(cookie);
      const stored = (await store.get(id)) as SessionRecord;
      let nested: unknown = 'constructor';
      for (let depth = 0; depth < 3_500; depth++) nested = [nested];
      await store.destroy(id);
      await store.create(id, { ...stored, data: { ...stored.data, nested } });
      const read = await app.request('/read', { cookie });
      expect(read.status, read.body).toBe(200);
      expect(JSON.parse(read.body).user).toBe('u1');
    } finally {
      await app.close?.();
    }
  });
});
