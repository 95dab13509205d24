import express from 'express';
import fastify from 'fastify';
import request from 'supertest';
import { describe, expect, it } from 'vitest';
import { session as fastifySession } from '../../src/adapters/fastify.js';
import { storageKey } from '../../src/core/id.js';
import session from '../../src/index.js';
import { MemoryStore } from '../../src/stores/memory.js';
import { cookieOf, idOf } from '../support/apps.js';

/**
 * One session, two frameworks: a key one framework's session object cannot show (its name is a method or
 * accessor there: Fastify's sessions have @fastify/session's `get`, `set`, `sessionId`, `isModified`) is
 * out of that framework's sight, never deleted by its writes: an app moving from Express to Fastify route
 * by route keeps what its Express routes stored.
 */
const secret = 'hidden-keys-secret-of-at-least-32-chars';
const options = { secret, resave: false, saveUninitialized: false } as const;
const SHADOWED = { get: 'g', set: 's', sessionId: 'mine', isModified: 'yes' };

async function apps() {
  const store = new MemoryStore();
  const web = express();
  web.use(session({ ...options, store }));
  web.get('/store', (req, res) => {
    Object.assign(req.session, SHADOWED);
    res.send('ok');
  });
  web.get('/read', (req, res) => {
    const { get, set, sessionId, isModified, views } = req.session as unknown as Record<string, unknown>;
    res.json({ get, set, sessionId, isModified, views });
  });
  const api = fastify();
  await api.register(fastifySession, { ...options, store });
  api.get('/write', async (req) => {
    req.session.views = 7;
    return { get: req.session.get('get'), own: Object.keys(req.session).sort() };
  });
  api.get('/look', async (req) => ({ views: req.session.get('views') }));
  await api.ready();
  return { store, web, api };
}

describe('keys a framework cannot show are kept, not deleted', () => {
  it('a Fastify write leaves the keys named like its session methods as Express stored them', async () => {
    const { store, web, api } = await apps();
    const stored = await request(web).get('/store').expect(200);
    const cookie = cookieOf(stored);
    const id = idOf(cookie);

    const written = await api.inject({ url: '/write', headers: { cookie } });
    expect(written.statusCode).toBe(200);
    // Out of Fastify's sight: `get()` gives data only, and none of the names became data there.
    expect(written.json()).toEqual({ get: undefined, own: ['cookie', 'views'] });
    expect((await store.get(id))?.data).toEqual({ ...SHADOWED, views: 7 });

    await request(web)
      .get('/read')
      .set('Cookie', cookie)
      .expect(200, { ...SHADOWED, views: 7 });
  });

  it('a read-only Fastify request writes nothing for them', async () => {
    const { store, web, api } = await apps();
    const cookie = cookieOf(await request(web).get('/store').expect(200));
    const handle = storageKey(idOf(cookie));
    const before = await store.get(idOf(cookie));
    const updates: string[] = [];
    const update = store.update.bind(store);
    store.update = async (id, delta) => {
      updates.push(storageKey(id));
      return update(id, delta);
    };
    const looked = await api.inject({ url: '/look', headers: { cookie } });
    expect(looked.statusCode).toBe(200);
    expect(updates.filter((written) => written === handle)).toEqual([]);
    expect((await store.get(idOf(cookie)))?.data).toEqual(before?.data);
  });
});
