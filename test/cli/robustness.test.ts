import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CommanderError } from 'commander';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { classify, ERROR_CODES } from '../../src/cli/exit.js';
import { SessionError, StoreError, StoreUnavailableError } from '../../src/core/errors.js';
import { generateId, storageKey } from '../../src/core/id.js';
import { createStore } from '../../src/stores/factory.js';
import { BlackHole } from '../support/black-hole.js';
import { json, runCli, spawnCli } from './harness.js';

const HIDE_HOOK = fileURLToPath(new URL('./fixtures/hide-packages.mjs', import.meta.url));
const DOCS = fileURLToPath(new URL('../../docs/demo-and-cli.md', import.meta.url));

/** Everything a terminal must never receive raw from a stored value (see src/cli/format.ts). */
// biome-ignore lint/suspicious/noControlCharactersInRegex: detecting control characters is the point
const CONTROL = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/;
const INVISIBLE = /[\u061c\u200b-\u200f\u2028-\u202e\u2066-\u2069\ufeff]/;

describe('sessionkit CLI against a server that never answers (issue 23 item 7)', () => {
  const hole = new BlackHole();
  let port = 0;
  beforeAll(async () => {
    port = await hole.start();
  });
  afterAll(() => hole.stop());

  /** A CLI run against the black hole: its exit code, its JSON, and how long the process took. */
  async function listWithTimeout(url: string, timeout: number) {
    const started = Date.now();
    // A process: whether it exits once the command is done is the point, not only what it prints.
    const result = await spawnCli(['list', '--store', url, '--timeout', String(timeout), '--json']);
    const took = Date.now() - started;
    expect(result.code, result.stderr).toBe(3);
    expect(json(result)).toMatchObject({ error: { code: 'ERR_STORE_UNAVAILABLE' } });
    return took;
  }

  it.each([
    ['Redis through node-redis', () => `redis://127.0.0.1:${port}?client=redis`],
    ['Redis through ioredis', () => `redis://127.0.0.1:${port}?client=ioredis`],
    ['PostgreSQL', () => `postgres://app:pw@127.0.0.1:${port}/app`],
    ['MySQL', () => `mysql://app:pw@127.0.0.1:${port}/app`],
    ['MongoDB', () => `mongodb://127.0.0.1:${port}/app`],
  ])(
    '%s: `list --timeout 1000` exits 3 within its timeout plus a second',
    async (_name, url) => {
      // What the timeout adds: the same run with `--timeout 1` does everything else (the process's start,
      // loading the driver, connecting, the exit), which a busy machine slows for both alike. Against a
      // server that never answers, the drivers' own bounds are 10 s (mysql2, ioredis's connect) to never
      // (pg, node-redis): a CLI that did not apply --timeout misses the bound on `--timeout 1` itself, or
      // hangs. A pair of runs that missed (a baseline over 5 s, or a second more) is run again, up to
      // three times, and each is reported.
      const runs: Array<{ baseline: number; extra: number }> = [];
      const held = ({ baseline, extra }: { baseline: number; extra: number }) =>
        baseline < 5_000 && extra < 1_000 + 1_000;
      for (let run = 0; run < 3; run++) {
        const baseline = await listWithTimeout(url(), 1);
        runs.push({ baseline, extra: (await listWithTimeout(url(), 1_000)) - baseline });
        if (held(runs.at(-1) as (typeof runs)[number])) break;
      }
      expect(
        runs.some(held),
        `ms with --timeout 1, and more with --timeout 1000, run by run: ${JSON.stringify(runs)}`,
      ).toBe(true);
    },
    60_000,
  );
});

