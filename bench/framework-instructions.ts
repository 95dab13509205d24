/**
 * Instructions per request of each framework contender's server, counted by callgrind:
 * `npm run bench:frameworks -- --instructions [--requests N] [--only fastify,koa,hono]`.
 *
 * req/s on a shared two-core machine moves by a factor of two or three between identical runs; the
 * instructions a server executes for a request repeat to about 1 %. Each contender's server
 * (bench/framework-server.ts) runs under `valgrind --tool=callgrind` with instrumentation off while it
 * starts and warms up (a warm-up batch of every scenario, then another quarter batch right before each
 * count); the counters are switched on and zeroed, exactly N requests are sent (cycling through the seeded sessions' cookies)
 * and the counters are dumped. The count is the server's main thread (framework, session layer, Node's
 * HTTP parser, the collector's main-thread work): V8's background compiler and collector threads are
 * left out, as is the kernel's socket work, which is the same for every contender, so the ratios are,
 * if anything, closer to 1 than the CPU ratios.
 * Needs valgrind (Debian package `valgrind`). Two servers are counted at a time.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import autocannon from 'autocannon';
import { ROOT, seedCookies, waitForReady } from './common.js';
import type { FrameworkContender } from './framework-contenders.js';

export interface InstructionScenario {
  id: string;
  path: string;
  cookie: boolean;
}

function control(pid: number, ...args: string[]): void {
  execFileSync('callgrind_control', [...args, String(pid)], { stdio: 'ignore' });
}

function summaryOf(file: string): number {
  const match = /^summary:\s*(\d+)/m.exec(readFileSync(file, 'utf8'));
  if (!match) throw new Error(`${file}: no summary line`);
  return Number(match[1]);
}

function ready(child: ChildProcess, label: string): Promise<number> {
  return waitForReady(child, label, 300_000);
}

/** Instructions per request of one contender in each scenario, keyed by scenario id. */
async function countContender(
  contender: FrameworkContender,
  scenarios: readonly InstructionScenario[],
  requests: number,
  warmup: number,
  sessions: number,
  dir: string,
): Promise<Map<string, number>> {
  const out = join(dir, `cg-${contender}.out`);
  const child = spawn(
    'valgrind',
    [
      '--tool=callgrind',
      '--instr-atstart=no',
      // One file per thread: the main thread's count leaves out V8's background compiler and collector
      // threads, whose share of a short count swings by tens of percent between runs.
      '--separate-threads=yes',
      `--callgrind-out-file=${out}`,
      // V8 writes and rewrites machine code on the heap; callgrind must notice.
      '--smc-check=all-non-file',
      process.execPath,
      '--import',
      'tsx',
      join(ROOT, 'bench/framework-server.ts'),
      contender,
    ],
    { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const pid = child.pid as number;
  const counts = new Map<string, number>();
  try {
    const port = await ready(child, contender);
    const cookies = await seedCookies(port, sessions);
    const send = async (scenario: InstructionScenario, amount: number) => {
      const rotation =
        scenario.cookie && cookies.length > 0
          ? cookies.map((cookie) => ({ headers: { cookie } }))
          : undefined;
      const result = await autocannon({
        url: `http://127.0.0.1:${port}${scenario.path}`,
        connections: 4,
        amount,
        timeout: 60,
        ...(rotation ? { requests: rotation } : {}),
      });
      const failed = result.errors + result.timeouts + result.non2xx;
      if (failed > 0) throw new Error(`${contender} ${scenario.id}: ${failed} failed requests`);
      return result.requests.total;
    };
    // Every scenario's code is optimized before any is counted: the first scenario would otherwise
    // carry compilation the others do not.
    for (const scenario of scenarios) await send(scenario, warmup);
    let dumps = 0;
    const count = async (scenario: InstructionScenario) => {
      await send(scenario, Math.ceil(warmup / 4));
      control(pid, '--instr=on');
      control(pid, '-z');
      const sent = await send(scenario, requests);
      control(pid, '-d');
      control(pid, '--instr=off');
      dumps++;
      // Thread 1 is the main thread: JavaScript, the HTTP parser, and the collector's main-thread share.
      return summaryOf(`${out}.${dumps}-01`) / sent;
    };
    // The first count after instrumentation comes on carries a one-off cost (bare Fastify's no-cookie
    // count came out well above its cookie count, on the same route): it is made and thrown away.
    if (scenarios[0]) await count(scenarios[0]);
    for (const scenario of scenarios) counts.set(scenario.id, await count(scenario));
  } finally {
    child.kill('SIGKILL');
  }
  return counts;
}

/** Counts every contender, two at a time; returns `contender/scenario` → instructions per request. */
export async function countInstructions(
  contenders: FrameworkContender[],
  scenarios: readonly InstructionScenario[],
  options: { requests: number; warmup: number; sessions: number },
): Promise<Map<string, number>> {
  try {
    execFileSync('callgrind_control', ['--version'], { stdio: 'ignore' });
  } catch {
    throw new Error('--instructions needs valgrind and callgrind_control (Debian: apt-get install valgrind)');
  }
  const dir = mkdtempSync(join(tmpdir(), 'sessionkit-framework-callgrind-'));
  const results = new Map<string, number>();
  const queue = [...contenders];
  const worker = async () => {
    for (let contender = queue.shift(); contender; contender = queue.shift()) {
      const counts = await countContender(
        contender,
        scenarios,
        options.requests,
        options.warmup,
        options.sessions,
        dir,
      );
      for (const [scenario, perRequest] of counts) {
        results.set(`${contender}/${scenario}`, perRequest);
        console.error(
          `  ${contender.padEnd(16)} ${scenario.padEnd(10)} ${Math.round(perRequest)} instructions/req`,
        );
      }
    }
  };
  try {
    await Promise.all([worker(), worker()]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return results;
}
