import express, { type RequestHandler } from 'express';
import expressSession from 'express-session';
import request from 'supertest';
import { describe, expect, it } from 'vitest';
import session, { MemoryStore } from '../../src/index.js';
import { setCookies } from '../support/apps.js';
import { SlowMemoryStore } from '../support/slow-store.js';

const secret = 'shared-headers-secret-0123456789abcdef';

/**
 * An application that answers every request with one constant header argument to `writeHead`, as a
 * static responder might. What the session adds must go to each response alone: a session cookie merged
 * into the shared argument would go out to every later user.
 */
function app(middleware: RequestHandler, raw: boolean) {
  const headers = raw
    ? ['Content-Type', 'text/plain', 'Set-Cookie', 'theme=dark', 'Cache-Control', 'public, max-age=60']
    : { 'Content-Type': 'text/plain', 'Set-Cookie': 'theme=dark', 'Cache-Control': 'public, max-age=60' };
  const snapshot = JSON.stringify(headers);
  const application = express();
  application.use(middleware);
  application.get('/', (req, res) => {
    (req.session as unknown as Record<string, unknown>).visited = true;
    res.writeHead(200, headers as unknown as Record<string, string>);
    res.end('ok');
  });
  return { application, unchanged: () => JSON.stringify(headers) === snapshot };
}

async function threeUsers(application: express.Express): Promise<string[][]> {
  const seen: string[][] = [];
  for (let user = 0; user < 3; user++) seen.push(setCookies(await request(application).get('/')));
  return seen;
}

describe('a writeHead header argument the application shares across responses', () => {
  for (const raw of [false, true]) {
    const form = raw ? 'a raw header array' : 'a header object';
    it.each([
      ['the MemoryStore', () => new MemoryStore()],
      ['a store that answers later', () => new SlowMemoryStore(10)],
    ])(
      `${form}: each user gets the app's cookie and their own session cookie only, on %s`,
      async (_label, store) => {
        const options = { secret, resave: false, saveUninitialized: false };
        const ours = app(
          session({
            ...options,
            store: store(),
            preset: 'owasp',
            // Over plain HTTP: the preset's __Host- name needs Secure, which browsers refuse it without.
            name: 'sid',
            cookie: { secure: false },
          }) as unknown as RequestHandler,
          raw,
        );
        const seen = await threeUsers(ours.application);
        for (const cookies of seen) {
          expect(cookies).toHaveLength(2);
          expect(cookies[0]).toBe('theme=dark');
          expect(cookies[1]).toMatch(/^sid=s%3A/);
        }
        expect(new Set(seen.map((cookies) => cookies[1])).size).toBe(3);
        expect(ours.unchanged()).toBe(true);
        // express-session leaves the shared argument as it was too (its own cookie, set with setHeader,
        // loses to the one in writeHead's argument, where sessionkit merges the two).
        const theirs = app(expressSession(options) as unknown as RequestHandler, raw);
        await threeUsers(theirs.application);
        expect(theirs.unchanged()).toBe(true);
      },
    );
  }
});

type HeaderForm = 'a flat list' | 'a list of pairs' | 'a record' | 'no header argument';
const FORMS: HeaderForm[] = ['a flat list', 'a list of pairs', 'a record', 'no header argument'];

function headerArgument(form: HeaderForm): unknown {
  if (form === 'a flat list') return ['Content-Type', 'text/plain', 'X-App', '1'];
  if (form === 'a list of pairs')
    return [
      ['Content-Type', 'text/plain'],
      ['X-App', '1'],
    ];
  if (form === 'a record') return { 'Content-Type': 'text/plain', 'X-App': '1' };
  return undefined;
}

/**
 * An application that sets a cookie of its own on the response with `setHeader`, then answers with
 * `writeHead` given its headers in one form. (Node alone takes a list of pairs only on a response with
 * no header set yet; express-session, and sessionkit when it adds a header, make it work after one.)
 */
function ownCookieApp(middleware: RequestHandler, form: HeaderForm) {
  const application = express();
  application.use(middleware);
  application.get('/', (req, res) => {
    (req.session as unknown as Record<string, unknown>).visited = true;
    res.setHeader('Set-Cookie', 'csrf=abc');
    const headers = headerArgument(form);
    if (headers === undefined) res.writeHead(200);
    else res.writeHead(200, headers as unknown as Record<string, string>);
    res.end('ok');
  });
  return application;
}

describe("the application's own headers beside writeHead's header argument", () => {
  for (const form of FORMS) {
    const own = ['csrf=abc'];
    it.each([
      ['the MemoryStore', () => new MemoryStore()],
      ['a store that answers later', () => new SlowMemoryStore(10)],
    ])(
      `${form}: the app's Set-Cookie and headers stay, beside the session cookie, on %s`,
      async (_l, store) => {
        const options = { secret, resave: false, saveUninitialized: false };
        const theirs = await request(
          ownCookieApp(expressSession(options) as unknown as RequestHandler, form),
        ).get('/');
        expect(theirs.status).toBe(200);
        expect(setCookies(theirs).map((cookie) => cookie.split('=')[0])).toEqual([
          ...own.map(() => 'csrf'),
          'connect.sid',
        ]);

        for (const preset of [undefined, 'owasp'] as const) {
          // Over plain HTTP: the owasp preset's __Host- name needs Secure, so the cookie is named `sid`.
          const name = preset === 'owasp' ? 'sid' : 'connect.sid';
          const middleware = session({ ...options, store: store(), preset, name, cookie: { secure: false } });
          const response = await request(ownCookieApp(middleware as unknown as RequestHandler, form)).get(
            '/',
          );
          expect(response.status).toBe(200);
          expect(response.text).toBe('ok');
          expect(response.headers['x-app']).toBe(form === 'no header argument' ? undefined : '1');
          const cookies = setCookies(response);
          expect(cookies.slice(0, own.length)).toEqual(own);
          expect(cookies.slice(own.length)).toHaveLength(1);
          expect(cookies[own.length]).toMatch(preset === 'owasp' ? /^sid=s%3A/ : /^connect\.sid=s%3A/);
          if (preset === 'owasp') expect(response.headers['cache-control']).toBe('no-store');
        }
      },
    );
  }
});

describe('a Set-Cookie entry without a value in writeHead’s header argument', () => {
  it.each([
    ['a record', { 'Content-Type': 'text/plain', 'Set-Cookie': undefined }],
    ['a flat list', ['Content-Type', 'text/plain', 'Set-Cookie', undefined]],
  ])('%s: the session cookie goes out alone, never a cookie named "undefined"', async (_form, headers) => {
    const application = express();
    application.use(
      session({ secret, resave: false, saveUninitialized: false, store: new SlowMemoryStore(5) }) as never,
    );
    application.get('/', (req, res) => {
      (req.session as unknown as Record<string, unknown>).visited = true;
      res.writeHead(200, headers as unknown as Record<string, string>);
      res.end('ok');
    });
    const response = await request(application).get('/');
    expect(response.status).toBe(200);
    const cookies = setCookies(response);
    expect(cookies).toHaveLength(1);
    expect(cookies[0]).toMatch(/^connect\.sid=s%3A/);
  });
});
