/**
 * What a user depends on: cookie attribute values in another letter case, and null flags, are ones a
 * browser accepts, whether the application sets them per request or another writer stores them.
 *
 * What sessionkit does: SameSite and Priority in other letter cases (`'LAX'`, `'High'`) and
 * `httpOnly: null`, set on `req.session.cookie` or found in a stored record written directly through the
 * store API (MemoryStore and Redis), give a Set-Cookie a browser stores, the session loads on the next
 * requests, and a logout then clears it.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { logout, MemoryStore } from '../../src/index.js';
import { RedisStore } from '../../src/stores/redis.js';
import { appOf, browserRejects, FRAMEWORKS, HTTPS, pairOf } from '../support/browser-cookies.js';
import { RedisServer } from '../support/redis-servers.js';

let server: RedisServer;
let client: Redis;
const dir = mkdtempSync(join(tmpdir(), 'cookie-rules-'));
beforeAll(async () => {
  server = await RedisServer.startOnFreePort(dir);
  client = new Redis(server.port, '127.0.0.1');
});
afterAll(async () => {
  client?.disconnect();
  await server?.stop();
  rmSync(dir, { recursive: true, force: true });
});

const values = { sameSite: 'LAX', priority: 'High', httpOnly: null };
const idOf = (h: string) => {
  const v = decodeURIComponent(pairOf([h]).split('=')[1] as string);
  return v.slice(2, v.lastIndexOf('.'));
};

describe('other letter cases and null flags load', () => {
  for (const harness of FRAMEWORKS) {
    for (const storeKind of ['memory', 'redis'] as const) {
      for (const how of ['per request', 'stored directly'] as const) {
        it(`${harness.name}, ${storeKind}, ${how}`, async () => {
          const store =
            storeKind === 'memory'
              ? new MemoryStore()
              : new RedisStore({ client, prefix: `cookie-rules:${Math.random().toString(36).slice(2)}:` });
          const app = await appOf(
            harness,
            { store: store as never, cookie: { maxAge: 60_000 } },
            {
              '/login': ({ session }) => {
                const s = session() as unknown as Record<string, unknown> & {
                  cookie: Record<string, unknown>;
                };
                s.user = 'alice';
                if (how === 'per request') Object.assign(s.cookie, values);
                return 'ok';
              },
              '/me': ({ session }) => String((session() as unknown as Record<string, unknown>).user),
              '/write': ({ session }) => {
                (session() as unknown as Record<string, unknown>).n = 1;
                return String((session() as unknown as Record<string, unknown>).user);
              },
              '/out': async ({ session }) => {
                await logout(session() as never);
                return 'bye';
              },
            },
          );
          try {
            const login = await app.request('/login', HTTPS);
            for (const h of login.setCookie) expect(browserRejects(h), h).toBeNull();
            if (how === 'stored directly') {
              const id = idOf(login.setCookie[0] as string);
              const record = await store.get(id);
              await store.set(id, { ...record!, cookie: { ...record!.cookie, ...values } as never });
            }
            const cookie = pairOf(login.setCookie);
            for (const p of ['/me', '/write', '/me']) {
              const r = await app.request(p, { ...HTTPS, cookie });
              expect(r.status).toBe(200);
              expect(r.body).toContain('alice');
              for (const h of r.setCookie) expect(browserRejects(h), h).toBeNull();
            }
            const out = await app.request('/out', { ...HTTPS, cookie });
            expect(out.status).toBe(200);
            expect(out.setCookie.some((h) => /Expires=Thu, 01 Jan 1970/.test(h))).toBe(true);
          } finally {
            await app.close?.();
          }
        });
      }
    }
  }
});