describe('sessionkit CLI: databases, handles, errors and drivers (issue 23 item 13)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sessionkit-cli-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('opens only an existing SQLite file; --create makes a new one', async () => {
    const path = join(dir, 'no', 'such', 'dir', 'x.db');
    const missing = await runCli(['list', '--store', `sqlite:${path}`]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toBe(
      `sessionkit: no SQLite database at ${JSON.stringify(path)} (add --create to create it)\n`,
    );
    expect(existsSync(join(dir, 'no'))).toBe(false);

    const asJson = await runCli(['stats', '--json', '--store', `sqlite:${path}`]);
    expect(asJson.code).toBe(2);
    expect(json(asJson)).toMatchObject({ error: { code: 'ERR_NO_DATABASE' } });

    const created = await runCli(['list', '--create', '--store', `sqlite:${path}`]);
    expect(created.code, created.stderr).toBe(0);
    expect(created.stdout).toContain('0 sessions');
    expect(existsSync(path)).toBe(true);
    // Now it exists, it opens without --create.
    expect((await runCli(['list', '--store', `sqlite:${path}`])).code).toBe(0);
  });

  it.each([
    ['an unknown command', ['frobnicate', '--store', 'memory:'], 1, 'ERR_USAGE'],
    ['no command', ['--store', 'memory:'], 1, 'ERR_USAGE'],
    ['an unknown option', ['list', '--frob', '--store', 'memory:'], 1, 'ERR_USAGE'],
    ['a bad --limit', ['list', '--limit', 'ten', '--store', 'memory:'], 1, 'ERR_USAGE'],
    ['a missing argument', ['show', '--store', 'memory:'], 1, 'ERR_USAGE'],
    ['no store', ['stats'], 1, 'ERR_USAGE'],
    ['--cursor with --user', ['list', '--user', 'u', '--cursor', 'c', '--store', 'memory:'], 1, 'ERR_USAGE'],
    ['an unknown handle', ['show', storageKey(generateId()), '--store', 'memory:'], 2, 'ERR_NOT_FOUND'],
    ['a bad scheme', ['list', '--store', 'bogus://x'], 4, 'ERR_STORE_URL'],
    [
      'an unreachable store',
      ['list', '--store', 'redis://127.0.0.1:1', '--timeout', '1000'],
      3,
      'ERR_STORE_UNAVAILABLE',
    ],
  ] as const)(
    'with --json, %s is one JSON object on stdout and nothing on stderr',
    async (_label, args, exit, code) => {
      const result = await runCli([...args, '--json']);
      expect(result.code).toBe(exit);
      expect(result.stderr).toBe('');
      expect(result.stdout.trim().split('\n')).toHaveLength(1);
      expect(JSON.parse(result.stdout)).toEqual({ error: { code, message: expect.any(String) } });
    },
  );

  it('documents every error code it can print, with its exit code', () => {
    const doc = readFileSync(DOCS, 'utf8');
    const documented = Object.fromEntries(
      [...doc.matchAll(/^\| (\d) \| `(ERR_[A-Z_]+)` \|/gm)].map((m) => [m[2], Number(m[1])]),
    );
    expect(documented).toEqual(ERROR_CODES);
    // Whatever is thrown, the printed code is one of them.
    const thrown: unknown[] = [
      new CommanderError(1, 'commander.unknownCommand', "error: unknown command 'x'"),
      new StoreUnavailableError('get', 'down'),
      new StoreError('get', new Error('syntax error')),
      new SessionError('ERR_SOMETHING_NEW', 'sessionkit: a code added later'),
      new SessionError('ERR_INVALID_USER_ID', 'sessionkit: a user ID the store cannot hold'),
      Object.assign(new Error('SQLITE_CANTOPEN: unable to open database file'), { code: 'SQLITE_CANTOPEN' }),
      Object.assign(new Error('Access denied for user'), { code: 'ER_ACCESS_DENIED_ERROR' }),
      Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }),
      new RangeError('RedisStore: invalid list cursor'),
      new AggregateError([new Error('inner')]),
      'a string',
      null,
    ];
    for (const error of thrown) {
      const { code, exitCode } = classify(error);
      expect(ERROR_CODES[code]).toBe(exitCode);
    }
  });

  it("prints a store failure with the driver's own words, which a StoreError's message leaves out", () => {
    const driver = Object.assign(new Error('relation "sessions" does not exist'), { code: '42P01' });
    const error = new StoreError('list', driver);
    expect(error.message).not.toContain('does not exist');
    expect(classify(error)).toMatchObject({
      code: 'ERR_STORE',
      message: expect.stringContaining('relation "sessions" does not exist'),
    });
  });

  it.each([
    ['mongodb', 'mongodb://127.0.0.1:1/app', 'mongodb', 'npm i mongodb'],
    ['pg', 'postgres://127.0.0.1:1/app', 'pg', 'npm i pg'],
    ['mysql2', 'mysql://127.0.0.1:1/app', 'mysql2', 'npm i mysql2'],
    ['redis and ioredis', 'redis://127.0.0.1:1', 'redis,ioredis', 'npm i redis (or npm i ioredis)'],
  ])('without %s installed, says which package to install (exit 4)', async (_label, url, hide, install) => {
    const result = await runCli(['list', '--store', url, '--json'], {
      NODE_OPTIONS: `--import=${HIDE_HOOK}`,
      SESSIONKIT_TEST_HIDE: hide,
    });
    expect(result.code, result.stderr).toBe(4);
    const { error } = json<{ error: { code: string; message: string } }>(result);
    expect(error.code).toBe('ERR_STORE_URL');
    expect(error.message).toContain(install);
  });
});

