import { randomBytes } from 'node:crypto';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import express from 'express';
import request from 'supertest';
import { describe, expect, it } from 'vitest';
import session, { MemoryStore } from '../../src/index.js';
import { cookieOf, jsonErrors } from '../support/apps.js';

/**
 * Why: with `encryption`, reads reuse what each sealed value opened to from a memo that docs/encryption.md
 * bounds at "about 8 MiB at most". Operators size processes by that bound, and the memo is fed by the
 * application's keys, which may come from request input (`Object.assign(req.session, req.body)`): every
 * part of an entry, the field name included, counts toward the bound, or one client sending a fresh long
 * key per request pins every key it ever sent while the store holds one small record.
 */
setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

function heapAfterGc(): number {
  gc();
  gc();
  return process.memoryUsage().heapUsed;
}

describe('encryption: the open-values memo stays within its printed bound', () => {
  it('120 requests, each replacing one 150 KB key with another, leave no more than the bound held', async () => {
    const store = new MemoryStore();
    const app = express();
    app.use(express.json({ limit: '1mb' }));
    app.use(
      session({
        secret: 'memo-bound-secret-0123456789abcdefghij',
        store,
        resave: false,
        saveUninitialized: true,
        encryption: { keys: [{ id: 'k1', key: randomBytes(32) }] },
      }),
    );
    // The application merges input into the session (Object.assign(req.session, body)) and drops the
    // keys the client asks it to drop.
    app.post('/set', (req, res) => {
      const body = req.body as { set: Record<string, unknown>; drop?: string };
      const data = req.session as unknown as Record<string, unknown>;
      if (body.drop) delete data[body.drop];
      Object.assign(data, body.set);
      res.json({ ok: true });
    });
    app.use(jsonErrors);

    const server = app.listen(0, '127.0.0.1');
    await new Promise((r) => server.once('listening', r));
    try {
      const agent = request(server);
      const first = await agent.post('/set').send({ set: { a: 1 } });
      const cookie = cookieOf(first);
      const before = heapAfterGc();
      const KEY_CHARS = 150_000;
      let previous: string | undefined;
      for (let i = 0; i < 120; i++) {
        const key = `k${i}-${'x'.repeat(KEY_CHARS)}`;
        const reply = await agent
          .post('/set')
          .set('Cookie', cookie)
          .send({ set: { [key]: 1 }, ...(previous ? { drop: previous } : {}) });
        expect(reply.status).toBe(200);
        previous = key;
      }
      previous = undefined;
      const grown = heapAfterGc() - before;
      // The store holds one session of ~150 KB, the memo "about 8 MiB at most"; the keys sent, kept, would
      // be 18 MB.
      expect(store.length ? await store.length() : 1).toBe(1);
      expect(
        Math.round(grown / 1024 / 1024),
        'MiB of heap still held after GC, with one 150 KB session in the store',
      ).toBeLessThan(12);
    } finally {
      await new Promise((r) => server.close(r));
    }
  }, 60_000);
});
