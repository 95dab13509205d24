import { channel } from 'node:diagnostics_channel';
import express from 'express';
import request from 'supertest';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { BINDING_KEY, bindingDigest } from '../../src/core/binding.js';
import { RequestTrace } from '../../src/core/debug.js';
import { type BindingMessage, CHANNELS } from '../../src/core/diagnostics.js';
import type { BindingEvent } from '../../src/engine/binding.js';
import session, {
  type BindingOptions,
  currentUserId,
  login,
  MemoryStore,
  reauthenticated,
  type SessionOptions,
} from '../../src/index.js';
import { SessionManager, sessionHandle } from '../../src/internals.js';
import { SQLiteStore } from '../../src/stores/sqlite.js';
import { cookieOf, idOf, jsonErrors, setCookies } from '../support/apps.js';
import { inProcessStores } from '../support/in-process-stores.js';

/**
 * Session binding (C33): a session remembers digests of the User-Agent and IP it was signed in with; a
 * later request whose values differ raises `binding` (event, diagnostics channel, debug trace) and,
 * with `onChange: 'end'`, ends the session as a logout would.
 */

const secret = 'binding-tests-secret-0123456789abcdef012';
const FIREFOX = 'Mozilla/5.0 (X11; Linux x86_64; rv:140.0) Gecko/20100101 Firefox/140.0';
const CURL = 'curl/8.9.1';
const HOME_IP = '203.0.113.7';
const OTHER_IP = '198.51.100.23';

type Store = MemoryStore | SQLiteStore;
type Data = Record<string, unknown>;

function appWith(store: Store, binding: BindingOptions | undefined, extra: Partial<SessionOptions> = {}) {
  const middleware = session({ secret, store, resave: false, saveUninitialized: false, binding, ...extra });
  const events: BindingEvent[] = [];
  middleware.manager.on('binding', (event: BindingEvent) => events.push(event));
  const app = express();
  // The client's address as a trusted proxy reports it: what `req.ip` then gives.
  app.set('trust proxy', true);
  app.use(express.json());
  app.use(middleware);
  const view = (req: express.Request) => {
    const current = req.session as unknown as Data;
    return {
      id: req.sessionID,
      user: currentUserId(req.session),
      data: { ...current, cookie: undefined },
      keys: Object.keys(current),
      json: JSON.stringify(current),
      reserved: BINDING_KEY in current,
    };
  };
  app.get('/write', (req, res) => {
    const data = req.session as unknown as Data;
    data.n = ((data.n as number | undefined) ?? 0) + 1;
    res.json(view(req));
  });
  app.get('/read', (req, res) => res.json(view(req)));
  app.post('/login', async (req, res) => {
    await login(req.session, 'alice');
    res.json(view(req));
  });
  app.post('/reauth', async (req, res) => {
    await reauthenticated(req.session);
    res.json(view(req));
  });
  app.post('/regenerate', async (req, res) => {
    await req.session.regenerate();
    (req.session as unknown as Data).again = true;
    res.json(view(req));
  });
  app.post('/merge', (req, res) => {
    Object.assign(req.session, req.body as Data);
    res.json(view(req));
  });
  app.use(jsonErrors);
  return { app, events, manager: middleware.manager };
}

/** Every byte of session state the store holds, as text: what a dump of it shows. */
function storedText(store: Store): string {
  if (store instanceof SQLiteStore) {
    const tables = store.db
      .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
      .pluck()
      .all() as string[];
    return JSON.stringify(
      tables.map((name) => [name, store.db.prepare(`SELECT * FROM "${name}"`).all()]),
      (_key, value: unknown) => (Buffer.isBuffer(value) ? value.toString('latin1') : value),
    );
  }
  return JSON.stringify((Reflect.get(store, 'shards') as Map<string, string>[]).map((shard) => [...shard]));
}

async function storedBinding(store: Store, id: string): Promise<unknown> {
  return (await store.get(id))?.data[BINDING_KEY];
}

function clearsCookie(res: { headers: Record<string, unknown> }): boolean {
  return setCookies(res).some(
    (header) => /^connect\.sid=;/.test(header) && /Expires=Thu, 01 Jan 1970/.test(header),
  );
}

afterEach(() => {
  vi.useRealTimers();
});