describe('sessionkit CLI never writes a stored value raw to the terminal (issue 23 item 10)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sessionkit-cli-'));
  const url = `sqlite:${join(dir, 'sessions.db')}`;
  const hostile = [
    'ansi\u001b[2J\u001b[31mred',
    'forged\nqvu-CRjlWfm8SMSaPxKRKpSazX8Tn3V85zgbaQm2F8U  admin',
    'cr\roverwrite',
    'bidi\u202egnp.exe\u2066x\u2069',
    'c1\u009b31mcsi\u0085nel',
    'del\u007fzero\u200bwidth\ufeff',
  ];
  const ids = hostile.map(() => generateId());
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  beforeAll(async () => {
    const store = await createStore(url);
    const now = Date.now();
    for (const [i, userId] of hostile.entries()) {
      await store.create(ids[i] as string, {
        data: { note: userId, [userId]: 1 },
        cookie: { originalMaxAge: 60_000 },
        expiresAt: now + 3_600_000,
        createdAt: now,
        lastSeenAt: now,
        userId,
      });
    }
    await store.close?.();
  });

  const clean = (text: string) => {
    expect(text).not.toMatch(CONTROL);
    expect(text).not.toMatch(INVISIBLE);
  };

  it('list, list --user, show, stats and revoke-user escape every column; --json keeps the exact values', async () => {
    const list = await runCli(['list', '--store', url]);
    expect(list.code, list.stderr).toBe(0);
    clean(list.stdout);
    // Header, one row per session, a blank line and the count: a newline in a value adds no row.
    expect(list.stdout.trimEnd().split('\n')).toHaveLength(1 + hostile.length + 2);
    expect(list.stdout).toContain('ansi\\x1b[2J\\x1b[31mred');
    expect(list.stdout).toContain('forged\\nqvu-');
    expect(list.stdout).toContain('bidi\\u202egnp.exe');

    for (const userId of hostile) {
      const mine = await runCli(['list', '--user', userId, '--store', url]);
      expect(mine.code, mine.stderr).toBe(0);
      clean(mine.stdout);
    }
    const show = await runCli(['show', storageKey(ids[0] as string), '--store', url]);
    expect(show.code, show.stderr).toBe(0);
    clean(show.stdout);
    expect(show.stdout).toContain('user:       ansi\\x1b[2J');

    const stats = await runCli(['stats', '--store', url]);
    expect(stats.code, stats.stderr).toBe(0);
    clean(stats.stdout);

    const asJson = await runCli(['list', '--json', '--store', url]);
    clean(asJson.stdout);
    const users = json<{ sessions: { userId: string }[] }>(asJson).sessions.map((s) => s.userId);
    expect(users.sort()).toEqual([...hostile].sort());

    const revoked = await runCli(['revoke-user', hostile[1] as string, '--store', url]);
    expect(revoked.code, revoked.stderr).toBe(0);
    clean(revoked.stdout);
    expect(revoked.stdout.trimEnd().split('\n')).toHaveLength(1);
  });

  it('escapes what it echoes in an error, too', async () => {
    const result = await runCli(['show', 'x\u001b[2Jy', '--store', url]);
    expect(result.code).toBe(2);
    clean(result.stderr);
    const unknown = await runCli(['frob\u001b[31m', '--store', url]);
    expect(unknown.code).toBe(1);
    clean(unknown.stderr);
  });
});
