import { readFileSync } from 'node:fs';
import { relative } from 'node:path';
import { BaseSequencer, type TestSpecification } from 'vitest/node';

/**
 * Each test file's duration in a recent `npm test` (seconds), written by
 * scripts/record-test-durations.mjs. A long file that starts last runs alone at the end while the other
 * workers idle. vitest orders by the durations of the previous run when it has them, but a fresh clone
 * (CI) has none: it then starts the largest files first, and many of the longest files are small ones
 * that spawn compilers, dev servers and server clusters, or run hundreds of trials.
 */
const DURATIONS: Record<string, number> = JSON.parse(
  readFileSync(new URL('./durations.json', import.meta.url), 'utf8'),
);

/**
 * Started before all others, in this order: the files that compile against the declarations (their own
 * vitest run), and the main run's files that spawn compilers, dev servers, server clusters and child
 * processes, or wait on database servers: while they wait, the CPU-bound races after them have the
 * cores.
 */
const STARTED_FIRST = [
  'test/types/fixtures.test.ts',
  'test/types/drop-in.test.ts',
  'test/package/exports.test.ts',
  'test/package/adapters.test.ts',
  'test/e2e/next.e2e.test.ts',
  'test/security/session-limit.test.ts',
  'test/security/claims.test.ts',
  'test/stores/mongodb.test.ts',
  'test/stores/postgres.test.ts',
  'test/stores/mysql.test.ts',
  'test/cli/rekey.test.ts',
  'test/e2e/examples.test.ts',
  'test/stores/redis-sentinel.test.ts',
  'test/stores/redis-cluster.test.ts',
  'test/cli/errors.test.ts',
  'test/stores/sqlite.test.ts',
  'test/e2e/demo.e2e.test.ts',
  'test/security/store-limits.test.ts',
  'test/stores/redis.test.ts',
  'test/security/revocation-race.test.ts',
  'test/cli/robustness.test.ts',
  'test/security/faults.test.ts',
  'test/security/feature-interplay.test.ts',
  'test/adapters/cross-framework-races.test.ts',
];

/**
 * Runs STARTED_FIRST first, in its order, then the other files longest first by DURATIONS; files neither
 * lists (new ones) follow in vitest's order.
 */
export default class LongestFirst extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const rest = await super.sort(files);
    const rank = (spec: TestSpecification) => {
      const path = relative(spec.project.config.root, spec.moduleId);
      const first = STARTED_FIRST.indexOf(path);
      return first === -1 ? -(DURATIONS[path] ?? 0) : first - STARTED_FIRST.length - 1e6;
    };
    // Array.prototype.sort is stable: the files without a duration keep vitest's order.
    return rest.sort((a, b) => rank(a) - rank(b));
  }
}
