/**
 * Differential fuzzer of the migration from express-session (1.19) and its store to sessionkit, on one
 * database (connect-redis, connect-pg-simple, express-mysql-session): express-session writes random
 * session contents (odd strings and numbers, Dates, nested objects, keys named like sessionkit's own) under
 * random cookie options, and sessionkit, through the native store's `legacy` reader and through the
 * express-session store bridge, must load the same data and cookie express-session reads back. Then one
 * random operation on sessionkit (write, touch, regenerate, destroy, login) must leave what the docs
 * promise on both sides: in the store, on sessionkit, and on express-session (through the bridge,
 * express-session reads sessionkit's writes and sessionkit reads express-session's; in `legacy` mode the
 * session moves to the native layout on its first write or touch, so express-session no longer finds it,
 * the documented limit of README "Migrating from express-session" step 2). A second property runs the
 * rolling deploy the other way: sessionkit writes through the bridge, express-session reads, and each
 * side's destroy, login or write is seen by the other.
 *
 * `npm test` runs a fixed seed and a few runs per backend and mode, to stay within a few seconds;
 * FUZZ_RUNS and FUZZ_SEED run more (FUZZ_RUNS=200 FUZZ_SEED=$RANDOM).
 */
import { migrationBackends } from '../support/migration-apps.js';
import { baseValues, describeMigrationFuzz } from '../support/migration-fuzz.js';

describeMigrationFuzz({
  backends: await migrationBackends(),
  values: baseValues,
});
