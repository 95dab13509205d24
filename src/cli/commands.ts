import { holdsSession } from '../core/auth-time.js';
import { NotSupportedError } from '../core/errors.js';
import { generateId } from '../core/id.js';
import type { SessionSummary } from '../core/types.js';
import type { AnyStore } from '../stores/factory.js';
import { CliError, failedAfterOutput } from './exit.js';
import {
  jsonText,
  PagedTable,
  printable,
  SESSION_HEADERS,
  sessionDetail,
  sessionRows,
  table,
} from './format.js';
import { counter, progressBesideOutput, spinner } from './progress.js';

/** What every command gets: an open store and how to speak. */
export interface Context {
  store: AnyStore;
  json: boolean;
  progress: boolean;
  /** Prints `text` and a line break. */
  print(text: string): void;
  /** Writes `text` as it is, and resolves once stdout can take more: for output printed as it is read. */
  write(text: string): Promise<void>;
}

type Method =
  | 'list'
  | 'length'
  | 'prune'
  | 'listByUser'
  | 'destroyByUser'
  | 'getByHandle'
  | 'destroyByHandle';

function need<M extends Method>(store: AnyStore, method: M): NonNullable<AnyStore[M]> {
  const fn = store[method];
  if (typeof fn !== 'function') throw new NotSupportedError(method);
  return (fn as (...args: unknown[]) => unknown).bind(store) as NonNullable<AnyStore[M]>;
}

function emit(ctx: Context, value: unknown, human: () => string): void {
  ctx.print(ctx.json ? jsonText(value, 2) : human());
}

/**
 * Whether a listed record is a session. A renewal (`renewAfter`) leaves a marker under the ID it moved
 * from, for its grace: the store lists it like any record, but it has no user and no data of its own,
 * and counting it would report a session for every recent renewal.
 */
function isSession(summary: SessionSummary): boolean {
  return holdsSession(summary);
}

function sessionCount(n: number): string {
  return `${n} session${n === 1 ? '' : 's'}`;
}

function sessionTable(sessions: SessionSummary[]): string {
  return sessions.length === 0 ? '(no sessions)' : table(SESSION_HEADERS, sessionRows(sessions, Date.now()));
}

export interface ListFlags {
  limit?: number;
  cursor?: string;
  user?: string;
}

export async function list(ctx: Context, flags: ListFlags): Promise<void> {
  if (flags.user !== undefined) await listUser(ctx, flags.user, flags.limit);
  else if (flags.limit !== undefined || flags.cursor !== undefined) await listOnePage(ctx, flags);
  else await listAll(ctx);
}

/**
 * One user's sessions. listByUser is not paged (a user has few sessions), so `--limit` only trims what is
 * printed; the output says how many there are, so that a trimmed list is never taken for all of them.
 */
async function listUser(ctx: Context, userId: string, limit: number | undefined): Promise<void> {
  const all = (await need(ctx.store, 'listByUser')(userId)).filter(isSession);
  const sessions = limit === undefined ? all : all.slice(0, limit);
  const truncated = sessions.length < all.length;
  emit(ctx, { sessions, cursor: null, total: all.length, truncated }, () =>
    [
      sessionTable(sessions),
      '',
      truncated ? `${sessions.length} of ${sessionCount(all.length)}` : sessionCount(all.length),
    ].join('\n'),
  );
}

async function listOnePage(ctx: Context, flags: ListFlags): Promise<void> {
  const page = await need(ctx.store, 'list')({ cursor: flags.cursor ?? null, limit: flags.limit ?? 100 });
  const sessions = page.sessions.filter(isSession);
  const { cursor } = page;
  emit(ctx, { sessions, cursor }, () =>
    [
      sessionTable(sessions),
      '',
      cursor ? `more: --cursor ${printable(cursor)}` : sessionCount(sessions.length),
    ].join('\n'),
  );
}

/**
 * Every live session, printed page by page as the store gives them: the listing of a big store never
 * has to fit in memory. `--json` prints the same document as for one page, `{ "sessions": […], "cursor":
 * null }`, byte for byte as `jsonText(…, 2)` would.
 */
