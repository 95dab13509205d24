import { randomBytes } from 'node:crypto';
import express from 'express';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sealedWith } from '../../src/core/encryption.js';
import session from '../../src/index.js';
import { encryptStore } from '../../src/stores/encrypted.js';
import type { AnyStore } from '../../src/stores/factory.js';
import { cookieOf, idOf, jsonErrors } from '../support/apps.js';
import { storeTargets } from '../support/interleave.js';

/**
 * Encryption at rest (C38) on every store: values sealed with AES-256-GCM per top-level key, bound to
 * their record and field; anything that does not open is a corrupt record (B18), never a crash; an old
 * key opens and the next write of a value seals it with the newest; a delta stays a delta.
 */

const secret = 'encryption-test-secret-0123456789abcdef';
const oldKey = { id: 'k1', key: randomBytes(32) };
const newKey = { id: 'k2', key: randomBytes(32) };
const otherKey = { id: 'k2', key: randomBytes(32) };
const SECRET_TEXT = 'card-4111-1111-1111-1111';

type Data = Record<string, unknown>;

function appWith(store: AnyStore, keys: Array<{ id: string; key: Buffer }>) {
  const middleware = session({
    secret,
    store,
    resave: false,
    saveUninitialized: false,
    encryption: { keys },
  });
  const errors: Array<{ code?: string }> = [];
  middleware.manager.on('error', (error: { code?: string }) => errors.push(error));
  const app = express();
  app.use(express.json());
  app.use(middleware);
  app.post('/set', (req, res) => {
    Object.assign(req.session as unknown as Data, req.body as Data);
    res.json(req.session);
  });
  app.get('/get', (req, res) => {
    res.json({ ...(req.session as unknown as Data), cookie: undefined, id: req.sessionID });
  });
  app.use(jsonErrors);
  return { app, errors };
}

const targets = await storeTargets('skenc');

