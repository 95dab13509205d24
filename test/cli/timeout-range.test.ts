/**
 * `sessionkit --timeout <ms>` past 2^31-1 ms: Node's timers fire such a delay after 1 ms, so a generous
 * timeout became a store "not answering" on a healthy store (exit 3, which scripts page someone for). It
 * is a usage error now (exit 1), as is a store URL's `timeout` past that range.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type MongoWireServer, startMongoWireServer } from '../support/mongo-wire-server.js';
import { runCli as run } from './harness.js';

let server: MongoWireServer;
beforeAll(async () => {
  server = await startMongoWireServer();
});
afterAll(async () => {
  await server?.close();
});

describe('--timeout larger than a 32-bit timer', () => {
  it('a healthy store with --timeout 2147483000 (fits) answers', async () => {
    const result = await run([
      'stats',
      '--json',
      '--store',
      `${server.url}/sktimeouta`,
      '--timeout',
      '2147483000',
    ]);
    expect(result.code).toBe(0);
  });

  it('a healthy store with --timeout 3000000000 is not reported unavailable (exit 3) after 1 ms', async () => {
    const started = Date.now();
    const result = await run([
      'stats',
      '--json',
      '--store',
      `${server.url}/sktimeoutb`,
      '--timeout',
      '3000000000',
    ]);
    const elapsed = Date.now() - started;
    // Fixed either way: it works (0), or the value is refused up front as a usage error (1).
    if (result.code === 1) {
      expect(JSON.parse(result.stdout)).toMatchObject({ error: { code: 'ERR_USAGE' } });
    } else {
      expect(result, `elapsed ${elapsed} ms`).toMatchObject({ code: 0 });
    }
  });
});
