/**
 * Why: an application may run several session middlewares in one process, as express-session allows:
 * one for `/admin` with its own cookie name, secret and Path, one for the site (mounted twice by
 * mistake), or the Fastify plugin in two sibling encapsulated contexts. It depends on each keeping its own
 * session, on a cookie of one renamed to the other's name loading nothing, and on a second mount being a
 * no-op (Fastify refuses two in one context at register).
 */
import express from 'express';
import Fastify from 'fastify';
import { describe, expect, it } from 'vitest';
import { session as fastifySession } from '../../src/adapters/fastify.js';
import session, { MemoryStore } from '../../src/index.js';
import { listenOnLoopback } from '../support/apps.js';

const A = 'holds-secret-a-0123456789abcdefghijklmnop';
const B = 'holds-secret-b-0123456789abcdefghijklmnop';
const quiet = { logger: { warn() {}, error() {} } };
const options = (name: string, secret: string) => ({
  name,
  secret,
  store: new MemoryStore(),
  resave: false,
  saveUninitialized: false,
  ...quiet,
});

async function get(url: string, cookie?: string) {
  const r = await fetch(url, { headers: cookie ? { cookie } : {} });
  return { body: await r.text(), cookies: r.headers.getSetCookie().map((c) => c.split(';')[0] as string) };
}

describe('several session middlewares in one process', () => {
  it('Express: /admin and the site keep separate sessions; a cookie renamed to the other name loads nothing', async () => {
    const app = express();
    app.use(
      '/admin',
      session({ ...options('adm', A), cookie: { path: '/admin' } }) as unknown as express.Handler,
    );
    const site = session(options('pub', B)) as unknown as express.Handler;
    app.use(site);
    app.use(site); // twice by mistake: a no-op
    const who = (req: express.Request) => req.session as unknown as Record<string, unknown>;
    app.get('/admin/set', (req, res) => {
      who(req).role = 'admin';
      res.send('ok');
    });
    app.get('/set', (req, res) => {
      who(req).pub = 'p';
      res.send('ok');
    });
    app.get(['/admin/get', '/get'], (req, res) => res.send(`${who(req).role}/${who(req).pub}`));
    const server = await listenOnLoopback(app);
    try {
      const adm = (await get(`${server.url}/admin/set`)).cookies;
      const pub = (await get(`${server.url}/set`)).cookies;
      expect([adm.length, pub.length]).toEqual([1, 1]);
      const both = `${adm[0]}; ${pub[0]}`;
      expect((await get(`${server.url}/admin/get`, both)).body).toBe('admin/undefined');
      expect((await get(`${server.url}/get`, both)).body).toBe('undefined/p');
      const forged = `pub=${(adm[0] as string).slice('adm='.length)}`;
      expect((await get(`${server.url}/get`, forged)).body).toBe('undefined/undefined');
    } finally {
      await server.close();
    }
  });

  it('Fastify: two sibling encapsulated contexts keep two sessions; two in one context are refused at register', async () => {
    const app = Fastify();
    for (const [prefix, name, secret] of [
      ['/a', 'a', A],
      ['/b', 'b', B],
    ] as const)
      await app.register(
        async (f) => {
          await f.register(fastifySession, options(name, secret));
          f.get('/set', async (req) => {
            (req.session as unknown as Record<string, unknown>).who = name;
            return 'ok';
          });
          f.get('/get', async (req) => `who=${(req.session as unknown as Record<string, unknown>).who}`);
        },
        { prefix },
      );
    await app.ready();
    const a = await app.inject({ url: '/a/set' });
    const b = await app.inject({ url: '/b/set' });
    const cookie = [a, b].map((r) => String(r.headers['set-cookie']).split(';')[0]).join('; ');
    expect((await app.inject({ url: '/a/get', headers: { cookie } })).body).toBe('who=a');
    expect((await app.inject({ url: '/b/get', headers: { cookie } })).body).toBe('who=b');
    await app.close();
    const twice = Fastify();
    await expect(
      (async () => {
        await twice.register(fastifySession, options('a', A));
        await twice.register(fastifySession, options('b', B));
        await twice.ready();
      })(),
    ).rejects.toThrow(/already been added/);
    await twice.close().catch(() => undefined);
  });
});
