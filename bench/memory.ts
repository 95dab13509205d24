/**
 * MemoryStore memory and pauses: `npm run bench:memory` (needs `--expose-gc`, which the script passes).
 * For 100k and 1M sessions of the same ≈200 B payload, in the same run: heap bytes per session for
 * sessionkit's MemoryStore and express-session's, `length()` time, and the longest event-loop block
 * while 1M sessions expire in sessionkit's store (`perf_hooks.monitorEventLoopDelay`).
 *
 * Each size is measured with two payloads: an empty session (what `saveUninitialized: true` stores for a
 * visitor) and the typical ≈200 B one. sessionkit's store is capped at the size and given a tenth more
 * sessions than it holds, so the figure includes its deadline heaps and eviction at the cap.
 *
 * Flags: --sizes 100000,1000000  --payloads empty,typical  --no-docs
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { monitorEventLoopDelay, PerformanceObserver } from 'node:perf_hooks';
import { MemoryStore } from '../src/stores/memory.js';
import { COOKIE_MAX_AGE, ROOT, updateDocs } from './common.js';

const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) {
  console.error('run with --expose-gc (npm run bench:memory does)');
  process.exit(1);
}

function heap(): number {
  for (let i = 0; i < 3; i++) gc?.();
  return process.memoryUsage().heapUsed;
}

type PayloadKind = 'empty' | 'typical';

/** ≈200 B of JSON, different per session, as an application's would be; or nothing, as a visitor's. */
function payload(i: number, kind: PayloadKind = 'typical'): Record<string, unknown> {
  if (kind === 'empty') return {};
  return {
    views: i % 1000,
    user: { id: `user-${i}`, name: 'Ada Lovelace', roles: ['reader', 'writer'] },
    csrf: randomBytes(16).toString('hex'),
    flash: [],
    theme: 'dark',
    lastPath: `/articles/${i % 997}/comments`,
  };
}

function id(): string {
  return randomBytes(32).toString('base64url');
}

interface ExpressMemoryStore {
  set(sid: string, session: unknown, callback: (err?: unknown) => void): void;
  length(callback: (err: unknown, length?: number) => void): void;
  all(callback: (err: unknown, sessions?: unknown) => void): void;
}

interface Row {
  store: string;
  payload: PayloadKind;
  sessions: number;
  bytesPerSession: number;
  lengthMs: number;
  allMs: number | null;
}

/** The cookie both middlewares store with the benchmark's options. */
function cookie(expires: string) {
  return { originalMaxAge: COOKIE_MAX_AGE, expires, httpOnly: true, path: '/', sameSite: 'lax' as const };
}

async function sessionkitRow(n: number, kind: PayloadKind): Promise<Row> {
  const before = heap();
  const store = new MemoryStore({ max: n, sweepInterval: 0 });
  const now = Date.now();
  // A tenth more than the cap: the last ones evict the earliest, as a flood of visitors would.
  const written = n + Math.floor(n / 10);
  for (let i = 0; i < written; i++) {
    const expiresAt = now + COOKIE_MAX_AGE + i;
    await store.create(id(), {
      data: payload(i, kind),
      cookie: cookie(new Date(expiresAt).toISOString()),
      expiresAt,
      createdAt: now,
      lastSeenAt: now,
      userId: null,
    });
  }
  const after = heap();
  let t = performance.now();
  const length = await store.length();
  const lengthMs = performance.now() - t;
  if (length !== n) throw new Error(`sessionkit length ${length} ≠ ${n}`);
  t = performance.now();
  let listed = 0;
  let cursor: string | null = null;
  do {
    const page: Awaited<ReturnType<MemoryStore['list']>> = await store.list({ cursor, limit: 1000 });
    listed += page.sessions.length;
    cursor = page.cursor;
  } while (cursor);
  const allMs = performance.now() - t;
  if (listed !== n) throw new Error(`sessionkit listed ${listed} ≠ ${n}`);
  const row = {
    store: 'sessionkit MemoryStore',
    payload: kind,
    sessions: n,
    bytesPerSession: (after - before) / n,
    lengthMs,
    allMs,
  };
  await store.close();
  return row;
}

