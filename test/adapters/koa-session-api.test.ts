/**
 * koa-session's session accessors on sessionkit/koa, beside koa-session itself with the same lifetime:
 * `isNew`, `populated`, `length` and `maxAge` read the same through a visit, and setting `maxAge` (a
 * number, or `'session'`) changes the cookie the response sends, as in koa-session.
 */
import type Koa from 'koa';
import request from 'supertest';
import { describe, expect, it } from 'vitest';
import { StoreUnavailableError } from '../../src/core/errors.js';
import { type KoaFlavor, koaApp } from '../support/koa-flavors.js';
import { SlowMemoryStore } from '../support/slow-store.js';

const MAX_AGE = 60_000;

interface KoaSessionLike {
  isNew: boolean;
  populated: boolean;
  length: number;
  maxAge: number | 'session';
  user?: string;
}

function appFor(flavor: KoaFlavor): Koa {
  const app = koaApp(flavor, {
    sessionkit: { cookie: { maxAge: MAX_AGE } },
    koaSession: { maxAge: MAX_AGE },
  });
  app.use(async (ctx) => {
    const s = ctx.session as unknown as KoaSessionLike;
    if (ctx.path === '/set') s.user = 'alice';
    else if (ctx.path === '/short') s.maxAge = 5_000;
    else if (ctx.path === '/browser') s.maxAge = 'session';
    ctx.body = { isNew: s.isNew, populated: s.populated, length: s.length, maxAge: s.maxAge };
  });
  return app;
}

/** The session cookie's pair and its Expires, from a response's Set-Cookie lines. */
function sessionCookie(res: { headers: Record<string, unknown> }, name: string) {
  const line = ((res.headers['set-cookie'] as string[] | undefined) ?? []).find((l) =>
    l.startsWith(`${name}=`),
  );
  if (line === undefined) return null;
  const expires = /expires=([^;]+)/i.exec(line)?.[1];
  return { pair: line.split(';')[0] as string, expires: expires ? Date.parse(expires) : null };
}

/** Every cookie pair a response set, for the next request (koa-session signs with a second cookie). */
function cookies(res: { headers: Record<string, unknown> }): string {
  return ((res.headers['set-cookie'] as string[] | undefined) ?? []).map((l) => l.split(';')[0]).join('; ');
}

describe("Koa: koa-session's session accessors", () => {
  it('isNew, populated, length and maxAge read as in koa-session through a visit', async () => {
    const seen: Record<KoaFlavor, unknown[]> = { 'koa-session': [], sessionkit: [] };
    for (const flavor of ['koa-session', 'sessionkit'] as const) {
      const app = appFor(flavor);
      seen[flavor].push((await request(app.callback()).get('/info')).body);
      const set = await request(app.callback()).get('/set');
      seen[flavor].push(set.body);
      seen[flavor].push((await request(app.callback()).get('/info').set('Cookie', cookies(set))).body);
    }
    expect(seen.sessionkit).toEqual(seen['koa-session']);
    expect(seen.sessionkit).toEqual([
      { isNew: true, populated: false, length: 0, maxAge: MAX_AGE },
      { isNew: true, populated: true, length: 1, maxAge: MAX_AGE },
      { isNew: false, populated: true, length: 1, maxAge: MAX_AGE },
    ]);
  });

  it("setting maxAge, to a number or 'session', changes the cookie the response sends", async () => {
    for (const [flavor, name] of [
      ['koa-session', 'koa.sess'],
      ['sessionkit', 'connect.sid'],
    ] as const) {
      const app = appFor(flavor);
      const set = await request(app.callback()).get('/set');
      const jar = cookies(set);
      const before = Date.now();
      const short = await request(app.callback()).get('/short').set('Cookie', jar);
      expect(short.body.maxAge, flavor).toBe(5_000);
      const shortCookie = sessionCookie(short, name);
      expect(shortCookie?.expires, flavor).toBeGreaterThan(before + 3_000);
      expect(shortCookie?.expires, flavor).toBeLessThan(before + 7_000);
      const browser = await request(app.callback()).get('/browser').set('Cookie', jar);
      expect(browser.body.maxAge, flavor).toBe('session');
      const browserCookie = sessionCookie(browser, name);
      expect(browserCookie, flavor).not.toBeNull();
      expect(browserCookie?.expires, flavor).toBeNull();
    }
  });
});

