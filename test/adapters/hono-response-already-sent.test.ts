/**
 * Why: @hono/node-server documents answering through the Node response itself
 * (`c.env.outgoing.writeHead(…)`/`end(…)`, then `return RESPONSE_ALREADY_SENT`). That constant is one
 * `Response` shared by every request of the process: a session cookie appended to it would keep every
 * visitor's credential in a global object that grows for the life of the process. A response already sent
 * takes nothing; as on Koa's `ctx.respond = false` (run beside it), a new session no cookie names is not
 * stored, while a change to a session the browser holds is. A response written after the handler
 * returns still takes the cookie.
 */
import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import { RESPONSE_ALREADY_SENT } from '@hono/node-server/utils/response';
import { Hono } from 'hono';
import Koa from 'koa';
import request from 'supertest';
import { afterEach, describe, expect, it } from 'vitest';
import { session as honoSession, type SessionEnv } from '../../src/adapters/hono.js';
import { session as koaSession } from '../../src/adapters/koa.js';
import { SlowMemoryStore } from '../support/slow-store.js';

const options = {
  secret: 'hono-already-sent-secret-of-at-least-32-chars',
  resave: false,
  saveUninitialized: false,
} as const;

type Outgoing = { writeHead(status: number, headers: Record<string, string>): void; end(body: string): void };

const closers: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const close of closers.splice(0)) await close();
});

/** Serves `app` on @hono/node-server, closed after the test; its base URL. */
async function listen(app: Hono<SessionEnv>): Promise<string> {
  const server = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' });
  await new Promise<void>((resolve) => server.once('listening', () => resolve()));
  closers.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

async function honoServer(store: SlowMemoryStore): Promise<string> {
  const app = new Hono<SessionEnv>();
  app.use(honoSession({ ...options, store }));
  app.get('/raw', (c) => {
    c.get('session').user = 'alice';
    const outgoing = (c.env as { outgoing: Outgoing }).outgoing;
    outgoing.writeHead(200, { 'content-type': 'text/plain' });
    outgoing.end('written by hand');
    return RESPONSE_ALREADY_SENT;
  });
  return listen(app);
}

async function heldSessionServer(store: SlowMemoryStore): Promise<string> {
  const app = new Hono<SessionEnv>();
  app.use(honoSession({ ...options, store }));
  app.get('/start', (c) => {
    c.get('session').user = 'alice';
    return c.text('ok');
  });
  app.get('/raw', (c) => {
    const s = c.get('session');
    s.visits = ((s.visits as number | undefined) ?? 0) + 1;
    const outgoing = (c.env as { outgoing: Outgoing }).outgoing;
    outgoing.writeHead(200, { 'content-type': 'text/plain' });
    outgoing.end('written by hand');
    return RESPONSE_ALREADY_SENT;
  });
  return listen(app);
}

const settle = () => new Promise((resolve) => setTimeout(resolve, 100));

describe('Hono (@hono/node-server): a response written by hand, returned as RESPONSE_ALREADY_SENT', () => {
  it("leaves no session cookie in @hono/node-server's shared RESPONSE_ALREADY_SENT constant", async () => {
    const before = RESPONSE_ALREADY_SENT.headers.getSetCookie().length;
    const base = await honoServer(new SlowMemoryStore(10));
    for (let i = 0; i < 3; i++) {
      const res = await fetch(`${base}/raw`);
      expect(await res.text()).toBe('written by hand');
      expect(res.headers.getSetCookie()).toEqual([]);
    }
    await settle();
    // A cookie here would be a working credential kept in one object shared by every request.
    expect(RESPONSE_ALREADY_SENT.headers.getSetCookie().slice(before)).toEqual([]);
  });

  it('stores no new session for a response that carried no cookie, as the Koa adapter with ctx.respond = false', async () => {
    // Reference: sessionkit's Koa adapter, the same escape hatch.
    const koaStore = new SlowMemoryStore(10);
    const koa = new Koa();
    koa.use(koaSession({ ...options, store: koaStore }));
    koa.use(async (ctx) => {
      (ctx.session as unknown as Record<string, unknown>).user = 'alice';
      ctx.respond = false;
      ctx.res.writeHead(200, { 'content-type': 'text/plain' });
      ctx.res.end('written by hand');
    });
    const honoStore = new SlowMemoryStore(10);
    const base = await honoServer(honoStore);
    for (let i = 0; i < 3; i++) {
      const k = await request(koa.callback()).get('/raw');
      expect(k.headers['set-cookie']).toBeUndefined();
      const h = await fetch(`${base}/raw`);
      await h.text();
      expect(h.headers.getSetCookie()).toEqual([]);
    }
    await settle();
    const koaRecords = Object.keys(await koaStore.all()).length;
    const honoRecords = Object.keys(await honoStore.all()).length;
    expect(koaRecords).toBe(0);
    expect(honoRecords).toBe(koaRecords);
  });

  it('stores a change to a session the browser holds', async () => {
    const store = new SlowMemoryStore(10);
    const base = await heldSessionServer(store);
    const cookie = ((await fetch(`${base}/start`)).headers.getSetCookie()[0] as string).split(
      ';',
    )[0] as string;
    for (let i = 0; i < 2; i++) {
      const res = await fetch(`${base}/raw`, { headers: { cookie } });
      expect(await res.text()).toBe('written by hand');
    }
    await settle();
    const records = Object.values(await store.all()) as Array<Record<string, unknown>>;
    expect(records.map((r) => r.visits)).toEqual([2]);
  });
});
