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
 * lifetime, as in the sibling test. connect-mongo's `touchAfter` (seconds, its documented "lazy session
 * update") is on: connect-mongo's get() puts the document's `lastModified` Date on the session, and its
 * touch() skips within `touchAfter` of it, calling `session.lastModified.getTime()`.
 *
 * Through the bridge, a touch hands connect-mongo back the session's own non-JSON values as its get()
 * gave them (the `lastModified` Date), as express-session does; a string there made every touch throw
 * and the user was logged out when the document expired.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { type MongoBackend, openConnectMongo, releaseMongo } from '../support/connect-mongo-backend.js';
import { withLeads } from '../support/leads.js';
import { readOnlyClicks } from '../support/migration-apps.js';

const LIFETIME_S = 2;
/** The lifetime, touchAfter and click interval times these, in turn (see withLeads). */
const SCALES = [1, 2, 4];
const opened: MongoBackend[] = [];
afterAll(async () => {
  for (const b of opened) await b.close();
  await releaseMongo();
});

describe(`connect-mongo ttl ${LIFETIME_S} s, touchAfter 1 s, browser-session cookie`, () => {
  it('bridge: a user clicking read-only pages every 700 ms stays logged in, as on express-session', async () => {
    // A click more than lifetime - touchAfter (1 s) after the one before may find the session gone under
    // express-session too: a loaded machine that spaced them so runs it again with every time scaled up.
    await withLeads(
      SCALES,
      async (scale) => {
        const backend = await openConnectMongo({ ttl: LIFETIME_S * scale, touchAfter: scale });
        opened.push(backend);
        const { stayed, bridged, legacy, inTime } = await readOnlyClicks(backend, LIFETIME_S * scale, {
          intervalMs: 700 * scale,
          touchAfterS: scale,
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