async function expressSessionRow(n: number, kind: PayloadKind): Promise<Row> {
  const { default: expressSession } = await import('express-session');
  const Store = expressSession.MemoryStore as unknown as new () => ExpressMemoryStore;
  const before = heap();
  const store = new Store();
  const expires = new Date(Date.now() + COOKIE_MAX_AGE).toISOString();
  for (let i = 0; i < n; i++) {
    // express-session hands its store `{ cookie, ...data }`; its MemoryStore keeps JSON.stringify of it.
    await new Promise<void>((resolve) =>
      store.set(id(), { cookie: cookie(expires), ...payload(i, kind) }, () => resolve()),
    );
  }
  const after = heap();
  let t = performance.now();
  const length = await new Promise<number>((resolve) => store.length((_e, l) => resolve(l ?? 0)));
  const lengthMs = performance.now() - t;
  if (length !== n) throw new Error(`express-session length ${length} ≠ ${n}`);
  t = performance.now();
  await new Promise<void>((resolve) => store.all(() => resolve()));
  const allMs = performance.now() - t;
  return {
    store: 'express-session MemoryStore',
    payload: kind,
    sessions: n,
    bytesPerSession: (after - before) / n,
    lengthMs,
    allMs,
  };
}

interface Expiry {
  sessions: number;
  /** The longest block while the same heap sat idle just before: the machine's own floor. */
  idleMaxBlockMs: number;
  maxBlockMs: number;
  p99BlockMs: number;
  sweepSeconds: number;
  /** The longest slice of the store's own sweep work. */
  maxSliceMs: number;
  /** The longest V8 garbage-collection pause in the same window, and its kind. */
  maxGcMs: number;
  maxGcKind: string;
}

const GC_KINDS: Record<number, string> = {
  1: 'scavenge',
  2: 'minor mark-sweep',
  4: 'mark-compact',
  8: 'weak callbacks',
};

/** The longest event-loop block (ms) and its p99 while `until` is false, polled every few ms. */
async function watchLoop(until: () => boolean): Promise<{ max: number; p99: number }> {
  const histogram = monitorEventLoopDelay({ resolution: 1 });
  histogram.enable();
  while (!until()) await new Promise((r) => setTimeout(r, 5));
  histogram.disable();
  // The histogram records delay beyond the 1 ms resolution timer, in ns.
  return { max: histogram.max / 1e6, p99: histogram.percentile(99) / 1e6 };
}

/**
 * n sessions expiring within the same second, all past their deadline when the sweep starts: the worst
 * backlog. The sweep is the store's own sliced sweep, started the way its timer starts it, once the heap
 * has settled (two full GCs and a second), so that V8 collecting the garbage of building 1M sessions is
 * not counted as the sweep's. The same heap is first watched idle for as long, as the machine's floor.
 */
