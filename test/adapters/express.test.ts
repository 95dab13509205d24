import cookieParser from 'cookie-parser';
import request from 'supertest';
import { describe, expect, it } from 'vitest';
import { storageKey } from '../../src/core/id.js';
import session, { currentUserId, login, logout, MemoryStore } from '../../src/index.js';
import { NOW } from '../../src/stores/memory.js';
import { type App, cookieOf, expressVersions, idOf, jsonErrors, setCookies } from '../support/apps.js';
import { SlowMemoryStore } from '../support/slow-store.js';

/** Marks when the request arrived, so a later handler can tell whether it runs in that same tick. */
function tickProbe(req: unknown, _res: unknown, next: () => void): void {
  let ticked = false;
  queueMicrotask(() => {
    ticked = true;
  });
  (req as { ticked?: () => boolean }).ticked = () => ticked;
  next();
}

function inArrivalTick(req: unknown): boolean {
  return !(req as { ticked: () => boolean }).ticked();
}

const secret = 'a@#flwengFD-a-long-enough-secret-for-tests';

/** A store that counts its `get` calls. */
function countingReads(makeStore: () => MemoryStore) {
  const store = makeStore();
  const reads = { count: 0 };
  const get = store.get.bind(store);
  store.get = (id: string) => {
    reads.count++;
    return get(id);
  };
  return { store, reads };
}

/** The cookie of a session stored in `store` by an app of its own (one key set, saved by the middleware). */
async function storedSessionCookie(create: () => App, store: MemoryStore): Promise<string> {
  const make = create();
  make.use(session({ secret, store, resave: false, saveUninitialized: false }));
  make.get('/', (req, res) => {
    req.session.v = 1;
    res.send('made');
  });
  return cookieOf(await request(make).get('/').expect(200));
}

/**
 * Every scenario runs on sessionkit's MemoryStore, which commits in the same tick and never holds a
 * response, and on a store that answers later, as every networked store does, where each response is held.
 */
const storeKinds = [
  { kind: 'MemoryStore', makeStore: () => new MemoryStore(), inline: true },
  { kind: 'a slow store', makeStore: (): MemoryStore => new SlowMemoryStore(), inline: false },
] as const;

const combinations = storeKinds.flatMap((store) =>
  expressVersions.map((version) => ({ ...store, ...version })),
);

