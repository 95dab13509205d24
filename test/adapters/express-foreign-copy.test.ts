/**
 * Why: an Express app with `session()` may hand requests to an app built on another copy of Express (an
 * Express 4 admin app kept during the move to 5, a library's own `express()`), reached through a
 * function as `vhost()` reaches it rather than mounted with `app.use(path, subApp)`. That app's init
 * swaps the response to its own copy's prototype chain; the application depends on the login it makes
 * there being stored before its redirect goes out and on the cookie going with it, as express-session
 * does, whatever else the process ran before.
 */
import express5 from 'express';
import express4 from 'express4';
import { afterEach, describe, expect, it } from 'vitest';
import session, { MemoryStore } from '../../src/index.js';
import { listenOnLoopback } from '../support/apps.js';
import { SlowMemoryStore } from '../support/slow-store.js';

type Handler = (req: unknown, res: unknown, next: (error?: unknown) => void) => void;
type AnyApp = {
  use(handler: Handler): unknown;
  get(path: string, handler: (req: { session: Record<string, unknown> }, res: AnyResponse) => void): unknown;
  listen: Parameters<typeof listenOnLoopback>[0]['listen'];
};
type AnyResponse = { redirect(url: string): void; send(body: string): void };

const closers: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const close of closers.splice(0)) await close();
});

const copies = {
  'Express 5': () => express5() as unknown as AnyApp,
  'Express 4': () => express4() as unknown as AnyApp,
};

const cases = [
  ['Express 5', 'Express 4'],
  ['Express 4', 'Express 5'],
] as const;

describe('a session opened on one copy of Express, answered by an app of another, reached through a function', () => {
  for (const [outer, inner] of cases)
    for (const [storeName, makeStore] of [
      ['in-process store', () => new MemoryStore()],
      ['store answering later', () => new SlowMemoryStore(5)],
    ] as const)
      it(`${outer} app, ${inner} sub-app, ${storeName}: the login is stored and its cookie sent with the redirect`, async () => {
        const store = makeStore();
        const app = copies[outer]();
        app.use(
          session({
            secret: 'foreign-copy-secret-0123456789abcdefghij',
            store,
            resave: false,
            saveUninitialized: false,
          }) as unknown as Handler,
        );
        const admin = copies[inner]();
        admin.get('/login', (req, res) => {
          req.session.user = 'alice';
          res.redirect('/me');
        });
        admin.get('/me', (req, res) => res.send(`user=${req.session.user}`));
        app.use((req, res, next) => (admin as unknown as Handler)(req, res, next));
        const server = await listenOnLoopback(app);
        closers.push(server.close);
        const login = await fetch(`${server.url}/login`, { redirect: 'manual' });
        expect(login.status).toBe(302);
        const cookies = login.headers.getSetCookie();
        expect(cookies).toHaveLength(1);
        expect(await store.length()).toBe(1);
        const me = await fetch(`${server.url}/me`, {
          headers: { cookie: (cookies[0] as string).split(';')[0] as string },
        });
        expect(await me.text()).toBe('user=alice');
      });
});
