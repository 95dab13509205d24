/**
 * Instructions per request, counted by callgrind: the one figure on this machine that does not swing
 * with what else the machine is doing (req/s moves ±20–30 % between identical runs). It counts every
 * thread of the process, so V8's garbage collection and JIT compiler are in it, as they are in a
 * server's CPU time. It does not see what the kernel does for sockets, which is the same for every
 * contender.
 *
 *   npm run bench:instructions -- [--iterations N] [--repeat N] [--only sk,es,bare,noop] [--scenarios read,write]
 *                                 [--plain] [--store memory|redis] [--observed]
 *
 * Each cell runs bench/hotpath.ts in its own process under `valgrind --tool=callgrind` (two at a time,
 * one per core). The harness warms up, prints `MARK warm`, and waits; the counters are zeroed with
 * `callgrind_control -z`; it runs the measured requests, prints `MARK done`, and the counters are
 * dumped with `callgrind_control -d`. Needs valgrind (Debian package `valgrind`). With `--store redis`
 * (express-session + connect-redis vs sessionkit + RedisStore, Redis on 127.0.0.1:6379) the count holds
 * each store's client-side work; Redis's own is in another process and not counted.
 *
 * V8 runs single-threaded (`--single-threaded`): with its background threads, how much marking and
 * optimizing they did inside the measured window depended on how valgrind scheduled them, and counts of
 * one build moved by ±15 % between runs. On the main thread that work is done when the heap and the
 * code call for it, the same in every run. `--repeat N` runs each cell N times and reports the median,
 * with the lowest and highest count beside it.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { median, option } from './common.js';

type Side = 'sk' | 'es' | 'bare' | 'noop';
const SIDE_LABEL: Record<Side, string> = {
  sk: 'sessionkit',
  es: 'express-session',
  bare: 'bare',
  noop: 'no-op middleware',
};
const here = fileURLToPath(new URL('.', import.meta.url));

function hasValgrind(): boolean {
  try {
    execFileSync('valgrind', ['--version'], { stdio: 'ignore' });
    execFileSync('callgrind_control', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** Zeroes (`-z`) or dumps (`-d`) the counters of a process running under callgrind. */
function control(flag: '-z' | '-d', pid: number): void {
  execFileSync('callgrind_control', [flag, String(pid)], { stdio: 'ignore' });
}

/** The `summary:` line of a callgrind dump: instructions executed between the zero and the dump. */
function summaryOf(file: string): number {
  const match = /^summary:\s*(\d+)/m.exec(readFileSync(file, 'utf8'));
  if (!match) throw new Error(`${file}: no summary line`);
  return Number(match[1]);
}

/** Requests before the counters are zeroed: by then V8 has optimized the hot path (2000 was not enough). */
const WARMUP = 5000;
let runs = 0;

interface Cell {
  side: Side;
  scenario: string;
  iterations: number;
  inExpress: boolean;
  store: string;
  /** A no-op subscriber on every diagnostics channel (see hotpath.ts). */
  observed: boolean;
}

