/**
 * Why: applications answer through Hono's escape hatches (@hono/node-server, real HTTP, asynchronous store,
 * a new session each time); the change must be stored and its cookie sent beside the application's own Set-Cookie values for a raw Response (Headers
 * with two Set-Cookie, or a record), c.header(…, { append: true }), c.redirect, Response.redirect
 * (immutable headers), a thrown error answered by app.onError (which changes the session too),
 * app.notFound, c.body(ReadableStream), stream(), streamSSE(), and HEAD.
 */
import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import { Hono } from 'hono';
import { stream, streamSSE } from 'hono/streaming';
import { expect, it } from 'vitest';
import { type SessionEnv, session } from '../../src/adapters/hono.js';
import { SlowMemoryStore } from '../support/slow-store.js';

it('Hono escape hatches keep the session and the application cookies', async () => {
  const app = new Hono<SessionEnv>();
  app.use(
    session({
      secret: 'hono-holds-secret-of-at-least-32-characters',
      store: new SlowMemoryStore(10),
      resave: false,
      saveUninitialized: false,
    }),
  );
  const mark = (c: { get(k: 'session'): Record<string, unknown> }, v: string) => {
    c.get('session').user = v;
  };
  app.onError((_e, c) => {
    c.get('session').flash = 'onError';
    return c.text('err', 500);
  });
  app.notFound((c) => {
    mark(c, 'nf');
    return c.text('nf', 404);
  });
  app.get('/raw', (c) => {
    mark(c, 'raw');
    const h = new Headers();
    h.append('set-cookie', 'a=1; Path=/');
    h.append('set-cookie', 'b=2; Path=/');
    return new Response('r', { headers: h });
  });
  app.get('/rawrec', (c) => {
    mark(c, 'rawrec');
    return new Response('r', { headers: { 'set-cookie': 'a=1; Path=/' } });
  });
  app.get('/hdr', (c) => {
    mark(c, 'hdr');
    c.header('Set-Cookie', 'a=1; Path=/', { append: true });
    c.header('Set-Cookie', 'b=2; Path=/', { append: true });
    return c.text('h');
  });
  app.get('/redir', (c) => {
    mark(c, 'redir');
    return c.redirect('/home');
  });
  app.get('/resredir', (c) => {
    mark(c, 'resredir');
    return Response.redirect('http://example.test/home', 302);
  });
  app.get('/throw', (c) => {
    mark(c, 'throw');
    throw new Error('x');
  });
  app.get('/body', (c) => {
    mark(c, 'body');
    return c.body(
      new ReadableStream({
        start(ctl) {
          ctl.enqueue(new TextEncoder().encode('hi'));
          ctl.close();
        },
      }),
    );
  });
  app.get('/sse', (c) => {
    mark(c, 'sse');
    return streamSSE(c, async (s) => s.writeSSE({ data: 'a' }));
  });
  app.get('/stream', (c) => {
    mark(c, 'stream');
    return stream(c, async (s) => {
      await s.write('a');
    });
  });
  app.get('/read', (c) =>
    c.json({ user: c.get('session').user ?? null, flash: c.get('session').flash ?? null }),
  );
  const server = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' });
  await new Promise<void>((resolve) => server.once('listening', () => resolve()));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  try {
    const expected: Array<[string, string, number, string[], { user: string; flash: string | null }]> = [
      ['/raw', 'GET', 200, ['a=1', 'b=2'], { user: 'raw', flash: null }],
      ['/rawrec', 'GET', 200, ['a=1'], { user: 'rawrec', flash: null }],
      ['/rawrec', 'HEAD', 200, ['a=1'], { user: 'rawrec', flash: null }],
      ['/hdr', 'GET', 200, ['a=1', 'b=2'], { user: 'hdr', flash: null }],
      ['/redir', 'GET', 302, [], { user: 'redir', flash: null }],
      ['/resredir', 'GET', 302, [], { user: 'resredir', flash: null }],
      ['/throw', 'GET', 500, [], { user: 'throw', flash: 'onError' }],
      ['/nope', 'GET', 404, [], { user: 'nf', flash: null }],
      ['/body', 'GET', 200, [], { user: 'body', flash: null }],
      ['/sse', 'GET', 200, [], { user: 'sse', flash: null }],
      ['/stream', 'GET', 200, [], { user: 'stream', flash: null }],
    ];
    for (const [path, method, status, own, read] of expected) {
      const r = await fetch(base + path, { method, redirect: 'manual' });
      await r.text();
      const cookies = r.headers.getSetCookie().map((v) => v.split(';')[0] as string);
      const sid = cookies.find((v) => v.startsWith('connect.sid='));
      expect({
        path,
        method,
        status: r.status,
        own: cookies.filter((v) => v !== sid),
        hasSession: !!sid,
      }).toEqual({
        path,
        method,
        status,
        own,
        hasSession: true,
      });
      expect(await (await fetch(`${base}/read`, { headers: { cookie: sid as string } })).json()).toEqual(
        read,
      );
    }
  } finally {
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
});