async function listAll(ctx: Context): Promise<void> {
  const pagedTable = new PagedTable(SESSION_HEADERS);
  let count = 0;
  const printPage = async (page: SessionSummary[]): Promise<void> => {
    let text = '';
    if (ctx.json) {
      for (const summary of page) {
        text += `${count === 0 ? '{\n  "sessions": [\n' : ',\n'}${indented(jsonText(summary, 2))}`;
        count++;
      }
    } else {
      const now = Date.now();
      for (const line of pagedTable.page(sessionRows(page, now))) text += `${line}\n`;
      count += page.length;
    }
    if (text !== '') await ctx.write(text);
  };
  try {
    await eachPage(ctx, progressBesideOutput(ctx.progress), 'listing', (page) =>
      printPage(page.filter(isSession)),
    );
  } catch (error) {
    throw count > 0 ? failedAfterOutput(error) : error;
  }
  if (ctx.json)
    await ctx.write(
      count === 0 ? '{\n  "sessions": [],\n  "cursor": null\n}\n' : '\n  ],\n  "cursor": null\n}\n',
    );
  else await ctx.write(`${count === 0 ? '(no sessions)\n' : ''}\n${sessionCount(count)}\n`);
}

/** A value's pretty JSON as an element of the `sessions` array: each line indented by two levels. */
function indented(json: string): string {
  return json
    .split('\n')
    .map((line) => `    ${line}`)
    .join('\n');
}

/** Pages through every record, with a progress bar sized by `length()` when the store has one. */
async function eachPage(
  ctx: Context,
  progress: boolean,
  label: string,
  visit: (page: SessionSummary[]) => void | Promise<void>,
): Promise<void> {
  const listPage = need(ctx.store, 'list');
  const total = progress && typeof ctx.store.length === 'function' ? await ctx.store.length() : null;
  const bar = counter(progress, label, total);
  try {
    let cursor: string | null = null;
    do {
      const page = await listPage({ cursor, limit: 500 });
      await visit(page.sessions);
      bar.advance(page.sessions.length);
      cursor = page.cursor;
    } while (cursor);
  } finally {
    bar.stop();
  }
}

/** What `list` prints as a handle: base64url (SHA-256 is 43 characters; an express-session store's may differ). */
const HANDLE = /^[A-Za-z0-9_-]{20,128}$/;

/**
 * A handle that cannot be one (mistyped, cut short, pasted with a quote) names no session: exit 2 like any
 * unknown handle, with a hint, and without asking the store.
 */
function notFound(handle: string): CliError {
  const hint = HANDLE.test(handle) ? '' : ' (a handle is the base64url value `list` prints)';
  return new CliError(
    'ERR_NOT_FOUND',
    `no live session with handle ${printable(JSON.stringify(handle))}${hint}`,
  );
}

export async function show(ctx: Context, handle: string): Promise<void> {
  const getByHandle = need(ctx.store, 'getByHandle');
  if (!HANDLE.test(handle)) throw notFound(handle);
  const found = await getByHandle(handle);
  if (!holdsSession(found)) throw notFound(handle);
  emit(ctx, found, () => sessionDetail(found, Date.now()));
}

export async function revoke(ctx: Context, handle: string): Promise<void> {
  const destroyByHandle = need(ctx.store, 'destroyByHandle');
  if (!HANDLE.test(handle)) throw notFound(handle);
  const gone = await destroyByHandle(handle);
  if (!gone) throw notFound(handle);
  emit(ctx, { handle, revoked: true }, () => `revoked ${handle}`);
}

/**
 * The session ID `--except` names: the ID itself, or the cookie value it is read from (`s:<id>.<MAC>`,
 * percent-encoded as browsers hold it, or not). The CLI has no secret to check the MAC and needs none: an
 * operator who holds the cookie holds the ID.
 */
export function exceptedId(value: string): string {
  let text = value;
  if (/^s%3A/i.test(text)) {
    try {
      text = decodeURIComponent(text);
    } catch {
      return value;
    }
  }
  const dot = text.lastIndexOf('.');
  return text.startsWith('s:') && dot > 2 ? text.slice(2, dot) : value;
}

/** Whether `id` names a live session of `userId`; an ID the store refuses as malformed names none. */
async function isSessionOf(store: AnyStore, id: string, userId: string): Promise<boolean> {
  try {
    return (await store.get(id))?.userId === userId;
  } catch (error) {
    if ((error as { code?: unknown }).code === 'ERR_INVALID_ARGUMENT') return false;
    throw error;
  }
}

