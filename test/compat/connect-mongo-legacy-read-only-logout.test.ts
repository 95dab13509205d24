/**
 * Why: what a user depends on: README "Migrating from express-session" step 2 ("move to a sessionkit store
 * with its `legacy` option … nobody is logged out"), docs/stores/mongodb.md "Migrating from connect-mongo",
 * and the promise of test/compat/read-only-activity.test.ts (which covers connect-redis, connect-pg-simple
 * and express-mysql-session, not connect-mongo): a user who only reads pages stays logged in as long as
 * they keep clicking, as under express-session.
 *
 * Under express-session + connect-mongo, a browser-session cookie's document expires at `now + ttl`
 * (connect-mongo's `ttl` option, the idle timeout), and every request that does not save calls
 * connect-mongo's `touch`, which pushes `expires` to `now + ttl`. So a user clicking read-only pages every
 * 700 ms with `ttl: 2` stays logged in forever.
 *
 * Side by side: express-session (stays logged in), sessionkit through the bridge (connect-mongo store kept),
 * and sessionkit's MongoStore with `legacy: 'connect-mongo'`. sessionkit gets `ttl` equal to the store
 * lifetime, as in the sibling test.
 *
 * A connect-mongo document carries no last-seen time unless connect-mongo's `touchAfter` is on, so
 * sessionkit takes it from the cookie (as for the other legacy readers), never as "just now", which would
 * leave a session that is only read untouched until the document expired.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { type MongoBackend, openConnectMongo, releaseMongo } from '../support/connect-mongo-backend.js';
import { withLeads } from '../support/leads.js';
import { readOnlyClicks } from '../support/migration-apps.js';

const LIFETIME_S = 2;
/** The lifetime and click interval times these, in turn (see withLeads). */
const SCALES = [1, 2, 4];
const opened: MongoBackend[] = [];
afterAll(async () => {
  for (const b of opened) await b.close();
  await releaseMongo();
});

describe(`connect-mongo ttl ${LIFETIME_S} s (its other options default), browser-session cookie`, () => {
  it('MongoStore legacy: a user clicking read-only pages every 700 ms stays logged in, as on express-session', async () => {
    // Clicks a loaded machine spaced further apart than the lifetime allows say nothing: run again with
    // the lifetime and the interval scaled up.
    await withLeads(
      SCALES,
      async (scale) => {
        const backend = await openConnectMongo({ ttl: LIFETIME_S * scale });
        opened.push(backend);
        const { stayed, bridged, legacy, inTime } = await readOnlyClicks(backend, LIFETIME_S * scale, {
          intervalMs: 700 * scale,
        });
        if (!inTime) return false;
        const all = Array(5).fill('user: alice');
        expect(stayed, 'express-session').toEqual(all);
        expect({ bridged, legacy }).toEqual({ bridged: all, legacy: all });
        return true;
      },
      'clicks spaced as meant',
    );
  }, 90_000);
});
