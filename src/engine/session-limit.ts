import { OptionsError } from '../core/errors.js';
import type { OnLimit } from '../core/types.js';
import { isNativeStore } from '../stores/contract.js';

/** `maxSessionsPerUser` and `onLimit`, validated (C31). */
export interface UserLimitOption {
  max: number;
  onLimit: OnLimit;
}

/**
 * Validates `maxSessionsPerUser` / `onLimit` at `session()`. The limit needs a store that applies it
 * atomically with the login (`createWithinLimit`); an express-session store has no such step (its
 * `set` cannot see the user's other sessions), so a limit there could only be checked and then written,
 * and two logins at once would both pass. It is refused rather than enforced in name only.
 */
export function resolveUserLimit(
  max: unknown,
  onLimit: unknown,
  store: unknown,
): UserLimitOption | undefined {
  if (max === undefined) {
    if (onLimit !== undefined)
      throw new OptionsError('onLimit', 'needs the maxSessionsPerUser option (leave both out for no limit)');
    return undefined;
  }
  if (!(typeof max === 'number' && Number.isSafeInteger(max) && max > 0))
    throw new OptionsError('maxSessionsPerUser', 'must be a positive integer');
  if (onLimit !== undefined && onLimit !== 'evict-oldest' && onLimit !== 'refuse')
    throw new OptionsError('onLimit', "must be 'evict-oldest' or 'refuse'");
  if (store !== undefined && !(isNativeStore(store) && typeof store.createWithinLimit === 'function')) {
    throw new OptionsError(
      'maxSessionsPerUser',
      "needs a store that applies the limit atomically at login (createWithinLimit); sessionkit's own stores do, express-session stores cannot",
    );
  }
  return { max, onLimit: onLimit ?? 'evict-oldest' };
}
