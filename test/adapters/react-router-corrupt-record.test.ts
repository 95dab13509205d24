/**
 * Why: a corrupt record (an express-session store answering a string that is no JSON, a session without
 * `cookie`, a number, an array) must cost the user a fresh session, as on every other adapter (README
 * "Errors": CorruptSessionError), not a rejected getSession() on every request the cookie makes until
 * the record expires.
 */
import { describe, expect, it } from 'vitest';
import { createSessionkitStorage } from '../../src/adapters/react-router.js';
import { MisbehavingStore } from '../support/misbehaving-store.js';

const cookie = { name: '__session', secrets: ['react-router-corrupt-cookie-secret-32c'] };
const pair = (setCookie: string) => setCookie.split(';')[0] as string;

const corrupt: [string, unknown][] = [
  ['a string that is no JSON', '{"cookie":'],
  ['a session without a cookie object', { user: 'alice' }],
  ['a number', 42],
  ['an array', [1, 2]],
];

describe('React Router storage over an express-session store answering a corrupt record', () => {
  it.each(corrupt)('%s gives a fresh session, not ERR_SESSION_CORRUPT on every request', async (_, value) => {
    const store = new MisbehavingStore();
    const storage = createSessionkitStorage<{ views: number }>({ store: store as never, cookie });
    const session = await storage.getSession(null);
    session.set('views', 1);
    const header = pair(await storage.commitSession(session));
    const get = store.get.bind(store);
    store.get = (_id, cb) => void setImmediate(() => cb(null, value));

    const again = await storage.getSession(header).catch((error: { code?: string }) => String(error.code));
    expect(typeof again === 'string' ? again : { id: again.id, data: again.data }).toEqual({
      id: '',
      data: {},
    });
    // And the user is not stuck: the next commit makes a working session.
    store.get = get;
    if (typeof again !== 'string') {
      again.set('views', 1);
      const next = pair(await storage.commitSession(again));
      expect((await storage.getSession(next)).get('views')).toBe(1);
    }
  });
});
