import { NotSupportedError } from '../core/errors.js';
import { generateId } from '../core/id.js';
import type { SessionSummary } from '../core/types.js';
import type { AnyStore } from '../stores/factory.js';
import { CliError } from './exit.js';
import { jsonText, printable, SESSION_HEADERS, sessionDetail, sessionRows, table } from './format.js';
import { counter, spinner } from './progress.js';

/** What every command gets: an open store and how to speak. */
export interface Context {
  store: AnyStore;
  json: boolean;
  progress: boolean;
  print(text: string): void;
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

export interface ListFlags {
  limit?: number;
  cursor?: string;
  user?: string;
}

export async function list(ctx: Context, flags: ListFlags): Promise<void> {
  let sessions: SessionSummary[];
  let cursor: string | null = null;
  if (flags.user !== undefined) {
    // listByUser is not paged: a user has few sessions, so --limit just trims.
    sessions = await need(ctx.store, 'listByUser')(flags.user);
    if (flags.limit !== undefined) sessions = sessions.slice(0, flags.limit);
  } else if (flags.limit !== undefined || flags.cursor !== undefined) {
    const page = await need(ctx.store, 'list')({ cursor: flags.cursor ?? null, limit: flags.limit ?? 100 });
    sessions = page.sessions;
    cursor = page.cursor;
  } else {
    sessions = [];
    await eachPage(ctx, 'listing', (page) => sessions.push(...page));
  }
  emit(ctx, { sessions, cursor }, () => {
    const now = Date.now();
    const lines = [
      sessions.length === 0 ? '(no sessions)' : table(SESSION_HEADERS, sessionRows(sessions, now)),
    ];
    if (cursor) lines.push('', `more: --cursor ${printable(cursor)}`);
    else lines.push('', `${sessions.length} session${sessions.length === 1 ? '' : 's'}`);
    return lines.join('\n');
  });
}

/** Pages through every live session, with a progress bar sized by `length()` when the store has one. */
async function eachPage(ctx: Context, label: string, visit: (page: SessionSummary[]) => void): Promise<void> {
  const listPage = need(ctx.store, 'list');
  const total = ctx.progress && typeof ctx.store.length === 'function' ? await ctx.store.length() : null;
  const bar = counter(ctx.progress, label, total);
  try {
    let cursor: string | null = null;
    do {
      const page = await listPage({ cursor, limit: 500 });
      visit(page.sessions);
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
  if (!found) throw notFound(handle);
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
  await eachPage(ctx, 'counting', (page) => {
    for (const s of page) {
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
