import { createHash } from 'node:crypto';
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { createKeyring, type Keyring } from '../core/encryption.js';
import { NotSupportedError, OptionsError } from '../core/errors.js';
import { type RekeyCounts, type RekeyProgress, rekeyStore } from '../stores/rekey.js';
import type { Context } from './commands.js';
import { CliError } from './exit.js';
import { jsonText } from './format.js';
import { counter } from './progress.js';

/** The environment variable that may hold the key ring, as JSON, in place of `--keys-file`. */
export const KEYS_ENV = 'SESSION_ENCRYPTION_KEYS';

export interface RekeyFlags {
  keysFile?: string;
  batch: number;
  pause: number;
  state?: string;
  resume: boolean;
  cursor?: string;
}

/** What `--state` holds between runs: where to go on, and what the runs before did. */
interface RekeyState extends RekeyCounts {
  version: 1;
  /** SHA-256 of the store URL: a state file resumes only the store it was written for. */
  store: string;
  /** The primary key the run seals with: resuming under another primary would skip records. */
  keyId: string;
  cursor: string | null;
  complete: boolean;
}

/**
 * The key ring, from `--keys-file` (JSON `[{ id, key }, …]` or `{ keys: [...] }`, keys base64) or from
 * the SESSION_ENCRYPTION_KEYS variable; never from the command line, where keys would sit in the shell
 * history and in `ps`.
 */
export function loadKeyring(keysFile: string | undefined, env = process.env): Keyring {
  let text: string;
  let source: string;
  if (keysFile !== undefined) {
    source = `--keys-file ${JSON.stringify(keysFile)}`;
    try {
      text = readFileSync(keysFile, 'utf8');
    } catch (error) {
      const code = (error as { code?: unknown }).code;
      throw new CliError('ERR_KEYS', `cannot read ${source}${typeof code === 'string' ? ` (${code})` : ''}`);
    }
  } else {
    const value = env[KEYS_ENV];
    if (value === undefined || value === '')
      throw new CliError('ERR_KEYS', `no keys: pass --keys-file <path> or set ${KEYS_ENV}`);
    text = value;
    source = KEYS_ENV;
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new CliError('ERR_KEYS', `${source} is not JSON: expected [{ "id": …, "key": … }, …]`);
  }
  try {
    return createKeyring(Array.isArray(parsed) ? { keys: parsed } : parsed, 'keys');
  } catch (error) {
    // The message names the entry and what is wrong with it, never the key itself.
    if (error instanceof OptionsError) throw new CliError('ERR_KEYS', `${source}: ${error.message}`);
    throw error;
  }
}

function fingerprint(url: string): string {
  return createHash('sha256').update(url).digest('base64url');
}

function readState(path: string): RekeyState {
  let state: Partial<RekeyState>;
  try {
    state = JSON.parse(readFileSync(path, 'utf8')) as Partial<RekeyState>;
  } catch {
    throw new CliError('ERR_USAGE', `--resume: no readable state file at ${JSON.stringify(path)}`);
  }
  if (state?.version !== 1 || typeof state.store !== 'string' || typeof state.keyId !== 'string')
    throw new CliError('ERR_USAGE', `--resume: ${JSON.stringify(path)} is not a rekey state file`);
  return state as RekeyState;
}

/** Written beside and renamed over, so a run killed mid-write leaves the previous state whole. */
function writeState(path: string, state: RekeyState): void {
  const temporary = `${path}.tmp`;
  writeFileSync(temporary, `${jsonText(state, 2)}\n`, { mode: 0o600 });
  renameSync(temporary, path);
}

const ZERO: RekeyCounts = { resealed: 0, current: 0, failed: 0, raced: 0 };

function add(a: RekeyCounts, b: RekeyCounts): RekeyCounts {
  return {
    resealed: a.resealed + b.resealed,
    current: a.current + b.current,
    failed: a.failed + b.failed,
    raced: a.raced + b.raced,
  };
}

/**
 * `sessionkit rekey`: re-seals every record sealed by an older key with the first key of the ring. Stops
 * cleanly on SIGINT/SIGTERM after the page in progress; `--state` keeps where it got to for `--resume`.
 */
