/**
 * A reply whose headers Node refuses (a Content-Disposition with a non-Latin-1 file name: writeHead
 * throws ERR_INVALID_CHAR) is answered by bare Fastify with a 500. With sessionkit on a store that
 * answers asynchronously, the reply goes on after the commit, outside the route's own call: the throw
 * must still become an error reply, never an unhandled rejection (the process exits by default) or a
 * request that hangs.
 */
import Fastify from 'fastify';
import { describe, expect, it } from 'vitest';
import { session } from '../../src/adapters/fastify.js';
import { SlowMemoryStore } from '../support/slow-store.js';

const secret = 'fastify-reply-secret-0123456789abcdefghijkl';

type Outcome = { status: number; code: unknown } | 'no answer within 2 s';

async function download(withSession: boolean): Promise<Outcome> {
  const app = Fastify();
  if (withSession)
    await app.register(session, {
      secret,
      store: new SlowMemoryStore(20),
      resave: false,
      saveUninitialized: false,
    });
  app.get('/login', async (request) => {
    if (withSession) (request.session as unknown as Record<string, unknown>).user = 'ada';
    return 'ok';
  });
  app.get('/download', async (request, reply) => {
    // The session records what was downloaded last (a write, so the reply waits for the store).
    if (withSession) (request.session as unknown as Record<string, unknown>).lastDownload = 'report';
    // A file name from the user's upload, put in a header as many apps do.
    reply.header('content-disposition', 'attachment; filename="отчёт.txt"');
    return 'file body';
  });
  await app.ready();
  try {
    const login = await app.inject({ url: '/login' });
    const cookie = String(login.headers['set-cookie'] ?? '').split(';')[0] as string;
    const answer = await Promise.race([
      app.inject({ url: '/download', headers: withSession ? { cookie } : {} }),
      new Promise<null>((resolve) => setTimeout(() => resolve(null), 2_000)),
    ]);
    if (answer === null) return 'no answer within 2 s';
    return { status: answer.statusCode, code: (JSON.parse(answer.body) as { code?: unknown }).code };
  } finally {
    // Let a stray rejection surface inside this test (test/support/unhandled-rejections.ts fails it).
    await new Promise((resolve) => setTimeout(resolve, 50));
    await app.close();
  }
}

describe('Fastify: a header Node refuses, on a reply held while the session is stored', () => {
  it('is answered as bare Fastify answers it (a 500), with no unhandled rejection and no hang', async () => {
    const bare = await download(false);
    expect(bare).toEqual({ status: 500, code: 'ERR_INVALID_CHAR' });
    const withSessionkit = await download(true);
    expect(withSessionkit).toEqual(bare);
  });
});
