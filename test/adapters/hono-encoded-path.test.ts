/**
 * A request whose path reaches a route under the cookie's Path only once percent-decoded (`/%61dmin/page`
 * for Path=/admin; any site can link there) carries no cookie: the browser compares the raw path. It must
 * get no session, as on Express, Koa and Fastify: on Hono, whose `c.req.path` is decoded, it got a fresh
 * one, and with `saveUninitialized: true` a Set-Cookie for Path=/admin replaced the user's logged-in
 * cookie there.
 */
import { getRequestListener } from '@hono/node-server';
import { Hono } from 'hono';
import request from 'supertest';
import { describe, expect, it } from 'vitest';
import { session as honoSession } from '../../src/adapters/hono.js';
import session from '../../src/index.js';
import { MemoryStore } from '../../src/stores/memory.js';
import { expressVersions, setCookies } from '../support/apps.js';

const options = () => ({
  secret: 'encoded-path-attack8-secret-0123456789abcdef',
  name: 'sid',
  store: new MemoryStore(),
  resave: false,
  saveUninitialized: true,
  cookie: { path: '/admin' },
});

describe('cookie Path and a percent-encoded request path', () => {
  it('Express: /%61dmin/page is outside Path=/admin: no session, no Set-Cookie', async () => {
    const app = expressVersions[1].create();
    app.use(session(options()));
    app.use((req, res) => res.json({ session: req.session !== undefined }));
    const res = await request(app).get('/%61dmin/page');
    expect(res.body).toEqual({ session: false });
    expect(setCookies(res)).toEqual([]);
  });

  it('Hono on @hono/node-server: the same request must not set a cookie for /admin either', async () => {
    const app = new Hono();
    app.use(honoSession(options()));
    app.get('/admin/page', (c) => c.json({ session: c.get('session' as never) != null }));
    app.notFound((c) => c.json({ session: c.get('session' as never) != null }, 404));
    const res = await request(getRequestListener(app.fetch)).get('/%61dmin/page');
    // The browser sent no cookie for this path; a Set-Cookie for Path=/admin would replace its session.
    expect(setCookies(res).filter((h) => h.startsWith('sid='))).toEqual([]);
  });
});
