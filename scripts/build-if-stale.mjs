// `npm start` builds only when dist/ is missing or older than a source or build input, so a second
// start serves at once instead of waiting for tsup and its type declarations.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

const INPUTS = [
  'src',
  'package.json',
  'tsconfig.json',
  'tsconfig.declarations.json',
  'tsup.config.ts',
  'scripts/cjs-entry.mjs',
];
const OUTPUT = 'dist/index.cjs';

function newestMtime(path) {
  const stat = statSync(path);
  if (!stat.isDirectory()) return stat.mtimeMs;
  let newest = stat.mtimeMs;
  for (const entry of readdirSync(path)) newest = Math.max(newest, newestMtime(join(path, entry)));
  return newest;
}

const stale =
  !existsSync(OUTPUT) || INPUTS.some((input) => newestMtime(input) > statSync(OUTPUT).mtimeMs);
if (stale) {
  const result = spawnSync('npm', ['run', 'build', '--silent'], { stdio: 'inherit' });
  process.exit(result.status ?? 1);
}
