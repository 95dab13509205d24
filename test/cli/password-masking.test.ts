/**
 * A store URL whose password holds a quote, `<`, `>`, a backtick or a space, and which does not parse (a
 * typo in the port, or an unencoded `#`, `/` or `?` in the password: the case the masking exists for).
 * The CLI's errors never print the password (docs/demo-and-cli.md), raw or in the `--json` line:
 * generated passwords hold such characters, and the CLI's output goes to CI logs and cron mail.
 */
import { describe, expect, it } from 'vitest';
import { runCli as run } from './harness.js';

describe('masking a password with a quote-like character in an unparseable store URL', () => {
  const cases = [
    `postgres://app:Ab"Zz6Tail1@db:54x32/app`,
    `postgres://app:Ab'Zz6Tail1@db:54x32/app`,
    `postgres://app:Ab<Zz6Tail1@db:54x32/app`,
    `postgres://app:Ab>Zz6Tail1@db:54x32/app`,
    'postgres://app:Ab`Zz6Tail1@db:54x32/app',
    `mysql://app:Xy'9#Zz6Tail1@db:3306/app`,
  ];
  for (const url of cases)
    for (const extra of [[], ['--json']])
      it(`${url} ${extra.join(' ')}`, async () => {
        const result = await run(['list', '--store', url, ...extra]);
        expect(result.code).toBe(4);
        expect(result.stdout + result.stderr).not.toContain('Zz6Tail1');
      });
});
