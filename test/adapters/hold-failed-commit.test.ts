import type { ServerResponse } from 'node:http';
import { connect } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import type express from 'express';
import expressSession from 'express-session';
import { describe, expect, it } from 'vitest';
import type { SessionRecord } from '../../src/core/types.js';
import session from '../../src/index.js';
import { type App, expressVersions } from '../support/apps.js';
import { rawExchange, secret, serve, statusLines } from '../support/hold-harness.js';
import { SlowMemoryStore } from '../support/slow-store.js';

/**
 * The first commit of a session fails (onStoreError 'fail', the default) while the application has not
 * ended its response yet: it streams, or writes again after an await. The held bytes are dropped and the
 * error goes to next(err); the error page must replace the response. The application's later writes
 * (before the error handler has written anything) must not go out in its place: that would be a complete,
 * successful-looking 200 whose session was never stored, without its cookie, and the error handler would
 * then fail with ERR_HTTP_HEADERS_SENT. What the client may get: the error handler's answer, or a cut
 * connection when nothing can replace what was sent; never the application's bytes, never a hang.
 */

type Failure = 'rejects' | 'times out';

/** A store whose every session write fails after a few ms, or never answers (bounded by storeTimeout). */
class FailingStore extends SlowMemoryStore {
  constructor(private readonly failure: Failure) {
    super(5);
  }

  override async create(_id: string, _record: SessionRecord): Promise<boolean> {
    if (this.failure === 'times out') return new Promise<boolean>(() => undefined);
    await sleep(this.delayMs);
    throw Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
  }
}

interface Seen {
  /** Errors that reached the error handler, by code. */
  handled: string[];
  /** Errors the error handler's own calls threw (ERR_HTTP_HEADERS_SENT when the app's bytes went first). */
  handlerThrew: string[];
  /** Errors the application's write/end callbacks got. */
  appCallbacks: string[];
}

type ErrorHandler = (
  error: { code?: string },
  res: ServerResponse & express.Response,
) => Promise<void> | void;

/**
 * An app on `flavor` with one route, `/r`, and an error handler (none: Express's own final handler). Each
 * handler's errors are recorded instead of thrown: under Express 4 a rejected async handler would be an
 * unhandled rejection, which fails the test without saying what happened.
 */
function build(
  create: () => App,
  route: (req: express.Request, res: express.Response, seen: Seen) => Promise<void> | void,
  handler: ErrorHandler | null,
  options: { flavor?: 'sessionkit' | 'express-session'; failure?: Failure } = {},
): { app: App; seen: Seen } {
  const seen: Seen = { handled: [], handlerThrew: [], appCallbacks: [] };
  const store = new FailingStore(options.failure ?? 'rejects');
  const common = { secret, resave: false, saveUninitialized: false };
  const app = create();
  app.use(
    options.flavor === 'express-session'
      ? expressSession({ ...common, store: store as unknown as expressSession.Store })
      : session({ ...common, store, storeTimeout: 40 }),
  );
  app.all('/r', (req, res) => {
    Promise.resolve(route(req, res, seen)).catch((error: { code?: string }) => {
      seen.appCallbacks.push(`threw ${error.code}`);
    });
  });
  app.get('/alive', (_req, res) => {
    res.send('alive');
  });
  if (handler !== null)
    app.use(
      (
        error: { code?: string },
        _req: express.Request,
        res: express.Response,
        _next: express.NextFunction,
      ) => {
        seen.handled.push(error.code ?? 'none');
        try {
          const answered = handler(error, res as ServerResponse & express.Response);
          if (answered instanceof Promise)
            answered.catch((thrown: { code?: string }) => seen.handlerThrew.push(thrown.code ?? 'none'));
        } catch (thrown) {
          seen.handlerThrew.push((thrown as { code?: string }).code ?? 'none');
        }
      },
    );
  return { app, seen };
}

/** A write's or end's callback that records the error it got. */
function recording(seen: Seen): (error?: Error | null) => void {
  return (error) => {
    if (error) seen.appCallbacks.push((error as { code?: string }).code ?? 'none');
  };
}

