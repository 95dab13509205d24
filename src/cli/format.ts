import type { SessionSummary } from '../core/types.js';

/** Renders rows as a plain, left-aligned text table with a header line. */
export function table(headers: string[], rows: string[][]): string {
  const widths = headers.map((header, i) =>
    Math.max(header.length, ...rows.map((row) => (row[i] ?? '').length)),
  );
  const line = (cells: string[]) =>
    cells
      .map((cell, i) => (i === cells.length - 1 ? cell : cell.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  return [line(headers), ...rows.map(line)].join('\n');
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
    truncate(JSON.stringify(s.data), 48),
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
  const head = rows.map(([k, v]) => `${`${k}:`.padEnd(width + 1)}  ${v}`).join('\n');
  return `${head}\ndata:\n${indent(JSON.stringify(s.data, null, 2))}`;
}

function indent(text: string): string {
  return text
    .split('\n')
    .map((line) => `  ${line}`)
    .join('\n');
}
