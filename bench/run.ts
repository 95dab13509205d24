/**
 * Side-by-side HTTP benchmark: `npm run bench` (≈5 min) or `npm run bench -- --quick` (≈1 min).
 *
 * Each contender runs in its own server process (bench/server.ts), pinned to core 0 with `taskset` when
 * it exists; this process drives them with autocannon from core 1. Contenders that are compared run
 * alternately (A B A B, the order flipped every round), and the table shows medians over the rounds.
 * Every measured run is preceded, immediately, by a warm-up run of the same contender and scenario: a
 * server left idle while the others ran answers slowly for its first second or two (p99 of hundreds of
 * ms on this machine, bare Express included), which would otherwise be charged to whichever ran first.
 * The table shows p99 and the maximum latency beside the req/s medians, so such a stall stays visible.
 *
 * Flags: --quick, --rounds N, --duration S, --warmup S, --connections N, --sessions N (seeded sessions
 * the cookie scenarios cycle through, 100), --no-redis, --no-sqlite, --no-docs.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import {
  CONTENDER_LABEL,
  type Contender,
  gitHead,
  median,
  reachable,
  updateDocs,
  versionOf,
  waitForReady,
} from './common.js';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..');

type Scenario = 'no-cookie' | 'read' | 'write' | 'login';
const SCENARIOS: { id: Scenario; label: string; path: string; cookie: boolean }[] = [
  { id: 'no-cookie', label: 'no cookie', path: '/read', cookie: false },
  { id: 'read', label: 'cookie + read only', path: '/read', cookie: true },
  { id: 'write', label: 'cookie + write one key', path: '/write', cookie: true },
  { id: 'login', label: 'login (new session + regenerate)', path: '/login', cookie: false },
];

interface Group {
  name: string;
  /** Compared with each other, alternately. */
  contenders: Contender[];
  /** Ratio column "vs express-session" uses this contender. */
  baseline: Contender | null;
}

interface Args {
  rounds: number;
  duration: number;
  warmup: number;
  connections: number;
  /** Seeded sessions each connection cycles through in the cookie scenarios. */
  sessions: number;
  redis: boolean;
  sqlite: boolean;
  docs: boolean;
  quick: boolean;
  /** Only these contenders (comma-separated `--only sk-memory,es-memory`), for A/B work on one side. */
  only: Contender[] | null;
  /** Only these scenarios (`--scenarios read,write`). */
  scenarios: Scenario[] | null;
}

function parseArgs(argv: string[]): Args {
  const quick = argv.includes('--quick');
  const value = (flag: string, fallback: number): number => {
    const i = argv.indexOf(flag);
    return i >= 0 && argv[i + 1] !== undefined ? Number(argv[i + 1]) : fallback;
  };
  const list = (flag: string): string[] | null => {
    const i = argv.indexOf(flag);
    return i >= 0 && argv[i + 1] ? (argv[i + 1] as string).split(',') : null;
  };
  return {
    quick,
    rounds: value('--rounds', quick ? 2 : 3),
    duration: value('--duration', quick ? 1 : 3),
    warmup: value('--warmup', quick ? 0.5 : 2),
    connections: value('--connections', 32),
    sessions: value('--sessions', 100),
    redis: !argv.includes('--no-redis'),
    sqlite: !argv.includes('--no-sqlite'),
    docs: !argv.includes('--no-docs') && !argv.includes('--only') && !argv.includes('--scenarios'),
    only: list('--only') as Contender[] | null,
    scenarios: list('--scenarios') as Scenario[] | null,
  };
}

function hasTaskset(): boolean {
  try {
    execFileSync('taskset', ['-V'], { stdio: 'ignore' });
    return cpus().length >= 2;
  } catch {
    return false;
  }
}

interface Server {
  contender: Contender;
  port: number;
  child: ChildProcess;
}

