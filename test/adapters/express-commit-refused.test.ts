import express from 'express';
import request from 'supertest';
import { describe, expect, it } from 'vitest';
import type { TypedSession } from '../../src/core/session.js';
import session, { login } from '../../src/index.js';
import { cookieOf, handlesNamedBy, setCookies } from '../support/apps.js';
import { SlowMemoryStore } from '../support/slow-store.js';

/**
 * Express: the first commit of a response fails with a typed error of the application's making
 * (`ERR_SESSION_TOO_LARGE`: too much put in the session; `ERR_INVALID_COOKIE`: a "remember me" maxAge
 * computed as NaN). The hold drops the response and passes the error to `next(err)`, whose error page
 * carries no session cookie. `regenerate({ keep: true })` and `login()` under `maxSessionsPerUser` had
 * already stored the moved or signed-in session under a new ID and ended the one the browser holds: that
 * record is ended too. Left, it would be listed among the user's sessions with no cookie naming it and,
 * under `onLimit: 'refuse'`, keep the user from logging in again until it expired.
 */
const secret = 'express-failed-commit-secret-of-at-least-32-chars';

type Op = (s: TypedSession) => Promise<void>;
const operations: Array<[string, number | undefined, Op]> = [
  ['regenerate({ keep: true })', undefined, (s) => s.regenerate({ keep: true })],
  ['login() under maxSessionsPerUser', 3, (s) => login(s, 'u1')],
];
const breakers: Array<[string, (s: TypedSession) => void]> = [
  [
    'too much data (ERR_SESSION_TOO_LARGE)',
    (s) => {
      s.profile = 'x'.repeat(2_000);
    },
  ],
  [
    'a NaN maxAge (ERR_INVALID_COOKIE)',
    (s) => {
      s.cookie.maxAge = Number(undefined) * 86_400_000;
    },
  ],
];

describe('Express: a commit that fails after a session operation that stores at once', () => {
  for (const [name, limit, operation] of operations)
    for (const [how, breakIt] of breakers)
      it(`${name}, then ${how}: the store holds no session the browser was not told about`, async () => {
        const store = new SlowMemoryStore(10);
        const errors: unknown[] = [];
        const app = express();
        app.use(
          session({
            secret,
            store,
            resave: false,
            saveUninitialized: false,
            maxSessionBytes: 1_000,
            maxSessionsPerUser: limit,
          }),
        );
        app.get('/start', (req, res) => {
          (req.session as unknown as TypedSession).name = 'ada';
          res.send('ok');
        });
        app.get('/fail', async (req, res) => {
          await operation(req.session as unknown as TypedSession);
          breakIt(req.session as unknown as TypedSession);
          res.send('done');
        });
        app.use(
          (
            err: { code?: string },
            _req: express.Request,
            res: express.Response,
            _next: express.NextFunction,
          ) => {
            errors.push(err.code);
            res.status(500).send('error page');
          },
        );
        const cookie = cookieOf(await request(app).get('/start'));
        const failed = await request(app).get('/fail').set('Cookie', cookie);
        expect(failed.status).toBe(500);
        expect(errors).toEqual([how.includes('TOO_LARGE') ? 'ERR_SESSION_TOO_LARGE' : 'ERR_INVALID_COOKIE']);
        const sent = setCookies(failed);
        // Whatever the store holds must be named by a cookie the browser has: the one it sent (if still
        // stored) or one this response set.
        const named = new Set([...handlesNamedBy([cookie]), ...handlesNamedBy(sent)]);
        const unnamed = Object.keys(await store.all()).filter((handle) => !named.has(handle));
        expect(unnamed).toEqual([]);
        expect(await store.listByUser('u1')).toEqual([]);
      });
});
