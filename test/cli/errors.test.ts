import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { generateId, storageKey } from '../../src/core/id.js';
import { json, runCli, spawnCli } from './harness.js';

const { version } = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
  version: string;
};

/** One line, no stack trace: what a person sees when something is wrong. */
function expectOneLine(stderr: string, pattern: RegExp): void {
  expect(stderr).toMatch(pattern);
  expect(stderr.trim().split('\n')).toHaveLength(1);
  expect(stderr).not.toMatch(/\n\s+at /);
}

describe('sessionkit CLI: usage, bad URLs, unreachable stores', () => {
  it('--help lists the commands and the exit codes; --version prints the package version', async () => {
    const help = await runCli(['--help']);
    expect(help.code).toBe(0);
    for (const command of ['list', 'show', 'revoke', 'revoke-user', 'prune', 'stats'])
      expect(help.stdout).toContain(command);
    expect(help.stdout).toContain('Exit codes (and the error code --json reports):');
    const shown = await runCli(['--version']);
    expect(shown).toMatchObject({ code: 0, stdout: `${version}\n` });
  });

  it('usage errors exit 1: no store, unknown command, bad --limit', async () => {
    const noStore = await runCli(['stats']);
    expect(noStore.code).toBe(1);
    expectOneLine(noStore.stderr, /^sessionkit: no store: pass --store <url> or set SESSION_STORE_URL/);
    expect((await runCli(['frobnicate', '--store', 'memory:'])).code).toBe(1);
    const badLimit = await runCli(['list', '--limit', 'ten', '--store', 'memory:']);
    expect(badLimit.code).toBe(1);
    expect(badLimit.stderr).toContain('must be a positive whole number');
  });

  it('reads the store from SESSION_STORE_URL', async () => {
    const result = await runCli(['stats', '--json'], { SESSION_STORE_URL: 'memory:' });
    expect(result.code, result.stderr).toBe(0);
    expect(json(result)).toMatchObject({ count: 0, users: 0 });
  });

  it('not found exits 2', async () => {
    const result = await runCli(['show', storageKey(generateId()), '--store', 'memory:', '--json']);
    expect(result.code).toBe(2);
    expect(json(result)).toMatchObject({ error: { code: 'ERR_NOT_FOUND' } });
  });

  it.each([
    ['show', 'not/a/handle'],
    ['show', `${storageKey(generateId())}'`],
    ['revoke', 'abc'],
  ])('%s of a mistyped handle (%s) exits 2 like any unknown handle, not 1', async (command, handle) => {
    const result = await runCli([command, handle, '--store', 'memory:']);
    expect(result.code).toBe(2);
    expectOneLine(
      result.stderr,
      /^sessionkit: no live session with handle .*a handle is the base64url value/,
    );
  });

  it.each([
    ['an unknown scheme', 'bogus://x', /^sessionkit: unknown store scheme "bogus:"/],
    ['not a URL at all', 'sessions.db', /^sessionkit: not a store URL: "sessions\.db"/],
    [
      'a sqlite: URL with a host',
      'sqlite://db.example.com/x.db',
      /^sessionkit: a sqlite: URL names a local file/,
    ],
  ])('a bad store URL (%s) exits 4 with one line', async (_label, url, message) => {
    const result = await runCli(['list', '--store', url]);
    expect(result.code).toBe(4);
    expectOneLine(result.stderr, message);
  });

  it.each([
    ['PostgreSQL', 'postgres://postgres@127.0.0.1:1/x'],
    ['MySQL', 'mysql://root@127.0.0.1:1/x'],
    ['Redis', 'redis://127.0.0.1:1'],
  ])('an unreachable %s exits 3 with one line (ERR_STORE_UNAVAILABLE)', async (_name, url) => {
    const started = Date.now();
    // A process: that it exits, drivers' sockets and timers notwithstanding, is part of the point.
    const result = await spawnCli(['stats', '--store', url, '--timeout', '1500']);
    expect(result.code).toBe(3);
    expectOneLine(result.stderr, /^sessionkit: store unavailable during \w+: /);
    const asJson = await spawnCli(['stats', '--store', url, '--timeout', '1500', '--json']);
    expect(asJson).toMatchObject({ code: 3, stderr: '' });
    expect(json(asJson)).toMatchObject({
      error: {
        code: 'ERR_STORE_UNAVAILABLE',
        message: expect.stringMatching(/^store unavailable during \w+: /),
      },
    });
    expect(Date.now() - started).toBeLessThan(15_000);
  });

  it.each([[[]], [['--json']]])(
    'never prints the password of a store URL it cannot parse (%j)',
    async (extra) => {
      const result = await runCli(['list', '--store', 'postgres://app:S3cretPW@db:54x32/app', ...extra]);
      expect(result.code).toBe(4);
      expect(result.stderr + result.stdout).not.toContain('S3cretPW');
      expect(result.stderr + result.stdout).toContain('postgres://app:***@db:54x32/app');
    },
  );

  it('never prints a password from the store URL', async () => {
    const result = await runCli([
      'list',
      '--store',
      'postgres://app:hunter2secret@127.0.0.1:1/x',
      '--timeout',
      '1500',
    ]);
    expect(result.code).toBe(3);
    expect(result.stderr + result.stdout).not.toContain('hunter2secret');
  });
});
