/**
 * What a user depends on: README "Migrating from express-session", "Keep your store, or move to a
 * sessionkit store with its `legacy` option … nobody is logged out", and `touchAfter`: "No store write to
 * extend an unchanged session within this long of its last write" (so one is written after that).
 *
 * Under express-session every request that does not save touches the store (connect-redis EXPIRE,
 * connect-pg-simple and express-mysql-session UPDATE of the expiry column): a user whose browser-session
 * cookie lives in the store for the idle timeout (connect-redis `ttl`, which `preset: 'owasp'` asks
 * bridge users to set to 1800 s) stays logged in as long as they keep clicking, read-only pages included.
 *
 * After the swap to sessionkit the same user, who only reads pages, stays logged in the same way, through
 * the express-session store bridge and through the native stores' `legacy` readers. A record
 * express-session wrote carries no sessionkit last-seen time: sessionkit takes it from the record's
 * express-session cookie (its `expires` less `originalMaxAge`, the moment it was last saved or touched;
 * for a browser-session cookie, which says nothing, a lifetime ago), not from the moment it is read: the
 * store's deadline is pushed back once `touchAfter` has passed since then, while the user clicks.
 *
 * Side by side with an app still on express-session. The store lifetime is 2 s here (the idle timeout);
 * the user clicks every 700 ms for 3.5 s, well past that lifetime.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { withLeads } from '../support/leads.js';
import { type Backend, migrationBackends, readOnlyClicks } from '../support/migration-apps.js';

const LIFETIME_S = 2;
/** The lifetime and click interval times these, in turn (see withLeads). */
const SCALES = [1, 2, 4];
const backends = await migrationBackends();
const opened: Backend[] = [];
afterAll(async () => {
  for (const backend of opened) await backend.close();
});

// The three backends at once: the test mostly waits on the clicks' timers.
describe.concurrent(`browser-session cookie, store lifetime ${LIFETIME_S} s`, () => {
  for (const { name, skip, open } of backends) {
    it.skipIf(skip)(
      `${name}: a user clicking read-only pages every 700 ms stays logged in, as on express-session`,
      async () => {
        // Clicks a loaded machine spaced further apart than the lifetime allows say nothing: run again
        // with the lifetime and the interval scaled up.
        await withLeads(
          SCALES,
          async (scale) => {
            const backend = await open({ ttlSeconds: LIFETIME_S * scale });
            opened.push(backend);
            // The last page's answer, after 3.5 s of clicks.
            const { stayed, bridged, legacy, inTime } = await readOnlyClicks(backend, LIFETIME_S * scale, {
              intervalMs: 700 * scale,
            });
            if (!inTime) return false;
            expect(stayed.at(-1)).toBe('user: alice');
            expect({ bridged: bridged.at(-1), legacy: legacy.at(-1) }).toEqual({
              bridged: 'user: alice',
              legacy: 'user: alice',
            });
            return true;
          },
          'clicks spaced as meant',
        );
      },
      90_000,
    );
  }
});
