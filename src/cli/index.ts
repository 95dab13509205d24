#!/usr/bin/env node
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
// Inlined by the bundler, so the version is right wherever the CLI file ends up.
import pkg from '../../package.json' with { type: 'json' };
import type { AnyStore } from '../stores/factory.js';
import { protectDashedHandle } from './argv.js';
import * as commands from './commands.js';
import { type Classified, CliError, classify, ExitCode } from './exit.js';
import { progressEnabled } from './progress.js';
import { openStore, redact } from './store.js';

interface GlobalFlags {
  store?: string;
  json: boolean;
  progress: boolean;
  timeout: number;
}

const HANDLE = /^[A-Za-z0-9_-]{20,128}$/;

function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('must be a positive whole number');
  return n;
}

function handleArg(value: string): string {
  if (!HANDLE.test(value))
    throw new InvalidArgumentError('not a session handle (base64url, as `list` prints)');
  return value;
}

const EXIT_CODES_HELP = `
Exit codes:
  0  ok
  1  usage error (unknown command or option, bad value, no --store)
  2  not found (show/revoke: no live session with that handle)
  3  store unreachable or not answering in time (ERR_STORE_UNAVAILABLE)
  4  bad store URL (unknown scheme, bad parameter, driver not installed)
  5  the store does not support this command (ERR_NOT_SUPPORTED)
  6  the store failed otherwise (ERR_STORE)

Examples:
  sessionkit list --store sqlite:./data/sessions.db
  SESSION_STORE_URL=redis://127.0.0.1:6379 sessionkit stats --json
  sessionkit revoke-user 42 --except "$SID" --store postgres://app@db/app`;

/** Runs one CLI invocation; resolves the exit code. Never throws, never prints a stack trace. */
async function main(args: string[]): Promise<number> {
  const argv = protectDashedHandle(args);
  let store: AnyStore | undefined;
  let url: string | undefined;
  let json = argv.includes('--json');

  const program = new Command('sessionkit')
    .description('Inspect and manage sessionkit sessions in any store.')
    .version(pkg.version, '-V, --version')
    .addOption(
      new Option(
        '--store <url>',
        'store URL (memory:, sqlite:, postgres://, mysql://, redis://, mongodb://)',
      ).env('SESSION_STORE_URL'),
    )
    .option('--json', 'machine-readable output on stdout', false)
    .option('--no-progress', 'no progress indicator on stderr (it is shown only on a terminal anyway)')
    .addOption(
      new Option('--timeout <ms>', 'bound on every store call').argParser(positiveInt).default(5_000),
    )
    .addHelpText('after', EXIT_CODES_HELP)
    .showHelpAfterError('(add --help for usage)')
    .exitOverride();

  const action =
    <A extends unknown[]>(run: (ctx: commands.Context, ...args: A) => Promise<void>) =>
    async (...args: [...A, Command]): Promise<void> => {
      const cmd = args[args.length - 1] as Command;
      const flags = cmd.optsWithGlobals<GlobalFlags>();
      json = flags.json;
      url = flags.store;
      if (!url)
        throw new CliError(
          ExitCode.usage,
          'no store: pass --store <url> or set SESSION_STORE_URL',
          'ERR_USAGE',
        );
      store = await openStore(url, flags.timeout);
      const ctx: commands.Context = {
        store,
        json: flags.json,
        progress: progressEnabled(flags.progress),
        print: (text) => process.stdout.write(`${text}\n`),
      };
      // Commander passes the positional arguments, then the command's options, then the command.
      await run(ctx, ...(args.slice(0, -1) as A));
    };

  program
    .command('list')
    .description('list live sessions: all (with progress), one page (--limit/--cursor), or one user’s')
    .addOption(new Option('--limit <n>', 'at most n sessions (one page)').argParser(positiveInt))
    .option('--cursor <cursor>', 'continue after a previous page')
    .option('--user <id>', 'only this user’s sessions (listByUser)')
    .action(
      action(async (ctx, flags: commands.ListFlags) => {
        if (flags.user !== undefined && flags.cursor !== undefined)
          throw new CliError(ExitCode.usage, '--cursor cannot be combined with --user', 'ERR_USAGE');
        await commands.list(ctx, flags);
      }),
    );
  program
    .command('show')
    .description('show one session in full')
    .argument('<handle>', 'the session handle (SHA-256 of the ID, as `list` prints)', handleArg)
    .action(action((ctx, handle: string) => commands.show(ctx, handle)));
  program
    .command('revoke')
    .description('destroy one session')
    .argument('<handle>', 'the session handle', handleArg)
    .action(action((ctx, handle: string) => commands.revoke(ctx, handle)));
  program
    .command('revoke-user')
    .description('destroy every session of a user ("log out everywhere")')
    .argument('<userId>', 'the user ID bound by req.session.login()')
    .option('--except <sessionId>', 'keep this session (a session ID, as in the cookie, not a handle)')
    .action(
      action((ctx, userId: string, flags: { except?: string }) =>
        commands.revokeUser(ctx, userId, flags.except),
      ),
    );
  program
    .command('prune')
    .description('remove expired sessions now')
    .action(action((ctx) => commands.prune(ctx)));
  program
    .command('stats')
    .description('count sessions, by user, expiring within an hour, and time a store round trip')
    .action(action((ctx) => commands.stats(ctx)));

  let failure: Classified | undefined;
  try {
    await program.parseAsync(argv, { from: 'user' });
  } catch (error) {
    // Commander already printed its own usage message; help and --version end here with code 0.
    if (error instanceof CommanderError) return error.exitCode === 0 ? ExitCode.ok : ExitCode.usage;
    failure = classify(error);
  } finally {
    await store?.close?.().catch(() => undefined);
  }
  if (!failure) return ExitCode.ok;
  const message = redact(failure.message, url);
  process.stderr.write(`sessionkit: ${message}\n`);
  if (json) process.stdout.write(`${JSON.stringify({ error: { code: failure.code, message } })}\n`);
  return failure.exitCode;
}

// Piping into `head` closes stdout early; that is not an error worth a stack trace.
process.stdout.on('error', () => process.exit(ExitCode.ok));

const code = await main(process.argv.slice(2));
// Drivers may hold sockets or timers after close(); the command is done, so leave now, after stdout drains.
process.stdout.write('', () => process.exit(code));
