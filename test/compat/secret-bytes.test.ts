/**
 * Why: express-session signs with any `CipherKey` Node's HMAC takes (its typings say so): a string, a
 * Buffer, a typed array, a DataView, a secret KeyObject (`crypto.createSecretKey`). An app that passes its
 * key as one of those must start on sessionkit and keep its users: cookies signed by express-session with
 * that key verify, and the other way round.
 */
import { createSecretKey } from 'node:crypto';
import type { RequestHandler } from 'express';
import expressSession from 'express-session';
import request from 'supertest';
import { describe, expect, it } from 'vitest';
import session from '../../src/index.js';
import { cookieOf, viewCounter } from '../support/apps.js';

const bytes = Buffer.from('0123456789abcdef0123456789abcdef-bytes');
const keys = {
  Uint8Array: () => new Uint8Array(bytes),
  DataView: () => new DataView(Uint8Array.from(bytes).buffer),
  KeyObject: () => createSecretKey(bytes),
};

describe('a secret given as bytes other than a string or Buffer', () => {
  for (const [kind, key] of Object.entries(keys)) {
    it(`${kind}: sessionkit starts, and its cookies and express-session's verify on either`, async () => {
      const store = new expressSession.MemoryStore();
      const options = { resave: false, saveUninitialized: false, store };
      const theirs = viewCounter(expressSession({ ...options, secret: key() as never }) as RequestHandler);
      const mine = viewCounter(session({ ...options, secret: key() as never }) as unknown as RequestHandler);
      const first = await request(theirs).get('/').expect(200, '1');
      await request(mine).get('/').set('Cookie', cookieOf(first)).expect(200, '2');
      const own = await request(mine).get('/').expect(200, '1');
      await request(theirs).get('/').set('Cookie', cookieOf(own)).expect(200, '2');
      expect(cookieOf(own)).toMatch(/^connect\.sid=s%3A/);
    });
  }
});
