// The package check `npm run lint` runs: pack the package as npm would publish it, then lint the tarball
// with publint (package.json fields, the export map) and @arethetypeswrong/cli (the types every export
// resolves to, for import and for require). Offline: both read the local tarball only.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

function run(command, args) {
  const result = spawnSync(command, args, { stdio: ['ignore', 'pipe', 'inherit'], encoding: 'utf8' });
  if (result.status !== 0) {
    process.stdout.write(result.stdout ?? '');
    process.exit(result.status ?? 1);
  }
  return result.stdout;
}

run(process.execPath, ['scripts/build-if-stale.mjs']);
const dir = mkdtempSync(join(tmpdir(), 'sessionkit-pack-'));
try {
  const tarball = join(dir, run('npm', ['pack', '--silent', '--pack-destination', dir]).trim().split('\n').pop());
  run('npx', ['--no-install', 'publint', 'run', tarball, '--strict']);
  // node10 (no `exports` support) cannot see the subpaths, by design: Node 20 is the floor.
  // sveltekit: ESM only, as @sveltejs/kit itself has no CommonJS entry.
  run('npx', [
    '--no-install',
    'attw',
    tarball,
    '--profile',
    'node16',
    '--exclude-entrypoints',
    './sveltekit',
    '--format',
    'table-flipped',
  ]);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
