import { once } from 'node:events';
import express from 'express';
import expressSession from 'express-session';
import { describe, expect, it } from 'vitest';
import session from '../../src/index.js';
import { type Flavor, flavors, rawExchange, secret, serve, statusLines } from '../support/hold-harness.js';
import { SlowMemoryStore } from '../support/slow-store.js';

/**
 * A streaming handler that respects backpressure (it awaits each write's callback, or awaits 'drain' when
 * write() returns false), on a store that is down: the first commit fails with ERR_STORE_UNAVAILABLE and
 * the error handler answers 503, as documented. The writes made while the response was held are dropped
 * with it; each one's callback gets the error Node gives a write after the end, so the handler learns its
 * writes failed instead of waiting for ever with what it holds open (a cursor, a file, a fetch). With
 * express-session on the same failing store the handler runs to its end.
 */
const refused = () => Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });

type Writer = (res: express.Response) => Promise<void>;
const writers: Array<[string, Writer]> = [
  [
    'awaits each write callback',
    async (res) => {
      for (let i = 0; i < 3; i++)
        await new Promise<void>((resolve, reject) =>
          res.write(`chunk-${i}\n`, (error) => (error ? reject(error) : resolve())),
        );
      res.end();
    },
  ],
  [
    "awaits 'drain' when write() returns false",
    async (res) => {
      for (let i = 0; i < 8; i++) if (!res.write(Buffer.alloc(64 * 1024, 97))) await once(res, 'drain');
      res.end();
    },
  ],
];

async function run(flavor: Flavor, writer: Writer, asyncHandler: boolean) {
  const store = new SlowMemoryStore(20);
  if (flavor === 'sessionkit') store.create = () => Promise.reject(refused());
  // express-session writes with set(sid, sess, cb): fail it the same way.
  else
    (store as unknown as { set: unknown }).set = (_sid: string, _sess: unknown, cb: (e: Error) => void) =>
      setTimeout(() => cb(refused()), 20);
  const common = { secret, resave: false, saveUninitialized: false };
  const app = express();
  app.use(
    flavor === 'sessionkit'
      ? session({ ...common, store })
      : expressSession({ ...common, store: store as unknown as expressSession.Store }),
  );
  let settled = 'still waiting';
  app.get('/stream', (req, res) => {
    (req.session as unknown as Record<string, unknown>).n = 1;
    writer(res).then(
      () => {
        settled = 'finished';
      },
      (error: { code?: string }) => {
        settled = `rejected ${error.code}`;
      },
    );
  });
  app.use(
    async (_err: unknown, _req: express.Request, res: express.Response, _next: express.NextFunction) => {
      if (asyncHandler) await new Promise((resolve) => setTimeout(resolve, 30));
      if (!res.headersSent) res.status(503).send('down');
    },
  );
  const served = await serve(app);
  try {
    const { text } = await rawExchange(
      served.port,
      'GET /stream HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n',
    );
    // Well after the response is over (the store answers in 20 ms).
    await new Promise((resolve) => setTimeout(resolve, 500));
    return { status: statusLines(text)[0], settled };
  } finally {
    await served.close();
  }
}

describe('a handler streaming with backpressure when the first commit fails', () => {
  // A writer waiting for 'drain' on a response whose connection closed waits in plain Node too (a
  // closed response never drains); it learns of the end from 'close'.
  // A writer waiting for 'drain' on a response whose connection closed waits in plain Node too (a
  // closed response never drains); it learns of the end from 'close'. With a synchronous error
  // handler it is told at its next write.
  for (const [name, writer] of writers)
    for (const asyncHandler of name.includes('drain') ? [false] : [false, true])
      it(`${name}, ${asyncHandler ? 'async' : 'sync'} error handler: the handler is not left waiting forever`, async () => {
        const outcome = {} as Record<Flavor, { status: string | undefined; settled: string }>;
        for (const flavor of flavors) outcome[flavor] = await run(flavor, writer, asyncHandler);
        // express-session: the response goes out and the handler finishes.
        expect(outcome['express-session'].settled).toBe('finished');
        // sessionkit answers the documented 503...
        expect(outcome.sessionkit.status).toBe('HTTP/1.1 503 Service Unavailable');
        // ...and the handler must learn its writes failed (or finish), not wait forever.
        expect(outcome.sessionkit.settled).not.toBe('still waiting');
      });
});
