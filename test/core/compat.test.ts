import { EventEmitter } from 'node:events';
import { inherits } from 'node:util';
import express from 'express';
import expressSession from 'express-session';
import request from 'supertest';
import { describe, expect, it } from 'vitest';
import session, { MemoryStore, Store } from '../../src/index.js';
import { cookieOf, idOf, jsonErrors, setCookies } from '../support/apps.js';

const secret = 'compat-tests-secret-0123456789abcdefgh';

function counter(app: express.Express) {
  app.get('/', (req, res) => {
    const sess = req.session as unknown as { views?: number };
    sess.views = (sess.views ?? 0) + 1;
    res.send(`views: ${sess.views}`);
  });
}

describe('switching from express-session', () => {
  it('keeps users logged in: an express-session cookie and store record load in sessionkit', async () => {
    const store = new expressSession.MemoryStore();
    const before = express();
    before.use(expressSession({ secret, resave: false, saveUninitialized: false, store }));
    counter(before);
    const first = await request(before).get('/').expect(200, 'views: 1');
    await request(before).get('/').set('Cookie', cookieOf(first)).expect(200, 'views: 2');

    const after = express();
    after.use(session({ secret, resave: false, saveUninitialized: false, store }));
    counter(after);
    await request(after).get('/').set('Cookie', cookieOf(first)).expect(200, 'views: 3');
    await request(after).get('/').set('Cookie', cookieOf(first)).expect(200, 'views: 4');
    // and back: express-session still reads what sessionkit wrote through its store
    await request(before).get('/').set('Cookie', cookieOf(first)).expect(200, 'views: 5');
  });

  it('exposes Store, MemoryStore, Session and Cookie on the function, as express-session does', () => {
    expect(typeof session).toBe('function');
    expect(session.Store).toBe(Store);
    expect(session.MemoryStore).toBe(MemoryStore);
    expect(typeof session.Session).toBe('function');
    expect(typeof session.Cookie).toBe('function');
  });
});

describe('third-party express-session stores', () => {
  /** An ES5 store built the way connect-redis 3 and friends are: `Store.call(this)` + util.inherits. */
  function makeLegacyStoreClass(base: typeof Store) {
    function LegacyStore(this: EventEmitter & { sessions: Map<string, string> }) {
      (base as unknown as (this: unknown) => void).call(this);
      this.sessions = new Map();
    }
    inherits(LegacyStore, base as unknown as new () => unknown);
    const proto = LegacyStore.prototype as Record<string, unknown>;
    proto.get = function (
      this: { sessions: Map<string, string> },
      sid: string,
      cb: (e: unknown, s?: unknown) => void,
    ) {
      const raw = this.sessions.get(sid);
      setImmediate(() => cb(null, raw ? JSON.parse(raw) : undefined));
    };
    proto.set = function (
      this: { sessions: Map<string, string> },
      sid: string,
      sess: unknown,
      cb: (e?: unknown) => void,
    ) {
      this.sessions.set(sid, JSON.stringify(sess));
      setImmediate(() => cb());
    };
    proto.destroy = function (
      this: { sessions: Map<string, string> },
      sid: string,
      cb: (e?: unknown) => void,
    ) {
      this.sessions.delete(sid);
      setImmediate(() => cb());
    };
    return LegacyStore as unknown as new () => EventEmitter & { sessions: Map<string, string>; get: unknown };
  }

  it('an ES5-style store inheriting session.Store plugs in through the callback bridge', async () => {
    const LegacyStore = makeLegacyStoreClass(session.Store);
    const store = new LegacyStore();
    expect(store).toBeInstanceOf(Store);
    expect(store).toBeInstanceOf(EventEmitter);
    const app = express();
    app.use(session({ secret, resave: false, saveUninitialized: false, store: store as never }));
    counter(app);
    const first = await request(app).get('/').expect(200, 'views: 1');
    await request(app).get('/').set('Cookie', cookieOf(first)).expect(200, 'views: 2');
    const raw = JSON.parse(store.sessions.get(idOf(cookieOf(first))) as string);
    expect(raw).toMatchObject({ views: 2, cookie: { path: '/', httpOnly: true } });
  });

  it('looks store methods up at call time, so an app can wrap them after session()', async () => {
    const store = new MemoryStore();
    const app = express();
    app.use(session({ secret, resave: false, saveUninitialized: false, store }));
    counter(app);
    const calls: string[] = [];
    const get = store.get;
    store.get = function (this: MemoryStore, ...args: Parameters<typeof get>) {
      calls.push('get');
      return get.apply(this, args);
    } as typeof get;
    const first = await request(app).get('/');
    await request(app).get('/').set('Cookie', cookieOf(first)).expect(200, 'views: 2');
    expect(calls).toEqual(['get']);
  });

  it('honours a store’s disconnect and connect events', async () => {
    const store = new MemoryStore();
    const app = express();
    app.use(session({ secret, resave: false, saveUninitialized: false, store }));
    counter(app);
    app.use(jsonErrors);
    const first = await request(app).get('/');
    store.emit('disconnect');
    const down = await request(app).get('/').set('Cookie', cookieOf(first)).expect(503);
    expect(down.body.code).toBe('ERR_STORE_UNAVAILABLE');
    store.emit('connect');
    await request(app).get('/').set('Cookie', cookieOf(first)).expect(200, 'views: 2');
  });

  it('a connect-style store factory receives the session function and subclasses session.Store', async () => {
    // The shape of `require('connect-redis')(session)` in connect-redis ≤3 and connect-mongo ≤3.
    const factory = (s: typeof session) => makeLegacyStoreClass(s.Store);
    const LegacyStore = factory(session);
    const app = express();
    app.use(session({ secret, resave: true, saveUninitialized: true, store: new LegacyStore() as never }));
    counter(app);
    const first = await request(app).get('/').expect(200, 'views: 1');
    await request(app).get('/').set('Cookie', cookieOf(first)).expect(200, 'views: 2');
  });
});

