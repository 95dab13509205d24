/**
 * Why: an application migrating from koa-session path by path keeps koa-session on some paths and
 * sessionkit on the others (`session(CONFIG, app)` takes koa-session's call shape for that). koa-session
 * puts a `ctx.session` accessor on `app.context` when it is set up, so every request's ctx has one: the
 * application depends on sessionkit's paths still getting a sessionkit session (stored, with its cookie),
 * on koa-session's idioms (`ctx.session = null`, `ctx.session = { … }`) acting on it there, and on
 * koa-session's paths being left to koa-session.
 */
import Koa from 'koa';
import koaSession from 'koa-session';
import request from 'supertest';
import { describe, expect, it } from 'vitest';
import { session as koaSessionkit } from '../../src/adapters/koa.js';
import { MemoryStore } from '../../src/index.js';

const SECRET = 'beside-legacy-secret-0123456789abcdefghij';
type Counted = { n?: number };

function mixedApp(store: MemoryStore): Koa {
  const app = new Koa();
  app.keys = [SECRET];
  const legacy = koaSession({ key: 'old' } as never, app);
  const sk = koaSessionkit(
    { name: 'new', secret: SECRET, store, resave: false, saveUninitialized: false },
    app,
  );
  app.use((ctx, next) => (ctx.path.startsWith('/legacy') ? legacy(ctx, next) : sk(ctx, next)));
  app.use((ctx) => {
    const holder = ctx as unknown as { session: Counted | null };
    if (ctx.path.endsWith('/logout')) holder.session = null;
    else if (ctx.path.endsWith('/replace')) holder.session = { n: 10 };
    else {
      const s = holder.session as Counted;
      s.n = (s.n ?? 0) + 1;
    }
    ctx.body = `n=${(holder.session as Counted | null)?.n}`;
  });
  return app;
}

/** The cookie pairs a response set, for the next request. */
const cookiesOf = (res: request.Response) =>
  ((res.headers['set-cookie'] as unknown as string[] | undefined) ?? [])
    .map((c) => c.split(';')[0])
    .join('; ');
const namesOf = (res: request.Response) =>
  ((res.headers['set-cookie'] as unknown as string[] | undefined) ?? []).map((c) => c.split('=')[0]);

describe('sessionkit/koa beside koa-session, on different paths of one app', () => {
  it("sessionkit's paths get a sessionkit session, stored under its cookie", async () => {
    const store = new MemoryStore();
    const server = mixedApp(store).callback();
    const first = await request(server).get('/x').expect(200, 'n=1');
    expect(namesOf(first)).toEqual(['new']);
    await request(server).get('/x').set('Cookie', cookiesOf(first)).expect(200, 'n=2');
    expect(await store.length()).toBe(1);
  });

  it("koa-session's paths keep koa-session's session", async () => {
    const server = mixedApp(new MemoryStore()).callback();
    const first = await request(server).get('/legacy/x').expect(200, 'n=1');
    expect(namesOf(first)).toEqual(['old', 'old.sig']);
    await request(server).get('/legacy/x').set('Cookie', cookiesOf(first)).expect(200, 'n=2');
  });

  it('`ctx.session = { … }` and `ctx.session = null` act on the sessionkit session', async () => {
    const store = new MemoryStore();
    const server = mixedApp(store).callback();
    const cookie = cookiesOf(await request(server).get('/x').expect(200, 'n=1'));
    await request(server).get('/replace').set('Cookie', cookie).expect(200, 'n=10');
    await request(server).get('/x').set('Cookie', cookie).expect(200, 'n=11');
    await request(server).get('/logout').set('Cookie', cookie).expect(200, 'n=undefined');
    expect(await store.length()).toBe(0);
    await request(server).get('/x').set('Cookie', cookie).expect(200, 'n=1');
  });
});