for (const target of targets) {
  describe.skipIf(target.skip)(`encryption at rest on ${target.name}`, () => {
    let store: AnyStore;
    beforeAll(async () => {
      store = await target.open();
    });
    afterAll(async () => {
      await target.dispose(store);
    });

    async function login(app: express.Express, body: Data): Promise<{ cookie: string; id: string }> {
      const res = await request(app).post('/set').send(body).expect(200);
      const cookie = cookieOf(res);
      return { cookie, id: idOf(cookie) };
    }

    async function raw(id: string): Promise<Data> {
      return ((await store.get(id)) as { data: Data }).data;
    }

    it('round-trips every JSON value, and the store holds only ciphertext', async () => {
      const { app, errors } = appWith(store, [newKey, oldKey]);
      const body = { card: SECRET_TEXT, n: 42, nested: { a: [1, 'é', null] }, nul: 'a\u0000b', t: true };
      const { cookie, id } = await login(app, body);
      const res = await request(app).get('/get').set('Cookie', cookie).expect(200);
      expect(res.body).toMatchObject({ ...body, id });
      const stored = await raw(id);
      expect(Object.keys(stored).sort()).toEqual(Object.keys(body).sort());
      for (const value of Object.values(stored)) expect(sealedWith(value)).toBe('k2');
      // The whole plaintext, not a fragment: the record's timestamps are digits, and may hold '4111'.
      expect(JSON.stringify(await store.get(id))).not.toContain(SECRET_TEXT);
      expect(errors).toEqual([]);
    });

    it('a wrong key, a swapped or truncated ciphertext is a corrupt record: fresh session + error', async () => {
      const { app, errors } = appWith(store, [newKey]);
      const a = await login(app, { card: SECRET_TEXT, role: 'user' });
      const b = await login(app, { card: 'other', role: 'admin' });
      const c = await login(app, { card: 'third' });
      const sealedA = await raw(a.id);
      const sealedB = await raw(b.id);
      // Another session's ciphertext, moved into this one under the same field name.
      await store.update(b.id, {
        set: { role: sealedA.role },
        unset: [],
        expiresAt: Date.now() + 60_000,
        lastSeenAt: Date.now(),
      });
      // This session's own ciphertext, moved to another field.
      await store.update(a.id, {
        set: { role: sealedA.card },
        unset: [],
        expiresAt: Date.now() + 60_000,
        lastSeenAt: Date.now(),
      });
      // A ciphertext cut short.
      const cut = String((await raw(c.id)).card).slice(0, -6);
      await store.update(c.id, {
        set: { card: cut },
        unset: [],
        expiresAt: Date.now() + 60_000,
        lastSeenAt: Date.now(),
      });
      expect(sealedB.role).not.toBe(sealedA.role);

      for (const who of [a, b, c]) {
        const res = await request(app).get('/get').set('Cookie', who.cookie).expect(200);
        expect(res.body.card).toBeUndefined();
        expect(res.body.id).not.toBe(who.id);
      }
      expect(errors.map((e) => e.code)).toEqual([
        'ERR_SESSION_CORRUPT',
        'ERR_SESSION_CORRUPT',
        'ERR_SESSION_CORRUPT',
      ]);

      // A ring that lacks the sealing key, or holds another key under its ID, cannot open it either.
      const d = await login(app, { card: SECRET_TEXT });
      for (const keys of [[oldKey], [otherKey]]) {
        const wrong = appWith(store, keys);
        const res = await request(wrong.app).get('/get').set('Cookie', d.cookie).expect(200);
        expect(res.body.card).toBeUndefined();
        expect(wrong.errors.map((e) => e.code)).toEqual(['ERR_SESSION_CORRUPT']);
        if (keys[0] === oldKey) {
          // The first failed open removed the record; seal a new one for the next ring.
          Object.assign(d, await login(app, { card: SECRET_TEXT }));
        }
      }
    });

    it('opens values sealed by an older key and seals what it writes with the newest', async () => {
      const before = appWith(store, [oldKey]);
      const s = await login(before.app, { card: SECRET_TEXT, keep: 'x' });
      expect(Object.values(await raw(s.id)).map(sealedWith)).toEqual(['k1', 'k1']);

      const after = appWith(store, [newKey, oldKey]);
      const read = await request(after.app).get('/get').set('Cookie', s.cookie).expect(200);
      expect(read.body).toMatchObject({ card: SECRET_TEXT, keep: 'x' });
      await request(after.app).post('/set').set('Cookie', s.cookie).send({ card: 'new' }).expect(200);
      const stored = await raw(s.id);
      expect(sealedWith(stored.card)).toBe('k2');
      // A whole-record write (resave, express-session, rekey) re-seals everything.
      const enc = encryptStore(store, { keys: [newKey, oldKey] });
      const record = await enc.get(s.id);
      expect(enc.needsReseal(stored)).toBe(true);
      await enc.set(s.id, record as NonNullable<typeof record>);
      expect(Object.values(await raw(s.id)).map(sealedWith)).toEqual(['k2', 'k2']);
      expect(after.errors).toEqual([]);
    });

    it('a delta stays a delta: a concurrent write to another key survives', async () => {
      const { app } = appWith(store, [newKey]);
      const s = await login(app, { a: 0, b: 0 });
      // Two stores, as two app servers: each loads, then each writes one key.
      const one = encryptStore(store, { keys: [newKey] });
      const two = encryptStore(store, { keys: [newKey] });
      await Promise.all([one.get(s.id), two.get(s.id)]);
      const at = { unset: [], expiresAt: Date.now() + 60_000, lastSeenAt: Date.now() };
      await Promise.all([
        one.update(s.id, { set: { a: 1 }, ...at }),
        two.update(s.id, { set: { b: 2 }, ...at }),
      ]);
      const res = await request(app).get('/get').set('Cookie', s.cookie).expect(200);
      expect(res.body).toMatchObject({ a: 1, b: 2 });
    });
  });
}

describe('encryption keys are checked at session()', () => {
  const cases: Array<[string, unknown, string]> = [
    ['no keys', { keys: [] }, 'encryption.keys'],
    ['not an array', {}, 'encryption.keys'],
    ['a short key', { keys: [{ id: 'a', key: randomBytes(31) }] }, 'encryption.keys[0].key'],
    ['a long key', { keys: [{ id: 'a', key: randomBytes(33) }] }, 'encryption.keys[0].key'],
    ['a non-key', { keys: [{ id: 'a', key: 42 }] }, 'encryption.keys[0].key'],
    ['a repeated ID', { keys: [newKey, { id: 'k2', key: randomBytes(32) }] }, 'encryption.keys[1].id'],
    ['a bad ID', { keys: [{ id: 'a$b', key: randomBytes(32) }] }, 'encryption.keys[0].id'],
  ];
  it.each(cases)('refuses %s', (_name, encryption, option) => {
    expect(() => session({ secret, encryption: encryption as never })).toThrow(
      expect.objectContaining({ code: 'ERR_INVALID_OPTION', option }),
    );
  });
  it('accepts base64 and base64url strings of 32 bytes', () => {
    const key = randomBytes(32);
    expect(() =>
      session({
        secret,
        encryption: {
          keys: [
            { id: 'a', key: key.toString('base64') },
            { id: 'b', key: key.toString('base64url') },
          ],
        },
      }),
    ).not.toThrow();
  });
});
