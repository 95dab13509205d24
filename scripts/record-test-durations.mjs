// Writes test/support/durations.json from the durations vitest recorded in its last run
// (node_modules/.vite/vitest/*/results.json), longest first, in seconds. The sequencer
// (test/support/sequencer.ts) starts the files of its STARTED_FIRST list, then the others in this
// order; run this after `npm test` on a quiet machine when files have been added or have grown, and
// commit the result.
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const cache = 'node_modules/.vite/vitest';
const durations = {};
for (const dir of readdirSync(cache)) {
  let results;
  try {
    results = JSON.parse(readFileSync(join(cache, dir, 'results.json'), 'utf8')).results;
  } catch {
    continue;
  }
  for (const [key, { duration }] of results) {
    // Keys are `project:path`; a file belongs to one project.
    const path = key.slice(key.indexOf(':') + 1);
    if (duration > 0) durations[path] = Math.round(duration / 100) / 10;
  }
}
const sorted = Object.fromEntries(Object.entries(durations).sort((a, b) => b[1] - a[1]));
writeFileSync('test/support/durations.json', `${JSON.stringify(sorted, null, 2)}\n`);
console.log(`test/support/durations.json: ${Object.keys(sorted).length} files`);
