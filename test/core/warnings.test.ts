import express from 'express';
import request from 'supertest';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import session from '../../src/index.js';

let warnings: string[] = [];
const collect = (warning: Error) => warnings.push(warning.message);

beforeEach(() => {
  warnings = [];
  process.on('warning', collect);
});
afterEach(() => {
  process.off('warning', collect);
});

const flush = () => new Promise((resolve) => setImmediate(resolve));
const secret = 'warnings-secret-0123456789abcdef012345';

describe('one-time warnings', () => {
  it('a Secure cookie on plain HTTP: not sent, and said once', async () => {
    const app = express();
    app.use(session({ secret, resave: false, saveUninitialized: true, cookie: { secure: true } }));
    app.get('/', (_req, res) => res.send('x'));
    await request(app).get('/');
    await request(app).get('/');
    await flush();
    expect(warnings.filter((w) => w.includes('Secure cookie was not sent'))).toHaveLength(1);
  });

  it('SameSite=None without Secure, a short secret, unset resave/saveUninitialized', async () => {
    session({ secret: 'short', cookie: { sameSite: 'none' } });
    await flush();
    expect(warnings.some((w) => w.includes('sameSite is "none" without cookie.secure'))).toBe(true);
    expect(warnings.some((w) => w.includes('shorter than 32 characters'))).toBe(true);
    expect(warnings.some((w) => w.includes('undefined resave option'))).toBe(true);
    expect(warnings.some((w) => w.includes('undefined saveUninitialized option'))).toBe(true);
  });

  it('a custom genid giving IDs too short to hold 128 bits, and not a long or the default one', async () => {
    const short = express();
    let n = 0;
    short.use(session({ secret, resave: false, saveUninitialized: true, genid: () => `apple-${n++}` }));
    short.get('/', (_req, res) => res.send('x'));
    const long = express();
    long.use(session({ secret, resave: false, saveUninitialized: true, genid: () => crypto.randomUUID() }));
    long.get('/', (_req, res) => res.send('x'));
    const standard = express();
    standard.use(session({ secret, resave: false, saveUninitialized: true }));
    standard.get('/', (_req, res) => res.send('x'));
    for (const app of [long, standard, long]) await request(app).get('/');
    await flush();
    expect(warnings.filter((w) => w.includes('128 random bits'))).toEqual([]);
    await request(short).get('/');
    await request(short).get('/');
    await flush();
    expect(
      warnings.filter((w) => w.includes('genid() returned an ID shorter than 22 characters')),
    ).toHaveLength(1);
  });

  it('a touchAfter no shorter than the idle lifetime, and not a shorter one', async () => {
    const said = () => warnings.filter((w) => w.includes('not shorter than the session')).length;
    session({
      secret,
      resave: false,
      saveUninitialized: false,
      touchAfter: 3_600_000,
      cookie: { maxAge: 1_800_000 },
    });
    await flush();
    expect(said()).toBe(1);
    session({ secret, resave: false, saveUninitialized: false, touchAfter: 86_400_000 });
    await flush();
    expect(said()).toBe(2);
    session({
      secret,
      resave: false,
      saveUninitialized: false,
      touchAfter: 60_000,
      cookie: { maxAge: 1_800_000 },
    });
    session({ secret, resave: false, saveUninitialized: false, cookie: { maxAge: 1_000 } });
    await flush();
    expect(said()).toBe(2);
  });

  it('the MemoryStore in production', async () => {
    const previous = process.env.NODE_ENV;
    process.env.NODE_ENV = 'production';
    try {
      session({ secret, resave: false, saveUninitialized: false });
    } finally {
      process.env.NODE_ENV = previous;
    }
    await flush();
    expect(warnings.some((w) => w.includes('MemoryStore holds sessions in this process only'))).toBe(true);
  });
});
