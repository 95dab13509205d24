/**
 * Why: an express-session store may fail with something that is not an Error (`throw 'str'`,
 * `cb({ message })`, `cb('ECONNRESET')`: common in old callback stores). Hono hands only Errors to
 * `app.onError` and rethrows anything else out of `app.fetch`, so the application's error handler (its
 * logging, its error page) depends on the adapter passing such a failure on as an Error: a 500, as on
 * Express, Fastify, Koa, Next.js and SvelteKit.
 */
import { Hono } from 'hono';
import { describe, expect, it } from 'vitest';
import { type SessionEnv, session } from '../../src/adapters/hono.js';
import { MisbehavingStore } from '../support/misbehaving-store.js';

const secret = 'hono-non-error-secret-0123456789abcdef';

type Break = (store: MisbehavingStore) => void;
const failures: [string, Break][] = [
  [
    'get throws a string',
    (s) => {
      s.get = () => {
        throw 'str';
      };
    },
  ],
  [
    'get calls back with a plain object',
    (s) => {
      s.get = (_id, cb) => setImmediate(() => cb({ message: 'obj' }));
    },
  ],
  [
    'set calls back with a string',
    (s) => {
      s.set = (_id, _sess, cb) => setImmediate(() => cb?.('set failed'));
    },
  ],
];

describe('Hono: a store failing with a non-Error value', () => {
  it.each(failures)('%s reaches app.onError as a 500', async (_, breakIt) => {
    const store = new MisbehavingStore();
    const app = new Hono<SessionEnv<{ views: number }>>();
    app.use(session({ secret, store: store as never, resave: false, saveUninitialized: false }));
    app.get('/', (c) => {
      const s = c.get('session');
      s.views = (s.views ?? 0) + 1;
      return c.text(String(s.views));
    });
    const seen: unknown[] = [];
    app.onError((error, c) => {
      seen.push(error);
      return c.text('handled', 500);
    });
    const first = await app.request('/');
    const cookie = (first.headers.getSetCookie()[0] as string).split(';')[0] as string;
    breakIt(store);
    const outcome = await Promise.resolve(app.request('/', { headers: { cookie } })).then(
      async (response: Response) => ({ status: response.status, body: await response.text() }),
      (thrown: unknown) => ({ rejected: String(thrown) }),
    );
    expect(outcome).toEqual({ status: 500, body: 'handled' });
    expect(seen).toHaveLength(1);
  });
});