interface Exchange {
  status: string[];
  body: string;
  closed: boolean;
  cookie: boolean;
}

const GET = 'GET /r HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n';

/**
 * Writes each piece of a request on one connection, `gapMs` apart, and returns every byte the server sent
 * until it closed the connection (or 3 s passed: `closed` says which).
 */
async function rawPieces(
  port: number,
  pieces: string[],
  gapMs: number,
): Promise<{ text: string; closed: boolean }> {
  const socket = connect(port, '127.0.0.1');
  const chunks: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  socket.on('error', () => undefined);
  let closed = false;
  const closing = new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, 3_000);
    socket.once('close', () => {
      closed = true;
      clearTimeout(timer);
      resolve();
    });
  });
  for (const [i, piece] of pieces.entries()) {
    if (i > 0) await sleep(gapMs);
    if (!socket.destroyed) socket.write(piece);
  }
  await closing;
  socket.destroy();
  return { text: Buffer.concat(chunks).toString('latin1'), closed };
}

async function exchange(app: App, pieces = [GET]): Promise<Exchange & { alive: string }> {
  const served = await serve(app);
  try {
    const { text, closed } = await rawPieces(served.port, pieces, 60);
    const split = text.indexOf('\r\n\r\n');
    const head = split < 0 ? text : text.slice(0, split);
    const aliveRaw = await rawExchange(
      served.port,
      'GET /alive HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n',
    );
    return {
      status: statusLines(text),
      // Short enough to read in a failure: a stream that leaked would fill pages.
      body: (split < 0 ? '' : text.slice(split + 4)).slice(0, 200),
      closed,
      cookie: /\r\nset-cookie:/i.test(head),
      alive: aliveRaw.text.endsWith('alive') ? 'alive' : aliveRaw.text,
    };
  } finally {
    await served.close();
  }
}

/** What the application writes: none of it may reach the client once its session could not be stored. */
const APP_BYTES = /held|later|tick|rest/;

