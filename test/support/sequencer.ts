import { relative } from 'node:path';
import { BaseSequencer, type TestSpecification } from 'vitest/node';

/**
 * The files that take longest, longest first, as measured in a run of `npm test` with four workers on
 * two cores. A long file that starts last runs alone at the end while the other workers idle. vitest
 * orders by the durations of the previous run when it has them, and a fresh clone has none: it then
 * starts the largest files, and the longest files here are small ones that spawn compilers, dev servers
 * and server clusters, or run hundreds of trials.
 */
export const LONGEST_FIRST = [
  'test/types/fixtures.test.ts',
  'test/types/drop-in.test.ts',
  'test/package/exports.test.ts',
  'test/package/adapters.test.ts',
  'test/compat/seed-articles.test.ts',
  'test/security/feature-interplay.test.ts',
  'test/security/legacy-migration-race.test.ts',
  'test/stores/mongodb.test.ts',
  'test/security/claims.test.ts',
  'test/security/session-limit.test.ts',
  'test/e2e/demo.e2e.test.ts',
  'test/stores/redis-cluster.test.ts',
  'test/e2e/next.e2e.test.ts',
  'test/security/regenerate-keep-race.test.ts',
  'test/security/faults.test.ts',
  'test/security/update-destroy-race.test.ts',
  'test/stores/redis.test.ts',
  'test/adapters/hold.test.ts',
  'test/security/resource-leaks.test.ts',
  'test/adapters/suite.test.ts',
  'test/stores/redis-sentinel.test.ts',
  'test/stores/postgres.test.ts',
  'test/stores/mysql.test.ts',
  'test/cli/robustness.test.ts',
  'test/security/bridge-resurrection.test.ts',
  'test/compat/differential-fuzz.test.ts',
  'test/adapters/fastify-session-differential-fuzz.test.ts',
  'test/adapters/web-differential-fuzz.test.ts',
  'test/adapters/koa-differential-fuzz.test.ts',
  'test/security/interleaving.test.ts',
  'test/stores/clock-step.test.ts',
  'test/security/soak.test.ts',
  'test/stores/store-concurrent-fuzz.test.ts',
  'test/adapters/cross-framework-races.test.ts',
  'test/stores/sqlite.test.ts',
  'test/security/revocation-race.test.ts',
  'test/cli/list-streams.test.ts',
  'test/e2e/examples.test.ts',
  'test/cli/rekey.test.ts',
  'test/cli/errors.test.ts',
  'test/security/store-limits.test.ts',
];

/** Runs the files of LONGEST_FIRST first, in its order, then the rest in vitest's own order. */
export default class LongestFirst extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const rest = await super.sort(files);
    const rank = (spec: TestSpecification) => {
      const index = LONGEST_FIRST.indexOf(relative(spec.project.config.root, spec.moduleId));
      return index === -1 ? LONGEST_FIRST.length : index;
    };
    // Array.prototype.sort is stable: the files outside the list keep vitest's order.
    return rest.sort((a, b) => rank(a) - rank(b));
  }
}
