/**
 * Why: `sessionkit list` promises every live session, page by page; on a production store that is more
 * than the CLI can hold. It must print as it reads, in as little memory as `stats` needs for the same
 * store, keep the `--json` document scripts already parse, wait for a slow reader of its output instead
 * of piling pages up, and, when the store fails part-way, say so on stderr with a failing exit code.
 */
import { spawn } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Context, list } from '../../src/cli/commands.js';
import { CliError, classify } from '../../src/cli/exit.js';
import { StoreUnavailableError } from '../../src/core/errors.js';
import { generateId } from '../../src/core/id.js';
import type { ListOptions, ListPage, SessionSummary } from '../../src/core/types.js';
import { type AnyStore, createStore } from '../../src/stores/factory.js';
import { cliPath, runCli } from './harness.js';

const ROWS = 40_000;
const dir = mkdtempSync(join(tmpdir(), 'sessionkit-cli-big-list-'));
const bigUrl = `sqlite:${join(dir, 'big.db')}`;

beforeAll(async () => {
  const store = await createStore(bigUrl); // creates the table
  await store.close?.();
  const sqlite = new Database(join(dir, 'big.db'));
  const now = Date.now();
  const blob = 'x'.repeat(2_000);
  sqlite
    .prepare(
      `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ${ROWS})
       INSERT INTO sessionkit_sessions (id, data, cookie, user_id, created_at, last_seen_at, expires_at, epoch)
       SELECT substr('0000000000000000000000000000000000000000000' || i, -43),
              '{"blob":"${blob}","n":' || i || '}', '{"originalMaxAge":86400000}',
              'user-' || (i % 1000), ?, ?, ?, 0 FROM n`,
    )
    .run(now, now, now + 86_400_000);
  sqlite.close();
}, 30_000);

afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Runs the CLI bundle with a 48 MB heap, stdout to a file (tens of MB). */
async function runSmallHeap(
  name: string,
  args: string[],
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const cli = await cliPath();
  const outFile = join(dir, `${name}.out`);
  const out = openSync(outFile, 'w');
  let stderr = '';
  const code = await new Promise<number | null>((resolve) => {
    const child = spawn(process.execPath, ['--max-old-space-size=48', cli, ...args, '--store', bigUrl], {
      stdio: ['ignore', out, 'pipe'],
      env: { ...process.env, SESSION_STORE_URL: undefined },
    });
    child.stderr?.on('data', (chunk) => {
      stderr += chunk;
    });
    child.on('exit', (c) => resolve(c));
  });
  closeSync(out);
  return { code, stdout: readFileSync(outFile, 'utf8'), stderr };
}

describe('list on a store bigger than the CLI’s heap', () => {
  it('stats, list --json and the table all get through 40,000 sessions in a 48 MB heap', async () => {
    const stats = await runSmallHeap('stats', ['stats', '--json']);
    expect(stats.code, stats.stderr.slice(0, 400)).toBe(0);
    expect(JSON.parse(stats.stdout).count).toBe(ROWS);

    const listed = await runSmallHeap('list-json', ['list', '--json']);
    expect(listed.code, listed.stderr.slice(0, 400)).toBe(0);
    const document = JSON.parse(listed.stdout) as { sessions: SessionSummary[]; cursor: null };
    expect(document.sessions).toHaveLength(ROWS);
    expect(document.cursor).toBeNull();

    const human = await runSmallHeap('list-table', ['list']);
    expect(human.code, human.stderr.slice(0, 400)).toBe(0);
    const lines = human.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^HANDLE\s+USER\s+CREATED/);
    expect(lines).toHaveLength(1 + ROWS + 2);
    expect(lines.at(-1)).toBe(`${ROWS} sessions`);
  }, 60_000);
});

