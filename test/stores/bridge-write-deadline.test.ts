/**
 * Why: when a response says a change was not kept (503 ERR_STORE_UNAVAILABLE after `storeTimeout`), a
 * user retries it; through an express-session store the change must then not land afterwards all the same,
 * or the retried action (a counter, a cart line, a transfer) happens twice. A store call already in flight
 * at the timeout has an unknown outcome on any store; what the bridge may not do is issue a new one (the
 * `set` of a read-merge-write) after it, nor hold the next request's write behind a lost callback past
 * that lost write's own deadline.
 */
import type express from 'express';
import request from 'supertest';
import { describe, expect, it } from 'vitest';
import session from '../../src/index.js';
import { cookieOf, expressVersions } from '../support/apps.js';
import { MisbehavingStore } from '../support/misbehaving-store.js';

const secret = 'bridge-deadline-secret-0123456789abcdefg';
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function appOn(create: (typeof expressVersions)[number]['create'], store: MisbehavingStore) {
  const app = create();
  app.use(
    session({ secret, store: store as never, resave: false, saveUninitialized: false, storeTimeout: 300 }),
  );
  app.get('/add/:key', (req, res) => {
    (req.session as unknown as Record<string, number>)[req.params.key as string] = 1;
    res.send('saved');
  });
  app.use(((err, _req, res, _next) =>
    res.status(err?.status ?? 500).send(err?.code ?? 'error')) as express.ErrorRequestHandler);
  return app;
}

const storedKeys = (store: MisbehavingStore) =>
  Object.keys(JSON.parse([...store.data.values()][0] as string))
    .filter((k) => k !== 'cookie')
    .sort();

describe.each(expressVersions)('$name: a write that answered 503 is not carried out later', ({ create }) => {
  it('the read of an update answers after storeTimeout: nothing is written', async () => {
    const store = new MisbehavingStore();
    const app = appOn(create, store);
    const cookie = cookieOf(await request(app).get('/add/first').expect(200));
    const get = store.get.bind(store);
    let reads = 0;
    store.get = (sid, cb) => {
      reads++;
      // The load (read 1) answers at once, the update's own read (read 2) after 600 ms.
      if (reads === 2) setTimeout(() => get(sid, cb), 600);
      else get(sid, cb);
      return undefined;
    };
    const res = await request(app).get('/add/second').set('Cookie', cookie);
    expect(res.status).toBe(503);
    await sleep(900);
    expect(storedKeys(store)).toEqual(['first']);
  });

  it('the next write, queued behind one lost callback, runs once that write is past storeTimeout', async () => {
    const store = new MisbehavingStore();
    const app = appOn(create, store);
    const cookie = cookieOf(await request(app).get('/add/first').expect(200));
    const set = store.set.bind(store);
    let sets = 0;
    store.set = (sid, sess, cb) => {
      sets++;
      if (sets === 1) return undefined; // one callback lost; the store is fine afterwards
      return set(sid, sess, cb);
    };
    expect((await request(app).get('/add/lost').set('Cookie', cookie)).status).toBe(503);
    const next = await request(app).get('/add/next').set('Cookie', cookie);
    expect(next.status).toBe(200);
    expect(storedKeys(store)).toEqual(['first', 'next']);
  });
});