describe('Connect and node:http', () => {
  it('works as plain (req, res, next) middleware without Express', async () => {
    const { createServer } = await import('node:http');
    const middleware = session({ secret, resave: false, saveUninitialized: false });
    const server = createServer((req, res) => {
      middleware(req, res, (err) => {
        if (err) {
          res.statusCode = 500;
          res.end();
          return;
        }
        const sess = middleware.get(req) as unknown as { views?: number };
        sess.views = (sess.views ?? 0) + 1;
        res.end(`views: ${sess.views}`);
      });
    });
    const first = await request(server).get('/').expect(200, 'views: 1');
    expect(setCookies(first)).toHaveLength(1);
    await request(server).get('/').set('Cookie', cookieOf(first)).expect(200, 'views: 2');
  });
});

describe('a server with its own response class', () => {
  it('holds through that class, whose own methods still run', async () => {
    const { createServer, ServerResponse } = await import('node:http');
    const ended: string[] = [];
    class LoggedResponse<
      Request extends import('node:http').IncomingMessage,
    > extends ServerResponse<Request> {
      override end(...args: unknown[]): this {
        ended.push(`end, Set-Cookie ${this.hasHeader('set-cookie') ? 'set' : 'missing'}`);
        return (super.end as (...a: unknown[]) => this)(...args);
      }
    }
    const middleware = session({ secret, resave: false, saveUninitialized: false });
    const server = createServer({ ServerResponse: LoggedResponse }, (req, res) => {
      middleware(req, res, () => {
        (middleware.get(req) as unknown as { views: number }).views = 1;
        res.end(String(Object.hasOwn(res, 'end')));
      });
    });
    const res = await request(server).get('/').expect(200, 'false');
    expect(setCookies(res)).toHaveLength(1);
    expect(ended).toEqual(['end, Set-Cookie set']);
  });
});

describe('good citizenship', () => {
  it('creates no globals and keeps no timer holding the process open', async () => {
    const before = new Set(Object.keys(globalThis));
    const store = new MemoryStore({ sweepInterval: 10 });
    const app = express();
    app.use(session({ secret, resave: false, saveUninitialized: true, store }));
    counter(app);
    await request(app).get('/');
    expect(Object.keys(globalThis).filter((key) => !before.has(key))).toEqual([]);
    const timer = (store as unknown as { timer: NodeJS.Timeout }).timer;
    expect(timer.hasRef()).toBe(false);
    await store.close();
  });
});