for (const [name, make] of inProcessStores) {
  describe(`session binding (C33) on ${name}`, () => {
    it('binds a session on creation to digests keyed by its ID; the store holds no raw User-Agent or IP', async () => {
      const store = make();
      const { app, events } = appWith(store, { userAgent: true, ip: true });
      const created = await request(app)
        .get('/write')
        .set('User-Agent', FIREFOX)
        .set('X-Forwarded-For', HOME_IP)
        .expect(200);
      const cookie = cookieOf(created);
      const id = idOf(cookie);
      expect(await storedBinding(store, id)).toEqual({
        userAgent: bindingDigest(id, 'userAgent', FIREFOX),
        ip: bindingDigest(id, 'ip', HOME_IP),
      });
      // The same text under another property, or for another session, is another digest.
      expect(bindingDigest(id, 'ip', FIREFOX)).not.toBe(bindingDigest(id, 'userAgent', FIREFOX));
      expect(bindingDigest(`${id}x`, 'userAgent', FIREFOX)).not.toBe(bindingDigest(id, 'userAgent', FIREFOX));
      // A login, and a changed User-Agent under 'report', write new fingerprints: still no raw value.
      const login = await request(app)
        .post('/login')
        .set('Cookie', cookie)
        .set('User-Agent', FIREFOX)
        .set('X-Forwarded-For', HOME_IP)
        .expect(200);
      await request(app)
        .get('/read')
        .set('Cookie', cookieOf(login))
        .set('User-Agent', CURL)
        .set('X-Forwarded-For', OTHER_IP)
        .expect(200);
      expect(events).toHaveLength(1);
      const dump = storedText(store);
      expect(dump).toContain(BINDING_KEY);
      for (const raw of [FIREFOX, 'Firefox', CURL, HOME_IP, OTHER_IP, '203.0.113', '198.51.100'])
        expect(dump, raw).not.toContain(raw);
    });

    it("a request with another User-Agent raises binding with the handle and ['userAgent'] and, under 'report', keeps the session; the same new User-Agent again raises nothing", async () => {
      const store = make();
      const { app, events } = appWith(store, { userAgent: true });
      const login = await request(app).post('/login').set('User-Agent', FIREFOX).expect(200);
      const cookie = cookieOf(login);
      const id = idOf(cookie);
      await request(app).get('/read').set('Cookie', cookie).set('User-Agent', FIREFOX).expect(200);
      expect(events).toEqual([]);

      const moved = await request(app).get('/read').set('Cookie', cookie).set('User-Agent', CURL).expect(200);
      expect(moved.body).toMatchObject({ id, user: 'alice' });
      expect(setCookies(moved)).toEqual([]);
      expect(events).toEqual([
        { handle: sessionHandle(id), changed: ['userAgent'], action: 'report', userId: 'alice' },
      ]);
      expect(JSON.stringify(events)).not.toContain(id);
      // Bound to the new value: one change is one signal.
      expect(await storedBinding(store, id)).toEqual({ userAgent: bindingDigest(id, 'userAgent', CURL) });
      const again = await request(app).get('/read').set('Cookie', cookie).set('User-Agent', CURL).expect(200);
      expect(again.body).toMatchObject({ id, user: 'alice' });
      expect(events).toHaveLength(1);
      // A request with no User-Agent at all is a change too.
      await request(app).get('/read').set('Cookie', cookie).expect(200);
      expect(events.map((event) => event.changed)).toEqual([['userAgent'], ['userAgent']]);
    });

    it("onChange 'end': the old ID no longer loads from any store call, the response clears the cookie, a fresh session is given; the event still fires", async () => {
      const store = make();
      const { app, events, manager } = appWith(store, { userAgent: true, onChange: 'end' });
      const destroyed: string[] = [];
      manager.on('destroy', (event: { handle: string }) => destroyed.push(event.handle));
      const cookie = cookieOf(await request(app).post('/login').set('User-Agent', FIREFOX).expect(200));
      const id = idOf(cookie);
      const handle = sessionHandle(id);

      const ended = await request(app).get('/read').set('Cookie', cookie).set('User-Agent', CURL).expect(200);
      expect(events).toEqual([{ handle, changed: ['userAgent'], action: 'end', userId: 'alice' }]);
      expect(ended.body.id).not.toBe(id);
      expect(ended.body.user).toBeNull();
      expect(ended.body.data).toEqual({});
      expect(clearsCookie(ended)).toBe(true);
      expect(setCookies(ended)).toHaveLength(1);
      expect(destroyed).toContain(handle);
      expect(await store.get(id)).toBeNull();
      expect(await store.getByHandle?.(handle)).toBeNull();
      expect((await store.listByUser?.('alice'))?.map((s) => s.handle)).toEqual([]);
      // Ended for every browser: the original User-Agent does not bring it back.
      const back = await request(app)
        .get('/read')
        .set('Cookie', cookie)
        .set('User-Agent', FIREFOX)
        .expect(200);
      expect(back.body.id).not.toBe(id);
      expect(back.body.user).toBeNull();
      expect(events).toHaveLength(1);

      // The fresh session given instead is an ordinary one: written, it is stored and its cookie sent.
      const fresh = await request(app)
        .get('/write')
        .set('Cookie', cookie)
        .set('User-Agent', CURL)
        .expect(200);
      expect(idOf(cookieOf(fresh))).toBe(fresh.body.id);
      expect(await storedBinding(store, fresh.body.id as string)).toEqual({
        userAgent: bindingDigest(fresh.body.id as string, 'userAgent', CURL),
      });
    });

    it("an IP change (req.ip, through Express's trust proxy) raises ['ip']; under 'end' the session ends", async () => {
      const store = make();
      const { app, events } = appWith(store, { ip: true, onChange: 'end' });
      const cookie = cookieOf(await request(app).post('/login').set('X-Forwarded-For', HOME_IP).expect(200));
      const id = idOf(cookie);
      // Another User-Agent is not bound here: nothing.
      await request(app)
        .get('/read')
        .set('Cookie', cookie)
        .set('X-Forwarded-For', HOME_IP)
        .set('User-Agent', CURL)
        .expect(200, /alice/);
      expect(events).toEqual([]);
      const ended = await request(app)
        .get('/read')
        .set('Cookie', cookie)
        .set('X-Forwarded-For', OTHER_IP)
        .expect(200);
      expect(events).toEqual([
        { handle: sessionHandle(id), changed: ['ip'], action: 'end', userId: 'alice' },
      ]);
      expect(ended.body.user).toBeNull();
      expect(clearsCookie(ended)).toBe(true);
      expect(await store.get(id)).toBeNull();
    });

    it("the IP under 'report' and both properties at once: the event names each that changed", async () => {
      const store = make();
      const { app, events } = appWith(store, { userAgent: true, ip: true });
      const cookie = cookieOf(
        await request(app)
          .get('/write')
          .set('User-Agent', FIREFOX)
          .set('X-Forwarded-For', HOME_IP)
          .expect(200),
      );
      const id = idOf(cookie);
      await request(app)
        .get('/read')
        .set('Cookie', cookie)
        .set('User-Agent', FIREFOX)
        .set('X-Forwarded-For', OTHER_IP);
      await request(app)
        .get('/read')
        .set('Cookie', cookie)
        .set('User-Agent', CURL)
        .set('X-Forwarded-For', HOME_IP);
      const kept = await request(app)
        .get('/read')
        .set('Cookie', cookie)
        .set('User-Agent', CURL)
        .set('X-Forwarded-For', HOME_IP);
      expect(kept.body.id).toBe(id);
      expect(events.map((event) => event.changed)).toEqual([['ip'], ['userAgent', 'ip']]);
      expect(events.every((event) => event.action === 'report' && event.userId === null)).toBe(true);
    });

    it('no signal for a session stored before the option (no fingerprint): it is bound at its next request, silently', async () => {
      const store = make();
      const before = appWith(store, undefined);
      const cookie = cookieOf(await request(before.app).get('/write').set('User-Agent', FIREFOX).expect(200));
      const id = idOf(cookie);
      expect(await storedBinding(store, id)).toBeUndefined();

      const { app, events } = appWith(store, { userAgent: true, onChange: 'end' });
      const first = await request(app).get('/read').set('Cookie', cookie).set('User-Agent', CURL).expect(200);
      expect(first.body.id).toBe(id);
      expect(events).toEqual([]);
      expect(setCookies(first)).toEqual([]);
      expect(await storedBinding(store, id)).toEqual({ userAgent: bindingDigest(id, 'userAgent', CURL) });
      // From then on it is bound like any other.
      await request(app).get('/read').set('Cookie', cookie).set('User-Agent', CURL).expect(200);
      expect(events).toEqual([]);
      const ended = await request(app)
        .get('/read')
        .set('Cookie', cookie)
        .set('User-Agent', FIREFOX)
        .expect(200);
      expect(ended.body.id).not.toBe(id);
      expect(events.map((event) => event.action)).toEqual(['end']);
    });

    it('a property bound later is added to an existing fingerprint without a signal', async () => {
      const store = make();
      const cookie = cookieOf(
        await request(appWith(store, { userAgent: true }).app)
          .get('/write')
          .set('User-Agent', FIREFOX)
          .set('X-Forwarded-For', HOME_IP)
          .expect(200),
      );
      const id = idOf(cookie);
      const { app, events } = appWith(store, { userAgent: true, ip: true });
      await request(app)
        .get('/read')
        .set('Cookie', cookie)
        .set('User-Agent', FIREFOX)
        .set('X-Forwarded-For', HOME_IP);
      expect(events).toEqual([]);
      expect(await storedBinding(store, id)).toEqual({
        userAgent: bindingDigest(id, 'userAgent', FIREFOX),
        ip: bindingDigest(id, 'ip', HOME_IP),
      });
    });

    it('login(), reauthenticated() and regenerate() re-bind the new ID to the request that made it', async () => {
      const store = make();
      const { app, events } = appWith(store, { userAgent: true });
      const anonymous = cookieOf(await request(app).get('/write').set('User-Agent', FIREFOX).expect(200));
      // Signing in from another User-Agent: the anonymous session's change is reported once, and the
      // signed-in session is bound to the User-Agent that signed in.
      const login = await request(app)
        .post('/login')
        .set('Cookie', anonymous)
        .set('User-Agent', CURL)
        .expect(200);
      expect(events.map((event) => event.handle)).toEqual([sessionHandle(idOf(anonymous))]);
      let cookie = cookieOf(login);
      expect(await storedBinding(store, idOf(cookie))).toEqual({
        userAgent: bindingDigest(idOf(cookie), 'userAgent', CURL),
      });
      for (const path of ['/reauth', '/regenerate']) {
        const moved = await request(app).post(path).set('Cookie', cookie).set('User-Agent', CURL).expect(200);
        const next = cookieOf(moved);
        expect(idOf(next), path).not.toBe(idOf(cookie));
        cookie = next;
        expect(await storedBinding(store, idOf(cookie)), path).toEqual({
          userAgent: bindingDigest(idOf(cookie), 'userAgent', CURL),
        });
        await request(app).get('/read').set('Cookie', cookie).set('User-Agent', CURL).expect(200);
        expect(events, path).toHaveLength(1);
      }
      await request(app).get('/read').set('Cookie', cookie).set('User-Agent', FIREFOX).expect(200);
      expect(events.map((event) => event.handle)).toEqual([
        sessionHandle(idOf(anonymous)),
        sessionHandle(idOf(cookie)),
      ]);
    });

    it('a login under maxSessionsPerUser binds the new session as any login does', async () => {
      const store = make();
      const { app, events } = appWith(store, { userAgent: true }, { maxSessionsPerUser: 2 });
      const cookie = cookieOf(await request(app).post('/login').set('User-Agent', FIREFOX).expect(200));
      const id = idOf(cookie);
      expect(await storedBinding(store, id)).toEqual({ userAgent: bindingDigest(id, 'userAgent', FIREFOX) });
      await request(app).get('/read').set('Cookie', cookie).set('User-Agent', FIREFOX).expect(200, /alice/);
      expect(events).toEqual([]);
      await request(app).get('/read').set('Cookie', cookie).set('User-Agent', CURL).expect(200, /alice/);
      expect(events.map((event) => event.handle)).toEqual([sessionHandle(id)]);
    });

    it('the reserved key never shows in req.session or its JSON, cannot be written from it, and listByUser data holds only its digests', async () => {
      const store = make();
      const { app, events } = appWith(store, { userAgent: true, ip: true });
      const cookie = cookieOf(
        await request(app)
          .post('/login')
          .set('User-Agent', FIREFOX)
          .set('X-Forwarded-For', HOME_IP)
          .expect(200),
      );
      const id = idOf(cookie);
      const read = await request(app)
        .get('/read')
        .set('Cookie', cookie)
        .set('User-Agent', FIREFOX)
        .set('X-Forwarded-For', HOME_IP);
      expect(read.body.keys).toEqual(['cookie']);
      expect(read.body.reserved).toBe(false);
      expect(read.body.json).not.toContain('sessionkit');
      // A request body claiming the stored fingerprint (say, to silence a later change) is dropped.
      const forged = {
        userAgent: bindingDigest(id, 'userAgent', CURL),
        ip: bindingDigest(id, 'ip', OTHER_IP),
      };
      const merged = await request(app)
        .post('/merge')
        .set('Cookie', cookie)
        .set('User-Agent', FIREFOX)
        .set('X-Forwarded-For', HOME_IP)
        .send({ [BINDING_KEY]: forged, cart: 2 })
        .expect(200);
      expect(merged.body.data.cart).toBe(2);
      expect(await storedBinding(store, id)).toEqual({
        userAgent: bindingDigest(id, 'userAgent', FIREFOX),
        ip: bindingDigest(id, 'ip', HOME_IP),
      });
      const after = await request(app)
        .get('/read')
        .set('Cookie', cookie)
        .set('User-Agent', CURL)
        .set('X-Forwarded-For', OTHER_IP);
      expect(events.map((event) => event.changed)).toEqual([['userAgent', 'ip']]);
      expect(after.body.keys).toEqual(['cookie', 'cart']);
      expect(after.body.json).not.toContain('sessionkit');

      const listed = (await store.listByUser?.('alice')) ?? [];
      expect(listed.map((summary) => summary.handle)).toEqual([sessionHandle(id)]);
      const text = JSON.stringify(listed);
      for (const raw of [FIREFOX, CURL, HOME_IP, OTHER_IP]) expect(text, raw).not.toContain(raw);
      const { [BINDING_KEY]: fingerprint, ...data } = listed[0]?.data ?? {};
      expect(Object.keys(data).sort()).toEqual(['cart', 'sessionkit:authTime']);
      expect(fingerprint).toEqual({
        userAgent: bindingDigest(id, 'userAgent', CURL),
        ip: bindingDigest(id, 'ip', OTHER_IP),
      });
    });

    it('resave: true writes the whole session, fingerprint included', async () => {
      const store = make();
      const { app, events } = appWith(store, { userAgent: true }, { resave: true });
      const cookie = cookieOf(await request(app).get('/write').set('User-Agent', FIREFOX).expect(200));
      const id = idOf(cookie);
      for (const path of ['/write', '/read']) {
        await request(app).get(path).set('Cookie', cookie).set('User-Agent', FIREFOX).expect(200);
        expect(await storedBinding(store, id), path).toEqual({
          userAgent: bindingDigest(id, 'userAgent', FIREFOX),
        });
      }
      expect(events).toEqual([]);
      await request(app).get('/read').set('Cookie', cookie).set('User-Agent', CURL);
      expect(events.map((event) => event.changed)).toEqual([['userAgent']]);
    });

    it("a store whose set() the application replaced is written express-session's way, fingerprint included", async () => {
      const store = make();
      const original = store.set;
      let sets = 0;
      store.set = function (this: unknown, ...args: unknown[]) {
        sets++;
        return Reflect.apply(original, store, args);
      } as typeof store.set;
      const { app, events } = appWith(store, { userAgent: true });
      const cookie = cookieOf(await request(app).get('/write').set('User-Agent', FIREFOX).expect(200));
      const id = idOf(cookie);
      await request(app).get('/write').set('Cookie', cookie).set('User-Agent', FIREFOX).expect(200);
      expect(sets).toBeGreaterThan(0);
      expect(await storedBinding(store, id)).toEqual({ userAgent: bindingDigest(id, 'userAgent', FIREFOX) });
      await request(app).get('/read').set('Cookie', cookie).set('User-Agent', CURL).expect(200);
      expect(events.map((event) => event.changed)).toEqual([['userAgent']]);
    });

    it('renewAfter moves the fingerprint to the renewed ID: no signal for the same browser, one for another', async () => {
      vi.useFakeTimers({ toFake: ['Date'] });
      vi.setSystemTime(new Date('2030-01-01T00:00:00Z'));
      const store = make();
      const { app, events } = appWith(store, { userAgent: true }, { renewAfter: 60_000 });
      const cookie = cookieOf(await request(app).post('/login').set('User-Agent', FIREFOX).expect(200));
      vi.setSystemTime(new Date('2030-01-01T00:02:00Z'));
      const renewed = await request(app)
        .get('/read')
        .set('Cookie', cookie)
        .set('User-Agent', FIREFOX)
        .expect(200);
      const next = cookieOf(renewed);
      expect(idOf(next)).not.toBe(idOf(cookie));
      expect(await storedBinding(store, idOf(next))).toEqual({
        userAgent: bindingDigest(idOf(next), 'userAgent', FIREFOX),
      });
      // The old cookie, within the grace, leads to the renewed session, checked under its own ID.
      await request(app).get('/read').set('Cookie', cookie).set('User-Agent', FIREFOX).expect(200, /alice/);
      await request(app).get('/read').set('Cookie', next).set('User-Agent', FIREFOX).expect(200, /alice/);
      expect(events).toEqual([]);
      await request(app).get('/read').set('Cookie', next).set('User-Agent', CURL).expect(200, /alice/);
      expect(events.map((event) => event.handle)).toEqual([sessionHandle(idOf(next))]);
    });

    it("onChange 'end' through a renewal's grace: the old cookie from another browser ends the renewed session", async () => {
      vi.useFakeTimers({ toFake: ['Date'] });
      vi.setSystemTime(new Date('2030-01-01T00:00:00Z'));
      const store = make();
      const { app, events } = appWith(store, { userAgent: true, onChange: 'end' }, { renewAfter: 60_000 });
      const cookie = cookieOf(await request(app).post('/login').set('User-Agent', FIREFOX).expect(200));
      vi.setSystemTime(new Date('2030-01-01T00:02:00Z'));
      const next = cookieOf(
        await request(app).get('/read').set('Cookie', cookie).set('User-Agent', FIREFOX).expect(200),
      );
      const stolen = await request(app)
        .get('/read')
        .set('Cookie', cookie)
        .set('User-Agent', CURL)
        .expect(200);
      expect(stolen.body.user).toBeNull();
      expect(events).toMatchObject([{ handle: sessionHandle(idOf(next)), action: 'end' }]);
      expect(await store.get(idOf(next))).toBeNull();
      const owner = await request(app)
        .get('/read')
        .set('Cookie', next)
        .set('User-Agent', FIREFOX)
        .expect(200);
      expect(owner.body.user).toBeNull();
    });
  });
}

