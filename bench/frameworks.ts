/**
 * Framework adapters side by side: `npm run bench:frameworks` (≈3 min) or `-- --quick` (≈1 min).
 *
 * For Fastify, Koa and Hono: the bare framework, its usual session package where there is one
 * (@fastify/session with its default store; koa-session with an external Map store), and sessionkit's
 * adapter on the MemoryStore. Each contender is its own server process (bench/framework-server.ts),
 * pinned to core 0 with `taskset` when it exists, driven by autocannon from core 1; the contenders of a
 * framework run alternately, the order flipped every round, and the table shows medians over rounds.
 *
 * Flags: --quick, --rounds N, --duration S, --connections N, --docs (write the table into
 * docs/performance.md).
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { cpus } from 'node:os';
import { join } from 'node:path';
import autocannon from 'autocannon';
import { median, ROOT, updateDocs } from './common.js';
import { FRAMEWORK_CONTENDERS, type FrameworkContender } from './framework-contenders.js';

const GROUPS: {
  name: string;
  bare: FrameworkContender;
  incumbent: FrameworkContender | null;
  ours: FrameworkContender;
}[] = [
  { name: 'Fastify 5', bare: 'fastify-bare', incumbent: 'fastify-session', ours: 'fastify-sk' },
  { name: 'Koa 3', bare: 'koa-bare', incumbent: 'koa-session', ours: 'koa-sk' },
  { name: 'Hono 4', bare: 'hono-bare', incumbent: null, ours: 'hono-sk' },
];
const SCENARIOS = [
  { path: '/read', label: 'cookie + read' },
  { path: '/write', label: 'cookie + write one key' },
] as const;

const argv = process.argv.slice(2);
const quick = argv.includes('--quick');
const flag = (name: string, fallback: number) => {
  const i = argv.indexOf(name);
  return i >= 0 && argv[i + 1] ? Number(argv[i + 1]) : fallback;
};
const rounds = flag('--rounds', quick ? 3 : 5);
const duration = flag('--duration', quick ? 2 : 5);
const connections = flag('--connections', 10);

function canPin(): boolean {
  try {
    execFileSync('taskset', ['-V'], { stdio: 'ignore' });
    return cpus().length >= 2;
  } catch {
    return false;
  }
}
const pin = canPin();

interface Server {
  port: number;
  child: ChildProcess;
  cookie: string;
}

async function start(contender: FrameworkContender): Promise<Server> {
  const args = ['--import', 'tsx', join(ROOT, 'bench/framework-server.ts'), contender];
  const child = pin
    ? spawn('taskset', ['-c', '0', process.execPath, ...args], {
        cwd: ROOT,
        stdio: ['ignore', 'pipe', 'inherit'],
      })
    : spawn(process.execPath, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise<number>((resolve, reject) => {
    let buffered = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      buffered += chunk.toString();
      const match = /READY (\d+)/.exec(buffered);
      if (match) resolve(Number(match[1]));
    });
    child.once('exit', (code) => reject(new Error(`${contender} exited with ${code}`)));
  });
  // The seeded session's cookies (koa-session sends a signature cookie beside its own).
  const seeded = await fetch(`http://127.0.0.1:${port}/seed`);
  const cookie = seeded.headers
    .getSetCookie()
    .map((header) => header.split(';')[0])
    .join('; ');
  return { port, child, cookie };
}

async function measure(server: Server, path: string): Promise<number> {
  const run = (seconds: number) =>
    autocannon({
      url: `http://127.0.0.1:${server.port}${path}`,
      connections,
      duration: seconds,
      headers: server.cookie ? { cookie: server.cookie } : {},
    });
  await run(1);
  const result = await run(duration);
  const failed = result.errors + result.timeouts + result.non2xx;
  if (failed > 0) throw new Error(`${path}: ${failed} failed requests`);
  return result.requests.average;
}

if (pin) execFileSync('taskset', ['-a', '-cp', '1', String(process.pid)], { stdio: 'ignore' });
const lines: string[] = [
  `Requests/s, medians of ${rounds} alternating rounds of ${duration} s, ${connections} connections` +
    `${pin ? ', server pinned to one core' : ''}; ratios from the same run.`,
  '',
  '| framework | scenario | bare | incumbent | sessionkit | sessionkit / bare | sessionkit / incumbent |',
  '| --- | --- | ---: | ---: | ---: | ---: | ---: |',
];
for (const group of GROUPS) {
  const contenders = [group.bare, group.incumbent, group.ours].filter(
    (c): c is FrameworkContender => c !== null,
  );
  const servers = new Map<FrameworkContender, Server>();
  for (const contender of contenders) servers.set(contender, await start(contender));
  try {
    for (const scenario of SCENARIOS) {
      const samples = new Map<FrameworkContender, number[]>(contenders.map((c) => [c, []]));
      for (let round = 0; round < rounds; round++) {
        const order = round % 2 === 0 ? contenders : [...contenders].reverse();
        for (const contender of order)
          samples.get(contender)?.push(await measure(servers.get(contender) as Server, scenario.path));
      }
      const rps = (c: FrameworkContender | null) => (c === null ? Number.NaN : median(samples.get(c) ?? []));
      const [bare, incumbent, ours] = [rps(group.bare), rps(group.incumbent), rps(group.ours)];
      const cell = (value: number) => (Number.isNaN(value) ? '—' : Math.round(value).toLocaleString('en-US'));
      const ratio = (value: number) => (Number.isNaN(value) ? '—' : `${value.toFixed(2)}×`);
      const incumbentLabel = group.incumbent ? FRAMEWORK_CONTENDERS[group.incumbent] : '';
      lines.push(
        `| ${group.name} | ${scenario.label} | ${cell(bare)} | ${cell(incumbent)}${incumbentLabel ? ` (${incumbentLabel})` : ''} | ${cell(ours)} | ${ratio(ours / bare)} | ${ratio(ours / incumbent)} |`,
      );
      console.log(lines.at(-1));
    }
  } finally {
    for (const server of servers.values()) server.child.kill();
  }
}
const table = lines.join('\n');
console.log(`\n${table}`);
if (argv.includes('--docs')) updateDocs('frameworks', table);
