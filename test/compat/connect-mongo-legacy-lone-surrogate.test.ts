/**
 * Why: what a user depends on: README "Migrating from express-session" step 2 and docs/stores/mongodb.md
 * "Migrating from connect-mongo": switch to MongoStore with `legacy: 'connect-mongo'` and "nobody is logged
 * out": the session express-session + connect-mongo kept is read, and moved on its next write or touch.
 *
 * An application that stores a truncated string (`title.slice(0, 20)` cutting an emoji in half, a
 * common preview/breadcrumb) holds a lone surrogate in its session. express-session + connect-mongo (its
 * default `stringify: true`) keeps it without complaint: JSON.stringify escapes it (`"\ud83d"`), and every
 * later write and touch of that session works.
 *
 * After the switch, sessionkit reads the session (the handler sees the same data), but the move to the
 * native layout writes the whole record, and MongoStore refuses any lone surrogate in it with
 * ERR_SESSION_DATA (src/stores/contract.ts checkWellFormedJson, documented for data the *application*
 * writes). So the migrated user's every write is a 500, although the request only set an unrelated key,
 * and `login()` fails too. express-session side by side: all 200.
 *
 * Moving such a document to the native layout replaces the lone surrogate with U+FFFD, as the MongoDB
 * driver would encode it: the move, the write and a login go on; data the request itself sets is still
 * checked (ERR_SESSION_DATA).
 */
import express, { type RequestHandler } from 'express';
import expressSession from 'express-session';
import request from 'supertest';
import { afterAll, describe, expect, it } from 'vitest';
import session, { type ExpressStoreLike, login, type Session, type SessionStore } from '../../src/index.js';
import { cookieOf } from '../support/apps.js';
import { type MongoBackend, openConnectMongo, releaseMongo } from '../support/connect-mongo-backend.js';
import { secret } from '../support/migration-apps.js';

let backend: MongoBackend;
afterAll(async () => {
  await backend?.close();
  await releaseMongo();
});

type S = { preview?: string; views?: number; user?: string };
function app(kind: 'express-session' | 'sessionkit', store: ExpressStoreLike | SessionStore) {
  const a = express();
  const options = { secret, resave: false, saveUninitialized: false };
  a.use(
    kind === 'sessionkit'
      ? (session({ ...options, store, logger: { warn() {}, error() {} } }) as unknown as RequestHandler)
      : expressSession({ ...options, store: store as ExpressStoreLike }),
  );
  const s = (req: unknown) => (req as { session: S }).session;
  a.get('/put', (req, res) => {
    // "😀 party".slice(0, 1): half of the emoji.
    s(req).preview = '😀 party'.slice(0, 1);
    s(req).user = 'alice';
    res.send('ok');
  });
  a.get('/read', (req, res) => res.send(`${s(req).user ?? 'anonymous'} ${s(req).preview === '\ud83d'}`));
  a.get('/view', (req, res) => {
    s(req).views = (s(req).views ?? 0) + 1;
    res.send(`${s(req).user ?? 'anonymous'} views ${s(req).views}`);
  });
  a.get('/login', async (req, res, next) => {
    try {
      if (kind === 'sessionkit') await login(s(req) as unknown as Session, 'alice');
      else
        await new Promise<void>((ok, ko) =>
          (req.session as unknown as Session).regenerate((e: unknown) => (e ? ko(e) : ok())),
        );
      res.send('in');
    } catch (e) {
      next(e);
    }
  });
  return a;
}

describe('connect-mongo (stringify: true, its default): a session holding a lone surrogate', () => {
  it('moves to MongoStore legacy and keeps working, as it does on express-session', async () => {
    backend = await openConnectMongo({});
    const es = app('express-session', backend.anchor);
    const sk = app('sessionkit', backend.native);

    const [c1, c2] = [
      cookieOf(await request(es).get('/put').expect(200)),
      cookieOf(await request(es).get('/put').expect(200)),
    ];
    // express-session: read, write, regenerate all fine.
    const esRead = await request(es).get('/read').set('Cookie', c1);
    const esView = await request(es).get('/view').set('Cookie', c1);
    const esLogin = await request(es).get('/login').set('Cookie', c1);
    expect([esRead.status, esRead.text, esView.status, esView.text, esLogin.status]).toEqual([
      200,
      'alice true',
      200,
      'alice views 1',
      200,
    ]);

    // sessionkit legacy: the read works...
    const skRead = await request(sk).get('/read').set('Cookie', c2);
    expect([skRead.status, skRead.text]).toEqual([200, 'alice true']);
    // ...and so must the first write, which moves the session (the request sets only `views`),
    const skView = await request(sk).get('/view').set('Cookie', c2);
    // ...and a login.
    const skLogin = await request(sk).get('/login').set('Cookie', c2);
    expect({
      view: [skView.status, skView.text],
      login: skLogin.status,
    }).toEqual({ view: [200, 'alice views 1'], login: 200 });
  });
});
