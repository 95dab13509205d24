import { randomBytes } from 'node:crypto';
import express from 'express';
import request from 'supertest';
import { describe, expect, it } from 'vitest';
import { sealedWith } from '../../src/core/encryption.js';
import session, { MemoryStore } from '../../src/index.js';
import { cookieOf, idOf, jsonErrors } from '../support/apps.js';

/**
 * Encryption at rest (C38) over the in-process MemoryStore keeps its synchronous path: a request is
 * loaded and committed in the tick it arrived in, as without encryption, and a value that does not open
 * on that path ends as on the promise path (fresh session, error event, record removed).
 */

const secret = 'encryption-sync-test-secret-0123456789';
const keys = [{ id: 'k1', key: randomBytes(32) }];
type Data = Record<string, unknown>;

function appOn(store: MemoryStore) {
  const middleware = session({
    secret,
    store,
    resave: false,
    saveUninitialized: false,
    encryption: { keys },
  });
  const errors: Array<{ code?: string }> = [];
  middleware.manager.on('error', (error: { code?: string }) => errors.push(error));
  const ticks: boolean[] = [];
  const app = express();
  app.use(express.json());
  app.use((req, _res, next) => {
    let ticked = false;
    queueMicrotask(() => {
      ticked = true;
    });
    (req as unknown as { ticked: () => boolean }).ticked = () => ticked;
    next();
  });
  app.use(middleware);
  const sameTick = (req: unknown) => !(req as { ticked: () => boolean }).ticked();
  app.post('/set', (req, res) => {
    ticks.push(sameTick(req));
    Object.assign(req.session as unknown as Data, req.body as Data);
    res.json({ ok: true });
  });
  app.get('/get', (req, res) => {
    ticks.push(sameTick(req));
    res.json({ ...(req.session as unknown as Data), cookie: undefined });
  });
  app.use(jsonErrors);
  return { app, errors, ticks };
}

describe('encryption at rest on the MemoryStore, synchronously', () => {
  it('loads a session in its arrival tick; a get() the app replaced takes the promise path', async () => {
    const store = new MemoryStore();
    const { app, errors, ticks } = appOn(store);
    const res = await request(app).post('/set').send({ card: '4111', n: 1 }).expect(200);
    const cookie = cookieOf(res);
    const raw = await store.get(idOf(cookie));
    expect(sealedWith(raw?.data.card)).toBe('k1');
    expect((await request(app).get('/get').set('Cookie', cookie).expect(200)).body).toMatchObject({
      card: '4111',
      n: 1,
    });
    expect(ticks).toEqual([true, true]);

    const get = store.get.bind(store);
    store.get = (id: string) => get(id);
    expect((await request(app).get('/get').set('Cookie', cookie).expect(200)).body.card).toBe('4111');
    expect(ticks).toEqual([true, true, false]);
    expect(errors).toEqual([]);
  });

  it('a value that does not open: fresh session, an error event, the record removed', async () => {
    const store = new MemoryStore();
    const { app, errors, ticks } = appOn(store);
    const a = cookieOf(await request(app).post('/set').send({ card: 'a' }).expect(200));
    const b = cookieOf(await request(app).post('/set').send({ card: 'b' }).expect(200));
    // A's ciphertext (opened once already, so remembered) moved into B.
    await request(app).get('/get').set('Cookie', a).expect(200);
    const sealedA = (await store.get(idOf(a)))?.data.card;
    await store.update(idOf(b), {
      set: { card: sealedA },
      unset: [],
      expiresAt: Date.now() + 60_000,
      lastSeenAt: Date.now(),
    });
    const res = await request(app).get('/get').set('Cookie', b).expect(200);
    expect(res.body.card).toBeUndefined();
    expect(errors.map((e) => e.code)).toEqual(['ERR_SESSION_CORRUPT']);
    expect(await store.get(idOf(b))).toBeNull();
    expect(ticks.at(-1)).toBe(true);
  });

  it('a store wrapped in a Proxy is called through its wrapper, never past it', async () => {
    const store = new MemoryStore();
    const calls: string[] = [];
    const wrapped = new Proxy(store, {
      get(target, prop) {
        const value = Reflect.get(target, prop, target) as unknown;
        if (typeof value !== 'function') return value;
        if (prop !== 'get' && prop !== 'create' && prop !== 'update' && prop !== 'touch')
          return (value as (...args: unknown[]) => unknown).bind(target);
        return (...args: unknown[]) => {
          calls.push(prop);
          return (value as (...args: unknown[]) => unknown).apply(target, args);
        };
      },
    });
    const { app, ticks } = appOn(wrapped);
    const cookie = cookieOf(await request(app).post('/set').send({ card: 'a' }).expect(200));
    await request(app).get('/get').set('Cookie', cookie).expect(200);
    expect(calls).toEqual(['create', 'get']);
    expect(ticks).toEqual([true, false]);
  });
});