async function startServer(contender: Contender, pin: boolean): Promise<Server> {
  const nodeArgs = ['--import', 'tsx', join(here, 'server.ts'), contender];
  const child = pin
    ? spawn('taskset', ['-c', '0', process.execPath, ...nodeArgs], {
        cwd: root,
        stdio: ['ignore', 'pipe', 'inherit'],
      })
    : spawn(process.execPath, nodeArgs, { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await waitForReady(child, contender, 30_000);
  return { contender, port, child };
}

async function stopServer(server: Server): Promise<void> {
  if (server.child.exitCode !== null) return;
  const exited = new Promise<void>((resolve) => server.child.once('exit', () => resolve()));
  server.child.kill('SIGTERM');
  const timer = setTimeout(() => server.child.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(timer);
}

/** Fresh seeded sessions' cookies (`name=value`); none for a contender without sessions. */
async function seedCookies(port: number, count: number): Promise<string[]> {
  const cookies: string[] = [];
  for (let i = 0; i < count; i++) {
    const response = await fetch(`http://127.0.0.1:${port}/seed`);
    await response.text();
    const header = response.headers.get('set-cookie');
    if (!header) return [];
    cookies.push(header.split(';')[0] as string);
  }
  return cookies;
}

interface Sample {
  rps: number;
  p50: number;
  p99: number;
  /** The slowest request of the run, in ms. */
  max: number;
  /** Server CPU time (user + system) per completed request, in µs: steadier than req/s on a busy machine. */
  cpuUs: number;
  errors: number;
}

async function serverCpu(port: number): Promise<number> {
  const response = await fetch(`http://127.0.0.1:${port}/__cpu`);
  return Number(await response.text());
}

async function drive(server: Server, scenario: (typeof SCENARIOS)[number], args: Args): Promise<Sample> {
  // Each connection cycles through many sessions, as a server sees many users: with one cookie, caches of
  // the last ID verified or hashed would hit on every request, which real traffic does not give them.
  const cookies = scenario.cookie ? await seedCookies(server.port, args.sessions) : [];
  const requests = cookies.length > 0 ? cookies.map((cookie) => ({ headers: { cookie } })) : undefined;
  const url = `http://127.0.0.1:${server.port}${scenario.path}`;
  const run = (duration: number) =>
    autocannon({ url, connections: args.connections, duration, ...(requests ? { requests } : {}) });
  await run(args.warmup);
  const cpuBefore = await serverCpu(server.port);
  const result = await run(args.duration);
  const cpuAfter = await serverCpu(server.port);
  return {
    rps: result.requests.average,
    p50: result.latency.p50,
    p99: result.latency.p99,
    max: result.latency.max,
    cpuUs: (cpuAfter - cpuBefore) / Math.max(1, result.requests.total),
    errors: result.errors + result.timeouts + result.non2xx,
  };
}

interface Row {
  scenario: Scenario;
  scenarioLabel: string;
  contender: Contender;
  label: string;
  rps: number;
  p99: number;
  /** Median over rounds of each run's slowest request, and the slowest of all rounds (ms). */
  max: number;
  worst: number;
  /** This contender's p99 over bare Express's (lower is better; the target allows 1.5×). */
  p99VsBare: number | null;
  cpuUs: number;
  /** Ratio of CPU per request, express-session's over this one's (>1: this one is cheaper). */
  cpuVsExpressSession: number | null;
  vsExpressSession: number | null;
  vsBare: number | null;
  /** Ratio to Express with one no-op middleware: the most any middleware can keep. */
  vsNoop: number | null;
  samples: Sample[];
}

function fmtRatio(value: number | null): string {
  return value === null || !Number.isFinite(value) ? '' : `${value.toFixed(2)}×`;
}

function markdownTable(rows: Row[]): string {
  const lines = [
    "| Scenario | Contender | req/s (median) | p99 ms | max ms (median / worst) | vs express-session | vs bare Express | vs no-op middleware | p99 ÷ bare's | server CPU µs/req | CPU: express-session ÷ this |",
    '|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
  ];
  for (const row of rows) {
    lines.push(
      `| ${row.scenarioLabel} | ${row.label} | ${Math.round(row.rps).toLocaleString('en-US')} | ${row.p99} | ${row.max} / ${row.worst} | ${fmtRatio(
        row.vsExpressSession,
      )} | ${fmtRatio(row.vsBare)} | ${fmtRatio(row.vsNoop)} | ${fmtRatio(row.p99VsBare)} | ${row.cpuUs.toFixed(0)} | ${fmtRatio(row.cpuVsExpressSession)} |`,
    );
  }
  return lines.join('\n');
}

/**
 * Encryption at rest side by side with the same store unencrypted, from the same run: the issue's target
 * is the encrypted cookie + read within 10 % of the plain one.
 */
function encryptionTable(rows: Row[]): string {
  const lines: string[] = [];
  const stat = (row: Row, pick: (s: Sample) => number) => median(row.samples.map(pick));
  for (const row of rows) {
    if (row.contender !== 'sk-memory-enc') continue;
    const plain = rows.find((r) => r.scenario === row.scenario && r.contender === 'sk-memory');
    if (!plain) continue;
    const cells = (r: Row) =>
      `${Math.round(r.rps).toLocaleString('en-US')} | ${stat(r, (s) => s.p50)} / ${r.p99} / ${r.max} | ${r.cpuUs.toFixed(0)}`;
    lines.push(
      `| ${row.scenarioLabel} | ${cells(plain)} | ${cells(row)} | ${fmtRatio(row.rps / plain.rps)} | ${fmtRatio(row.cpuUs / plain.cpuUs)} |`,
    );
  }
  if (lines.length === 0) return '';
  return [
    'Encryption at rest (sessionkit + MemoryStore, same run):',
    '',
    '| Scenario | plain req/s | plain p50 / p99 / max ms | plain CPU µs/req | encrypted req/s | encrypted p50 / p99 / max ms | encrypted CPU µs/req | req/s encrypted ÷ plain | CPU encrypted ÷ plain |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|',
    ...lines,
  ].join('\n');
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const pin = hasTaskset();
  if (pin) execFileSync('taskset', ['-a', '-cp', '1', String(process.pid)], { stdio: 'ignore' });

  const groups: Group[] = [
    {
      name: 'memory',
      contenders: ['bare', 'noop', 'es-memory', 'sk-memory', 'sk-memory-enc'],
      baseline: 'es-memory',
    },
  ];
  const redisUp = args.redis && existsSync(join(root, 'src/stores/redis.ts')) && (await reachable(6379));
  if (redisUp) groups.push({ name: 'redis', contenders: ['es-redis', 'sk-redis'], baseline: 'es-redis' });
  else if (args.redis) console.error('Redis not reachable on 127.0.0.1:6379 (or no RedisStore): skipped');
  if (args.sqlite) groups.push({ name: 'sqlite', contenders: ['sk-sqlite'], baseline: null });

  if (args.only) {
    const only = args.only;
    for (const group of groups) group.contenders = group.contenders.filter((c) => only.includes(c));
  }
  const scenarios = args.scenarios ? SCENARIOS.filter((s) => args.scenarios?.includes(s.id)) : SCENARIOS;
  const cells = groups.reduce((n, g) => n + g.contenders.length, 0) * scenarios.length * args.rounds;
  console.error(
    `${cells} runs of ${args.duration}s (+${args.warmup}s warm-up), ${args.connections} connections; ` +
      `about ${Math.ceil((cells * (args.duration + args.warmup + 0.3)) / 60)} min. Pinned: ${pin ? 'server core 0, load core 1' : 'no'}`,
  );

  const servers = new Map<Contender, Server>();
  const stopAll = async () => {
    await Promise.all([...servers.values()].map(stopServer));
  };
  process.on('SIGINT', () => {
    void stopAll().then(() => process.exit(130));
  });

  const samples = new Map<string, Sample[]>();
  try {
    for (const group of groups) {
      for (const contender of group.contenders) servers.set(contender, await startServer(contender, pin));
    }
    for (const scenario of scenarios) {
      for (let round = 0; round < args.rounds; round++) {
        for (const group of groups) {
          const order = round % 2 === 0 ? group.contenders : [...group.contenders].reverse();
          for (const contender of order) {
            const sample = await drive(servers.get(contender) as Server, scenario, args);
            const key = `${scenario.id}/${contender}`;
            samples.set(key, [...(samples.get(key) ?? []), sample]);
            console.error(
              `  ${scenario.label.padEnd(34)} r${round + 1} ${CONTENDER_LABEL[contender].padEnd(34)} ${Math.round(
                sample.rps,
              )
                .toString()
                .padStart(
                  7,
                )} req/s  p99 ${String(sample.p99).padStart(4)} ms  max ${String(sample.max).padStart(4)} ms  cpu ${sample.cpuUs.toFixed(0).padStart(4)} µs/req${sample.errors ? `  ERRORS ${sample.errors}` : ''}`,
            );
          }
        }
      }
    }
  } finally {
    await stopAll();
  }

  const rows: Row[] = [];
  for (const scenario of scenarios) {
    const bare = median((samples.get(`${scenario.id}/bare`) ?? []).map((s) => s.rps));
    const bareP99 = median((samples.get(`${scenario.id}/bare`) ?? []).map((s) => s.p99));
    const noop = median((samples.get(`${scenario.id}/noop`) ?? []).map((s) => s.rps));
    for (const group of groups) {
      const baseList = group.baseline ? (samples.get(`${scenario.id}/${group.baseline}`) ?? []) : [];
      const base = median(baseList.map((s) => s.rps));
      const baseCpu = median(baseList.map((s) => s.cpuUs));
      for (const contender of group.contenders) {
        const list = samples.get(`${scenario.id}/${contender}`) ?? [];
        const rps = median(list.map((s) => s.rps));
        const isSession = contender !== 'bare' && contender !== 'noop';
        rows.push({
          scenario: scenario.id,
          scenarioLabel: scenario.label,
          contender,
          label: CONTENDER_LABEL[contender],
          rps,
          p99: median(list.map((s) => s.p99)),
          max: median(list.map((s) => s.max)),
          worst: Math.max(...list.map((s) => s.max)),
          p99VsBare: contender === 'bare' ? null : median(list.map((s) => s.p99)) / bareP99,
          cpuUs: median(list.map((s) => s.cpuUs)),
          cpuVsExpressSession:
            group.baseline && isSession ? baseCpu / median(list.map((s) => s.cpuUs)) : null,
          vsExpressSession: group.baseline && isSession ? rps / base : null,
          vsBare: contender === 'bare' ? null : rps / bare,
          vsNoop: isSession ? rps / noop : null,
          samples: list,
        });
      }
    }
  }

  const machine = {
    cpu: cpus()[0]?.model ?? 'unknown',
    cores: cpus().length,
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    node: process.version,
    pinned: pin,
  };
  const versions = {
    sessionkit: `${versionOf('..')} (git ${gitHead()})`,
    express: versionOf('express'),
    'express-session': versionOf('express-session'),
    'connect-redis': versionOf('connect-redis'),
    redis: versionOf('redis'),
    'better-sqlite3': versionOf('better-sqlite3'),
    autocannon: versionOf('autocannon'),
  };
  const settings = {
    rounds: args.rounds,
    durationSeconds: args.duration,
    warmupSeconds: args.warmup,
    connections: args.connections,
    sessions: args.sessions,
    quick: args.quick,
  };
  const table = [markdownTable(rows), encryptionTable(rows)].filter(Boolean).join('\n\n');
  const date = new Date().toISOString();
  const command = `npm run bench${args.quick ? ' -- --quick' : ''}`;
  const header = [
    `Measured ${date} with \`${command}\` (${args.rounds} rounds × ${args.duration} s per contender and scenario, each ` +
      `right after a ${args.warmup} s warm-up of the same contender, ` +
      `${args.connections} connections, each cycling through ${args.sessions} seeded sessions in the cookie scenarios, medians).`,
    `Machine: ${machine.cpu}, ${machine.cores} cores, ${machine.memoryGiB} GiB, Node ${machine.node}; ` +
      (pin ? 'each server pinned to core 0, autocannon on core 1.' : 'no CPU pinning.'),
    `Versions: ${Object.entries(versions)
      .map(([k, v]) => `${k} ${v}`)
      .join(', ')}.`,
    'Both middlewares get the same options: `resave: false`, `saveUninitialized: false`, ' +
      '`cookie: { maxAge: 1 day, httpOnly: true, path: "/", sameSite: "lax" }`, the same secret and the same handlers.',
  ].join('\n');
  const markdown = `${header}\n\n${table}\n`;
  console.log(`\n${markdown}`);

  const resultsDir = join(here, 'results');
  mkdirSync(resultsDir, { recursive: true });
  const stamp = date.replace(/[:.]/g, '-');
  const json = JSON.stringify({ date, command, machine, versions, settings, rows }, null, 2);
  writeFileSync(join(resultsDir, `http-${stamp}.json`), json);
  writeFileSync(join(resultsDir, `http-${stamp}.md`), markdown);
  writeFileSync(join(resultsDir, 'http-latest.json'), json);
  writeFileSync(join(resultsDir, 'http-latest.md'), markdown);
  if (args.docs) updateDocs('http', markdown);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  main().catch((error: unknown) => {
    console.error(error);
    process.exitCode = 1;
  });
}
