/**
 * Why: an app mounts the session middleware below the root (`app.use('/api', session(…))`, a Router,
 * Express 4, plain node:http behind a middleware rewriting `req.url`) with a `cookie.path`, and depends on
 * each request getting a session — or none — and the same cookie as under express-session, whatever the
 * request target's case, percent-encoding, `//`, `..`, `;`, query or absolute-form.
 *
 * Differential fuzzer over random `cookie.path` values and request targets. Observed: status, whether the
 * handler saw `req.session` / `req.sessionStore`, and the Set-Cookie (normalised; sessionkit's default
 * SameSite=Lax, a README difference, is set explicitly on both; so is its Path=/ for `path: ''`). Absolute-form targets with no path but
 * a query, and the asterisk-form "*", are covered by path-check-request-target.test.ts. `npm test` runs
 * a fixed seed; FUZZ_RUNS and FUZZ_SEED run more.
 */
import http from 'node:http';
import type net from 'node:net';
import express from 'express';
import express4 from 'express4';
import fc from 'fast-check';
import { afterAll, expect, it } from 'vitest';
import { build, norm, raw, setCookies } from '../support/raw-targets.js';
import { KINDS, type Kind } from '../support/side-by-side.js';

type Mount = 'http' | 'http-rewrite' | 'express-api' | 'express4-api' | 'router-api' | 'express-root';
const servers = new Map<string, Promise<{ port: number; close(): Promise<void> }>>();

/** What the handler saw of the session middleware. */
type Seen = http.IncomingMessage & { session?: unknown; sessionStore?: unknown };

function start(kind: Kind, mount: Mount, path: string) {
  const key = `${kind}|${mount}|${path}`;
  let s = servers.get(key);
  if (!s) {
    s = (async () => {
      const mw = build(kind, { cookie: { path, sameSite: 'lax' }, resave: false, saveUninitialized: true });
      if ('threw' in mw) throw new Error(mw.threw);
      const handler = (req: Seen, res: http.ServerResponse) => {
        res.setHeader('x-info', JSON.stringify([!!req.session, !!req.sessionStore]));
        res.end('ok');
      };
      let listener: http.RequestListener;
      if (mount === 'http' || mount === 'http-rewrite') {
        listener = (req, res) => {
          if (mount === 'http-rewrite') req.url = `/api${req.url}`;
          mw(req, res, (err?: unknown) => (err ? res.writeHead(500).end() : handler(req, res)));
        };
      } else {
        const app = (mount === 'express4-api' ? express4() : express()) as ReturnType<typeof express>;
        if (mount === 'express-root') app.use(mw as never);
        else if (mount === 'router-api') {
          const r = express.Router();
          r.use(mw as never);
          app.use('/api', r);
        } else app.use('/api', mw as never);
        app.use((req, res) => handler(req, res));
        listener = app as unknown as http.RequestListener;
      }
      const server = http.createServer(listener);
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
      return {
        port: (server.address() as net.AddressInfo).port,
        close: () =>
          new Promise<void>((r) => {
            server.closeAllConnections();
            server.close(() => r());
          }),
      };
    })();
    servers.set(key, s);
  }
  return s;
}

afterAll(async () => {
  for (const s of servers.values()) await (await s).close();
});

const seg = fc.constantFrom('api', 'API', 'ap', 'apix', 'x', '%61pi', 'api%2Fx', '..', '.', '', 'a;b', 'Api');
const cookiePath = fc.constantFrom('/', '/api', '/api/', '/API', '/ap', '/api/x', '/x', '');
const target = fc
  .record({
    segs: fc.array(seg, { minLength: 1, maxLength: 4 }),
    lead: fc.constantFrom('/', '//', 'http://example.test/', 'HTTP://Example.test:80/'),
    query: fc.option(fc.constantFrom('?a=1', '?next=/api', '?', '?x=%2F'), { nil: undefined }),
  })
  .map(({ segs, lead, query }) => `${lead}${segs.join('/')}${query ?? ''}`);
const mount = fc.constantFrom<Mount>(
  'http',
  'http-rewrite',
  'express-api',
  'express4-api',
  'router-api',
  'express-root',
);

it('mounted middleware: same session/no-session decision and cookie as express-session', async () => {
  await fc.assert(
    fc.asyncProperty(mount, cookiePath, target, async (m, path, url) => {
      const out: string[] = [];
      for (const kind of KINDS) {
        const s = await start(kind, m, path);
        const r = await raw(s.port, url);
        // `path: ''`: express-session sends no Path, sessionkit Path=/ (README differences table).
        const cookies = setCookies(r)
          .map(norm)
          .map((c) => (path === '' ? c.replace('; path=/', '') : c));
        out.push(JSON.stringify([r.status, cookies, r.headers['x-info'] ?? null]));
      }
      expect(out[1], `${m} path=${path} url=${url}`).toBe(out[0]);
    }),
    {
      numRuns: Number(process.env.FUZZ_RUNS ?? 0) || 200,
      seed: Number(process.env.FUZZ_SEED ?? 0) || 4242,
    },
  );
}, 120_000);
