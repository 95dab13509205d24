/**
 * Why: `list --user <id> --limit <n>` answers "on how many devices is this user signed in". listByUser is
 * not paged, so `--limit` cuts the list; an operator or a script must be able to see that it was cut (the
 * table's footer "2 of 5 sessions", `--json`'s `total` and `truncated`) instead of taking the first n for
 * all of them.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateId } from '../../src/core/id.js';
import { createStore } from '../../src/stores/factory.js';
import { json, runCli } from './harness.js';

const dir = mkdtempSync(join(tmpdir(), 'sessionkit-cli-user-limit-'));
const url = `sqlite:${join(dir, 's.db')}`;

interface UserListOutput {
  sessions: unknown[];
  cursor: string | null;
  total: number;
  truncated: boolean;
}

beforeAll(async () => {
  const store = await createStore(url);
  const now = Date.now();
  for (let i = 0; i < 5; i++)
    await store.create(generateId(), {
      data: { i },
      cookie: { originalMaxAge: 86_400_000 },
      expiresAt: now + 86_400_000,
      createdAt: now,
      lastSeenAt: now,
      userId: 'u42',
    });
  await store.close?.();
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('list --user --limit', () => {
  it('says the list was cut, and how many sessions the user has', async () => {
    const human = await runCli(['list', '--user', 'u42', '--limit', '2', '--store', url]);
    expect(human.code, human.stderr).toBe(0);
    expect(human.stdout.trimEnd().split('\n').at(-1)).toBe('2 of 5 sessions');

    const machine = json<UserListOutput>(
      await runCli(['list', '--user', 'u42', '--limit', '2', '--json', '--store', url]),
    );
    expect(machine.sessions).toHaveLength(2);
    expect(machine).toMatchObject({ cursor: null, total: 5, truncated: true });
  });

  it('a limit the user’s sessions fit in, or none, prints them all as complete', async () => {
    for (const limit of [[], ['--limit', '5'], ['--limit', '9']]) {
      const human = await runCli(['list', '--user', 'u42', ...limit, '--store', url]);
      expect(human.stdout.trimEnd().split('\n').at(-1)).toBe('5 sessions');
      const machine = json<UserListOutput>(
        await runCli(['list', '--user', 'u42', ...limit, '--json', '--store', url]),
      );
      expect(machine.sessions).toHaveLength(5);
      expect(machine).toMatchObject({ cursor: null, total: 5, truncated: false });
    }
  });
});
