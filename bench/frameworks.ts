/**
 * Framework adapters side by side: `npm run bench:frameworks` (≈6 min) or `-- --quick` (≈2 min).
 *
 * For Fastify, Koa and Hono: the bare framework, its usual session package where there is one
 * (@fastify/session + @fastify/cookie with its default MemoryStore; koa-session with an external Map
 * store, because its default keeps the whole session in the cookie and would not be a server-side
 * session), and sessionkit's adapter on its MemoryStore. Each contender is its own server process
 * (bench/framework-server.ts), pinned to core 0 with `taskset` when it exists, driven by autocannon from
 * core 1. The contenders of a framework run alternately, the order flipped every round, and every
 * measured run comes right after a warm-up run of the same contender and scenario: a server left idle
 * while the others ran answers slowly for its first second. Each connection cycles through the cookies
 * of 100 seeded sessions, as a server sees many users. The table shows medians over rounds of req/s,
 * p50, p99 and max latency, and server CPU per request (steadier than req/s on a shared machine).
 *
 * Flags: --quick, --rounds N, --duration S, --warmup S, --connections N, --sessions N,
 * --only fastify,koa,hono, --docs (write the table into docs/frameworks-performance.md), --instructions (count
 * instructions per request under callgrind instead, see bench/framework-instructions.ts; with
 * --requests N and --warmup-requests N).
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { join } from 'node:path';
import autocannon from 'autocannon';
import { gitHead, median, option, ROOT, seedCookies, versionOf, waitForReady } from './common.js';
import { FRAMEWORK_CONTENDERS, type FrameworkContender } from './framework-contenders.js';
import { countInstructions } from './framework-instructions.js';

interface Group {
  id: string;
  name: string;
  bare: FrameworkContender;
  incumbent: FrameworkContender | null;
  ours: FrameworkContender;
}

const GROUPS: Group[] = [
  {
    id: 'fastify',
    name: 'Fastify 5',
    bare: 'fastify-bare',
    incumbent: 'fastify-session',
    ours: 'fastify-sk',
  },
  { id: 'koa', name: 'Koa 3', bare: 'koa-bare', incumbent: 'koa-session', ours: 'koa-sk' },
  { id: 'hono', name: 'Hono 4', bare: 'hono-bare', incumbent: null, ours: 'hono-sk' },
];
const SCENARIOS = [
  { id: 'no-cookie', path: '/read', label: 'no cookie', cookie: false },
  { id: 'read', path: '/read', label: 'cookie + read', cookie: true },
  { id: 'write', path: '/write', label: 'cookie + write one key', cookie: true },
] as const;
type Scenario = (typeof SCENARIOS)[number];

const argv = process.argv.slice(2);
const quick = argv.includes('--quick');
const flag = (name: string, fallback: number) => Number(option(argv, name, String(fallback)));
const rounds = flag('--rounds', quick ? 2 : 3);
const duration = flag('--duration', quick ? 1.5 : 3);
const warmup = flag('--warmup', quick ? 0.5 : 1);
const connections = flag('--connections', 10);
const sessions = flag('--sessions', 100);
const only = option(argv, '--only', GROUPS.map((g) => g.id).join(',')).split(',');

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
  /** `Cookie` header values of the seeded sessions; empty for a contender without sessions. */
  cookies: string[];
}

