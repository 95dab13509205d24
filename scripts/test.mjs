// `npm test`: the build, the lint, the type check and every test file, packed onto the cores.
//
// The build comes in steps (tsup.config.ts): the JavaScript, in a second or two, then the type
// declarations, which tsc emits and tsup bundles. Every test file but those that compile against the
// declarations starts as soon as the JavaScript is built. Biome and the type check run beside them, as
// these tests spend much of their time waiting on servers and timers; the type check of the whole project
// emits the library's declarations as it goes, so the source is type-checked once, not once more for the
// declarations. When they are bundled, the package check and the files that need them (vitest's
// `declarations` project) run, one file at a time, beside the rest. vitest's own order and worker count
// are in vitest.config.ts.
//
// Only the main test run prints as it goes; the other steps' output is printed after it, in full when
// they fail (the declaration tests' report always), so nothing interleaves. The exit code is the first
// failure's.
import { spawn } from 'node:child_process';
import { rmSync } from 'node:fs';

const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
const npx = process.platform === 'win32' ? 'npx.cmd' : 'npx';

function run(command, args, { quiet, env = process.env }) {
  return new Promise((resolve) => {
    const child = spawn(command, args, { stdio: quiet ? ['ignore', 'pipe', 'pipe'] : 'inherit', env });
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

async function build(step) {
  const env = { ...process.env, SESSIONKIT_BUILD_STEP: step };
  const tsup = await run(npx, ['--no-install', 'tsup', '--silent'], { quiet: true, env });
  const result = tsup.code === 0 ? await run(process.execPath, ['scripts/cjs-entry.mjs'], { quiet: true }) : tsup;
  return { ...result, name: `build (${step})` };
}

function report({ name, code, output }) {
  if (code !== 0) {
    process.stdout.write(`\n--- ${name} (exit ${code})\n${output}\n`);
    console.error(`npm test: ${name} failed (exit ${code})`);
  } else console.log(`npm test: ${name} passed`);
  return code;
}

for (const dir of ['dist', '.cache/types']) rmSync(dir, { recursive: true, force: true });
const javascript = await build('js');
if (javascript.code !== 0) process.exit(report(javascript));
console.log(`npm test: JavaScript built in ${seconds()} s`);

const lint = run(npx, ['--no-install', 'biome', 'check', '.'], { quiet: true });
// The same declarations as tsconfig.declarations.json's, which `npm run build` emits.
const typeCheck = run(
  npx,
  ['--no-install', 'tsc', '--noEmit', 'false', '--emitDeclarationOnly', '--outDir', '.cache/types'],
  { quiet: true },
).then((result) => ({ ...result, name: 'type check' }));
const declarations = (async () => {
  // tsc emits even when it finds errors, which the type check's own report gives.
  await typeCheck;
  const types = await build('types');
  if (types.code !== 0) return { steps: [types], tests: null };
  const [packageCheck, tests] = await Promise.all([
    run(npm, ['run', 'check:package', '--silent'], { quiet: true }),
    run(npx, ['--no-install', 'vitest', 'run', '--maxWorkers=1', '--project', 'declarations'], { quiet: true }),
  ]);
  return { steps: [packageCheck, tests], tests };
})();
const tests = await run(
  npx,
  ['--no-install', 'vitest', 'run', '--project', 'shared', '--project', 'own-process'],
  { quiet: false },
);

const declared = await declarations;
if (declared.tests?.code === 0) process.stdout.write(`\n${declared.tests.output}\n`);
const steps = [await lint, await typeCheck, ...declared.steps];
let failed = 0;
for (const step of steps) failed ||= report(step);
failed ||= tests.code;
console.log(`npm test: ${seconds()} s in all`);
process.exit(failed);