describe('session binding signals', () => {
  it('publishes sessionkit:session:binding by handle, and a NODE_DEBUG trace line', async () => {
    const store = new MemoryStore();
    const { app, manager } = appWith(store, { userAgent: true });
    const lines: string[] = [];
    // NODE_DEBUG is read when sessionkit loads; the trace it would make is put in place here.
    (manager as unknown as { trace: RequestTrace }).trace = new RequestTrace({
      warn: () => undefined,
      debug: (line) => lines.push(line),
    });
    const messages: BindingMessage[] = [];
    const listener = (message: unknown) => messages.push(message as BindingMessage);
    channel(CHANNELS.binding).subscribe(listener);
    try {
      const cookie = cookieOf(await request(app).post('/login').set('User-Agent', FIREFOX).expect(200));
      const id = idOf(cookie);
      await request(app).get('/read').set('Cookie', cookie).set('User-Agent', CURL).expect(200);
      expect(messages).toEqual([
        {
          handle: sessionHandle(id),
          store: 'memory',
          changed: ['userAgent'],
          action: 'report',
          userId: 'alice',
        },
      ]);
      expect(lines).toContain(
        `sessionkit ${sessionHandle(id)} binding changed (userAgent): session kept, bound to the new values`,
      );
      expect(lines.some((line) => line.includes('binding fingerprint recorded'))).toBe(true);
      const text = JSON.stringify([messages, lines]);
      for (const raw of [id, FIREFOX, CURL]) expect(text).not.toContain(raw);
    } finally {
      channel(CHANNELS.binding).unsubscribe(listener);
    }
  });

  it('without the option, no request property is read and no fingerprint is stored', async () => {
    const read: string[] = [];
    const store = new MemoryStore();
    const request = (cookie?: string) => {
      const headers = new Proxy<Record<string, string | undefined>>(
        { cookie, 'user-agent': FIREFOX },
        {
          get(target, key) {
            if (typeof key === 'string') read.push(key);
            return Reflect.get(target, key);
          },
        },
      );
      return {
        headers,
        url: '/',
        get ip() {
          read.push('ip');
          return HOME_IP;
        },
        socket: {
          encrypted: false,
          get remoteAddress() {
            read.push('remoteAddress');
            return HOME_IP;
          },
        },
      };
    };
    for (const binding of [undefined, { userAgent: false, ip: false }]) {
      read.length = 0;
      const manager = new SessionManager({ secret, store, resave: false, saveUninitialized: true, binding });
      expect(manager.options.binding).toBeUndefined();
      const first = request();
      await manager.open(first);
      const [header] = (await manager.commit(first)) as string[];
      const cookie = (header as string).split(';')[0] as string;
      const second = request(cookie);
      await manager.open(second);
      await manager.commit(second);
      expect(read).not.toContain('user-agent');
      expect(read).not.toContain('ip');
      expect(read).not.toContain('remoteAddress');
      expect(await storedBinding(store, idOf(cookie))).toBeUndefined();
    }
    // With it, they are: the same requests, bound.
    read.length = 0;
    const manager = new SessionManager({
      secret,
      store,
      resave: false,
      saveUninitialized: true,
      binding: { userAgent: true, ip: true },
    });
    const first = request();
    await manager.open(first);
    const [header] = (await manager.commit(first)) as string[];
    expect(read).toEqual(expect.arrayContaining(['user-agent', 'ip']));
    const id = idOf((header as string).split(';')[0] as string);
    expect(await storedBinding(store, id)).toEqual({
      userAgent: bindingDigest(id, 'userAgent', FIREFOX),
      ip: bindingDigest(id, 'ip', HOME_IP),
    });
  });

  it('a bare Node request is bound by its socket address', async () => {
    const store = new MemoryStore();
    const manager = new SessionManager({
      secret,
      store,
      resave: false,
      saveUninitialized: true,
      binding: { ip: true },
    });
    const req = { headers: {}, url: '/', socket: { encrypted: false, remoteAddress: '::1' } };
    await manager.open(req);
    const [header] = (await manager.commit(req)) as string[];
    const id = idOf((header as string).split(';')[0] as string);
    expect(await storedBinding(store, id)).toEqual({ ip: bindingDigest(id, 'ip', '::1') });
  });
});

