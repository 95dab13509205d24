import express from 'express';
import expressSession from 'express-session';
import { describe, expect, it } from 'vitest';
import session from '../../src/index.js';
import { rawExchange, secret, serve, statusLines } from '../support/hold-harness.js';
import { SlowMemoryStore } from '../support/slow-store.js';

/**
 * `res.writeHead(200, ['Content-Type', 'text/plain', 'X-Trace'])`: a flat header list of odd length (a
 * name without its value, e.g. a header built from a missing variable). Node refuses it at the call
 * (`ERR_INVALID_ARG_VALUE`), without a session and with express-session alike, so the application's bug
 * surfaces (here its catch answers 500). With sessionkit it must too, also when the response carries the
 * session's cookie: adding the cookie must not mend the list.
 */
type Kind = 'no session' | 'express-session' | 'sessionkit';

async function answer(kind: Kind): Promise<string> {
  const store = new SlowMemoryStore(20);
  const app = express();
  const common = { secret, resave: false, saveUninitialized: false };
  if (kind === 'sessionkit') app.use(session({ ...common, store }));
  else if (kind === 'express-session')
    app.use(expressSession({ ...common, store: store as unknown as expressSession.Store }));
  else
    app.use((req, _res, next) => {
      (req as unknown as { session: Record<string, unknown> }).session = {};
      next();
    });
  app.get('/', (req, res) => {
    (req.session as unknown as Record<string, unknown>).n = 1;
    try {
      res.writeHead(200, ['Content-Type', 'text/plain', 'X-Trace']);
    } catch (error) {
      res.statusCode = 500;
      res.end(`refused ${(error as { code?: string }).code ?? (error as Error).name}`);
      return;
    }
    res.end('accepted');
  });
  const served = await serve(app);
  try {
    const { text } = await rawExchange(served.port, 'GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    return `${statusLines(text)[0]?.slice(9, 12)} ${/(accepted|refused \w+)/.exec(text)?.[1]}`;
  } finally {
    await served.close();
  }
}

describe('an odd-length flat header list given to writeHead', () => {
  it('is refused at the call with sessionkit too, as without a session and with express-session', async () => {
    const bare = await answer('no session');
    const legacy = await answer('express-session');
    const ours = await answer('sessionkit');
    expect(bare).toBe('500 refused ERR_INVALID_ARG_VALUE');
    expect(legacy).toMatch(/^500 refused/);
    expect(ours).toBe(bare);
  });
});