async function expiryRun(n: number): Promise<Expiry> {
  const store = new MemoryStore({ max: n, sweepInterval: 0 });
  const now = Date.now();
  const deadline = now + 3_000;
  for (let i = 0; i < n; i++) {
    await store.create(id(), {
      data: payload(i),
      cookie: { originalMaxAge: 3000, httpOnly: true, path: '/' },
      expiresAt: deadline + (i % 1000),
      createdAt: now,
      lastSeenAt: now,
      userId: null,
    });
  }
  // The store's own count of what it holds (length() would sweep as it counts).
  const held = () => (store as unknown as { size: number }).size;
  // Time each slice of the store's own sweep, to tell its work apart from V8's pauses.
  const internals = store as unknown as {
    sweep: (budget: number, until?: number) => number;
    sweepInSlices: () => void;
  };
  const sweep = internals.sweep.bind(store);
  let maxSliceMs = 0;
  internals.sweep = (budget, until) => {
    const start = performance.now();
    const removed = sweep(budget, until);
    maxSliceMs = Math.max(maxSliceMs, performance.now() - start);
    return removed;
  };
  let maxGcMs = 0;
  let maxGcKind = '';
  const gcObserver = new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      if (entry.duration <= maxGcMs) continue;
      maxGcMs = entry.duration;
      maxGcKind = GC_KINDS[(entry as unknown as { detail?: { kind?: number } }).detail?.kind ?? 0] ?? 'gc';
    }
  });
  while (Date.now() < deadline + 1_000) await new Promise((r) => setTimeout(r, 50));
  heap();
  await new Promise((r) => setTimeout(r, 1_000));
  const idleUntil = performance.now() + 3_000;
  const idle = await watchLoop(() => performance.now() >= idleUntil);
  gcObserver.observe({ entryTypes: ['gc'] });
  const started = performance.now();
  internals.sweepInSlices();
  // Bounded: give up after 60 s.
  const swept = await watchLoop(() => held() === 0 || performance.now() - started >= 60_000);
  const sweepSeconds = (performance.now() - started) / 1000;
  gcObserver.disconnect();
  await store.close();
  if (held() > 0) throw new Error(`${held()} sessions left after 60 s`);
  return {
    sessions: n,
    idleMaxBlockMs: idle.max,
    maxBlockMs: swept.max,
    p99BlockMs: swept.p99,
    sweepSeconds,
    maxSliceMs,
    maxGcMs,
    maxGcKind,
  };
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const i = argv.indexOf('--sizes');
  const sizes = (i >= 0 && argv[i + 1] ? (argv[i + 1] as string) : '100000,1000000').split(',').map(Number);
  if (argv.includes('--expiry-only')) {
    console.log(await expiryRun(Math.max(...sizes)));
    return;
  }
  const j = argv.indexOf('--payloads');
  const kinds = (j >= 0 && argv[j + 1] ? (argv[j + 1] as string) : 'empty,typical').split(
    ',',
  ) as PayloadKind[];
  const rows: Row[] = [];
  for (const n of sizes)
    for (const kind of kinds) {
      rows.push(await sessionkitRow(n, kind));
      heap();
      rows.push(await expressSessionRow(n, kind));
      heap();
      const [sk, es] = rows.slice(-2) as [Row, Row];
      console.error(
        `  ${n} ${kind}: ${(sk.bytesPerSession / es.bytesPerSession).toFixed(2)}× express-session`,
      );
    }
  const expiry = await expiryRun(Math.max(...sizes));

  const lines = [
    `Measured ${new Date().toISOString()} with \`npm run bench:memory\`, Node ${process.version}. Payloads: empty ` +
      '(what `saveUninitialized: true` stores for a visitor) and typical, ≈200 B of JSON (a counter, a small user ' +
      "object, a CSRF token, a path); the same cookie and data for both stores. sessionkit's store is capped at the " +
      'size and given a tenth more sessions, so it evicts as it fills; its deadline heaps are counted.',
    '',
    '| Store | Payload | Sessions | Heap bytes / session | vs express-session | `length()` ms | all / list ms |',
    '|---|---|---:|---:|---:|---:|---:|',
    ...rows.map((r) => {
      const es = rows.find(
        (o) => o.store.startsWith('express') && o.payload === r.payload && o.sessions === r.sessions,
      );
      const ratio = es && r !== es ? `${(r.bytesPerSession / es.bytesPerSession).toFixed(2)}×` : '';
      return `| ${r.store} | ${r.payload} | ${r.sessions.toLocaleString('en-US')} | ${Math.round(r.bytesPerSession)} | ${ratio} | ${r.lengthMs.toFixed(2)} | ${
        r.allMs === null ? '' : r.allMs.toFixed(0)
      } |`;
    }),
    '',
    `Expiry: ${expiry.sessions.toLocaleString('en-US')} sessions of sessionkit's MemoryStore, all past their deadline, swept ` +
      `in slices in ${expiry.sweepSeconds.toFixed(1)} s; longest event-loop block ${expiry.maxBlockMs.toFixed(1)} ms ` +
      `(p99 ${expiry.p99BlockMs.toFixed(1)} ms), from \`perf_hooks.monitorEventLoopDelay\`; the same heap left idle for ` +
      `3 s just before blocked for ${expiry.idleMaxBlockMs.toFixed(1)} ms at most. Of the sweep's block, the store's own ` +
      `sweep slices took ${expiry.maxSliceMs.toFixed(1)} ms at most; the longest V8 garbage-collection pause in the same ` +
      `window was ${expiry.maxGcMs.toFixed(1)} ms (${expiry.maxGcKind}), on a heap holding ${expiry.sessions.toLocaleString('en-US')} sessions. express-session's MemoryStore has ` +
      'no timer: it drops an expired session only when it is read, or in a full scan by `all()`/`length()`.',
  ];
  const markdown = lines.join('\n');
  console.log(markdown);
  const dir = join(ROOT, 'bench', 'results');
  mkdirSync(dir, { recursive: true });
  writeFileSync(
    join(dir, 'memory-latest.json'),
    JSON.stringify({ date: new Date().toISOString(), rows, expiry }, null, 2),
  );
  writeFileSync(join(dir, 'memory-latest.md'), `${markdown}\n`);
  if (!argv.includes('--no-docs')) updateDocs('memory', markdown);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
