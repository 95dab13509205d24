/**
 * The README's migration paths, each driven as a migrating user would over HTTP, on real Redis with
 * connect-redis (the anchor store): nobody is logged out, nobody loses their user binding, and nothing
 * sessionkit keeps inside an express-session record ever shows as session data.
 */
import { RedisStore as ConnectRedisStore } from 'connect-redis';
import type { RequestHandler } from 'express';
import expressSession from 'express-session';
import { createClient } from 'redis';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { storageKey } from '../../src/core/id.js';
import session, { currentUserId, login } from '../../src/index.js';
import { RedisStore } from '../../src/stores/redis.js';
import { cookieOf, expressVersions, idOf } from '../support/apps.js';
import { runNamespace, serviceSkipReason } from '../support/services.js';

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const secret = 'migration-secret-0123456789abcdefghijk';

const skip = await serviceSkipReason(`Redis at ${REDIS_URL}`, async () => {
  const probe = createClient({ url: REDIS_URL, socket: { reconnectStrategy: false, connectTimeout: 1000 } });
  probe.on('error', () => undefined);
  await probe.connect();
  await probe.ping();
  await probe.close();
});

type Client = ReturnType<typeof createClient>;

describe.skipIf(skip).each(expressVersions)('migrating with connect-redis, on $name', ({ create }) => {
  let client: Client;
  const legacyPrefix = `${runNamespace('mig_sess')}:`;
  const prefix = `${runNamespace('mig_sk')}:`;
  let connectRedis: InstanceType<typeof ConnectRedisStore>;
  let native: RedisStore;

  beforeAll(async () => {
    client = createClient({ url: REDIS_URL });
    client.on('error', () => undefined);
    await client.connect();
    connectRedis = new ConnectRedisStore({ client, prefix: legacyPrefix });
    native = new RedisStore({ client, prefix, legacy: 'connect-redis', legacyPrefix });
  });
  afterAll(async () => {
    await native.clear();
    for await (const keys of client.scanIterator({ MATCH: `${legacyPrefix}*` }))
      if (keys.length > 0) await client.del(keys);
    await client.close();
  });

  /** An app on sessionkit or express-session, with login (sessionkit) or a user key (express-session). */
  function app(kind: 'sessionkit' | 'express-session', store: unknown) {
    const a = create();
    const options = { secret, resave: false, saveUninitialized: false, store: store as never };
    a.use(
      kind === 'sessionkit'
        ? (session(options) as unknown as RequestHandler)
        : (expressSession(options) as RequestHandler),
    );
    a.get('/login', async (req, res) => {
      const s = req.session as unknown as Record<string, unknown>;
      if (kind === 'sessionkit') await login(req.session as never, String(req.query.user ?? 'u1'));
      else s.userId = 'u1';
      (req.session as unknown as Record<string, number>).views = 1;
      res.send('in');
    });
    a.get('/view', (req, res) => {
      const s = req.session as unknown as Record<string, number>;
      s.views = (s.views ?? 0) + 1;
      res.json({
        views: s.views,
        user:
          kind === 'sessionkit'
            ? currentUserId(req.session as never)
            : (s as unknown as { userId?: string }).userId,
        keys: Object.keys(req.session as object).sort(),
      });
    });
    return a;
  }

  it('express-session + connect-redis → sessionkit with legacy: the session and its data load', async () => {
    const cookie = cookieOf(await request(app('express-session', connectRedis)).get('/login').expect(200));
    const res = await request(app('sessionkit', native)).get('/view').set('Cookie', cookie).expect(200);
    expect(res.body).toEqual({ views: 2, user: null, keys: ['cookie', 'userId', 'views'] });
    // The application's own user key came along; the session moved to the native layout on that write.
    expect(await client.exists(`${legacyPrefix}${idOf(cookie)}`)).toBe(0);
  });

  it('a record in the old layout without a cookie is no session: a fresh one, the record reported as corrupt', async () => {
    const cookie = cookieOf(await request(app('express-session', connectRedis)).get('/login').expect(200));
    await client.set(`${legacyPrefix}${idOf(cookie)}`, JSON.stringify({ userId: 'u1', views: 5 }));
    const reported: Array<{ code?: string }> = [];
    const middleware = session({ secret, resave: false, saveUninitialized: false, store: native });
    middleware.manager.on('error', (error: { code?: string }) => reported.push(error));
    const a = create();
    a.use(middleware);
    a.get('/view', (req, res) => res.json({ keys: Object.keys(req.session).sort() }));
    const res = await request(a).get('/view').set('Cookie', cookie).expect(200);
    expect(res.body).toEqual({ keys: ['cookie'] });
    expect(reported.map((error) => error.code)).toEqual(['ERR_SESSION_CORRUPT']);
  });

  it('sessionkit + connect-redis → sessionkit with legacy: still logged in as u1, revocable, no meta as data', async () => {
    const cookie = cookieOf(await request(app('sessionkit', connectRedis)).get('/login').expect(200, 'in'));
    const res = await request(app('sessionkit', native)).get('/view').set('Cookie', cookie).expect(200);
    expect(res.body).toEqual({ views: 2, user: 'u1', keys: ['cookie', 'views'] });
    const hash = await client.hGetAll(`${prefix}s:{${storageKey(idOf(cookie))}}`);
    expect(
      Object.keys(hash)
        .filter((field) => field.startsWith('d:'))
        .sort(),
      // No meta field as data; the login's authentication time moves with it under its reserved key.
    ).toEqual(['d:sessionkit:authTime', 'd:views']);
    // "Log out everywhere" reaches the migrated session.
    expect((await native.listByUser('u1')).map((s) => s.handle)).toContain(storageKey(idOf(cookie)));
    expect(await native.destroyByUser('u1')).toBeGreaterThanOrEqual(1);
    const after = await request(app('sessionkit', native)).get('/view').set('Cookie', cookie).expect(200);
    expect(after.body.user).toBeNull();
  });

  it('log out everywhere ends sessions still in the old layout before any write, but the one kept', async () => {
    const user = `revoked-${idOf(cookieOf(await request(app('sessionkit', native)).get('/view'))).slice(0, 8)}`;
    const login = async () =>
      cookieOf(await request(app('sessionkit', connectRedis)).get(`/login?user=${user}`).expect(200, 'in'));
    const [read, written, kept] = [await login(), await login(), await login()];
    expect((await native.get(idOf(read)))?.userId).toBe(user);
    await native.destroyByUser(user, { except: idOf(kept) });
    // Read: gone, and its old-layout record removed.
    expect(await native.get(idOf(read))).toBeNull();
    expect(await client.exists(`${legacyPrefix}${idOf(read)}`)).toBe(0);
    // Written first (the move to the native layout): the write finds nothing to move.
    expect(await native.touch(idOf(written), Date.now() + 60_000, Date.now())).toBe(false);
    expect(await native.get(idOf(written))).toBeNull();
    // Over HTTP the revoked cookie gets a fresh, anonymous session; the kept one is still logged in.
    const res = await request(app('sessionkit', native)).get('/view').set('Cookie', read).expect(200);
    expect(res.body).toMatchObject({ views: 1, user: null });
    const still = await request(app('sessionkit', native)).get('/view').set('Cookie', kept).expect(200);
    expect(still.body).toMatchObject({ views: 2, user });
  });

  it('sessionkit native → express-session: the session loads with no internal field as data', async () => {
    const ours = app('sessionkit', native);
    const cookie = cookieOf(await request(ours).get('/login').expect(200));
    const theirs = await request(app('express-session', native))
      .get('/view')
      .set('Cookie', cookie)
      .expect(200);
    expect(theirs.body).toEqual({ views: 2, keys: ['cookie', 'views'] });
    // And back: express-session's whole-session write kept sessionkit's user binding.
    const back = await request(ours).get('/view').set('Cookie', cookie).expect(200);
    expect(back.body).toEqual({ views: 3, user: 'u1', keys: ['cookie', 'views'] });
  });
});
