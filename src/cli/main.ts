// The CLI apart from its process: the bin (index.ts) runs one invocation and exits with its code; the
// tests run invocations in their own process, where starting Node for each would cost more than the command.
import { once } from 'node:events';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
// Inlined by the bundler, so the version is right wherever the CLI file ends up.
import pkg from '../../package.json' with { type: 'json' };
import { MAX_TIMER_MS } from '../core/time.js';
import type { AnyStore } from '../stores/factory.js';
import { STORES, storeHelp } from '../stores/registry.js';
import { protectDashedHandle } from './argv.js';
import * as commands from './commands.js';
import { type Classified, CliError, classify, ERROR_CODES, ExitCode } from './exit.js';
import { jsonText, printable } from './format.js';
import { progressEnabled } from './progress.js';
import { KEYS_ENV, type RekeyFlags, rekey } from './rekey.js';
import { openStore, redact } from './store.js';

interface GlobalFlags {
  store?: string;
  json: boolean;
  progress: boolean;
  timeout: number;
  create: boolean;
}

/**
 * How long the CLI waits for the store to close once the command is done. Closing is a courtesy to the
 * server (QUIT, the end of a pool); the process exits right after, which drops whatever is left.
 */
const CLOSE_BUDGET_MS = 300;

// Counts and milliseconds are bounded by what Node's timers keep: a longer delay fires after 1 ms, so a
// huge `--timeout` would report a healthy store as not answering.
function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > MAX_TIMER_MS)
    throw new InvalidArgumentError(`must be a positive whole number, at most ${MAX_TIMER_MS}`);
  return n;
}

function nonNegativeInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > MAX_TIMER_MS)
    throw new InvalidArgumentError(`must be a whole number from 0 to ${MAX_TIMER_MS}`);
  return n;
}

const EXIT_CODES_HELP = `
${storeHelp()}

Exit codes (and the error code --json reports):
  0  ok
  1  usage error: unknown command or option, bad value, no --store (ERR_USAGE)
  2  not found: no live session with that handle (ERR_NOT_FOUND),
     no SQLite database at that path without --create (ERR_NO_DATABASE)
  3  store unreachable or not answering in time (ERR_STORE_UNAVAILABLE)
  4  bad store URL: unknown scheme, bad parameter, driver not installed (ERR_STORE_URL)
  5  the store does not support this command (ERR_NOT_SUPPORTED)
  6  the store failed otherwise (ERR_STORE)
  7  rekey: no keys, a bad key file, or records that did not open with the keys (ERR_KEYS)
  8  rekey stopped by SIGINT/SIGTERM after the page in progress (ERR_INTERRUPTED)

Examples:
  sessionkit list --store sqlite:./data/sessions.db
  SESSION_STORE_URL=redis://127.0.0.1:6379 sessionkit stats --json
  sessionkit revoke-user 42 --except "$SID" --store postgres://app@db/app
  sessionkit rekey --keys-file /run/secrets/session-keys.json --state rekey.json --store redis://cache:6379`;

/** Where an invocation writes: the process's streams, or a test's buffers. */
export interface CliOutput {
  stdout(text: string): void;
  stderr(text: string): void;
  /**
   * Resolves once stdout can take more. A command that prints as it reads waits for it, so that a slow
   * reader of a pipe holds the listing back instead of the whole listing piling up in memory.
   */
  stdoutDrained?(): Promise<void>;
}

const PROCESS_OUTPUT: CliOutput = {
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
  // `once` rejects on an 'error' meanwhile (the reader went away), so this never waits forever.
  stdoutDrained: async () => {
    if (process.stdout.writableNeedDrain) await once(process.stdout, 'drain');
  },
};

