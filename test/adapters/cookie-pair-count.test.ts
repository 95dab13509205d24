// First, for its effect: Next.js's request stores must exist before next/headers loads.
import '../support/next-setup.js';
/**
 * Why: a user who carries many cookies for the site (Safari, app cookie jars and proxies send more than
 * browsers keep) must stay signed in: express-session finds the session cookie wherever it is in the
 * header, and so must every sessionkit adapter, Next.js included, whose cookie jar keeps the last of a
 * repeated name while the browser sends the most specific first (SECURITY.md B03, B04).
 */
import expressSession from 'express-session';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSession } from '../../src/adapters/next.js';
import { rawH1, SECRET, type Served, seed, signed, startAll } from '../support/cookie-wire.js';
import { runNext } from '../support/next-real.js';

const others = (count: number) => Array.from({ length: count }, (_, i) => `c${i}=1`).join('; ');

describe('a session cookie after 256 other cookie pairs (HTTP/1.1, raw socket)', () => {
  const store = new expressSession.MemoryStore();
  let served: Served[] = [];
  let A = '';
  beforeAll(async () => {
    A = signed(await seed(store, 'A'));
    served = await startAll(store, 'h1');
  });
  afterAll(async () => {
    for (const s of served) await s.close();
  });

  it('loads on every adapter, as express-session loads it (300 small cookies first: 2.7 KB header)', async () => {
    const header = `${others(300)}; connect.sid=${A}`;
    const outcome: Record<string, string> = {};
    for (const s of served) outcome[s.name] = (await rawH1(s.port, [header])).body;
    expect(outcome['express-session']).toBe('A');
    expect(outcome).toEqual(Object.fromEntries(served.map((s) => [s.name, 'A'])));
  });
});

describe('Next.js: the same header, with a second session cookie past pair 256', () => {
  it('loads the first session cookie, as express-session and the other adapters do', async () => {
    const store = new expressSession.MemoryStore();
    const A = signed(await seed(store, 'A'));
    const B = signed(await seed(store, 'B'));
    const { getSession } = createSession({ secret: SECRET, resave: false, saveUninitialized: false, store });
    const header = `connect.sid=${A}; ${others(300)}; connect.sid=${B}`;
    const { result } = await runNext(
      new Request('http://localhost/', { headers: { cookie: header } }),
      async () => String((await getSession()).user ?? 'none'),
    );
    expect(result).toBe('A');
  });
});
