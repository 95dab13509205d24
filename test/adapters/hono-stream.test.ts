import { Hono } from 'hono';
import { streamSSE } from 'hono/streaming';
import { describe, expect, it } from 'vitest';
import { type SessionEnv, session } from '../../src/adapters/hono.js';
import { SlowMemoryStore } from '../support/slow-store.js';

/**
 * Hono's middleware stores the session once, when the handler has returned its Response; a streaming
 * response's callback runs after that. What it changes is stored by a `save()` in the callback, as
 * docs/frameworks.md says (an SSE endpoint recording the last event it delivered).
 */
const options = {
  secret: 'hono-stream-secret-of-at-least-32-characters',
  resave: false,
  saveUninitialized: false,
} as const;

describe('Hono: a streaming response that changes the session the browser holds', () => {
  it('stores each change its save() makes, by the time the stream has ended', async () => {
    const store = new SlowMemoryStore(10);
    const app = new Hono<SessionEnv>();
    app.use(session({ ...options, store }));
    app.get('/start', (c) => {
      c.get('session').lastEventId = 0;
      return c.text('ok');
    });
    app.get('/events', (c) => {
      const s = c.get('session');
      return streamSSE(c, async (out) => {
        for (let id = 1; id <= 3; id++) {
          await out.writeSSE({ id: String(id), data: `event ${id}` });
          s.lastEventId = id;
          await s.save();
        }
      });
    });
    app.get('/read', (c) => c.json({ lastEventId: c.get('session').lastEventId ?? null }));

    const started = await app.request('/start');
    const cookie = (started.headers.getSetCookie()[0] as string).split(';')[0] as string;
    const events = await app.request('/events', { headers: { cookie } });
    expect(await events.text()).toContain('event 3');
    const read = await app.request('/read', { headers: { cookie } });
    expect(await read.json()).toEqual({ lastEventId: 3 });
  });
});
