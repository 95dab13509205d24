// `npm test`: build, then the lint, the type check and every test file side by side. The build comes
// first because the tests and the package check read dist/. The three after it are independent, and
// the test files spend most of their time waiting on servers and timers, so the compilers' CPU fits
// beside them. The lint's and the type check's output is printed only when they fail, after the test
// report, so it does not interleave with it; the exit code is the first failure's.
import { spawn } from 'node:child_process';

const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';

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

const build = await run(npm, ['run', 'build', '--silent'], { quiet: false });
if (build.code !== 0) process.exit(build.code);

const started = Date.now();
const results = await Promise.all([
  run(npm, ['run', 'lint', '--silent'], { quiet: true }),
  run(npm, ['run', 'typecheck', '--silent'], { quiet: true }),
  run(npm, ['run', 'test:unit', '--silent'], { quiet: false }),
]);
let failed = 0;
for (const { name, code, output } of results.slice(0, 2)) {
  if (code !== 0) {
    process.stdout.write(`\n--- ${name} (exit ${code})\n${output}\n`);
    console.error(`npm test: ${name} failed (exit ${code})`);
    failed ||= code;
  } else console.log(`npm test: ${name} passed`);
}
failed ||= results[2].code;
console.log(`npm test: lint, typecheck and tests took ${Math.round((Date.now() - started) / 1000)} s after the build`);
process.exit(failed);
