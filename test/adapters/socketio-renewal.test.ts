/**
 * socket.io and ID renewal (`renewAfter`): a WebSocket lives for hours, and its `socket.request.session`
 * keeps the ID it had at the handshake while the browser's HTTP requests renew the session, more than
 * once. A handler's `save()` must reach the session the browser holds: requests that loaded the session
 * before a move write into the renewed record (docs/security-features.md, "ID renewal"), past every
 * marker a renewal left, not into a marker that is then dropped.
 */
import type { IncomingMessage } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import express from 'express';
import { describe, expect, it } from 'vitest';
import session, { currentUserId, login, MemoryStore, type SessionOptions } from '../../src/index.js';
import { SlowMemoryStore } from '../support/slow-store.js';
import { connected, type EngineMiddleware, socketRig } from '../support/socketio-harness.js';

const secret = 'a-long-enough-secret-for-the-socket-renewal-tests';
const RENEW_AFTER = 400;

type Sess = Record<string, unknown> & { save(done: (err?: unknown) => void): void };

async function rig(store: MemoryStore) {
  const middleware = session({
    secret,
    store,
    resave: false,
    saveUninitialized: false,
    renewAfter: RENEW_AFTER,
    renewGrace: 5_000,
  } as SessionOptions);
  const app = express();
  app.use(middleware);
  app.get('/login', async (req, res) => {
    await login(middleware.get(req), 'alice');
    res.send('in');
  });
  app.get('/me', (req, res) => {
    const s = req.session as unknown as Sess;
    res.json({ user: currentUserId(middleware.get(req)) ?? null, count: s.count ?? null });
  });
  const r = await socketRig(app, middleware as unknown as EngineMiddleware);
  r.io.on('connection', (socket) => {
    const req = socket.request as IncomingMessage & { session?: Sess };
    socket.on('inc', (ack: (a: unknown) => void) => {
      const s = req.session as Sess;
      s.count = ((s.count as number | undefined) ?? 0) + 1;
      s.save((err) => ack(err ? { error: String((err as { code?: string }).code) } : { count: s.count }));
    });
  });
  return r;
}

async function get(url: string, cookie?: string) {
  const res = await fetch(url, { headers: cookie ? { cookie } : {} });
  const set = res.headers.getSetCookie()[0];
  return {
    body: (await res.json().catch(() => null)) as Record<string, unknown> | null,
    cookie: set?.split(';')[0],
  };
}

describe('a socket handler save() across two ID renewals', () => {
  it.each([
    ['MemoryStore', () => new MemoryStore()],
    ['a slow store', () => new SlowMemoryStore(5)],
  ])('%s: the change reaches the session the browser holds (not silently dropped)', async (_name, make) => {
    const r = await rig(make());
    try {
      const login = await fetch(`${r.url}/login`);
      let cookie = login.headers.getSetCookie()[0]?.split(';')[0] as string;
      expect(cookie).toBeTruthy();
      const socket = r.client({ transports: ['websocket'], extraHeaders: { cookie } });
      await connected(socket);
      // Two renewals over HTTP while the socket stays connected (a normal day with renewAfter = 1 h).
      for (let i = 0; i < 2; i++) {
        await sleep(RENEW_AFTER + 100);
        const me = await get(`${r.url}/me`, cookie);
        expect(me.body).toMatchObject({ user: 'alice' });
        expect(me.cookie, `renewal ${i + 1} sets a new cookie`).toBeTruthy();
        cookie = me.cookie as string;
      }
      // The socket handler saves: the ack says it worked...
      const ack = await socket.timeout(2_000).emitWithAck('inc');
      expect(ack).toEqual({ count: 1 });
      // ...so the browser's session must hold it. HARM: the ack says saved, the update is silently lost.
      const after = await get(`${r.url}/me`, cookie);
      expect(after.body).toEqual({ user: 'alice', count: 1 });
    } finally {
      await r.close();
    }
  });
});
