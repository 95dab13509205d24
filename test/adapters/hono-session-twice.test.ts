/**
 * Why: an application that applies the session middleware at the root of a Hono app and again in a
 * sub-app mounted with `app.route('/api', api)` (served on its own elsewhere, or simply redundant)
 * depends on the second application being a no-op, as with express-session's `if (req.session)` and on
 * sessionkit's other adapters: what a middleware between the two writes to the session (a visit counter,
 * a "remember me" login) must reach the handler and the store.
 */
import { Hono, type MiddlewareHandler } from 'hono';
import { describe, expect, it } from 'vitest';
import { session as honoSession, type SessionEnv } from '../../src/adapters/hono.js';
import { currentUserId, login, MemoryStore } from '../../src/index.js';

const options = () => ({
  secret: 'hono-twice-secret-0123456789abcdefghijkl',
  store: new MemoryStore(),
  resave: false,
  saveUninitialized: false,
  logger: { warn() {}, error() {} },
});
type Data = { visits?: number };

/** The root app with `sess` at its root and again in the `/api` sub-app, `between` in between. */
function twice(between: MiddlewareHandler<SessionEnv<Data>>): Hono<SessionEnv<Data>> {
  const sess = honoSession<Data>(options());
  const app = new Hono<SessionEnv<Data>>();
  app.use(sess);
  app.use(between);
  const api = new Hono<SessionEnv<Data>>();
  api.use(sess);
  api.get('/ping', (c) =>
    c.text(`visits=${c.get('session').visits} user=${currentUserId(c.get('session'))}`),
  );
  app.route('/api', api);
  return app;
}

const cookieOf = (res: Response) => res.headers.getSetCookie()[0]?.split(';')[0] ?? '';

describe('Hono: the session middleware at the root and again in a sub-app', () => {
  it('keeps what a middleware between the two wrote, in the handler and in the store', async () => {
    const app = twice(async (c, next) => {
      const s = c.get('session');
      s.visits = (s.visits ?? 0) + 1;
      await next();
    });
    const first = await app.request('/api/ping');
    expect(await first.text()).toBe('visits=1 user=null');
    const second = await app.request('/api/ping', { headers: { cookie: cookieOf(first) } });
    expect(await second.text()).toBe('visits=2 user=null');
  });

  it('keeps a login made between the two', async () => {
    const app = twice(async (c, next) => {
      if (c.req.header('x-remember') === 'alice') await login(c.get('session'), 'alice');
      await next();
    });
    const first = await app.request('/api/ping', { headers: { 'x-remember': 'alice' } });
    expect(await first.text()).toBe('visits=undefined user=alice');
    const second = await app.request('/api/ping', { headers: { cookie: cookieOf(first) } });
    expect(await second.text()).toBe('visits=undefined user=alice');
  });
});
