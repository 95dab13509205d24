/**
 * What a reader of each seed article does with its app: the requests, in order, that the article's
 * routes invite. Each scenario builds the article's app and drives it with one Browser; the suite runs
 * it once per implementation and compares the steps.
 */
import type { Express } from 'express';
import {
  article000,
  article001,
  article002,
  article003,
  article004,
  type ExpressFactory,
  type SessionFactory,
} from './articles.mjs';
import type { Browser, Step } from './browser.js';

export interface Scenario {
  name: string;
  build(session: SessionFactory, store: unknown, express?: ExpressFactory): Express;
  drive(b: Browser): Promise<Step[]>;
}

/** The Origin article 004's cors allows with credentials. */
export const ORIGIN = 'http://app.example.test';

const CORS_HEADERS = [
  'access-control-allow-origin',
  'access-control-allow-credentials',
  'access-control-allow-methods',
  'vary',
];

const jsonPost = (body: unknown, headers: Record<string, string> = {}): RequestInit => ({
  method: 'POST',
  body: JSON.stringify(body),
  headers: { 'content-type': 'application/json', ...headers },
});

export const SCENARIOS: Scenario[] = [
  {
    name: '000 set/read/remove',
    build: article000,
    drive: (b) =>
      b.walk([
        ['read0', '/readSession'],
        ['set', '/setSession'],
        ['read1', '/readSession'],
        ['read2', '/readSession'],
        ['remove', '/removeSession'],
        ['read3', '/readSession'],
        ['set2', '/setSession'],
        ['read4', '/readSession'],
      ]),
  },
  {
    // The same app with `rolling: true` added, the option readers add next to keep a session alive.
    name: '000r set/read/remove with rolling',
    build: (session, store, express) =>
      article000((options) => session({ ...options, rolling: true }), store, express),
    drive: (b) =>
      b.walk([
        ['read0', '/readSession'],
        ['set', '/setSession'],
        ['read1', '/readSession'],
        ['remove', '/removeSession'],
        ['read3', '/readSession'],
      ]),
  },
  {
    name: '001 reg/login/home/logout',
    build: article001,
    drive: (b) =>
      b.walk([
        ['home0', '/home'],
        [
          'reg',
          '/reg',
          {
            method: 'POST',
            body: 'username=zs&password=1',
            headers: { 'content-type': 'application/x-www-form-urlencoded' },
          },
        ],
        ['login', '/login?username=zs&password=1'],
        ['home1', '/home'],
        ['root', '/'],
        ['logout', '/logout'],
        ['home2', '/home'],
        ['login2', '/login?username=zs&password=1'],
        ['home3', '/home'],
      ]),
  },
  {
    name: '002 json login/logout (Express 4, static, *)',
    // Always on the Express 4 the article was written for.
    build: (session, store) => article002(session, store),
    drive: async (b) => {
      // Behind the article's proxy (trust proxy): the requests come as HTTPS.
      const login = (body: unknown) => jsonPost(body, { 'x-forwarded-proto': 'https' });
      const first = await fetch(`${b.base}/index.html`);
      const etag = first.headers.get('etag') ?? '';
      await first.text();
      return b.walk([
        ['index', '/'],
        ['index-304', '/index.html', { headers: { 'if-none-match': etag } }],
        ['head', '/index.html', { method: 'HEAD' }],
        ['me0', '/me'],
        ['bad', '/login', login({ email: 'a@b.c', password: 'no' })],
        ['good', '/login', login({ email: 'a@b.c', password: 'pw' })],
        ['me1', '/me'],
        ['deep', '/some/page'],
        ['logout', '/logout'],
        ['me2', '/me'],
      ]);
    },
  },
  ...(['memory', 'redis', 'mongo'] as const).map(
    (variant): Scenario => ({
      name: `003 cookie-parser counter (${variant})`,
      build: (session, store, express) => article003(session, store, variant, express),
      drive: (b) =>
        b.walk([
          ['v1', '/'],
          ['v2', '/'],
          ['v3', '/anything'],
          ['v4', '/'],
        ]),
    }),
  ),
  ...(['cors-first', 'session-first', 'session-first-uninit'] as const).map(
    (order): Scenario => ({
      name: `004 mysql + cors credentials (${order})`,
      build: (session, store, express) => article004(session, store, order, express),
      drive: (b) => {
        const preflight = (method: string, headers: Record<string, string> = {}): RequestInit => ({
          method: 'OPTIONS',
          headers: { 'access-control-request-method': method, ...headers },
        });
        return b.walk(
          [
            ['v1', '/'],
            ['v2', '/'],
            [
              'preflight',
              '/api/login',
              preflight('POST', { 'access-control-request-headers': 'content-type' }),
            ],
            ['login', '/api/login', jsonPost({ name: 'li' })],
            ['data', '/api/data'],
            ['v3', '/'],
            ['preflight-out', '/api/logout', preflight('POST')],
            ['logout', '/api/logout', { method: 'POST' }],
            ['data2', '/api/data'],
          ],
          CORS_HEADERS,
        );
      },
    }),
  ),
];