/** Runs one CLI invocation; resolves the exit code. Never throws, never prints a stack trace. */
export async function main(args: string[], output: CliOutput = PROCESS_OUTPUT): Promise<number> {
  const argv = protectDashedHandle(args);
  let store: AnyStore | undefined;
  let url: string | undefined;
  // Known before parsing, so that a usage error is reported in the format asked for too.
  let json = argv.includes('--json');

  const program = new Command('sessionkit')
    .description('Inspect and manage sessionkit sessions in any store.')
    .version(pkg.version, '-V, --version')
    .addOption(
      new Option(
        '--store <url>',
        `store URL (${STORES.map((store) => store.schemes[0]).join(', ')}; see below)`,
      ).env('SESSION_STORE_URL'),
    )
    .option('--json', 'machine-readable output on stdout, errors included', false)
    .option('--no-progress', 'no progress indicator on stderr (it is shown only on a terminal anyway)')
    .addOption(
      new Option('--timeout <ms>', 'bound on every store call').argParser(positiveInt).default(5_000),
    )
    .option('--create', 'create the SQLite database (and its directory) if it does not exist', false)
    .addHelpText('after', EXIT_CODES_HELP)
    .exitOverride()
    // Usage errors are reported below with every other error: one line on stderr, or one JSON object.
    .configureOutput({
      writeOut: (text) => output.stdout(text),
      writeErr: () => undefined,
      outputError: () => undefined,
    });

  const action =
    <A extends unknown[]>(run: (ctx: commands.Context, ...args: A) => Promise<void>) =>
    async (...args: [...A, Command]): Promise<void> => {
      const cmd = args[args.length - 1] as Command;
      const flags = cmd.optsWithGlobals<GlobalFlags>();
      json = flags.json;
      url = flags.store;
      if (!url) throw new CliError('ERR_USAGE', 'no store: pass --store <url> or set SESSION_STORE_URL');
      store = await openStore(url, { timeoutMs: flags.timeout, create: flags.create });
      const ctx: commands.Context = {
        store,
        json: flags.json,
        progress: progressEnabled(flags.progress),
        print: (text) => output.stdout(`${text}\n`),
        write: async (text) => {
          output.stdout(text);
          await output.stdoutDrained?.();
        },
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
          throw new CliError('ERR_USAGE', '--cursor cannot be combined with --user');
        await commands.list(ctx, flags);
      }),
    );
  program
    .command('show')
    .description('show one session in full')
    .argument('<handle>', 'the session handle (SHA-256 of the ID, as `list` prints)')
    .action(action((ctx, handle: string) => commands.show(ctx, handle)));
  program
    .command('revoke')
    .description('destroy one session')
    .argument('<handle>', 'the session handle')
    .action(action((ctx, handle: string) => commands.revoke(ctx, handle)));
  program
    .command('revoke-user')
    .description('destroy every session of a user ("log out everywhere")')
    .argument('<userId>', 'the user ID bound by login(req.session, userId)')
    .option(
      '--except <sessionId>',
      "keep this session: its ID, or the session cookie's value (`s:<id>.<signature>`, encoded or not); not a handle",
    )
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

  program
    .command('rekey')
    .description('re-seal every session sealed with an older encryption key with the newest (first) key')
    .option('--keys-file <path>', `key ring as JSON [{ "id", "key" }, …], newest first (else $${KEYS_ENV})`)
    .addOption(new Option('--batch <n>', 'sessions per page').argParser(positiveInt).default(100))
    .addOption(
      new Option('--pause <ms>', 'wait between pages, to leave the store to the app')
        .argParser(nonNegativeInt)
        .default(0),
    )
    .option('--state <file>', 'write progress here after every page, for --resume')
    .option('--resume', 'go on from where the run that wrote --state stopped', false)
    .option('--cursor <cursor>', 'start after this listing cursor (as an interrupted run prints)')
    .action(action((ctx, flags: RekeyFlags) => rekey(ctx, url as string, flags)));

  let failure: Classified | undefined;
  try {
    await program.parseAsync(argv, { from: 'user' });
  } catch (error) {
    // Help and --version end here too, with commander's exit code 0.
    if ((error as { exitCode?: unknown }).exitCode === 0) return ExitCode.ok;
    if (error instanceof CommanderError && error.code === 'commander.help') {
      // No command at all: the help is the most useful answer, then the error line as for any other.
      if (!json) output.stderr(program.helpInformation());
      failure = { exitCode: ERROR_CODES.ERR_USAGE, code: 'ERR_USAGE', message: 'no command given' };
    } else {
      failure = classify(error);
    }
  } finally {
    await closeWithin(store, CLOSE_BUDGET_MS);
  }
  if (!failure) return ExitCode.ok;
  // Everything below may echo the URL or a driver's message quoting it, and the command line's values.
  const message = redact(failure.message, url ?? storeArgument(argv));
  if (json && !failure.reported) {
    output.stdout(`${jsonText({ error: { code: failure.code, message } })}\n`);
  } else {
    const hint = failure.code === 'ERR_USAGE' ? ' (see --help)' : '';
    output.stderr(`sessionkit: ${printable(message)}${hint}\n`);
  }
  return failure.exitCode;
}

/** Closes the store, giving it at most `ms`: a server that never answers must not keep the CLI alive. */
async function closeWithin(store: AnyStore | undefined, ms: number): Promise<void> {
  if (typeof store?.close !== 'function') return;
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    store.close().catch(() => undefined),
    new Promise<void>((resolve) => {
      timer = setTimeout(resolve, ms);
    }),
  ]);
  clearTimeout(timer);
}

/** The store URL as given, for masking when parsing failed before commander could read it. */
function storeArgument(argv: string[]): string | undefined {
  const at = argv.indexOf('--store');
  const inline = argv.find((arg) => arg.startsWith('--store='));
  return at >= 0 ? argv[at + 1] : (inline?.slice('--store='.length) ?? process.env.SESSION_STORE_URL);
}
