const COMMANDS_WITH_HANDLE = new Set(['show', 'revoke']);
/** Global options that take a value as the next token. */
const OPTIONS_WITH_VALUE = new Set([
  '--store',
  '--timeout',
  '--limit',
  '--cursor',
  '--user',
  '--except',
  '--keys-file',
  '--batch',
  '--pause',
  '--state',
]);
const DASHED_HANDLE = /^-[A-Za-z0-9_-]{42}$/;

/**
 * Handles are base64url, so one in 64 starts with `-`, which the argument parser reads as an option. A
 * 43-character handle after `show`/`revoke` is moved behind `--`, where it can only be the argument.
 */
export function protectDashedHandle(argv: string[]): string[] {
  if (argv.includes('--')) return argv;
  let command = -1;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (OPTIONS_WITH_VALUE.has(arg)) i++;
    else if (!arg.startsWith('-')) {
      command = i;
      break;
    }
  }
  if (command === -1 || !COMMANDS_WITH_HANDLE.has(argv[command] as string)) return argv;
  const at = argv.findIndex(
    (arg, i) => i > command && DASHED_HANDLE.test(arg) && !OPTIONS_WITH_VALUE.has(argv[i - 1] as string),
  );
  if (at === -1) return argv;
  return [...argv.slice(0, at), ...argv.slice(at + 1), '--', argv[at] as string];
}
