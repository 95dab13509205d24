/**
 * Why: what a user depends on: README "Migrating from express-session" step 2 ("move to a sessionkit store
 * with its `legacy` option … nobody is logged out"), docs/stores/mongodb.md "Migrating from connect-mongo",
 * and the promise of test/compat/read-only-activity.test.ts (which covers connect-redis, connect-pg-simple
 * and express-mysql-session, not connect-mongo): a user who only reads pages stays logged in as long as
 * they keep clicking, as under express-session.
 *
 * Under express-session + connect-mongo, a browser-session cookie's document expires at `now + ttl`
 * (connect-mongo's `ttl` option, the idle timeout), and every request that does not save calls
 * connect-mongo's `touch`, which pushes `expires` to `now + ttl`. So a user clicking read-only pages every
 * 700 ms with `ttl: 2` stays logged in forever.
 *
 * Side by side: express-session (stays logged in), sessionkit through the bridge (connect-mongo store kept),
 * and sessionkit's MongoStore with `legacy: 'connect-mongo'`. sessionkit gets `ttl` equal to the store
 * lifetime, as in the sibling test. connect-mongo's `touchAfter` (seconds, its documented "lazy session
 * update") is on: connect-mongo's get() puts the document's `lastModified` Date on the session, and its
 * touch() skips within `touchAfter` of it, calling `session.lastModified.getTime()`.
 *
 * Through the bridge, a touch hands connect-mongo back the session's own non-JSON values as its get()
 * gave them (the `lastModified` Date), as express-session does; a string there made every touch throw
 * and the user was logged out when the document expired.
 */
import express, { type RequestHandler } from 'express';
import expressSession from 'express-session';
import request from 'supertest';
import { afterAll, describe, expect, it } from 'vitest';
import session, { type ExpressStoreLike, type SessionStore } from '../../src/index.js';
import { cookieOf } from '../support/apps.js';
import { type MongoBackend, openConnectMongo, releaseMongo } from '../support/connect-mongo-backend.js';
import { secret } from '../support/migration-apps.js';

const LIFETIME_S = 2;
const opened: MongoBackend[] = [];
afterAll(async () => {
  for (const b of opened) await b.close();
  await releaseMongo();
});

function app(kind: 'express-session' | 'sessionkit', store: ExpressStoreLike | SessionStore) {
  const a = express();
  const options = { secret, resave: false, saveUninitialized: false };
  a.use(
    kind === 'sessionkit'
      ? (session({ ...options, store, ttl: LIFETIME_S * 1000 }) as unknown as RequestHandler)
      : expressSession({ ...options, store: store as ExpressStoreLike }),
  );
  a.get('/login', (req, res) => {
    (req as unknown as { session: { user?: string } }).session.user = 'alice';
    res.send('in');
  });
  a.get('/account', (req, res) => {
    res.send(`user: ${(req as unknown as { session: { user?: string } }).session.user ?? 'anonymous'}`);
  });
  return a;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
type Next = 'express-session' | 'sessionkit (bridge)' | 'sessionkit (legacy)';

async function browse(backend: MongoBackend, next: Next): Promise<string[]> {
  const cookie = cookieOf(await request(app('express-session', backend.anchor)).get('/login').expect(200));
  const served =
    next === 'express-session'
      ? app('express-session', backend.anchor)
      : app('sessionkit', next === 'sessionkit (bridge)' ? backend.anchor : backend.native);
  const seen: string[] = [];
  for (let i = 0; i < 5; i++) {
    await sleep(700);
    seen.push((await request(served).get('/account').set('Cookie', cookie)).text);
  }
  return seen;
}

describe(`connect-mongo ttl ${LIFETIME_S} s, touchAfter 1 s, browser-session cookie`, () => {
  it('bridge: a user clicking read-only pages every 700 ms stays logged in, as on express-session', async () => {
    const backend = await openConnectMongo({ ttl: LIFETIME_S, touchAfter: 1 });
    opened.push(backend);
    const [stayed, bridged, legacy] = await Promise.all([
      browse(backend, 'express-session'),
      browse(backend, 'sessionkit (bridge)'),
      browse(backend, 'sessionkit (legacy)'),
    ]);
    const all = Array(5).fill('user: alice');
    expect(stayed, 'express-session').toEqual(all);
    expect({ bridged, legacy }).toEqual({ bridged: all, legacy: all });
  }, 30_000);
});
