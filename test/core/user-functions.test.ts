/**
 * Why: the user operations are functions of the session (`login(req.session, id)`), so a JavaScript
 * caller can hand them anything: `login(req.sesion, id)` with a typo passes `undefined`. That must be a
 * typed error on the promise or the callback, never a TypeError thrown from inside sessionkit, and the
 * readers answer `null` for no session, as for a session without a user.
 */
import { describe, expect, it } from 'vitest';
import { authAge, currentUserId, login, logout, reauthenticated, type Session } from '../../src/index.js';

const notSessions: unknown[] = [undefined, null, {}, { id: 'forged', cookie: {} }, 'session'];

describe('the user functions given something that is not a session', () => {
  it('reject with ERR_INVALID_ARGUMENT, or call back with it', async () => {
    for (const value of notSessions) {
      const session = value as Session;
      await expect(login(session, 'u1')).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT' });
      await expect(logout(session)).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT' });
      await expect(reauthenticated(session)).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT' });
      const called = await new Promise<unknown>((resolve) => login(session, 'u1', resolve));
      expect(called).toMatchObject({ code: 'ERR_INVALID_ARGUMENT' });
    }
  });

  it('read as no user and no authentication', () => {
    for (const value of notSessions) {
      expect(currentUserId(value as Session)).toBeNull();
      expect(authAge(value as Session)).toBeNull();
    }
  });
});
