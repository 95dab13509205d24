import { createServer as createHttpsServer, request as httpsRequest, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import expressSession from 'express-session';
import { Hono } from 'hono';
import { describe, expect, it } from 'vitest';
import { type SessionEnv, session } from '../../src/adapters/hono.js';
import { expressVersions } from '../support/apps.js';
import { TEST_TLS } from '../support/tls.js';

/**
 * A request that came over TLS is secure whatever `proxy` says: `proxy` only decides whether
 * X-Forwarded-Proto is trusted for one that did not, as in express-session. On Hono, whose requests carry
 * no socket, `proxy: false` (set so that a client cannot forge the header) and `proxy: true` (an app
 * reached through a TLS proxy and directly) once made every HTTPS request plain HTTP there: a Secure
 * cookie was never sent, and nobody could log in. express-session on the same TLS server is the reference.
 */

const secret = 'a-long-enough-secret-for-hono-https-0123456789';

/** GET over HTTPS, the test certificate accepted: the Set-Cookie values. */
function setCookiesOf(port: number, path: string): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest({ host: '127.0.0.1', port, path, rejectUnauthorized: false }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.headers['set-cookie'] ?? []));
    });
    req.on('error', reject);
    req.end();
  });
}

async function listening(server: Server): Promise<{ port: number; close(): Promise<void> }> {
  if (!server.listening) await new Promise((resolve) => server.once('listening', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

function honoOverTls(proxy: boolean) {
  const app = new Hono<SessionEnv>();
  app.use(session({ secret, proxy, resave: false, saveUninitialized: false, cookie: { secure: true } }));
  app.get('/login', (c) => {
    c.get('session').user = 'alice';
    return c.text('ok');
  });
  const server = serve({
    fetch: app.fetch,
    port: 0,
    hostname: '127.0.0.1',
    createServer: createHttpsServer,
    serverOptions: TEST_TLS,
  }) as unknown as Server;
  return listening(server);
}

function expressSessionOverTls(proxy: boolean) {
  const app = expressVersions[1].create();
  app.use(
    expressSession({ secret, proxy, resave: false, saveUninitialized: false, cookie: { secure: true } }),
  );
  app.get('/login', (req, res) => {
    (req.session as unknown as Record<string, unknown>).user = 'alice';
    res.send('ok');
  });
  return listening(createHttpsServer(TEST_TLS, app).listen(0, '127.0.0.1'));
}

describe('Hono over TLS (@hono/node-server): the proxy option never makes HTTPS plain', () => {
  for (const proxy of [false, true])
    it(`proxy: ${proxy}, cookie.secure: true: the Secure cookie is sent, as express-session sends it`, async () => {
      const reference = await expressSessionOverTls(proxy);
      const hono = await honoOverTls(proxy);
      try {
        const expected = await setCookiesOf(reference.port, '/login');
        expect(expected).toHaveLength(1);
        expect(expected[0]).toMatch(/; Secure/);
        const got = await setCookiesOf(hono.port, '/login');
        expect(got).toHaveLength(1);
        expect(got[0]).toMatch(/^connect\.sid=s%3A.*; Secure/);
      } finally {
        await hono.close();
        await reference.close();
      }
    });
});
