import { execFile } from 'node:child_process';
import { mkdirSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateId, storageKey } from '../../src/core/id.js';
import type { SessionRecord, SessionSummary } from '../../src/core/types.js';
import type { AnyStore } from '../../src/stores/factory.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
// Under node_modules so the bundle's bare imports (commander, the drivers) resolve as the package's would.
const BUNDLE_DIR = join(ROOT, 'node_modules', '.cache', 'sessionkit-tests');

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

let bundled: Promise<string> | undefined;

/**
 * Removes the bundles of test processes that have ended. A test worker is ended by vitest without an
 * `exit` event, so a process cannot remove its own; the next run's first bundle does.
 */
function removeBundlesOfEndedProcesses(): void {
  let entries: string[];
  try {
    entries = readdirSync(BUNDLE_DIR);
  } catch {
    return;
  }
  for (const entry of entries) {
    const pid = Number(/^cli-(\d+)-/.exec(entry)?.[1]);
    if (!pid || pid === process.pid) continue;
    try {
      process.kill(pid, 0);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ESRCH')
        rmSync(join(BUNDLE_DIR, entry), { recursive: true, force: true });
    }
  }
}

/**
 * The CLI, bundled from its TypeScript source with esbuild (what tsup runs for dist/), once per test
 * process (a worker runs file after file, and this module stays loaded between them): no `npm run build`
 * needed, and each run starts in a fraction of what tsx would take. It stays until the process has
 * ended, as later files of the same worker still run it.
 */
function cliBundle(): Promise<string> {
  bundled ??= (async () => {
    const outdir = join(BUNDLE_DIR, `cli-${process.pid}-${Date.now()}`);
    mkdirSync(outdir, { recursive: true });
    removeBundlesOfEndedProcesses();
    await build({
      entryPoints: { cli: join(ROOT, 'src/cli/index.ts') },
      outdir,
      // Split like tsup's dist: each store (and its driver) loads only when a URL asks for it, so start-up
      // time and a missing driver behave as in the package.
      splitting: true,
      outExtension: { '.js': '.mjs' },
      bundle: true,
      platform: 'node',
      format: 'esm',
      target: 'node20',
      packages: 'external',
      logLevel: 'silent',
    });
    return join(outdir, 'cli.mjs');
  })();
  return bundled;
}

/**
 * Runs one CLI invocation in this process, as the bin does (`main` from src/cli/main.ts, the exit code it
 * resolves), with stdout and stderr captured: for tests of what the CLI prints and answers. A test that
 * needs an environment of its own, or is about the process (its start, its exit, its loader), spawns it.
 */
export async function runCli(
  args: string[],
  env: Record<string, string | undefined> = {},
): Promise<CliResult> {
  if (Object.keys(env).length > 0 || process.env.SESSION_STORE_URL !== undefined) return spawnCli(args, env);
  const { main } = await import('../../src/cli/main.js');
  let stdout = '';
  let stderr = '';
  const code = await main(args, {
    stdout: (text) => {
      stdout += text;
    },
    stderr: (text) => {
      stderr += text;
    },
  });
  return { code, stdout, stderr };
}

/**
 * Runs the CLI bundle in a child process. Async, so an in-process server in this test process (the MongoDB
 * stand-in) can answer the child meanwhile.
 */