async function start(contender: FrameworkContender): Promise<Server> {
  const args = ['--import', 'tsx', join(ROOT, 'bench/framework-server.ts'), contender];
  const child = pin
    ? spawn('taskset', ['-c', '0', process.execPath, ...args], {
        cwd: ROOT,
        stdio: ['ignore', 'pipe', 'inherit'],
      })
    : spawn(process.execPath, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await waitForReady(child, contender, 30_000);
  const cookies = await seedCookies(port, sessions);
  return { port, child, cookies };
}

async function stop(server: Server): Promise<void> {
  if (server.child.exitCode !== null) return;
  const exited = new Promise<void>((resolve) => server.child.once('exit', () => resolve()));
  server.child.kill('SIGTERM');
  await exited;
}

interface Sample {
  rps: number;
  p50: number;
  p99: number;
  max: number;
  /** Server CPU time (user + system) per completed request, µs. */
  cpuUs: number;
}

async function serverCpu(port: number): Promise<number> {
  return Number(await (await fetch(`http://127.0.0.1:${port}/__cpu`)).text());
}

async function measure(server: Server, scenario: Scenario): Promise<Sample> {
  const requests =
    scenario.cookie && server.cookies.length > 0
      ? server.cookies.map((cookie) => ({ headers: { cookie } }))
      : undefined;
  const run = (seconds: number) =>
    autocannon({
      url: `http://127.0.0.1:${server.port}${scenario.path}`,
      connections,
      duration: seconds,
      ...(requests ? { requests } : {}),
    });
  await run(warmup);
  const before = await serverCpu(server.port);
  const result = await run(duration);
  const after = await serverCpu(server.port);
  const failed = result.errors + result.timeouts + result.non2xx;
  if (failed > 0) throw new Error(`${scenario.path}: ${failed} failed requests`);
  return {
    rps: result.requests.average,
    p50: result.latency.p50,
    p99: result.latency.p99,
    max: result.latency.max,
    cpuUs: (after - before) / Math.max(1, result.requests.total),
  };
}

const int = (value: number) => (Number.isFinite(value) ? Math.round(value).toLocaleString('en-US') : '—');
const ms = (value: number) => (Number.isFinite(value) ? String(value) : '—');
const ratio = (value: number) => (Number.isFinite(value) ? `${value.toFixed(2)}×` : '—');

// Counting instructions needs no pinning, and its servers would inherit this process's one core.
if (pin && !argv.includes('--instructions'))
  execFileSync('taskset', ['-a', '-cp', '1', String(process.pid)], { stdio: 'ignore' });
const date = new Date().toISOString();
const load = loadavg()[0]?.toFixed(1) ?? '?';
const instructions = argv.includes('--instructions');
const requests = flag('--requests', 2000);
const rows: string[] = instructions
  ? [
      '| framework | scenario | bare | incumbent | sessionkit | bare ÷ sessionkit | incumbent ÷ sessionkit |',
      '| --- | --- | ---: | ---: | ---: | ---: | ---: |',
    ]
  : [
      '| framework | scenario | contender | req/s | p50 ms | p99 ms | max ms | CPU µs/req | req/s ÷ bare | req/s ÷ incumbent | CPU: incumbent ÷ this |',
      '| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
    ];
const counted = instructions
  ? await countInstructions(
      GROUPS.filter((g) => only.includes(g.id)).flatMap((g) =>
        [g.bare, g.incumbent, g.ours].filter((c): c is FrameworkContender => c !== null),
      ),
      SCENARIOS,
      { requests, warmup: flag('--warmup-requests', 3000), sessions },
    )
  : null;
if (counted) {
  const k = (n: number | undefined) => (n === undefined ? '—' : `${(n / 1000).toFixed(1)}k`);
  const r = (a: number | undefined, b: number | undefined) =>
    a === undefined || b === undefined ? '—' : `${(a / b).toFixed(2)}×`;
  for (const group of GROUPS.filter((g) => only.includes(g.id)))
    for (const scenario of SCENARIOS) {
      const of = (c: FrameworkContender | null) => (c ? counted.get(`${c}/${scenario.id}`) : undefined);
      const [bare, incumbent, ours] = [of(group.bare), of(group.incumbent), of(group.ours)];
      rows.push(
        `| ${group.name} | ${scenario.label} | ${k(bare)} | ${k(incumbent)} | ${k(ours)} | ${r(bare, ours)} | ${r(incumbent, ours)} |`,
      );
    }
}
const summary: Record<string, Record<string, Record<string, Sample>>> = {};
for (const group of GROUPS.filter((g) => !instructions && only.includes(g.id))) {
  const contenders = [group.bare, group.incumbent, group.ours].filter(
    (c): c is FrameworkContender => c !== null,
  );
  const servers = new Map<FrameworkContender, Server>();
  try {
    for (const contender of contenders) servers.set(contender, await start(contender));
    for (const scenario of SCENARIOS) {
      const samples = new Map<FrameworkContender, Sample[]>(contenders.map((c) => [c, []]));
      for (let round = 0; round < rounds; round++) {
        const order = round % 2 === 0 ? contenders : [...contenders].reverse();
        for (const contender of order) {
          const sample = await measure(servers.get(contender) as Server, scenario);
          samples.get(contender)?.push(sample);
          console.error(
            `  ${group.name} ${scenario.label.padEnd(22)} r${round + 1} ${contender.padEnd(16)} ` +
              `${int(sample.rps).padStart(7)} req/s p50 ${sample.p50} p99 ${sample.p99} max ${sample.max} ms ` +
              `cpu ${sample.cpuUs.toFixed(0)} µs/req`,
          );
        }
      }
      const med = (c: FrameworkContender | null): Sample => {
        const list = c === null ? [] : (samples.get(c) ?? []);
        const of = (key: keyof Sample) => median(list.map((s) => s[key]));
        return { rps: of('rps'), p50: of('p50'), p99: of('p99'), max: of('max'), cpuUs: of('cpuUs') };
      };
      const bare = med(group.bare);
      const incumbent = med(group.incumbent);
      summary[group.id] ??= {};
      const perScenario: Record<string, Sample> = {};
      (summary[group.id] as Record<string, Record<string, Sample>>)[scenario.id] = perScenario;
      for (const contender of contenders) {
        const m = med(contender);
        perScenario[contender] = m;
        const isBare = contender === group.bare;
        const isOurs = contender === group.ours;
        rows.push(
          `| ${group.name} | ${scenario.label} | ${FRAMEWORK_CONTENDERS[contender]} | ${int(m.rps)} | ${ms(m.p50)} | ` +
            `${ms(m.p99)} | ${ms(m.max)} | ${m.cpuUs.toFixed(0)} | ${isBare ? '' : ratio(m.rps / bare.rps)} | ` +
            `${isOurs && group.incumbent ? ratio(m.rps / incumbent.rps) : ''} | ` +
            `${isOurs && group.incumbent ? ratio(incumbent.cpuUs / m.cpuUs) : ''} |`,
        );
      }
    }
  } finally {
    await Promise.all([...servers.values()].map(stop));
  }
}

const versions = [
  `sessionkit ${versionOf('..')} (git ${gitHead()})`,
  ...[
    'fastify',
    '@fastify/session',
    '@fastify/cookie',
    'koa',
    'koa-session',
    'hono',
    '@hono/node-server',
    'autocannon',
  ].map((name) => `${name} ${versionOf(name)}`),
].join(', ');
const header = [
  instructions
    ? `Instructions per request (callgrind, the server process's main thread), measured ${date} with ` +
      `\`npm run bench:frameworks -- --instructions\`: ${requests} requests per contender and scenario after a ` +
      `warm-up of ${flag('--warmup-requests', 3000)}, cycling through ${sessions} seeded sessions; ` +
      'a ratio above 1× means sessionkit executes fewer instructions.'
    : `Measured ${date} with \`npm run bench:frameworks${quick ? ' -- --quick' : ''}\`: ${rounds} alternating rounds ` +
      `× ${duration} s per contender and scenario, each right after a ${warmup} s warm-up of the same contender, ` +
      `${connections} connections cycling through ${sessions} seeded sessions; medians over rounds.`,
  `Machine: ${cpus()[0]?.model ?? 'unknown'}, ${cpus().length} cores, ${Math.round(totalmem() / 2 ** 30)} GiB, ` +
    `Node ${process.version}, load average ${load} at the start; ` +
    `${instructions ? 'servers under valgrind, two at a time' : pin ? 'each server pinned to core 0, autocannon on core 1' : 'no CPU pinning'}.`,
  `Versions: ${versions}.`,
].join('\n');
const markdown = `${header}\n\n${rows.join('\n')}\n`;
console.log(`\n${markdown}`);

const resultsDir = join(ROOT, 'bench', 'results');
mkdirSync(resultsDir, { recursive: true });
const stamp = date.replace(/[:.]/g, '-');
const json = JSON.stringify(
  counted
    ? { date, requests, sessions, instructions: Object.fromEntries(counted) }
    : { date, rounds, duration, warmup, connections, sessions, pin, summary },
  null,
  2,
);
const kind = instructions ? 'frameworks-instructions' : 'frameworks';
writeFileSync(join(resultsDir, `${kind}-${stamp}.json`), json);
writeFileSync(join(resultsDir, `${kind}-${stamp}.md`), markdown);
if (argv.includes('--docs')) {
  const file = join(ROOT, 'docs', 'frameworks-performance.md');
  const startMark = `<!-- bench:${kind}:start -->`;
  const endMark = `<!-- bench:${kind}:end -->`;
  const current = existsSync(file) ? readFileSync(file, 'utf8') : '# Framework adapters\n';
  const block = `${startMark}\n${markdown.trim()}\n${endMark}`;
  const from = current.indexOf(startMark);
  const to = current.indexOf(endMark);
  writeFileSync(
    file,
    from >= 0 && to > from
      ? current.slice(0, from) + block + current.slice(to + endMark.length)
      : `${current.trimEnd()}\n\n${block}\n`,
  );
}
