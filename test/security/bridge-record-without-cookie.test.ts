/**
 * Why: a record in an express-session store without a `cookie` object was not written by express-session
 * (nor by sessionkit): another program, a hand edit, a half-migrated row. An application depends on such
 * a record being a fresh session, reported as corrupt on the `error` event (README "Differences from
 * express-session", row 1), never served with its data: one holding only a user ID would be a login.
 */
import request from 'supertest';
import { describe, expect, it } from 'vitest';
import session from '../../src/index.js';
import { cookieOf, expressVersions } from '../support/apps.js';
import { MisbehavingStore } from '../support/misbehaving-store.js';

const secret = 'bridge-no-cookie-secret-0123456789abcdef';

describe.each(expressVersions)(
  '$name: an express-session store record without a cookie field',
  ({ create }) => {
    it.each([
      ['no cookie field', { user: 'alice' }],
      ['a cookie that is no object', { user: 'alice', cookie: 'x' }],
      ['a null cookie', { user: 'alice', cookie: null }],
    ])('%s: a fresh session, reported as corrupt', async (_, stored) => {
      const store = new MisbehavingStore();
      const middleware = session({ secret, store: store as never, resave: false, saveUninitialized: false });
      const errors: { code?: string }[] = [];
      middleware.manager.on('error', (error) => errors.push(error as { code?: string }));
      const app = create();
      app.use(middleware);
      app.get('/login', (req, res) => {
        (req.session as unknown as { user: string }).user = 'alice';
        res.send('ok');
      });
      app.get('/me', (req, res) =>
        res.json({ user: (req.session as unknown as { user?: string }).user ?? null }),
      );
      const cookie = cookieOf(await request(app).get('/login').expect(200));
      const sid = [...store.data.keys()][0] as string;
      store.data.set(sid, JSON.stringify(stored));
      const res = await request(app).get('/me').set('Cookie', cookie);
      expect({ status: res.status, body: res.body, reported: errors.map((e) => e.code) }).toEqual({
        status: 200,
        body: { user: null },
        reported: ['ERR_SESSION_CORRUPT'],
      });
    });
  },
);