export async function spawnCli(
  args: string[],
  env: Record<string, string | undefined> = {},
): Promise<CliResult> {
  const cli = await cliBundle();
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [cli, ...args],
      {
        cwd: ROOT,
        env: { ...process.env, SESSION_STORE_URL: undefined, FORCE_COLOR: '0', ...env },
        timeout: 30_000,
      },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : -1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

/** The bundled CLI's path, for a test that must hold the child process (to signal it). */
export function cliPath(): Promise<string> {
  return cliBundle();
}

/** Parses `--json` output, failing with the CLI's stderr when it is not JSON. */
export function json<T>(result: CliResult): T {
  try {
    return JSON.parse(result.stdout) as T;
  } catch {
    throw new Error(`not JSON (exit ${result.code}): ${result.stdout}\nstderr: ${result.stderr}`);
  }
}

export interface Seeded {
  alice: string[];
  bob: string[];
  anonymous: string[];
  /** Anonymous, and expires within the hour. */
  soon: string;
  /** Expires a second after seeding, for prune. */
  dying: string;
}

function record(userId: string | null, lifetimeMs: number, data: Record<string, unknown>): SessionRecord {
  const now = Date.now();
  return {
    data,
    cookie: { originalMaxAge: lifetimeMs },
    expiresAt: now + lifetimeMs,
    createdAt: now - 60_000,
    lastSeenAt: now,
    userId,
  };
}

const DAY = 86_400_000;

/** Seven live sessions (alice ×3, bob ×2, anonymous ×2 of which one expires within the hour) and one about to die. */
export async function seed(store: AnyStore): Promise<Seeded> {
  const ids = (n: number) => Array.from({ length: n }, () => generateId());
  const seeded: Seeded = {
    alice: ids(3),
    bob: ids(2),
    anonymous: ids(1),
    soon: generateId(),
    dying: generateId(),
  };
  for (const [i, id] of seeded.alice.entries())
    await store.create(id, record('alice', DAY, { views: i, device: { ua: `Browser ${i}` } }));
  for (const id of seeded.bob) await store.create(id, record('bob', DAY, { views: 7 }));
  for (const id of seeded.anonymous) await store.create(id, record(null, DAY, { cart: ['apple'] }));
  await store.create(seeded.soon, record(null, 30 * 60_000, { views: 1 }));
  await store.create(seeded.dying, record(null, 1_000, { views: 1 }));
  seeded.anonymous.push(seeded.soon);
  return seeded;
}

interface ListOutput {
  sessions: SessionSummary[];
  cursor: string | null;
}

interface StatsOutput {
  count: number;
  users: number;
  anonymous: number;
  expiringWithinHour: number;
  byUser: { userId: string; sessions: number }[];
  latencyMs: { samples: number; min: number; median: number; max: number };
}

export interface CliSuite {
  name: string;
  /** A reason to skip (the server is down on a laptop), or false. */
  skip: string | false;
  /** The URL the CLI is given: a per-run table, prefix or collection. */
  url: () => string;
  /** The same store, opened in this process to seed and check. */
  open: () => Promise<AnyStore>;
  /** Whether prune finds the expired record itself (Redis and MongoDB may expire it on their own first). */
  pruneCounts: boolean;
  /** Redis pages by SCAN, whose COUNT is a hint: a page may exceed `--limit`, and may repeat a session. */
  pageSizeIsHint?: boolean;
  cleanup?: () => Promise<void>;
}

/** The same checks against every store: seed through the store API, drive the CLI, compare. */
export function runCliSuite(suite: CliSuite): void {
  describe.skipIf(suite.skip)(`sessionkit CLI on ${suite.name}`, () => {
    let store: AnyStore;
    let seeded: Seeded;
    const cli = (...args: string[]) => runCli([...args, '--store', suite.url()]);

    beforeAll(async () => {
      store = await suite.open();
      seeded = await seed(store);
      // Let `dying` expire, so every listing below sees exactly the seven live sessions.
      await new Promise((resolve) => setTimeout(resolve, 1_100));
    });
    afterAll(async () => {
      await store?.close?.();
      await suite.cleanup?.();
    });

    it('stats counts sessions, users, the soon-expiring one, and times a round trip', async () => {
      const result = await cli('stats', '--json');
      expect(result.code, result.stderr).toBe(0);
      const stats = json<StatsOutput>(result);
      expect(stats).toMatchObject({ count: 7, users: 2, anonymous: 2, expiringWithinHour: 1 });
      expect(stats.byUser).toEqual([
        { userId: 'alice', sessions: 3 },
        { userId: 'bob', sessions: 2 },
      ]);
      expect(stats.latencyMs.samples).toBe(5);
      expect(stats.latencyMs.median).toBeGreaterThanOrEqual(0);
    });

    it('list shows every live session by handle, never by ID', async () => {
      const result = await cli('list', '--json');
      expect(result.code, result.stderr).toBe(0);
      const { sessions, cursor } = json<ListOutput>(result);
      expect(cursor).toBeNull();
      const live = [...seeded.alice, ...seeded.bob, ...seeded.anonymous];
      expect(sessions.map((s) => s.handle).sort()).toEqual(live.map(storageKey).sort());
      expect(result.stdout).not.toContain(seeded.alice[0]);
    });

    it('list pages with --limit and --cursor, without gaps or repeats', async () => {
      const seen: string[] = [];
      let cursor: string | null = null;
      let pages = 0;
      do {
        const args = ['list', '--json', '--limit', '3', ...(cursor ? ['--cursor', cursor] : [])];
        const result = await cli(...args);
        expect(result.code, result.stderr).toBe(0);
        const page: ListOutput = json<ListOutput>(result);
        if (!suite.pageSizeIsHint) expect(page.sessions.length).toBeLessThanOrEqual(3);
        seen.push(...page.sessions.map((s) => s.handle));
        cursor = page.cursor;
        pages++;
      } while (cursor && pages < 10);
      expect(new Set(seen).size).toBe(7);
      if (!suite.pageSizeIsHint) expect(seen).toHaveLength(7);
    });

    it('list --user filters through listByUser; the table names the columns', async () => {
      const result = await cli('list', '--user', 'alice', '--json');
      expect(result.code, result.stderr).toBe(0);
      const { sessions } = json<ListOutput>(result);
      expect(sessions.map((s) => s.handle).sort()).toEqual(seeded.alice.map(storageKey).sort());
      expect(sessions.every((s) => s.userId === 'alice')).toBe(true);

      const human = await cli('list', '--user', 'bob');
      expect(human.code).toBe(0);
      expect(human.stdout).toMatch(/^HANDLE\s+USER\s+CREATED\s+LAST SEEN\s+EXPIRES IN\s+DATA/);
      expect(human.stdout).toContain(storageKey(seeded.bob[0] as string));
      expect(human.stdout).toContain('2 sessions');
    });

    it('show prints one session; an unknown handle exits 2', async () => {
      const handle = storageKey(seeded.alice[2] as string);
      const result = await cli('show', handle, '--json');
      expect(result.code, result.stderr).toBe(0);
      expect(json<SessionSummary>(result)).toMatchObject({
        handle,
        userId: 'alice',
        data: { views: 2, device: { ua: 'Browser 2' } },
      });
      const human = await cli('show', handle);
      expect(human.stdout).toContain('Browser 2');

      const missing = await cli('show', storageKey(generateId()));
      expect(missing.code).toBe(2);
      expect(missing.stderr).toMatch(/^sessionkit: no live session with handle /);
    });

    it('revoke destroys one session by handle; again, it exits 2', async () => {
      const id = seeded.bob[0] as string;
      const first = await cli('revoke', storageKey(id), '--json');
      expect(first.code, first.stderr).toBe(0);
      expect(json(first)).toEqual({ handle: storageKey(id), revoked: true });
      expect(await store.get(id)).toBeNull();
      expect(await store.get(seeded.bob[1] as string)).not.toBeNull();
      const again = await cli('revoke', storageKey(id));
      expect(again.code).toBe(2);
    });

    it('revoke-user logs a user out everywhere but the --except session', async () => {
      const [keep, ...rest] = seeded.alice as [string, ...string[]];
      // "Everywhere but here" must never end "here": an --except naming none of the user's live
      // sessions (the handle `list` printed, a mistyped ID, another user's session) revokes nothing.
      const byHandle = await cli('revoke-user', 'alice', '--except', storageKey(keep));
      expect(byHandle.code).toBe(1);
      expect(byHandle.stderr).toMatch(/not the handle/);
      for (const other of [generateId(), seeded.bob[1] as string]) {
        const unknown = await cli('revoke-user', 'alice', '--except', other);
        expect(unknown.code).toBe(2);
        expect(unknown.stderr).toMatch(/nothing was revoked/);
      }
      for (const id of [keep, ...rest]) expect(await store.get(id)).not.toBeNull();
      // The cookie's value as the browser holds it names its session: the CLI has no secret and needs none.
      const cookie = encodeURIComponent(`s:${keep}.${'m'.repeat(43)}`);
      const result = await cli('revoke-user', 'alice', '--except', cookie, '--json');
      expect(result.code, result.stderr).toBe(0);
      expect(json(result)).toEqual({ userId: 'alice', revoked: rest.length, kept: true });
      expect(await store.get(keep)).not.toBeNull();
      for (const id of rest) expect(await store.get(id)).toBeNull();
    });

    it('prune removes expired records and reports how many', async () => {
      const result = await cli('prune', '--json');
      expect(result.code, result.stderr).toBe(0);
      const { pruned } = json<{ pruned: number }>(result);
      if (suite.pruneCounts) expect(pruned).toBeGreaterThanOrEqual(1);
      else expect(pruned).toBeGreaterThanOrEqual(0);
      expect(await store.get(seeded.dying)).toBeNull();
      const human = await cli('prune');
      expect(human.stdout).toMatch(/^pruned \d+ expired sessions?\n$/);
      // Nothing live went: alice 1, bob 1, anonymous 2.
      const stats = json<StatsOutput>(await cli('stats', '--json'));
      expect(stats.count).toBe(4);
    });
  });
}
