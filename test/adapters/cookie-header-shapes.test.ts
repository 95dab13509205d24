/**
 * Why: a session must load from whatever shape of Cookie header a browser, proxy or HTTP/2 client sends.
 * The shapes tried, over HTTP/1.1 (raw socket) and HTTP/2 (crumbs
 * included), give the same outcome on every adapter (Express 4/5, node:http, Fastify, Koa, Hono on
 * @hono/node-server, SvelteKit through @sveltejs/kit/node's getRequest), and, but for a repeated session
 * cookie whose first value is stale (SECURITY.md B04: sessionkit tries the next), the same as
 * express-session. Oversized headers: 431 on HTTP/1.1, a stream reset (Node's own limit) on HTTP/2,
 * the server still answering afterwards.
 */
import expressSession from 'express-session';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newId, rawH1, rawH2, type Served, seed, signed, startAll } from '../support/cookie-wire.js';

const n = 'connect.sid';
const store = new expressSession.MemoryStore();
let A = '';
let B = '';
let X = '';
beforeAll(async () => {
  A = signed(await seed(store, 'A'));
  B = signed(await seed(store, 'B'));
  X = signed(newId());
});

/** header -> [express-session's outcome, sessionkit's] */
const cases = (): Record<string, [string[], string, string]> => ({
  base: [[`${n}=${A}`], 'A', 'A'],
  severalFields: [['x=1', `${n}=${A}`, 'y=2'], 'A', 'A'],
  dupBothLive: [[`${n}=${A}; ${n}=${B}`], 'A', 'A'],
  dupStaleFirst: [[`${n}=${X}; ${n}=${A}`], 'none', 'A'], // B04, documented
  dupEmptyFirst: [[`${n}=; ${n}=${A}`], 'none', 'A'], // B04
  malformedBefore: [[`bad; =x; a=b=c; ${n}=${A}`], 'A', 'A'],
  quoted: [[`${n}="${A}"`], 'A', 'A'],
  tabs: [[`x=1;\t${n}\t=\t${A}\t;y=2`], 'A', 'A'],
  spaces: [[`x=1 ;  ${n} = ${A} ; y=2`], 'A', 'A'],
  unencoded: [[`${n}=${decodeURIComponent(A)}`], 'A', 'A'],
  lowerEscapes: [[`${n}=${A.replace(/%[0-9A-F]{2}/g, (m) => m.toLowerCase())}`], 'A', 'A'],
  allEscaped: [
    [
      `${n}=${[...decodeURIComponent(A)].map((c) => `%${c.charCodeAt(0).toString(16).padStart(2, '0')}`).join('')}`,
    ],
    'A',
    'A',
  ],
  badEscapeElsewhere: [[`x=%zz; ${n}=${A}`], 'A', 'A'],
  latin1Elsewhere: [[`x=\xe9\xff\xa0; ${n}=${A}`], 'A', 'A'],
  commaJoined: [[`x=1, ${n}=${A}`], 'none', 'none'],
});

describe('HTTP/1.1', () => {
  let served: Served[] = [];
  beforeAll(async () => {
    served = await startAll(store, 'h1');
  });
  afterAll(async () => {
    for (const s of served) await s.close();
  });

  it('every header shape: express-session and each adapter as expected', async () => {
    for (const [label, [fields, reference, ours]] of Object.entries(cases())) {
      for (const s of served) {
        const answer = await rawH1(s.port, fields);
        expect(`${label} ${s.name} ${answer.status} ${answer.body}`).toBe(
          `${label} ${s.name} 200 ${s.name === 'express-session' ? reference : ours}`,
        );
      }
    }
  });

  it('16 KB and 64 KB headers: 431 everywhere, and the server answers afterwards', async () => {
    for (const size of [16, 64])
      for (const s of served) {
        expect((await rawH1(s.port, [`pad=${'a'.repeat(size * 1024)}; ${n}=${A}`])).status).toBe(431);
        expect((await rawH1(s.port, [`${n}=${A}`])).body).toBe('A');
      }
  });
});

describe('HTTP/2 (node:http2 compat; Fastify http2; Hono createServer: http2)', () => {
  let served: Served[] = [];
  beforeAll(async () => {
    served = await startAll(store, 'h2');
  });
  afterAll(async () => {
    for (const s of served) await s.close();
  });

  it('cookie crumbs are joined with "; " on every adapter, and the single-field shapes agree', async () => {
    const crumbs: Record<string, [string[], string]> = {
      middle: [['x=1', `${n}=${A}`, 'y=2'], 'A'],
      first: [[`${n}=${A}`, 'y=2'], 'A'],
      staleThenLive: [[`${n}=${X}`, `${n}=${A}`], 'A'],
      latin1: [['x=\xe9', `${n}=${A}`], 'A'],
    };
    for (const s of served) {
      for (const [label, [fields, ours]] of Object.entries(crumbs))
        expect(`${label} ${s.name} ${(await rawH2(s.port, fields)).body}`).toBe(`${label} ${s.name} ${ours}`);
      for (const [label, [fields, , ours]] of Object.entries(cases()))
        expect(`${label} ${s.name} ${(await rawH2(s.port, fields.join('; '))).body}`).toBe(
          `${label} ${s.name} ${ours}`,
        );
    }
  });

  it('a 64 KB cookie or 300 crumbs: the stream is reset by Node, nothing crashes', async () => {
    for (const s of served) {
      expect((await rawH2(s.port, `pad=${'a'.repeat(64 * 1024)}; ${n}=${A}`)).status).toBe(0);
      expect(
        (await rawH2(s.port, [...Array.from({ length: 300 }, (_, i) => `c${i}=1`), `${n}=${A}`])).status,
      ).toBe(0);
      expect((await rawH2(s.port, `pad=${'a'.repeat(16 * 1024)}; ${n}=${A}`)).body).toBe('A');
    }
  });
});