describe('the binding option is validated at session(), naming the option', () => {
  const refused: [unknown, string][] = [
    [true, 'binding'],
    [null, 'binding'],
    [['userAgent'], 'binding'],
    [{}, 'binding'],
    [{ onChange: 'end' }, 'binding'],
    [{ userAgent: 'yes' }, 'binding.userAgent'],
    [{ ip: 1 }, 'binding.ip'],
    [{ userAgent: true, onChange: 'block' }, 'binding.onChange'],
    [{ userAgnet: true }, 'binding.userAgnet'],
  ];
  for (const [binding, option] of refused) {
    it(`${JSON.stringify(binding)} → ERR_INVALID_OPTION (${option})`, () => {
      expect(() => session({ secret, binding: binding as BindingOptions })).toThrow(
        expect.objectContaining({ code: 'ERR_INVALID_OPTION', option }),
      );
    });
  }

  it("accepts each property alone or both; 'report' is the default; every property false is no binding", () => {
    const resolved = (binding: BindingOptions) =>
      session({ secret, resave: false, saveUninitialized: false, binding }).manager.options.binding;
    expect(resolved({ userAgent: true })).toEqual({ properties: ['userAgent'], onChange: 'report' });
    expect(resolved({ ip: true, onChange: 'end' })).toEqual({ properties: ['ip'], onChange: 'end' });
    expect(resolved({ ip: true, userAgent: true, onChange: 'report' })).toEqual({
      properties: ['userAgent', 'ip'],
      onChange: 'report',
    });
    expect(resolved({ userAgent: false, ip: false, onChange: 'end' })).toBeUndefined();
  });
});