for (const { name: version, create } of expressVersions)
  describe(`${version}: a failed first commit while the application still writes`, () => {
    for (const failure of ['rejects', 'times out'] as const)
      it(`the store ${failure}; the app ends after an await, the error handler answers after an await: the client gets the error page`, async () => {
        const { app, seen } = build(
          create,
          async (req, res, seen) => {
            req.session.n = 1;
            res.write('held-', recording(seen));
            await sleep(failure === 'rejects' ? 40 : 80);
            res.end('later', recording(seen));
          },
          async (_error, res) => {
            await sleep(failure === 'rejects' ? 80 : 120);
            res.status(503).send('unavailable');
          },
          { failure },
        );
        const got = await exchange(app);
        expect(got).toEqual({
          status: ['HTTP/1.1 503 Service Unavailable'],
          body: 'unavailable',
          closed: true,
          cookie: false,
          alive: 'alive',
        });
        expect(seen.handled).toEqual(['ERR_STORE_UNAVAILABLE']);
        expect(seen.handlerThrew).toEqual([]);
        // The held write and the application's end were dropped as Node drops a write after the
        // response's end: each callback gets that error.
        expect(seen.appCallbacks).toEqual(['ERR_STREAM_WRITE_AFTER_END', 'ERR_STREAM_WRITE_AFTER_END']);
      });

    it('a stream that writes every few ms until the response closes, async error handler: the error page, none of the stream', async () => {
      let writes = 0;
      const { app, seen } = build(
        create,
        (req, res, seen) => {
          req.session.n = 1;
          res.setHeader('Content-Type', 'text/event-stream');
          res.flushHeaders();
          const timer = setInterval(() => {
            writes++;
            res.write('data: tick\n\n', recording(seen));
          }, 3);
          res.on('close', () => clearInterval(timer));
        },
        async (_error, res) => {
          await sleep(60);
          res.status(503).json({ code: 'unavailable' });
        },
      );
      const got = await exchange(app);
      expect(got).toEqual({
        status: ['HTTP/1.1 503 Service Unavailable'],
        body: '{"code":"unavailable"}',
        closed: true,
        cookie: false,
        alive: 'alive',
      });
      expect(seen.handled).toEqual(['ERR_STORE_UNAVAILABLE']);
      expect(seen.handlerThrew).toEqual([]);
      expect(writes).toBeGreaterThan(5);
    });

    it("Express's own final handler, waiting for the request's body, while the app streams: its 503 page, none of the stream", async () => {
      const { app } = build(
        create,
        (req, res) => {
          req.session.n = 1;
          res.write('held-');
          const timer = setInterval(() => res.write('tick-'), 3);
          res.on('close', () => clearInterval(timer));
        },
        null,
      );
      // The body arrives 60 ms after the headers; nothing reads it, and Express's final handler writes
      // its page only once the request has ended.
      const got = await exchange(app, [
        'POST /r HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 5\r\n\r\n',
        'hello',
      ]);
      expect(got.status).toEqual(['HTTP/1.1 503 Service Unavailable']);
      expect(got.body).not.toMatch(APP_BYTES);
      expect(got).toMatchObject({ closed: true, cookie: false, alive: 'alive' });
    });

    it('the error handler ends synchronously and the app writes and ends afterwards: the error page, the late calls fail quietly', async () => {
      const { app, seen } = build(
        create,
        async (req, res, seen) => {
          req.session.n = 1;
          res.write('held-');
          await sleep(30);
          res.write('later-', recording(seen));
          res.end('rest', recording(seen));
        },
        (_error, res) => {
          res.status(503).end('unavailable');
        },
      );
      const got = await exchange(app);
      expect(got).toEqual({
        status: ['HTTP/1.1 503 Service Unavailable'],
        body: 'unavailable',
        closed: true,
        cookie: false,
        alive: 'alive',
      });
      expect(seen.handlerThrew).toEqual([]);
      // Node's own after the page's end (quiet: its callbacks are not even called once it closed).
      expect(seen.appCallbacks.filter((code) => code.startsWith('threw'))).toEqual([]);
    });

    // An error handler that neither sets a status nor a header, after an await, cannot be told from the
    // application by what it calls: whichever order they come in, the client gets the handler's answer or
    // a cut connection, never the application's bytes, and never waits for nothing.
    for (const order of ['the app ends first', 'the error handler ends first'] as const)
      it(`a bare async error handler (res.end only), ${order}: the handler's answer or a cut, never the app's bytes`, async () => {
        const appFirst = order === 'the app ends first';
        const { app, seen } = build(
          create,
          async (req, res) => {
            req.session.n = 1;
            res.write('held-');
            await sleep(appFirst ? 30 : 90);
            res.end('rest');
          },
          async (_error, res) => {
            await sleep(appFirst ? 60 : 20);
            res.end('bare error page');
          },
        );
        const got = await exchange(app);
        expect(got.body).not.toMatch(APP_BYTES);
        expect(got.cookie).toBe(false);
        expect(got.closed).toBe(true);
        expect(got.alive).toBe('alive');
        expect(seen.handlerThrew).toEqual([]);
      });
  });

describe('beside express-session', () => {
  it('express-session sends the app its 200 with the cookie though the save failed; sessionkit the error page', async () => {
    const route = async (req: express.Request, res: express.Response): Promise<void> => {
      req.session.n = 1;
      res.write('held-');
      await sleep(20);
      res.end('rest');
    };
    const handler: ErrorHandler = async (_error, res) => {
      await sleep(40);
      if (!res.headersSent) res.status(503).send('unavailable');
    };
    const [{ create }] = expressVersions;
    const theirs = await exchange(build(create, route, handler, { flavor: 'express-session' }).app);
    const ours = await exchange(build(create, route, handler).app);
    // express-session writes the header at the first write, before its save at the end, which fails.
    expect(theirs.status).toEqual(['HTTP/1.1 200 OK']);
    expect(theirs.body).toMatch(APP_BYTES);
    expect(theirs.cookie).toBe(true);
    expect(ours.cookie).toBe(false);
    expect(ours.status).toEqual(['HTTP/1.1 503 Service Unavailable']);
    expect(ours.body).toBe('unavailable');
  });
});
