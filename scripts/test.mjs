// `npm test`: the build, the lint, the type check and every test file, packed onto the cores.
//
// The tests and the package check read dist/, so they wait for the build; Biome and the type check read
// only the sources, so they run beside the build. The build is almost all one thread (tsup's type
// declarations), as is the type check: side by side they keep two cores busy where the build alone
// left one idle. Then the package check and vitest run together (vitest's own order and worker count
// are in vitest.config.ts).
//
// The lint's, the type check's and the package check's output is printed only when they fail, after
// the test report, so it does not interleave with it; the exit code is the first failure's.
import { spawn } from 'node:child_process';

const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
const npx = process.platform === 'win32' ? 'npx.cmd' : 'npx';

function run(command, args, { quiet }) {
  return new Promise((resolve) => {
    const child = spawn(command, args, { stdio: quiet ? ['ignore', 'pipe', 'pipe'] : 'inherit' });
    let output = '';
    if (quiet) {
      child.stdout.on('data', (chunk) => {
        output += chunk;
      });
      child.stderr.on('data', (chunk) => {
        output += chunk;
      });
    }
    child.on('close', (code, signal) => resolve({ name: args.join(' '), code: code ?? (signal ? 1 : 0), output }));
  });
}

const started = Date.now();
const seconds = () => Math.round((Date.now() - started) / 1000);

// `npm run lint` is Biome then the package check; they are started apart here because only the second
// needs dist/.
const sourceChecks = Promise.all([
  run(npx, ['--no-install', 'biome', 'check', '.'], { quiet: true }),
  run(npm, ['run', 'typecheck', '--silent'], { quiet: true }),
]);
const build = await run(npm, ['run', 'build', '--silent'], { quiet: false });
if (build.code !== 0) {
  await sourceChecks;
  process.exit(build.code);
}
console.log(`npm test: built in ${seconds()} s`);

const [packageCheck, tests] = await Promise.all([
  run(npm, ['run', 'check:package', '--silent'], { quiet: true }),
  run(npm, ['run', 'test:unit', '--silent'], { quiet: false }),
]);
let failed = 0;
for (const { name, code, output } of [...(await sourceChecks), packageCheck]) {
  if (code !== 0) {
    process.stdout.write(`\n--- ${name} (exit ${code})\n${output}\n`);
    console.error(`npm test: ${name} failed (exit ${code})`);
    failed ||= code;
  } else console.log(`npm test: ${name} passed`);
}
failed ||= tests.code;
console.log(`npm test: ${seconds()} s in all`);
process.exit(failed);