/** One cell: instructions per request of `side` in `scenario`. */
async function count({ side, scenario, iterations, inExpress, store, observed }: Cell, dir: string) {
  const out = join(dir, `cg-${side}-${scenario}-${++runs}.out`);
  const child: ChildProcess = spawn(
    'valgrind',
    [
      '--tool=callgrind',
      `--callgrind-out-file=${out}`,
      // V8 writes and rewrites machine code on the heap; callgrind must notice.
      '--smc-check=all-non-file',
      'node',
      '--single-threaded',
      '--import',
      'tsx',
      join(here, 'hotpath.ts'),
      '--marks',
      ...(inExpress ? ['--express'] : []),
      ...(observed ? ['--observed'] : []),
      '--store',
      store,
      '--only',
      side,
      '--scenarios',
      scenario,
      '--iterations',
      String(iterations),
      '--warmup',
      String(WARMUP),
      '--rounds',
      '1',
    ],
    { stdio: ['pipe', 'pipe', 'pipe'] },
  );
  let stderr = '';
  child.stderr?.on('data', (chunk) => {
    stderr += String(chunk);
  });
  const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
  const pid = child.pid as number;
  try {
    for await (const line of createInterface({ input: child.stdout as NodeJS.ReadableStream })) {
      if (line === 'MARK warm') control('-z', pid);
      else if (line === 'MARK done') control('-d', pid);
      else continue;
      child.stdin?.write('\n');
    }
  } catch (error) {
    // A failed callgrind_control would leave the harness waiting on stdin forever.
    child.kill('SIGKILL');
    throw error;
  }
  const code = await exited;
  if (code !== 0) throw new Error(`${side}/${scenario}: exited with ${code}\n${stderr.slice(-2000)}`);
  return summaryOf(`${out}.1`) / iterations;
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  if (!hasValgrind()) {
    console.error(
      'bench:instructions needs valgrind and callgrind_control (Debian: apt-get install valgrind).',
    );
    process.exit(1);
  }
  const iterations = Number(option(argv, '--iterations', '20000'));
  const repeat = Number(option(argv, '--repeat', '1'));
  const sides = option(argv, '--only', 'sk,es,bare,noop').split(',') as Side[];
  const scenarios = option(argv, '--scenarios', 'no-cookie,read,write,login').split(',');
  const inExpress = !argv.includes('--plain');
  const store = option(argv, '--store', 'memory');
  const observed = argv.includes('--observed');
  const dir = mkdtempSync(join(tmpdir(), 'sessionkit-callgrind-'));
  const cells = scenarios.flatMap((scenario) =>
    sides.flatMap((side) => Array.from({ length: repeat }, () => ({ side, scenario }))),
  );
  const results = new Map<string, number[]>();
  try {
    // Two at a time: valgrind runs a process on one core, and a count does not depend on the other.
    const queue = [...cells];
    const worker = async () => {
      for (let cell = queue.shift(); cell; cell = queue.shift()) {
        const perRequest = await count({ ...cell, iterations, inExpress, store, observed }, dir);
        const key = `${cell.scenario}/${cell.side}`;
        results.set(key, [...(results.get(key) ?? []), perRequest]);
        console.error(
          `  ${cell.scenario.padEnd(10)} ${SIDE_LABEL[cell.side].padEnd(16)} ${Math.round(perRequest)}`,
        );
      }
    };
    await Promise.all([worker(), worker()]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }

  const k = (n: number | undefined) => (n === undefined ? '' : `${(n / 1000).toFixed(1)}k`);
  const ratio = (a: number | undefined, b: number | undefined) =>
    a === undefined || b === undefined ? '' : `${(a / b).toFixed(2)}×`;
  /** The median of a cell's counts, and with `--repeat`, their range. */
  const cell = (counts: number[] | undefined) => {
    if (counts === undefined) return '';
    const sorted = [...counts].sort((a, b) => a - b);
    const range = sorted.length > 1 ? ` (${k(sorted[0])}–${k(sorted[sorted.length - 1])})` : '';
    return `${k(median(sorted))}${range}`;
  };
  console.log(
    `Instructions per request (callgrind, ${iterations} requests after ${WARMUP} warm-up, ` +
      `${inExpress ? 'in an Express 5 app' : 'the middleware alone'}, ${store} store, no HTTP sockets` +
      `${repeat > 1 ? `; median of ${repeat} runs, range in brackets` : ''}):`,
  );
  console.log(
    '| Scenario | sessionkit | express-session | bare | no-op middleware | express-session ÷ sessionkit | bare ÷ sessionkit | no-op ÷ sessionkit |',
  );
  console.log('|---|---:|---:|---:|---:|---:|---:|---:|');
  for (const scenario of scenarios) {
    const counts = (['sk', 'es', 'bare', 'noop'] as const).map((side) => results.get(`${scenario}/${side}`));
    const [sk, es, bare, noop] = counts.map((each) => (each === undefined ? undefined : median(each)));
    console.log(
      `| ${scenario} | ${counts.map(cell).join(' | ')} | ${ratio(es, sk)} | ${ratio(bare, sk)} | ${ratio(noop, sk)} |`,
    );
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
