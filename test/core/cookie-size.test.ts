import express from 'express';
import expressSession from 'express-session';
import request from 'supertest';
import { describe, expect, it } from 'vitest';
import session, { MemoryStore, SessionError } from '../../src/index.js';
import { jsonErrors, setCookies } from '../support/apps.js';

/**
 * C27: what browsers keep of a cookie (RFC 6265bis): name and value together up to 4096 bytes, each
 * attribute value up to 1024. A longer cookie is dropped, a longer attribute ignored, both without a
 * word: the session is lost, or its cookie lands on another scope. sessionkit refuses such a cookie
 * before it is ever sent.
 */
const secret = 'cookie-size-secret-0123456789abcdef0123';
const PAIR_LIMIT = 4096;
const ATTRIBUTE_LIMIT = 1024;

/** A valid domain of exactly `length` characters, in labels of at most 63. */
function domainOf(length: number): string {
  let domain = 'com';
  while (domain.length < length) {
    const label = Math.min(63, length - domain.length - 1);
    domain = label > 0 ? `${'d'.repeat(label)}.${domain}` : `d${domain}`;
  }
  return domain;
}

/** The `name=value` part of a Set-Cookie header. */
const pairOf = (header: string) => header.slice(0, header.indexOf(';'));

function optionError(options: Parameters<typeof session>[0]): unknown {
  try {
    session(options);
    return null;
  } catch (error) {
    return error;
  }
}

describe('cookie size limits (C27)', () => {
  it('the longest name allowed, with the longest ID to escape, still fits 4096 bytes of name and value', async () => {
    // Every character of this ID is percent-encoded (three bytes) in the cookie: the worst case.
    const longestId = '#'.repeat(256);
    // The longest name session() accepts, found by bisection.
    let longest = 1;
    let refused = PAIR_LIMIT;
    while (refused - longest > 1) {
      const middle = (longest + refused) >> 1;
      if (optionError({ secret, name: 'n'.repeat(middle) }) === null) longest = middle;
      else refused = middle;
    }
    expect(longest).toBeGreaterThan(3000);
    const app = express();
    app.use(
      session({
        secret,
        name: 'n'.repeat(longest),
        genid: () => longestId,
        resave: false,
        saveUninitialized: true,
        store: new MemoryStore(),
      }),
    );
    app.get('/', (_req, res) => res.send('ok'));
    const response = await request(app).get('/').expect(200);
    const [header] = setCookies(response);
    expect(header).toBeDefined();
    const pair = pairOf(header as string);
    expect(pair.length).toBeLessThanOrEqual(PAIR_LIMIT);
    // The bound is tight: the limit leaves no more than the MAC's own escapes unused.
    expect(pair.length).toBeGreaterThan(PAIR_LIMIT - 3 * 43);
  });

  it('refuses at session() a name too long for any cookie value to fit, naming the option', () => {
    const error = optionError({ secret, name: 'n'.repeat(PAIR_LIMIT) });
    expect(error).toBeInstanceOf(SessionError);
    expect(error).toMatchObject({ code: 'ERR_INVALID_OPTION' });
    expect((error as Error).message).toContain('name');
  });

  it('refuses at session() a Domain or Path over 1024 characters, which express-session sends and browsers ignore', async () => {
    const longDomain = domainOf(ATTRIBUTE_LIMIT + 1);
    const longPath = `/${'p'.repeat(ATTRIBUTE_LIMIT)}`;
    expect(longDomain).toHaveLength(ATTRIBUTE_LIMIT + 1);

    for (const [attribute, cookie] of [
      ['cookie.domain', { domain: longDomain }],
      ['cookie.path', { path: longPath }],
    ] as const) {
      const error = optionError({ secret, cookie });
      expect(error, attribute).toMatchObject({ code: 'ERR_INVALID_OPTION' });
      expect((error as Error).message, attribute).toContain(attribute);
    }
    // At the limit: accepted, and sent as given.
    const atLimit = express();
    atLimit.use(
      session({
        secret,
        resave: false,
        saveUninitialized: true,
        cookie: { domain: domainOf(ATTRIBUTE_LIMIT) },
      }),
    );
    atLimit.get('/', (_req, res) => res.send('ok'));
    const sent = setCookies(await request(atLimit).get('/').expect(200));
    expect(sent[0]).toContain(`Domain=${domainOf(ATTRIBUTE_LIMIT)}`);

    // express-session sends the over-long Domain, which a browser drops, keeping the cookie host-only.
    const anchor = express();
    anchor.use(
      expressSession({ secret, resave: false, saveUninitialized: true, cookie: { domain: longDomain } }),
    );
    anchor.get('/', (_req, res) => res.send('ok'));
    const anchored = setCookies(await request(anchor).get('/').expect(200));
    expect(anchored[0]).toContain(`Domain=${longDomain}`);
  });

  it('refuses a per-request cookie option with an over-long attribute when the request opens its session', async () => {
    const app = express();
    app.use(
      session({
        secret,
        resave: false,
        saveUninitialized: true,
        cookie: (req) => (req.url === '/long' ? { path: `/${'p'.repeat(ATTRIBUTE_LIMIT)}` } : {}),
      }),
    );
    app.get('/long', (_req, res) => res.send('never'));
    app.get('/short', (_req, res) => res.send('ok'));
    app.use(jsonErrors);
    const refused = await request(app).get('/long');
    expect(refused.body).toMatchObject({ code: 'ERR_INVALID_OPTION' });
    expect(setCookies(refused)).toEqual([]);
    await request(app).get('/short').expect(200, 'ok');
  });
});