export async function rekey(ctx: Context, url: string, flags: RekeyFlags): Promise<void> {
  const ring = loadKeyring(flags.keysFile);
  if (typeof ctx.store.list !== 'function') throw new NotSupportedError('list');
  if (typeof ctx.store.resealByHandle !== 'function') throw new NotSupportedError('resealByHandle');
  if (flags.resume && flags.state === undefined)
    throw new CliError('ERR_USAGE', '--resume needs --state <file>');
  if (flags.resume && flags.cursor !== undefined)
    throw new CliError('ERR_USAGE', '--cursor cannot be combined with --resume');
  const store = fingerprint(url);
  let before: RekeyCounts = ZERO;
  let cursor: string | null = flags.cursor ?? null;
  if (flags.resume) {
    const state = readState(flags.state as string);
    if (state.store !== store)
      throw new CliError('ERR_USAGE', '--resume: the state file was written for another store');
    if (state.keyId !== ring.primary.id)
      throw new CliError(
        'ERR_USAGE',
        `--resume: the state file was written sealing with key "${state.keyId}", not "${ring.primary.id}"`,
      );
    if (state.complete) {
      report(ctx, { ...ZERO, ...pick(state), seen: 0, cursor: null, failedHandles: [] }, 0, true);
      return;
    }
    before = pick(state);
    cursor = state.cursor;
  }

  const total = ctx.progress && typeof ctx.store.length === 'function' ? await ctx.store.length() : null;
  const bar = counter(ctx.progress, 'rekeying', total);
  const controller = new AbortController();
  const stop = () => controller.abort();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  const started = performance.now();
  let seen = 0;
  let result: Awaited<ReturnType<typeof rekeyStore>>;
  try {
    result = await rekeyStore(ctx.store, ring, {
      batch: flags.batch,
      pauseMs: flags.pause,
      cursor,
      signal: controller.signal,
      onBatch: (progress) => {
        bar.advance(progress.seen - seen);
        seen = progress.seen;
        if (flags.state !== undefined)
          writeState(flags.state, {
            version: 1,
            store,
            keyId: ring.primary.id,
            ...add(before, progress),
            cursor: progress.cursor,
            complete: progress.cursor === null,
          });
      },
    });
  } finally {
    bar.stop();
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
  }
  const elapsedMs = Math.round(performance.now() - started);
  report(ctx, { ...result, ...add(before, result) }, elapsedMs, result.complete);
  if (!result.complete)
    throw new CliError(
      'ERR_INTERRUPTED',
      flags.state === undefined
        ? `interrupted; go on with --cursor ${result.cursor}`
        : `interrupted; go on with --resume --state ${flags.state}`,
      true,
    );
  const failed = before.failed + result.failed;
  if (failed > 0)
    throw new CliError(
      'ERR_KEYS',
      `${failed} record${failed === 1 ? '' : 's'} did not open with these keys and kept their old seal`,
      true,
    );
}

function pick(counts: RekeyCounts): RekeyCounts {
  const { resealed, current, failed, raced } = counts;
  return { resealed, current, failed, raced };
}

function report(ctx: Context, progress: RekeyProgress, elapsedMs: number, complete: boolean): void {
  const { resealed, current, failed, raced, failedHandles, cursor, seen } = progress;
  if (ctx.json) {
    // The counts are the whole job's (the runs a state file resumes included); `seen` is this run's.
    const out = { resealed, current, failed, raced, seen, failedHandles, complete, cursor, elapsedMs };
    ctx.print(jsonText({ ...out, cursor: complete ? null : cursor }, 2));
    return;
  }
  const lines = [
    `resealed:         ${resealed}`,
    `already current:  ${current}`,
    `failed:           ${failed}`,
  ];
  if (raced > 0) lines.push(`rewritten by the app meanwhile (kept): ${raced} value${raced === 1 ? '' : 's'}`);
  lines.push(`elapsed:          ${(elapsedMs / 1000).toFixed(1)} s`);
  if (failedHandles.length > 0) {
    lines.push('', 'records that did not open (handles):', ...failedHandles.map((handle) => `  ${handle}`));
    if (failed > failedHandles.length) lines.push(`  … and ${failed - failedHandles.length} more`);
  }
  ctx.print(lines.join('\n'));
}
