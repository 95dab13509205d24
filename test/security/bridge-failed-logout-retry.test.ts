/**
 * Why: a logout whose store destroy fails answers 500 (documented), and the user retries it. Through an
 * express-session store the retry must end the stored session, as under express-session: a "logged out"
 * answer while the record stays at the store would leave a stolen cookie working on every other server,
 * and on this one after a restart. Meanwhile this process must still never serve nor write back the
 * session it was asked to destroy.
 */
import type express from 'express';
import expressSession from 'express-session';
import request from 'supertest';
import { describe, expect, it } from 'vitest';
import { generateId } from '../../src/core/id.js';
import session from '../../src/index.js';
import { ExpressStoreBridge } from '../../src/stores/express-compat/bridge.js';
import type { ExpressStoreLike } from '../../src/stores/express-compat/store.js';
import { record } from '../stores/conformance.js';
import { cookieOf, expressVersions } from '../support/apps.js';
import { MisbehavingStore } from '../support/misbehaving-store.js';

const secret = 'bridge-logout-retry-secret-0123456789abc';

/** Makes the store's next `times` destroys fail, then lets them through. */
function failDestroys(store: ExpressStoreLike, times: number): void {
  const destroy = store.destroy.bind(store);
  let failures = 0;
  store.destroy = (id, cb) => {
    if (failures++ < times) {
      setImmediate(() => cb?.(new Error('transient')));
      return undefined;
    }
    return destroy(id, cb);
  };
}

function innerGet(store: ExpressStoreLike, sid: string): Promise<unknown> {
  return new Promise((resolve, reject) => store.get(sid, (err, sess) => (err ? reject(err) : resolve(sess))));
}

describe.each(expressVersions)('$name: a logout retried after its destroy failed once', ({ create }) => {
  it('destroys the stored session', async () => {
    const store = new MisbehavingStore();
    const app = create();
    app.use(session({ secret, store: store as never, resave: false, saveUninitialized: false }));
    app.get('/login', (req, res) => {
      (req.session as unknown as { user: string }).user = 'alice';
      res.send('in');
    });
    app.get('/logout', (req, res, next) => req.session.destroy((e) => (e ? next(e) : res.send('out'))));
    app.use(((err, _req, res, _next) =>
      res.status(500).send(String(err?.message))) as express.ErrorRequestHandler);
    const cookie = cookieOf(await request(app).get('/login').expect(200));
    const sid = [...store.data.keys()][0] as string;

    failDestroys(store as unknown as ExpressStoreLike, 1);
    expect((await request(app).get('/logout').set('Cookie', cookie)).status).toBe(500);
    expect((await request(app).get('/logout').set('Cookie', cookie)).status).toBe(200);

    // Another app server on the same backend (its own store object over the same data).
    const other = new MisbehavingStore();
    Object.defineProperty(other, 'data', { value: store.data });
    const otherApp = create();
    otherApp.use(session({ secret, store: other as never, resave: false, saveUninitialized: false }));
    otherApp.get('/me', (req, res) =>
      res.json({ user: (req.session as unknown as { user?: string }).user ?? null }),
    );
    const me = await request(otherApp).get('/me').set('Cookie', cookie);
    expect({ stored: store.data.has(sid), user: me.body.user }).toEqual({ stored: false, user: null });
  });
});

describe('bridge: a destroy the store failed', () => {
  it('is sent again by the next read, which fails while the store still fails it', async () => {
    const inner = new expressSession.MemoryStore() as unknown as ExpressStoreLike;
    const bridge = new ExpressStoreBridge(inner);
    const id = generateId();
    await bridge.create(id, record());
    failDestroys(inner, 2);
    await expect(bridge.destroy(id)).rejects.toThrow('transient');
    // This process never writes the ID back, whatever the store still holds.
    await bridge.set(id, record({ data: { late: true } }));
    expect(await innerGet(inner, id)).toMatchObject({ cookie: expect.anything() });
    expect(await innerGet(inner, id)).not.toMatchObject({ late: true });
    await expect(bridge.get(id)).rejects.toThrow('transient');
    expect(await bridge.get(id)).toBeNull();
    expect(await innerGet(inner, id)).toBeUndefined();
    // Confirmed: later reads answer at once, with no further destroy.
    failDestroys(inner, 1);
    expect(await bridge.get(id)).toBeNull();
  });
});