describe("Koa: koa-session's autoCommit: false and manuallyCommit()", () => {
  /**
   * `/read` shows the session; any other path writes `user`, commits by hand on `/commit…`, and on
   * `/commit-then-more` changes the session again after that commit.
   */
  function manualApp(flavor: KoaFlavor, autoCommit: boolean): Koa {
    const app = koaApp(flavor, { sessionkit: { autoCommit }, koaSession: { autoCommit } });
    app.use(async (ctx) => {
      const s = ctx.session as unknown as Record<string, unknown> & { manuallyCommit(): Promise<void> };
      if (ctx.path === '/read') {
        ctx.body = { user: s.user ?? null, more: s.more ?? null };
        return;
      }
      s.user = ctx.path.slice(1);
      if (ctx.path.startsWith('/commit')) await s.manuallyCommit();
      if (ctx.path === '/commit-then-more') s.more = 'yes';
      ctx.body = 'ok';
    });
    return app;
  }

  /** One write, then what a request with the cookies it set reads back (null: it set none). */
  async function writeThenRead(flavor: KoaFlavor, autoCommit: boolean, path: string) {
    const app = manualApp(flavor, autoCommit);
    const write = await request(app.callback()).get(path);
    const jar = cookies(write);
    if (jar === '') return null;
    return (await request(app.callback()).get('/read').set('Cookie', jar)).body as unknown;
  }

  it('stores and sends nothing without a manual commit, what the commit saw with one; autoCommit then stores the rest', async () => {
    const cases = [
      [false, '/plain'],
      [false, '/commit'],
      [false, '/commit-then-more'],
      [true, '/plain'],
      [true, '/commit-then-more'],
    ] as const;
    const seen: Record<KoaFlavor, unknown[]> = { 'koa-session': [], sessionkit: [] };
    for (const flavor of ['koa-session', 'sessionkit'] as const)
      for (const [autoCommit, path] of cases)
        seen[flavor].push(await writeThenRead(flavor, autoCommit, path));
    expect(seen.sessionkit).toEqual(seen['koa-session']);
    expect(seen.sessionkit).toEqual([
      null,
      { user: 'commit', more: null },
      { user: 'commit-then-more', more: null },
      { user: 'plain', more: null },
      { user: 'commit-then-more', more: 'yes' },
    ]);
  });

  it('a manual commit and the automatic one after it send one session cookie', async () => {
    const write = await request(manualApp('sessionkit', true).callback()).get('/commit-then-more');
    const lines = (write.headers['set-cookie'] as string[] | undefined) ?? [];
    expect(lines.filter((line) => line.startsWith('connect.sid='))).toHaveLength(1);
  });

  it('an un-awaited manual commit, then the automatic one, on a store that answers later: one session, as koa-session', async () => {
    const seen: unknown[] = [];
    for (const flavor of ['koa-session', 'sessionkit'] as const) {
      const app = koaApp(flavor);
      app.use(async (ctx) => {
        const s = ctx.session as unknown as Record<string, unknown> & { manuallyCommit(): Promise<void> };
        if (ctx.path === '/read') {
          ctx.body = { user: s.user ?? null };
          return;
        }
        s.user = 'alice';
        // As koa-session's README writes it: not awaited.
        void s.manuallyCommit();
        ctx.body = 'ok';
      });
      const write = await request(app.callback()).get('/write');
      const read = await request(app.callback()).get('/read').set('Cookie', cookies(write));
      seen.push({ status: write.status, read: read.body });
    }
    expect(seen[1]).toEqual(seen[0]);
    expect(seen[1]).toEqual({ status: 200, read: { user: 'alice' } });
  });

  it('a data key named constructor does not stop a manual commit (request bodies merged into the session)', async () => {
    const app = koaApp('sessionkit', { sessionkit: { autoCommit: false } });
    app.use(async (ctx) => {
      const s = ctx.session as unknown as Record<string, unknown> & { manuallyCommit(): Promise<void> };
      Object.assign(s, JSON.parse('{"constructor":"x","user":"alice"}'));
      await s.manuallyCommit();
      ctx.body = 'ok';
    });
    const write = await request(app.callback()).get('/');
    expect(write.status).toBe(200);
    expect(write.headers['set-cookie']).toHaveLength(1);
  });

  it('after a manual commit that failed, nothing more is committed: one create, no cookie', async () => {
    const store = new SlowMemoryStore(1);
    const calls: string[] = [];
    let failing = true;
    const create = store.create.bind(store);
    store.create = async (id, record) => {
      calls.push('create');
      if (failing) throw new StoreUnavailableError('create', 'refused for the test');
      return create(id, record);
    };
    const app = koaApp('sessionkit', { sessionkit: { store } });
    app.use(async (ctx) => {
      const s = ctx.session as unknown as Record<string, unknown> & { manuallyCommit(): Promise<void> };
      s.user = 'alice';
      await s.manuallyCommit().catch(() => undefined);
      // The store is back before the automatic commit: that create of the same ID could land before the
      // destroy sent behind the failed one.
      failing = false;
      ctx.body = 'ok';
    });
    const write = await request(app.callback()).get('/');
    expect(write.status).toBe(200);
    expect(write.headers['set-cookie']).toBeUndefined();
    expect(calls).toEqual(['create']);
  });

  it("the owasp preset's Cache-Control: no-store holds over the application's, after a manual commit", async () => {
    for (const autoCommit of [false, true]) {
      const app = koaApp('sessionkit', { sessionkit: { preset: 'owasp', autoCommit } });
      // The preset's cookie is Secure: the request arrives over HTTPS through a proxy.
      app.proxy = true;
      app.use(async (ctx) => {
        const s = ctx.session as unknown as Record<string, unknown> & { manuallyCommit(): Promise<void> };
        s.user = 'alice';
        await s.manuallyCommit();
        ctx.set('Cache-Control', 'public, max-age=600');
        ctx.body = 'ok';
      });
      const write = await request(app.callback()).get('/').set('X-Forwarded-Proto', 'https');
      expect(write.headers['set-cookie'], `autoCommit ${autoCommit}`).toHaveLength(1);
      expect(write.headers['cache-control'], `autoCommit ${autoCommit}`).toBe('no-store');
    }
  });

  it('refuses an autoCommit that is not a boolean', () => {
    expect(() => koaApp('sessionkit', { sessionkit: { autoCommit: 'no' as never } })).toThrow(
      expect.objectContaining({ code: 'ERR_INVALID_OPTION', option: 'autoCommit' }),
    );
  });
});