for (const { kind, makeStore, inline, name, create } of combinations) {
  describe(`seed scenarios on ${name}, ${kind}`, () => {
    it('sets, reads and removes session values (seed 000)', async () => {
      const store = makeStore();
      const app = create();
      app.use(
        session({
          name: 'mysession',
          secret,
          saveUninitialized: false,
          resave: true,
          cookie: { maxAge: 1000 * 60, httpOnly: true },
          store,
        }),
      );
      app.get('/setSession', (req, res) => {
        req.session.myname = 'aaa';
        req.session.myinfo = '这是session中的内容';
        res.send(`hello ${req.sessionID === req.session.id}`);
      });
      app.get('/readSession', (req, res) => {
        res.send(`读取session成功 : ${req.session.myname} - ${req.session.myinfo}`);
      });
      app.get('/removeSession', (req, res) => {
        req.session.destroy(() => undefined);
        res.send('删除session成功');
      });

      const set = await request(app).get('/setSession').expect(200, 'hello true');
      const [cookie] = setCookies(set);
      expect(cookie).toMatch(
        /^mysession=s%3A[\w-]{43}\.[\w%+/]+; Path=\/; Expires=.+; HttpOnly; SameSite=Lax$/,
      );
      const pair = cookieOf(set);
      await request(app)
        .get('/readSession')
        .set('Cookie', pair)
        .expect(200, '读取session成功 : aaa - 这是session中的内容');
      const removed = await request(app).get('/removeSession').set('Cookie', pair).expect(200);
      expect(setCookies(removed)[0]).toMatch(/^mysession=; Path=\/; Expires=Thu, 01 Jan 1970/);
      expect(await store.get(idOf(pair))).toBeNull();
      await request(app)
        .get('/readSession')
        .set('Cookie', pair)
        .expect(200, '读取session成功 : undefined - undefined');
    });

    it('counts views with cookie-parser beside it, using the deprecated `key` option (seed 003)', async () => {
      const app = create();
      app.use(cookieParser());
      app.use(
        session({
          secret: 'a cool secret',
          resave: true,
          saveUninitialized: true,
          key: 'myapp_sid',
          store: makeStore(),
          cookie: { maxAge: 1000 * 60 * 60 * 2, secure: false },
        }),
      );
      app.use((req, res) => {
        const sess = req.session as typeof req.session & { views?: number };
        sess.views = (sess.views ?? 0) + 1;
        res.setHeader('Content-Type', 'text/html');
        res.write(`views: ${sess.views}`);
        res.write(`expires in: ${Math.round((sess.cookie.maxAge ?? 0) / 1000)}s`);
        res.end();
      });
      const agent = request.agent(app);
      const first = await agent.get('/').expect(200);
      expect(first.text).toBe('views: 1expires in: 7200s');
      expect(cookieOf(first)).toMatch(/^myapp_sid=/);
      expect((await agent.get('/')).text).toMatch(/^views: 2/);
      expect((await agent.get('/')).text).toMatch(/^views: 3/);
    });

    it('logs in and out against a user database (seed 001/002)', async () => {
      const users = new Map([['zhangsan@qq.com', { name: 'zhangsan', password: 'pw' }]]);
      const app = create();
      app.use((await import('express')).default.json());
      app.use(
        session({
          name: 'sid',
          secret,
          store: makeStore(),
          saveUninitialized: false,
          resave: true,
          cookie: { maxAge: 300_000 },
        }),
      );
      app.post('/login', (req, res) => {
        const user = users.get(req.body.email);
        if (!user || user.password !== req.body.password) {
          res.status(403).send({ errorMessage: 'Permission denied!' });
          return;
        }
        req.session.user = { name: user.name };
        res.status(200).send({ user: { name: user.name } });
      });
      app.get('/home', (req, res) => {
        res.send(req.session.user ? `你好 ${(req.session.user as { name: string }).name}` : '登录 注册');
      });
      app.get('/logout', (req, res) => {
        req.session.destroy((err) => {
          if (err) res.status(500).send('Could not log out.');
          else res.status(200).send({});
        });
      });
      const agent = request.agent(app);
      await agent.post('/login').send({ email: 'zhangsan@qq.com', password: 'nope' }).expect(403);
      await agent.get('/home').expect(200, '登录 注册');
      await agent.post('/login').send({ email: 'zhangsan@qq.com', password: 'pw' }).expect(200);
      await agent.get('/home').expect(200, '你好 zhangsan');
      await agent.get('/logout').expect(200);
      await agent.get('/home').expect(200, '登录 注册');
    });

    it('works across origins with CORS credentials (seed 004)', async () => {
      const cors = (await import('cors')).default;
      const app = create();
      app.use(cors({ origin: ['http://app.example'], credentials: true }));
      app.use(
        session({
          secret,
          resave: false,
          saveUninitialized: false,
          proxy: true,
          store: makeStore(),
          cookie: { sameSite: 'none', secure: true },
        }),
      );
      app.post('/api/visit', (req, res) => {
        req.session.visits = ((req.session.visits as number) ?? 0) + 1;
        res.json({ visits: req.session.visits });
      });
      const first = await request(app)
        .post('/api/visit')
        .set('Origin', 'http://app.example')
        .set('X-Forwarded-Proto', 'https')
        .expect(200, { visits: 1 });
      expect(first.headers['access-control-allow-credentials']).toBe('true');
      expect(setCookies(first)[0]).toMatch(/; Secure; SameSite=None$/);
      await request(app)
        .post('/api/visit')
        .set('Origin', 'http://app.example')
        .set('X-Forwarded-Proto', 'https')
        .set('Cookie', cookieOf(first))
        .expect(200, { visits: 2 });
      const plain = await request(app).post('/api/visit').set('Cookie', cookieOf(first)).expect(200);
      expect(setCookies(plain)).toEqual([]);
    });
  });

  describe(`request lifecycle on ${name}, ${kind}`, () => {
    it('stores the session before the client sees a redirect after login', async () => {
      const store = makeStore();
      let storedWhenSent: unknown = 'unset';
      const app = create();
      app.use(session({ secret, store, resave: false, saveUninitialized: false }));
      app.post('/login', (req, res) => {
        req.session.user = 'u1';
        // Observe the moment the first byte really goes out: what the store holds then, read in that tick.
        const socket = req.socket;
        const write = socket.write;
        socket.write = function (this: typeof socket, ...args: unknown[]) {
          if (storedWhenSent === 'unset') storedWhenSent = store[NOW].get(req.sessionID)?.data.user;
          return (write as (...a: unknown[]) => boolean).apply(this, args);
        } as typeof socket.write;
        res.redirect('/account');
      });
      const res = await request(app).post('/login').expect(302);
      expect(res.headers.location).toBe('/account');
      expect(storedWhenSent).toBe('u1');
    });

    it('passes a store failure after the response was written to next(err) with status 503', async () => {
      const store = makeStore();
      const app = create();
      app.use(session({ secret, store, resave: false, saveUninitialized: false, storeTimeout: 200 }));
      app.get('/', (req, res) => {
        req.session.x = 1;
        store.create = () =>
          Promise.reject(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }));
        res.send('you should not see this');
      });
      app.use(jsonErrors);
      const res = await request(app).get('/').expect(503);
      expect(res.body).toEqual({ code: 'ERR_STORE_UNAVAILABLE' });
      expect(setCookies(res)).toEqual([]);
    });

    it('bounds a hanging store by storeTimeout', async () => {
      const store = makeStore();
      const app = create();
      app.use(session({ secret, store, resave: false, saveUninitialized: false, storeTimeout: 150 }));
      app.get('/', (_req, res) => res.send('ok'));
      app.use(jsonErrors);
      const first = await request(app).get('/');
      expect(first.status).toBe(200);
      const seeded = await request(app).get('/').set('Cookie', 'x=1').expect(200);
      expect(seeded.text).toBe('ok');
      const made = await storedSessionCookie(create, store);
      store.get = () => new Promise(() => undefined);
      const started = Date.now();
      const res = await request(app).get('/').set('Cookie', made).expect(503);
      expect(res.body.code).toBe('ERR_STORE_UNAVAILABLE');
      // storeTimeout (150 ms) many times over, as the adapter suite's bound: room for a loaded machine,
      // still well short of the default storeTimeout (5 s) or a store that never answers.
      expect(Date.now() - started).toBeLessThan(3_000);
    });

    it('bounds a MemoryStore method wrapped before the middleware was made, as any store', async () => {
      const store = makeStore();
      const made = await storedSessionCookie(create, store);
      // A wrapper the application installed first: it is not the store's own method, so it gets a timer.
      store.destroy = () => new Promise(() => undefined);
      const app = create();
      app.use(session({ secret, store, resave: false, saveUninitialized: false, storeTimeout: 150 }));
      app.get('/', (req, res, next) => req.session.destroy((err) => (err ? next(err) : res.send('gone'))));
      app.use(jsonErrors);
      const res = await request(app).get('/').set('Cookie', made).expect(503);
      expect(res.body.code).toBe('ERR_STORE_UNAVAILABLE');
    });

    it("onStoreError: 'anonymous' serves a fresh unsaved session when the store is down", async () => {
      const store = makeStore();
      const app = create();
      const middleware = session({
        secret,
        store,
        resave: false,
        saveUninitialized: false,
        onStoreError: 'anonymous',
      });
      const errors: unknown[] = [];
      middleware.manager.on('error', (error) => errors.push(error));
      app.use(middleware);
      app.get('/', (req, res) => {
        req.session.n = 1;
        res.send(`n=${req.session.n}`);
      });
      const made = await request(app).get('/').expect(200, 'n=1');
      store.get = () => Promise.reject(Object.assign(new Error('down'), { code: 'ECONNREFUSED' }));
      const res = await request(app).get('/').set('Cookie', cookieOf(made)).expect(200, 'n=1');
      expect(setCookies(res)).toEqual([]);
      expect(errors).toHaveLength(1);
    });

    describe("onStoreError: 'anonymous' when only reads fail", () => {
      const refused = () => Object.assign(new Error('down'), { code: 'ECONNREFUSED' });
      /** This variant's store, with reads (and, when told, destroys) failing as a refused connection. */
      function failingStore() {
        const Base = makeStore().constructor as typeof MemoryStore;
        class Failing extends Base {
          readsFail = false;
          destroysFail = false;
          override async get(id: string) {
            if (this.readsFail) throw refused();
            return super.get(id);
          }
          override async destroy(id: string) {
            if (this.destroysFail) throw refused();
            return super.destroy(id);
          }
        }
        return new Failing();
      }

      function anonymousApp(store: MemoryStore, extra: Partial<Parameters<typeof session>[0]> = {}) {
        const app = create();
        const middleware = session({
          secret,
          store,
          resave: false,
          saveUninitialized: false,
          onStoreError: 'anonymous',
          ...extra,
        });
        middleware.manager.on('error', () => undefined);
        app.use(middleware);
        // Callbacks, not async handlers: Express 4 does not catch a rejected promise.
        app.get('/login/:user', (req, res, next) => {
          login(req.session, req.params.user, (error) => (error ? next(error) : res.send('in')));
        });
        app.get('/logout', (req, res, next) => {
          logout(req.session, (error) => (error ? next(error) : res.send('out')));
        });
        app.get('/who', (req, res) => res.send(String(currentUserId(req.session))));
        app.use(jsonErrors);
        return app;
      }

      it('logout ends the session the cookie named, and clears the cookie', async () => {
        const store = failingStore();
        const app = anonymousApp(store);
        const cookie = cookieOf(await request(app).get('/login/u1').expect(200));
        store.readsFail = true;
        const out = await request(app).get('/logout').set('Cookie', cookie).expect(200, 'out');
        expect(setCookies(out)[0]).toMatch(/Expires=Thu, 01 Jan 1970/);
        store.readsFail = false;
        expect(await store.get(idOf(cookie))).toBeNull();
        await request(app).get('/who').set('Cookie', cookie).expect(200, 'null');
      });

      it('a logout the store cannot carry out fails, never answers as done', async () => {
        const store = failingStore();
        const app = anonymousApp(store);
        const cookie = cookieOf(await request(app).get('/login/u1').expect(200));
        store.readsFail = true;
        store.destroysFail = true;
        const out = await request(app).get('/logout').set('Cookie', cookie).expect(503);
        expect(out.body).toEqual({ code: 'ERR_STORE_UNAVAILABLE' });
        store.readsFail = false;
        store.destroysFail = false;
        // Still logged in, as the application was told.
        await request(app).get('/who').set('Cookie', cookie).expect(200, 'u1');
      });

      it('a login under maxSessionsPerUser stores nothing and evicts none of the user’s sessions', async () => {
        const store = failingStore();
        const app = anonymousApp(store, { maxSessionsPerUser: 1, onLimit: 'evict-oldest' });
        const first = cookieOf(await request(app).get('/login/u1').expect(200));
        const other = cookieOf(await request(app).get('/login/u2').expect(200));
        store.readsFail = true;
        const again = await request(app).get('/login/u1').set('Cookie', other).expect(200, 'in');
        expect(setCookies(again).filter((header) => !/Expires=Thu, 01 Jan 1970/.test(header))).toEqual([]);
        store.readsFail = false;
        expect((await store.listByUser('u1')).map((found) => found.handle)).toEqual([
          storageKey(idOf(first)),
        ]);
        await request(app).get('/who').set('Cookie', first).expect(200, 'u1');
      });
    });

    it('skip() exempts requests from all session work', async () => {
      const { store, reads } = countingReads(makeStore);
      const app = create();
      app.use(
        session({
          secret,
          store,
          resave: false,
          saveUninitialized: true,
          skip: (req) => req.url === '/health',
        }),
      );
      app.get('/health', (req, res) => res.send(String(req.session === undefined)));
      app.get('/', (_req, res) => res.send('home'));
      const home = await request(app).get('/').expect(200);
      const health = await request(app).get('/health').set('Cookie', cookieOf(home)).expect(200, 'true');
      expect(setCookies(health)).toEqual([]);
      expect(reads.count).toBe(0);
    });

    it('a request without a cookie costs no store read', async () => {
      const { store, reads } = countingReads(makeStore);
      const app = create();
      app.use(session({ secret, store, resave: false, saveUninitialized: false }));
      app.get('/', (_req, res) => res.send('x'));
      const res = await request(app).get('/').expect(200);
      expect(reads.count).toBe(0);
      expect(setCookies(res)).toEqual([]);
      expect(await store.length()).toBe(0);
    });

    it('keeps held writeHead headers and Set-Cookie values the app set', async () => {
      const app = create();
      app.use(session({ secret, store: makeStore(), resave: false, saveUninitialized: true }));
      app.get('/obj', (_req, res) => {
        res.writeHead(201, { 'Set-Cookie': 'app=1', 'X-Test': 'yes' });
        res.end('obj');
      });
      app.get('/arr', (_req, res) => {
        res.writeHead(202, ['Set-Cookie', 'app=2', 'X-Test', 'arr']);
        res.end('arr');
      });
      app.get('/set', (_req, res) => {
        res.cookie('app', '3');
        res.send('set');
      });
      for (const [path, status, appCookie] of [
        ['/obj', 201, 'app=1'],
        ['/arr', 202, 'app=2'],
        ['/set', 200, 'app=3'],
      ] as const) {
        const res = await request(app).get(path).expect(status);
        const cookies = setCookies(res);
        expect(cookies.some((c) => c.startsWith(appCookie))).toBe(true);
        expect(cookies.some((c) => c.startsWith('connect.sid=s%3A'))).toBe(true);
      }
    });

    it.runIf(inline)(
      'sends at once when nothing is stored, and holds the first byte only while a store write is pending',
      async () => {
        // A store that answers later, as every networked one does: its writes land a turn after the call.
        const remote = new MemoryStore();
        for (const method of ['create', 'update'] as const) {
          const original = remote[method].bind(remote) as (...args: unknown[]) => Promise<boolean>;
          (remote as unknown as Record<string, unknown>)[method] = (...args: unknown[]) =>
            new Promise((resolve) => setImmediate(resolve)).then(() => original(...args));
        }
        const local = new MemoryStore();
        const appOn = (store: MemoryStore) => {
          const app = create();
          app.use(session({ secret, store, resave: false, saveUninitialized: false, touchAfter: 60_000 }));
          // headersSent right after writeHead() returns (true, as after a real writeHead, held or not), then
          // what the store held at that moment.
          app.get('/:action', (req, res) => {
            if (req.params.action === 'write') req.session.n = ((req.session.n as number) ?? 0) + 1;
            res.writeHead(200, { 'Content-Type': 'text/plain' });
            const sent = res.headersSent;
            void store.get(req.sessionID).then((record) => res.end(`${sent} ${record?.data.n ?? '-'}`));
          });
          return app;
        };

        const held = appOn(remote);
        expect((await request(held).get('/read').expect(200)).text).toBe('true -');
        const first = await request(held).get('/write').expect(200);
        // Not stored yet when the handler ran: the first byte waited for the store.
        expect(first.text).toBe('true -');
        expect(setCookies(first)).toHaveLength(1);
        expect((await request(held).get('/read').set('Cookie', cookieOf(first))).text).toBe('true 1');
        expect((await request(held).get('/write').set('Cookie', cookieOf(first))).text).toBe('true 1');
        expect((await remote.get(idOf(cookieOf(first))))?.data.n).toBe(2);

        // sessionkit's own MemoryStore writes in the same call: the response goes out at once, already stored.
        const direct = appOn(local);
        const mine = await request(direct).get('/write').expect(200);
        expect(mine.text).toBe('true 1');
        expect(setCookies(mine)).toHaveLength(1);
        expect((await request(direct).get('/write').set('Cookie', cookieOf(mine))).text).toBe('true 2');
      },
    );

    it('runs the app in the same tick when there is no cookie, and passes a bad genid() to next(err)', async () => {
      const app = create();
      let sameTick = false;
      app.use(tickProbe);
      app.use(session({ secret, store: makeStore(), resave: false, saveUninitialized: false }));
      app.get('/', (req, res) => {
        sameTick = inArrivalTick(req);
        res.send(typeof req.session.regenerate);
      });
      expect((await request(app).get('/').expect(200)).text).toBe('function');
      expect(sameTick).toBe(true);

      const broken = create();
      broken.use(session({ secret, genid: () => 'has a space', resave: false, saveUninitialized: false }));
      broken.get('/', (_req, res) => res.send('unreachable'));
      broken.use(jsonErrors);
      const res = await request(broken).get('/').expect(500);
      expect(res.body.code).toBe('ERR_INVALID_ID');
    });

    it.runIf(inline)(
      'reads a MemoryStore session in the same tick, and goes through a get() the application wrapped',
      async () => {
        const store = makeStore();
        const app = create();
        const ticks: boolean[] = [];
        app.use(tickProbe);
        app.use(session({ secret, store, resave: false, saveUninitialized: false }));
        app.get('/write', (req, res) => {
          req.session.views = (Number(req.session.views) || 0) + 1;
          res.send(String(req.session.views));
        });
        app.get('/read', (req, res) => {
          ticks.push(inArrivalTick(req));
          res.send(String(req.session.views));
        });
        const first = await request(app).get('/write').expect(200, '1');
        expect((await request(app).get('/read').set('Cookie', cookieOf(first))).text).toBe('1');
        expect(ticks).toEqual([true]);

        // A get() wrapped after the middleware was made (a test's counter, an app's logging) is called.
        let gets = 0;
        const get = store.get.bind(store);
        store.get = (id) => {
          gets++;
          return get(id);
        };
        expect((await request(app).get('/read').set('Cookie', cookieOf(first))).text).toBe('1');
        expect(gets).toBe(1);
        expect(ticks).toEqual([true, false]);
      },
    );

    it('adds only the API properties to what the request shows: session, sessionID, sessionStore', async () => {
      const app = create();
      let before: (string | symbol)[] = [];
      app.use((req, _res, next) => {
        before = Reflect.ownKeys(req);
        next();
      });
      app.use(session({ secret, store: makeStore(), resave: false, saveUninitialized: false }));
      app.use((req, res) => {
        const added = Reflect.ownKeys(req).filter((key) => !before.includes(key));
        res.json({
          names: added.filter((key) => typeof key === 'string'),
          // The middleware's own bookkeeping: symbol-keyed, so Object.keys, for…in and JSON never see it.
          symbols: added.filter((key) => typeof key === 'symbol').map((key) => key.description),
        });
      });
      const res = await request(app).get('/').expect(200);
      expect([...res.body.names].sort()).toEqual(['session', 'sessionID', 'sessionStore']);
      expect([...res.body.symbols].sort()).toEqual(['sessionkit.context', 'sessionkit.hold']);
    });

    it('holds through the shared response prototype, also when a sub-app hands the response back', async () => {
      const store = makeStore();
      let storedWhenSent: unknown = 'unset';
      const app = create();
      const sub = create();
      sub.use(session({ secret, store, resave: false, saveUninitialized: false }));
      sub.use((req, _res, next) => {
        req.session.user = 'u1';
        next();
      });
      app.use('/sub', sub);
      // Express has reset req/res to the parent app's prototypes by now: the hold must still be there.
      app.use((req, res) => {
        const own = ['writeHead', 'write', 'end', 'flushHeaders'].filter((name) => Object.hasOwn(res, name));
        res.on('finish', () => {
          storedWhenSent = store[NOW].get(req.sessionID)?.data.user;
        });
        res.json(own);
      });
      const res = await request(app).get('/sub/x').expect(200);
      expect(res.body).toEqual([]);
      expect(setCookies(res)).toHaveLength(1);
      expect(storedWhenSent).toBe('u1');
      // A response of an app without sessions goes straight through the patched prototype.
      const other = create();
      other.get('/', (_req, res) => res.send('plain'));
      const plain = await request(other).get('/').expect(200, 'plain');
      expect(setCookies(plain)).toEqual([]);
    });

    it('wraps the response itself when a middleware before it did, keeping that wrapper in the chain', async () => {
      const store = makeStore();
      const seen: string[] = [];
      const app = create();
      app.use((_req, res, next) => {
        const end = res.end;
        res.end = function (this: typeof res, ...args: unknown[]) {
          seen.push(`outer end, Set-Cookie ${res.hasHeader('set-cookie') ? 'set' : 'missing'}`);
          return (end as (...a: unknown[]) => typeof res).apply(this, args);
        } as typeof res.end;
        next();
      });
      app.use(session({ secret, store, resave: false, saveUninitialized: false }));
      app.get('/', (req, res) => {
        req.session.user = 'u1';
        seen.push(`own writeHead: ${Object.hasOwn(res, 'writeHead')}`);
        res.send('ok');
      });
      const res = await request(app).get('/').expect(200, 'ok');
      expect(setCookies(res)).toHaveLength(1);
      // The session's own wrapper sits outside the earlier one and calls into it, cookie set: committed
      // inline, or, held for a slower store, set as the commit expects to send it.
      expect(seen).toEqual(['own writeHead: true', 'outer end, Set-Cookie set']);
      expect((await store.get(idOf(cookieOf(res))))?.data.user).toBe('u1');
    });

    it('sends the cookie again when the app changes a browser-session cookie, saved explicitly or not', async () => {
      const app = create();
      app.use(session({ secret, store: makeStore(), resave: false, saveUninitialized: false }));
      app.get('/start', (req, res) => {
        req.session.n = 1;
        res.send('started');
      });
      app.get('/strict', (req, res) => {
        req.session.cookie.sameSite = 'strict';
        res.send('strict');
      });
      app.get('/secure-path', (req, res, next) => {
        req.session.cookie.path = '/account';
        req.session.save((err) => (err ? next(err) : res.send('saved')));
      });
      const first = await request(app).get('/start').expect(200);
      expect(setCookies(first)[0]).not.toMatch(/Expires=/);
      const strict = await request(app).get('/strict').set('Cookie', cookieOf(first)).expect(200);
      expect(setCookies(strict)).toHaveLength(1);
      expect(setCookies(strict)[0]).toMatch(/SameSite=Strict/);
      const saved = await request(app).get('/secure-path').set('Cookie', cookieOf(first)).expect(200);
      expect(setCookies(saved)).toHaveLength(1);
      expect(setCookies(saved)[0]).toMatch(/Path=\/account/);
      // Nothing changed: no cookie.
      const again = await request(app).get('/start').set('Cookie', cookieOf(first)).expect(200);
      expect(setCookies(again)).toEqual([]);
    });

    it('streams a body written in several chunks after the hold', async () => {
      const app = create();
      app.use(session({ secret, store: makeStore(), resave: false, saveUninitialized: true }));
      app.get('/', (req, res) => {
        req.session.a = 1;
        res.write('one,');
        res.write('two,');
        setTimeout(() => res.end('three'), 5);
      });
      const res = await request(app).get('/').expect(200);
      expect(res.text).toBe('one,two,three');
      expect(setCookies(res)).toHaveLength(1);
    });

    it('leaves the request as Express made it, but for session, sessionID and sessionStore', async () => {
      /** The request's own properties as a route sees them, each with its attributes. */
      const described = (req: object) =>
        Object.fromEntries(
          Reflect.ownKeys(req)
            .filter(
              (key) => typeof key === 'string' && !['session', 'sessionID', 'sessionStore'].includes(key),
            )
            .map((key) => {
              const { value, ...attributes } = Object.getOwnPropertyDescriptor(
                req,
                key,
              ) as PropertyDescriptor;
              return [key, key === 'url' ? { value, ...attributes } : attributes];
            }),
        );
      const seen: Record<string, unknown>[] = [];
      for (const withSession of [false, true]) {
        const app = create();
        if (withSession) app.use(session({ secret, store: makeStore() }));
        app.get('/where', (req, res) => {
          seen.push(described(req));
          res.send(req.url);
        });
        const res = await request(app).get('/where?x=1').expect(200);
        expect(res.text).toBe('/where?x=1');
      }
      expect(seen[1]).toEqual(seen[0]);
      expect(seen[1]?.url).toEqual({
        value: '/where?x=1',
        writable: true,
        enumerable: true,
        configurable: true,
      });
    });
  });
}

describe('requests whose url is not a plain data property', () => {
  for (const [kind, define] of [
    [
      'an accessor',
      (req: object) => Object.defineProperty(req, 'url', { get: () => '/from-getter', configurable: true }),
    ],
    ['read-only', (req: object) => Object.defineProperty(req, 'url', { value: '/fixed', writable: false })],
  ] as const) {
    it(`keeps ${kind} url as it was`, async () => {
      const { IncomingMessage, ServerResponse } = await import('node:http');
      const { Socket } = await import('node:net');
      const req = new IncomingMessage(new Socket());
      // A framework's own request prototype, as Express gives its requests.
      Object.setPrototypeOf(req, Object.create(IncomingMessage.prototype));
      define(req);
      const before = Object.getOwnPropertyDescriptor(req, 'url');
      const res = new ServerResponse(req);
      await new Promise<void>((resolve, reject) =>
        session({ secret })(req, res, (err?: unknown) => (err ? reject(err) : resolve())),
      );
      expect(Object.getOwnPropertyDescriptor(req, 'url')).toEqual(before);
      expect((req as unknown as { session?: object }).session).toBeTypeOf('object');
    });
  }
});
