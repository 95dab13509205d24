import { RedisStore as ConnectRedisStore } from 'connect-redis';
import express from 'express';
import { createClient } from 'redis';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import session, { currentUserId, login as sessionLogin } from '../../src/index.js';
import { cookieOf, idOf } from '../support/apps.js';
import { deletePrefixed } from '../support/redis.js';
import { runNamespace, serviceSkipReason } from '../support/services.js';

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const skip = await serviceSkipReason('Redis', async () => {
  const client = createClient({ url: REDIS_URL, socket: { reconnectStrategy: false, connectTimeout: 2000 } });
  await client.connect();
  await client.ping();
  await client.quit();
});

describe.skipIf(skip)('a third-party express-session store (connect-redis 9) inside sessionkit', () => {
  const client = createClient({ url: REDIS_URL });
  const prefix = `${runNamespace('bridge')}:`;
  beforeAll(async () => {
    await client.connect();
  });
  afterAll(async () => {
    await deletePrefixed(client, prefix);
    await client.quit();
  });

  it('serves the view counter, login rotation and destroy through the callback bridge', async () => {
    const store = new ConnectRedisStore({ client, prefix });
    const app = express();
    app.use(
      session({
        secret: 'bridge-secret-0123456789abcdef012345',
        resave: false,
        saveUninitialized: false,
        store,
      }),
    );
    app.get('/', (req, res) => {
      req.session.views = ((req.session.views as number) ?? 0) + 1;
      res.send(`views: ${req.session.views}`);
    });
    app.get('/login', async (req, res) => {
      await sessionLogin(req.session, 'u1');
      res.send(String(currentUserId(req.session)));
    });
    app.get('/logout', (req, res) => req.session.destroy(() => res.send('bye')));
    const first = await request(app).get('/').expect(200, 'views: 1');
    await request(app).get('/').set('Cookie', cookieOf(first)).expect(200, 'views: 2');
    const raw = JSON.parse((await client.get(`${prefix}${idOf(cookieOf(first))}`)) as string);
    expect(raw).toMatchObject({ views: 2, cookie: { path: '/' } });
    const login = await request(app).get('/login').set('Cookie', cookieOf(first)).expect(200, 'u1');
    expect(await client.get(`${prefix}${idOf(cookieOf(first))}`)).toBeNull();
    await request(app).get('/').set('Cookie', cookieOf(login)).expect(200, 'views: 3');
    await request(app).get('/logout').set('Cookie', cookieOf(login)).expect(200, 'bye');
    expect(await client.get(`${prefix}${idOf(cookieOf(login))}`)).toBeNull();
  });
});
