/**
 * Why: an app behind a TLS-terminating proxy sets `cookie: { secure: 'auto' }` (with `sameSite: 'auto'`,
 * 'lax' or 'none') and depends on the session cookie getting Secure and SameSite exactly when
 * express-session gives them: for `proxy` true / false / unset, Express `trust proxy` on / off, and every
 * X-Forwarded-Proto a proxy may send ('https', 'https,http', ' HTTPS', 'http,https', 'HTTPS ', '', 'wss',
 * 'https , http', 'Https', none). Compared: the Set-Cookie (Secure, SameSite) and
 * `req.session.cookie.secure` / `sameSite` as the handler reads them.
 */
import http from 'node:http';
import type net from 'node:net';
import express from 'express';
import { expect, it } from 'vitest';
import { build, norm, raw, setCookies } from '../support/raw-targets.js';
import { KINDS, type Kind } from '../support/side-by-side.js';

const forwardedProtos = [
  undefined,
  'https',
  'https,http',
  ' HTTPS',
  'http,https',
  'HTTPS ',
  '',
  'wss',
  'https , http',
  'Https',
];

it('secure/sameSite auto: same Secure and SameSite as express-session for every proxy setting and X-Forwarded-Proto', async () => {
  const diffs: string[] = [];
  for (const proxy of [true, false, undefined])
    for (const trust of [true, false])
      for (const ss of ['auto', 'lax', 'none'] as const) {
        const ports = {} as Record<Kind, { port: number; close: () => void }>;
        for (const kind of KINDS) {
          const mw = build(kind, {
            proxy,
            cookie: { secure: 'auto', sameSite: ss },
            saveUninitialized: true,
          });
          if ('threw' in mw) throw new Error(mw.threw);
          const app = express();
          app.set('trust proxy', trust);
          app.use(mw as never);
          app.use((req, res) => {
            res.setHeader('x-info', JSON.stringify([req.session.cookie.secure, req.session.cookie.sameSite]));
            res.end('ok');
          });
          const server = http.createServer(app);
          await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
          ports[kind] = {
            port: (server.address() as net.AddressInfo).port,
            close: () => {
              server.closeAllConnections();
              server.close();
            },
          };
        }
        for (const xfp of forwardedProtos) {
          const out: string[] = [];
          for (const kind of KINDS) {
            const r = await raw(ports[kind].port, '/', xfp === undefined ? {} : { 'x-forwarded-proto': xfp });
            out.push(JSON.stringify([r.status, setCookies(r).map(norm), r.headers['x-info']]));
          }
          if (out[0] !== out[1])
            diffs.push(
              `proxy=${proxy} trust=${trust} ss=${ss} xfp=${JSON.stringify(xfp)}\n ES ${out[0]}\n SK ${out[1]}`,
            );
        }
        for (const p of Object.values(ports)) p.close();
      }
  expect(diffs).toEqual([]);
}, 60_000);