describe('list prints as it reads', () => {
  it('--json is the very document one page of the same sessions prints', async () => {
    const url = `sqlite:${join(dir, 'small.db')}`;
    const store = await createStore(url);
    const now = Date.now();
    for (let i = 0; i < 7; i++)
      await store.create(generateId(), {
        data: { i, text: 'bidi\u202e c1\u0085 nl\n', nested: { list: [1, { deep: true }] } },
        cookie: { originalMaxAge: 86_400_000 },
        expiresAt: now + 86_400_000,
        createdAt: now,
        lastSeenAt: now,
        userId: i % 2 === 0 ? null : `user-${i}`,
      });
    await store.close?.();
    const streamed = await runCli(['list', '--json', '--store', url]);
    const onePage = await runCli(['list', '--limit', '100', '--json', '--store', url]);
    expect(JSON.parse(onePage.stdout).cursor).toBeNull();
    expect(streamed.stdout).toBe(onePage.stdout);

    const empty = `sqlite:${join(dir, 'empty.db')}`;
    await (await createStore(empty)).close?.();
    const none = await runCli(['list', '--json', '--store', empty]);
    expect(none.stdout).toBe(`${JSON.stringify({ sessions: [], cursor: null }, null, 2)}\n`);
    expect((await runCli(['list', '--store', empty])).stdout).toBe('(no sessions)\n\n0 sessions\n');
  });

  function summary(n: number): SessionSummary {
    return { handle: `handle-${n}`, userId: null, createdAt: 0, lastSeenAt: 0, expiresAt: 0, data: { n } };
  }

  /** A store of three pages of one session each, whose page 2 fails when `failAt` says so. */
  function pagedStore(pagesAsked: string[], failAt?: string): AnyStore {
    const store = {
      async list({ cursor }: ListOptions): Promise<ListPage> {
        const at = cursor ?? 'p1';
        pagesAsked.push(at);
        if (at === failAt) throw new StoreUnavailableError('list', 'connection lost');
        const n = Number(at.slice(1));
        return { sessions: [summary(n)], cursor: n < 3 ? `p${n + 1}` : null };
      },
    };
    return store as unknown as AnyStore;
  }

  function context(store: AnyStore, written: string[], write?: () => Promise<void>): Context {
    return {
      store,
      json: true,
      progress: false,
      print: (text) => written.push(`${text}\n`),
      write: async (text) => {
        written.push(text);
        await write?.();
      },
    };
  }

  it('asks for the next page only once the output took the last one', async () => {
    const asked: string[] = [];
    const written: string[] = [];
    let release = (): void => undefined;
    const listing = list(
      context(pagedStore(asked), written, () => new Promise<void>((resolve) => (release = resolve))),
      {},
    );
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(asked).toEqual(['p1']); // the reader has not taken page 1 yet
    release();
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(asked).toEqual(['p1', 'p2']);
    release();
    await new Promise((resolve) => setTimeout(resolve, 50));
    release();
    await new Promise((resolve) => setTimeout(resolve, 50));
    release();
    await listing;
    expect(JSON.parse(written.join('')).sessions).toEqual([summary(1), summary(2), summary(3)]);
  });

  it('a store failing part-way: the output stays cut short, the error is for stderr and the exit code', async () => {
    const written: string[] = [];
    const failure = await list(context(pagedStore([], 'p2'), written), {}).then(
      () => null,
      (error: unknown) => error,
    );
    expect(failure).toBeInstanceOf(CliError);
    // Already reported: main() prints it on stderr, not as a JSON object after a document cut short.
    expect(classify(failure)).toMatchObject({ code: 'ERR_STORE_UNAVAILABLE', exitCode: 3, reported: true });
    expect(() => JSON.parse(written.join(''))).toThrow();
    expect(written.join('')).toContain('"handle": "handle-1"');
  });

  it('a TypeError or RangeError from below is no usage error', () => {
    // What a limit of the runtime or a reply the driver did not expect throws; a malformed argument comes
    // as an ERR_INVALID_* error, which stays ERR_USAGE.
    for (const error of [
      new RangeError('Invalid string length'),
      new TypeError('unexpected Redis reply object'),
    ])
      expect(classify(error)).toMatchObject({ code: 'ERR_STORE', exitCode: 6 });
  });
});
