/**
 * Why: a SvelteKit `+server` endpoint that streams (Server-Sent Events through a `ReadableStream`) and
 * records progress in the session while it streams, e.g. the last event id delivered so a reconnect
 * resumes there. The hook commits before the body is read; what changes while it streams is stored when
 * the stream ends, as sessionkit's Express adapter stores a change made after the first byte at `end()`
 * (run side by side on the same kind of store), not silently dropped.
 */
import express from 'express';
import request from 'supertest';
import { describe, expect, it } from 'vitest';
import { sessionHandle } from '../../src/adapters/sveltekit.js';
import { session as expressSession } from '../../src/index.js';
import { SlowMemoryStore } from '../support/slow-store.js';
import { serveSvelteKit } from '../support/sveltekit.js';

const options = {
  secret: 'sveltekit-stream-secret-of-at-least-32-chars',
  resave: false,
  saveUninitialized: false,
} as const;
const tick = () => new Promise((resolve) => setTimeout(resolve, 5));

describe('a session change made while the response streams', () => {
  it('sessionkit on Express: stored when the stream ends (the reference)', async () => {
    const app = express();
    app.use(expressSession({ ...options, store: new SlowMemoryStore(10) }));
    app.get('/start', (req, res) => {
      (req.session as unknown as Record<string, unknown>).lastEventId = 0;
      res.send('ok');
    });
    app.get('/events', async (req, res) => {
      res.setHeader('content-type', 'text/event-stream');
      for (let id = 1; id <= 3; id++) {
        res.write(`id: ${id}\ndata: event ${id}\n\n`);
        (req.session as unknown as Record<string, unknown>).lastEventId = id;
        await tick();
      }
      res.end();
    });
    app.get('/read', (req, res) =>
      res.json({ lastEventId: (req.session as unknown as Record<string, unknown>).lastEventId ?? null }),
    );
    const agent = request.agent(app);
    await agent.get('/start');
    expect((await agent.get('/events')).text).toContain('event 3');
    expect((await agent.get('/read')).body).toEqual({ lastEventId: 3 });
  });

  it('sessionkit on SvelteKit: stored when the stream ends, not silently dropped', async () => {
    const handle = sessionHandle({ ...options, store: new SlowMemoryStore(10) });
    const started = await serveSvelteKit(handle, new Request('http://localhost/start'), (event) => {
      event.locals.session.lastEventId = 0;
      return new Response('ok');
    });
    const cookie = (started.headers.getSetCookie()[0] as string).split(';')[0] as string;
    const events = await serveSvelteKit(
      handle,
      new Request('http://localhost/events', { headers: { cookie } }),
      (event) => {
        let id = 0;
        const encoder = new TextEncoder();
        return new Response(
          new ReadableStream({
            async pull(controller) {
              id += 1;
              controller.enqueue(encoder.encode(`id: ${id}\ndata: event ${id}\n\n`));
              event.locals.session.lastEventId = id;
              await tick();
              if (id === 3) controller.close();
            },
          }),
          { headers: { 'content-type': 'text/event-stream' } },
        );
      },
    );
    expect(await events.text()).toContain('event 3');
    await new Promise((resolve) => setTimeout(resolve, 60));
    const read = await serveSvelteKit(
      handle,
      new Request('http://localhost/read', { headers: { cookie } }),
      (event) => Response.json({ lastEventId: event.locals.session.lastEventId ?? null }),
    );
    expect(await read.json()).toEqual({ lastEventId: 3 });
  });
});
