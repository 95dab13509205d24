import { readFileSync } from 'node:fs';
import { relative } from 'node:path';
import { BaseSequencer, type TestSpecification } from 'vitest/node';

/**
 * Each test file's duration in a recent `npm test` (seconds), written by
 * scripts/record-test-durations.mjs. A long file that starts last runs alone at the end while the other
 * workers idle. vitest orders by the durations of the previous run when it has them, but a fresh clone
 * (CI) has none: it then starts the largest files first, and many of the longest files are small ones
 * that spawn compilers, dev servers and server clusters, or run hundreds of trials. On two cores a
 * fresh-clone run in size order took about 40 s longer than one in duration order.
 */
const DURATIONS: Record<string, number> = JSON.parse(
  readFileSync(new URL('./durations.json', import.meta.url), 'utf8'),
);

/**
 * The files that compile against the declarations (their own vitest run), longest first. They are not
 * in the main run's durations.
 */
const DECLARATIONS_FIRST = [
  'test/types/fixtures.test.ts',
  'test/types/drop-in.test.ts',
  'test/package/exports.test.ts',
  'test/package/adapters.test.ts',
];

/** Runs the files longest first by DURATIONS; files it does not list (new ones) follow in vitest's order. */
export default class LongestFirst extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const rest = await super.sort(files);
    const duration = (spec: TestSpecification) => {
      const path = relative(spec.project.config.root, spec.moduleId);
      const first = DECLARATIONS_FIRST.indexOf(path);
      return first === -1 ? (DURATIONS[path] ?? 0) : 1e6 - first;
    };
    // Array.prototype.sort is stable: the files without a duration keep vitest's order.
    return rest.sort((a, b) => duration(b) - duration(a));
  }
}
