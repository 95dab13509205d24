/**
 * Setup errors of the Fastify plugin reach Fastify's loader, as a plugin's errors should: `register()` and
 * `ready()` reject with them, where the application can catch them, instead of an uncaught exception
 * ending the process (@fastify/session reports its own the same way).
 */
import Fastify from 'fastify';
import { describe, expect, it } from 'vitest';
import { session } from '../../src/adapters/fastify.js';

const secret = 'fastify-setup-secret-0123456789abcdefgh';

describe('Fastify: a plugin setup error rejects register() and ready()', () => {
  it('an invalid option: ERR_INVALID_OPTION from the awaited register()', async () => {
    const app = Fastify();
    await expect(
      app.register(session, { secret, cookie: { sameSite: 'bogus' as never } }).then(() => 'loaded'),
    ).rejects.toMatchObject({ code: 'ERR_INVALID_OPTION' });
    await app.close().catch(() => undefined);
  });

  it('registered at the root and again in a child context: ready() rejects, the process lives', async () => {
    const app = Fastify();
    app.register(session, { secret, resave: false, saveUninitialized: false });
    app.register(
      async (child) => {
        child.register(session, { secret, resave: false, saveUninitialized: false });
      },
      { prefix: '/admin' },
    );
    await expect(app.ready()).rejects.toMatchObject({ code: 'FST_ERR_DEC_ALREADY_PRESENT' });
    await app.close().catch(() => undefined);
  });
});
