import type { SessionSummary } from '../core/types.js';

/** Renders rows as a plain, left-aligned text table with a header line. */
export function table(headers: string[], rawRows: string[][]): string {
  const rows = rawRows.map((row) => row.map(printable));
  const widths = widen(
    headers.map((header) => header.length),
    rows,
  );
  return [headers, ...rows].map((cells) => tableLine(cells, widths)).join('\n');
}

/**
 * A table printed a page of rows at a time, for a listing too big to hold: a column is as wide as its
 * widest cell printed so far, so it may widen from one page to the next, and never waits for the rows
 * still to come.
 */
export class PagedTable {
  private widths: number[];
  private headerPrinted = false;

  constructor(private readonly headers: string[]) {
    this.widths = headers.map((header) => header.length);
  }

  /** The lines of one page; the header line comes first, on the first page that has rows. */
  page(rawRows: string[][]): string[] {
    if (rawRows.length === 0) return [];
    const rows = rawRows.map((row) => row.map(printable));
    this.widths = widen(this.widths, rows);
    const lines = rows.map((cells) => tableLine(cells, this.widths));
    if (!this.headerPrinted) {
      this.headerPrinted = true;
      lines.unshift(tableLine(this.headers, this.widths));
    }
    return lines;
  }
}

/** `widths`, each widened to its column's widest cell in `rows` (a loop: a page may hold any number of rows). */
function widen(widths: number[], rows: string[][]): number[] {
  const out = [...widths];
  for (const row of rows)
    for (const [i, cell] of row.entries()) if (cell.length > (out[i] ?? 0)) out[i] = cell.length;
  return out;
}

/** One row, every cell but the last padded to its column's width, two spaces between columns. */
function tableLine(cells: string[], widths: number[]): string {
  return cells
    .map((cell, i) => (i === cells.length - 1 ? cell : cell.padEnd(widths[i] ?? 0)))
    .join('  ')
    .trimEnd();
}

function pad(n: number): string {
  return String(n).padStart(2, '0');
}

/** Local time to the second: short enough for a table, unambiguous enough for a human. */
export function time(ms: number): string {
  const d = new Date(ms);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

/** "3d 4h", "12m", "45s": the two largest units of a duration. */
export function duration(ms: number): string {
  const sign = ms < 0 ? '-' : '';
  let s = Math.round(Math.abs(ms) / 1000);
  const units: [string, number][] = [
    ['d', 86_400],
    ['h', 3_600],
    ['m', 60],
    ['s', 1],
  ];
  const parts: string[] = [];
  for (const [unit, size] of units) {
    if (s >= size || (unit === 's' && parts.length === 0)) {
      parts.push(`${Math.floor(s / size)}${unit}`);
      s %= size;
    }
    if (parts.length === 2) break;
  }
  return sign + parts.join(' ');
}

export function truncate(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

export function sessionRows(sessions: SessionSummary[], now: number): string[][] {
  return sessions.map((s) => [
    s.handle,
    s.userId ?? '-',
    time(s.createdAt),
    time(s.lastSeenAt),
    duration(s.expiresAt - now),
    truncate(printable(JSON.stringify(s.data)), 48),
  ]);
}

export const SESSION_HEADERS = ['HANDLE', 'USER', 'CREATED', 'LAST SEEN', 'EXPIRES IN', 'DATA'];

/** One session in full, as `show` prints it. */
export function sessionDetail(s: SessionSummary, now: number): string {
  const rows: [string, string][] = [
    ['handle', s.handle],
    ['user', s.userId ?? '(anonymous)'],
    ['created', time(s.createdAt)],
    ['last seen', `${time(s.lastSeenAt)} (${duration(now - s.lastSeenAt)} ago)`],
    ['expires', `${time(s.expiresAt)} (in ${duration(s.expiresAt - now)})`],
  ];
  const width = Math.max(...rows.map(([k]) => k.length));
  const head = rows.map(([k, v]) => `${`${k}:`.padEnd(width + 1)}  ${printable(v)}`).join('\n');
  // Pretty JSON's own line breaks stay; a string inside it cannot hold a raw one (JSON escapes it).
  return `${head}\ndata:\n${indent(printableLines(JSON.stringify(s.data, null, 2)))}`;
}

function indent(text: string): string {
  return text
    .split('\n')
    .map((line) => `  ${line}`)
    .join('\n');
}

/**
 * Characters that must not reach a terminal as themselves: C0 and C1 controls and DEL (ANSI escapes,
 * newlines that forge rows, carriage returns that overwrite them), bidirectional overrides and isolates
 * (which reorder what is shown), line and paragraph separators, and zero-width characters (which make two
 * different values look alike).
 */
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point
const UNPRINTABLE = /[\u0000-\u001f\u007f-\u009f\u061c\u200b-\u200f\u2028-\u202e\u2066-\u2069\ufeff]/g;

const NAMED: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' };

function escapeChar(char: string): string {
  const named = NAMED[char];
  if (named) return named;
  const code = char.charCodeAt(0);
  return code <= 0xff
    ? `\\x${code.toString(16).padStart(2, '0')}`
    : `\\u${code.toString(16).padStart(4, '0')}`;
}

/**
 * One value as it may be shown on a terminal: every unprintable character written as an escape (`\n`,
 * `\x1b`, `\u202e`). The value itself (a user ID, session data) is whatever an application stored, so
 * every column of every human-readable output goes through this; `--json` output is escaped by JSON.
 */
export function printable(text: string): string {
  return text.replace(UNPRINTABLE, escapeChar);
}

/** Like `printable`, keeping the line breaks of a multi-line text we composed ourselves. */
export function printableLines(text: string): string {
  return text.split('\n').map(printable).join('\n');
}

/** What JSON.stringify leaves raw: it escapes C0 controls itself, and its own indentation must stay. */
const RAW_IN_JSON = /[\u007f-\u009f\u061c\u200b-\u200f\u2028-\u202e\u2066-\u2069\ufeff]/g;

/**
 * JSON for `--json`. JSON.stringify escapes C0 controls but leaves DEL, C1 controls and the bidi and
 * zero-width characters raw; they only occur inside strings, where `\uXXXX` means the same value.
 */
export function jsonText(value: unknown, indent?: number): string {
  return JSON.stringify(value, null, indent).replace(
    RAW_IN_JSON,
    (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
}
