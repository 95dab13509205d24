/**
 * koa-session's session accessors on sessionkit/koa, beside koa-session itself with the same lifetime:
 * `isNew`, `populated`, `length` and `maxAge` read the same through a visit, and setting `maxAge` (a
 * number, or `'session'`) changes the cookie the response sends, as in koa-session.
 */
import type Koa from 'koa';
import request from 'supertest';
import { describe, expect, it } from 'vitest';
import { type KoaFlavor, koaApp } from '../support/koa-flavors.js';

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

  it('refuses an autoCommit that is not a boolean', () => {
    expect(() => koaApp('sessionkit', { sessionkit: { autoCommit: 'no' as never } })).toThrow(
      expect.objectContaining({ code: 'ERR_INVALID_OPTION', option: 'autoCommit' }),
    );
  });
});
