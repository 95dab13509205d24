import type { OutgoingHttpHeader, OutgoingHttpHeaders } from 'node:http';

/**
 * Adding the session's Set-Cookie (and `Cache-Control: no-store`) to a Node response whose
 * `writeHead` is being called, for every adapter that sees that call (Express/Connect/node:http while
 * a response is held, Hono on @hono/node-server). `writeHead`'s own header argument, in any of its
 * forms (a record, a flat `[name, value, …]` list, `[name, value]` pairs), wins over headers set on the
 * response before, so what it holds is merged into rather than overridden; what it does not hold is
 * set on the response, where the application's earlier `setHeader` values are.
 */

/** The parts of a Node response (`http`, or the `http2` compatibility API) used here. */
export interface HeaderedResponse {
  getHeader(name: string): OutgoingHttpHeader | number | undefined;
  setHeader(name: string, value: OutgoingHttpHeader | number): unknown;
}

type Pair = [unknown, unknown];

/** Where `writeHead`'s header argument is among its arguments (the status code first), or -1. */
function headerArgumentAt(writeHeadArgs: readonly unknown[]): number {
  return writeHeadArgs.findIndex((arg, i) => i > 0 && typeof arg === 'object' && arg !== null);
}

function headerArgumentOf(writeHeadArgs: readonly unknown[] | undefined): unknown {
  if (writeHeadArgs === undefined) return undefined;
  const at = headerArgumentAt(writeHeadArgs);
  return at === -1 ? undefined : writeHeadArgs[at];
}

/**
 * Puts a copy of `writeHead`'s header argument in its place among the arguments, so that what the
 * session merges into it goes to this response only: an application may pass one constant object to
 * every `writeHead`, and a Set-Cookie merged into that would go out to every later user.
 */
export function ownHeaderArgument(writeHeadArgs: unknown[]): void {
  const at = headerArgumentAt(writeHeadArgs);
  if (at === -1) return;
  const headers = writeHeadArgs[at];
  writeHeadArgs[at] = Array.isArray(headers)
    ? headers.map((item: unknown) => (Array.isArray(item) ? [...item] : item))
    : { ...(headers as OutgoingHttpHeaders) };
}

function isPairs(headers: unknown[]): headers is Pair[] {
  return headers.length > 0 && Array.isArray(headers[0]);
}

function isMalformed(headers: unknown[]): boolean {
  return !isPairs(headers) && headers.length % 2 === 1;
}

function pairsOf(headers: unknown[]): Pair[] {
  if (isPairs(headers)) return headers;
  const pairs: Pair[] = [];
  for (let i = 0; i + 1 < headers.length; i += 2) pairs.push([headers[i], headers[i + 1]]);
  return pairs;
}

/**
 * Replaces a header list's contents with `pairs`, as a flat list: Node takes a list of `[name, value]`
 * pairs only while no header is set on the response (Express sets X-Powered-By on every one), and a flat
 * list in every case.
 */
function refill(headers: unknown[], pairs: Pair[]): void {
  headers.length = 0;
  for (const [name, value] of pairs) headers.push(name, value);
}

function named(name: unknown, lower: string): boolean {
  return String(name).toLowerCase() === lower;
}

/** A header's values; an absent one (`undefined`, which Node would refuse) has none, not "undefined". */
function asList(value: unknown): string[] {
  if (value === undefined) return [];
  return Array.isArray(value) ? value.map(String) : [String(value)];
}

/**
 * Adds the session's Set-Cookie values. A header list gets them in one Set-Cookie entry, beside its
 * own Set-Cookie values or, when it has none, the response's: Node applies a list over headers set
 * earlier pair by pair (a second Set-Cookie pair would replace the first), and sends a list as it is
 * when none was set, so nothing is set on the response. A record that names Set-Cookie gets them
 * beside its own; otherwise they join the response's, which `writeHead` keeps.
 */
export function addSessionCookies(
  res: HeaderedResponse,
  writeHeadArgs: readonly unknown[] | undefined,
  cookies: readonly string[],
): void {
  const given = headerArgumentOf(writeHeadArgs);
  if (Array.isArray(given)) {
    // A name without its value: Node refuses the list at the call, and so it must still (the app's bug
    // shows where it is); mended, the response would go out without the header.
    if (isMalformed(given)) return;
    const pairs = pairsOf(given);
    const kept = pairs.filter(([name]) => !named(name, 'set-cookie'));
    const values =
      kept.length === pairs.length
        ? responseCookies(res)
        : pairs.flatMap(([name, value]) => (named(name, 'set-cookie') ? asList(value) : []));
    kept.push(['Set-Cookie', [...values, ...cookies]]);
    refill(given, kept);
    return;
  }
  if (given !== undefined) {
    const headers = given as OutgoingHttpHeaders;
    const key = Object.keys(headers).find((name) => named(name, 'set-cookie'));
    if (key !== undefined) {
      headers[key] = [...asList(headers[key]), ...cookies];
      return;
    }
  }
  res.setHeader('Set-Cookie', [...responseCookies(res), ...cookies]);
}

function responseCookies(res: HeaderedResponse): string[] {
  return asList(res.getHeader('Set-Cookie'));
}

/**
 * Makes the response's Cache-Control `no-store`: in a header list only (its value replaces the
 * response's), else on the response and in a header record, whose value would otherwise win.
 */
export function addNoStore(res: HeaderedResponse, writeHeadArgs: readonly unknown[] | undefined): void {
  const given = headerArgumentOf(writeHeadArgs);
  if (Array.isArray(given)) {
    if (isMalformed(given)) return;
    const kept = pairsOf(given).filter(([name]) => !named(name, 'cache-control'));
    kept.push(['Cache-Control', 'no-store']);
    refill(given, kept);
    return;
  }
  res.setHeader('Cache-Control', 'no-store');
  if (given === undefined) return;
  const headers = given as OutgoingHttpHeaders;
  for (const key of Object.keys(headers)) if (named(key, 'cache-control')) delete headers[key];
  headers['Cache-Control'] = 'no-store';
}

/** Whether the response already carries a Set-Cookie for `name`, set with `setHeader` or given to `writeHead`. */
export function setsCookie(
  res: HeaderedResponse,
  writeHeadArgs: readonly unknown[] | undefined,
  name: string,
): boolean {
  const values: unknown[] = [];
  const add = (value: unknown): void => {
    if (value !== undefined) values.push(...(Array.isArray(value) ? value : [value]));
  };
  add(res.getHeader('Set-Cookie'));
  const given = headerArgumentOf(writeHeadArgs);
  if (Array.isArray(given)) {
    for (const [key, value] of pairsOf(given)) if (named(key, 'set-cookie')) add(value);
  } else if (given !== undefined) {
    for (const [key, value] of Object.entries(given as OutgoingHttpHeaders))
      if (named(key, 'set-cookie')) add(value);
  }
  return values.some((value) => typeof value === 'string' && value.startsWith(`${name}=`));
}