/**
 * Checks what `--except` names before anything is revoked: a value that names none of the user's live
 * sessions (a handle from `list`, a mistyped ID) would otherwise be matched by nothing, and "log out
 * everywhere but here" would log the user out here too.
 */
async function keptSession(ctx: Context, userId: string, except: string): Promise<string> {
  const id = exceptedId(except);
  if (await isSessionOf(ctx.store, id, userId)) return id;
  const asHandle =
    HANDLE.test(except) && typeof ctx.store.getByHandle === 'function'
      ? await ctx.store.getByHandle(except)
      : null;
  if (asHandle?.userId === userId)
    throw new CliError(
      'ERR_USAGE',
      '--except takes the session ID (from its cookie), not the handle `list` prints: the store keeps a session out of revoke-user by its ID; nothing was revoked',
    );
  throw new CliError(
    'ERR_NOT_FOUND',
    `--except names no live session of user ${printable(JSON.stringify(userId))}; nothing was revoked`,
  );
}

export async function revokeUser(ctx: Context, userId: string, except: string | undefined): Promise<void> {
  const destroyByUser = need(ctx.store, 'destroyByUser');
  const kept = except === undefined ? undefined : await keptSession(ctx, userId, except);
  const revoked = await destroyByUser(userId, kept === undefined ? {} : { except: kept });
  emit(
    ctx,
    kept === undefined ? { userId, revoked } : { userId, revoked, kept: true },
    () =>
      `revoked ${revoked} session${revoked === 1 ? '' : 's'} of user ${printable(userId)}${kept === undefined ? '' : ' (kept the one given by --except)'}`,
  );
}

export async function prune(ctx: Context): Promise<void> {
  const run = need(ctx.store, 'prune');
  const spin = spinner(ctx.progress, 'pruning expired sessions');
  let pruned: number;
  try {
    pruned = await run();
  } finally {
    spin.stop();
  }
  emit(ctx, { pruned }, () => `pruned ${pruned} expired session${pruned === 1 ? '' : 's'}`);
}

const LATENCY_SAMPLES = 5;

export async function stats(ctx: Context): Promise<void> {
  const now = Date.now();
  let count = 0;
  let anonymous = 0;
  let expiringWithinHour = 0;
  const perUser = new Map<string, number>();
  await eachPage(ctx, ctx.progress, 'counting', (page) => {
    for (const s of page.filter(isSession)) {
      count++;
      if (s.expiresAt - now <= 3_600_000) expiringWithinHour++;
      if (s.userId === null) anonymous++;
      else perUser.set(s.userId, (perUser.get(s.userId) ?? 0) + 1);
    }
  });
  // A miss on a fresh random ID: one real round trip, and it cannot disturb anybody's session.
  const samples: number[] = [];
  for (let i = 0; i < LATENCY_SAMPLES; i++) {
    const started = performance.now();
    await ctx.store.get(generateId());
    samples.push(performance.now() - started);
  }
  samples.sort((a, b) => a - b);
  const round = (ms: number) => Math.round(ms * 100) / 100;
  const latencyMs = {
    samples: samples.length,
    min: round(samples[0] ?? 0),
    median: round(samples[Math.floor(samples.length / 2)] ?? 0),
    max: round(samples[samples.length - 1] ?? 0),
  };
  const byUser = [...perUser].map(([userId, sessions]) => ({ userId, sessions }));
  byUser.sort((a, b) => b.sessions - a.sessions || a.userId.localeCompare(b.userId));
  emit(ctx, { count, users: byUser.length, anonymous, expiringWithinHour, byUser, latencyMs }, () => {
    const top = byUser.slice(0, 10);
    const lines = [
      `sessions:              ${count}`,
      `  authenticated:       ${count - anonymous} (${byUser.length} user${byUser.length === 1 ? '' : 's'})`,
      `  anonymous:           ${anonymous}`,
      `expiring within 1h:    ${expiringWithinHour}`,
      `get round trip:        ${latencyMs.median} ms median (min ${latencyMs.min}, max ${latencyMs.max}, ${latencyMs.samples} samples)`,
    ];
    if (top.length > 0) {
      lines.push(
        '',
        table(
          ['USER', 'SESSIONS'],
          top.map((u) => [u.userId, String(u.sessions)]),
        ),
      );
      if (byUser.length > top.length)
        lines.push(`… and ${byUser.length - top.length} more users (--json lists all)`);
    }
    return lines.join('\n');
  });
}
