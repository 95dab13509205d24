import { type SerializeOptions, serialize } from 'cookie';
import { OptionsError } from './errors.js';
import { isoString, MAX_DATE, utcString } from './time.js';
import type { CookieData, CookiePriority, SameSite } from './types.js';

export interface CookieOptions {
  /**
   * Lifetime in milliseconds; `null`/absent makes a browser-session cookie. A Date is taken as the expiry
   * (express-session accepts one, deprecated there too).
   */
  maxAge?: number | Date | null | false;
  /** `false`, as `null`: a browser-session cookie (express-session's README form). */
  expires?: Date | null | false;
  httpOnly?: boolean;
  /** `'auto'`: Secure when the request came over HTTPS (see the `proxy` option). */
  secure?: boolean | 'auto';
  /** `'auto'`: `None` on HTTPS requests, `Lax` otherwise. */
  sameSite?: SameSite | 'auto';
  domain?: string;
  path?: string;
  partitioned?: boolean;
  priority?: CookiePriority;
}

/**
 * Browsers cap a cookie's lifetime at 400 days (RFC 6265bis, "Cookie Lifetime Limits"). sessionkit caps
 * every lifetime there, the `cookie` option's and one set on `req.session.cookie` alike: Expires and the
 * store's deadline then agree with what the browser keeps, so no stored session outlives its cookie and a
 * stolen cookie is not honoured after every browser has dropped it.
 */
export const MAX_COOKIE_AGE_MS = 400 * 24 * 3600 * 1000;

/**
 * A lifetime capped at MAX_COOKIE_AGE_MS. One that makes no date (NaN, Infinity, past a Date's range) is
 * a broken cookie, not a long one: it stays, for the commit to refuse with ERR_INVALID_COOKIE.
 */
function cappedAge(ms: number): number {
  return ms > MAX_COOKIE_AGE_MS && Date.now() + ms <= MAX_DATE ? MAX_COOKIE_AGE_MS : ms;
}

/** An expiry (epoch ms) at most MAX_COOKIE_AGE_MS from now; one that is no date stays, for the caller to refuse. */
export function cappedDeadline(expiresAt: number): number {
  if (!Number.isFinite(expiresAt) || Math.abs(expiresAt) > MAX_DATE) return expiresAt;
  return Math.min(expiresAt, Date.now() + MAX_COOKIE_AGE_MS);
}

/** An expiry at most MAX_COOKIE_AGE_MS from now: the Date given when within it; a value that is no Date stays, for the commit to refuse. */
function cappedExpiry(date: Date): Date {
  if (!(date instanceof Date)) return date;
  const capped = cappedDeadline(date.valueOf());
  return capped < date.valueOf() ? new Date(capped) : date;
}

/**
 * `req.session.cookie`, shaped like express-session's Cookie so code that reads or sets `maxAge`,
 * `expires`, `originalMaxAge` or the flags keeps working.
 */
export class Cookie {
  path = '/';
  _expires: Date | null = null;
  originalMaxAge: number | null = null;
  httpOnly = true;
  secure?: boolean | 'auto';
  domain?: string;
  sameSite?: SameSite | 'auto';
  partitioned?: boolean;
  priority?: CookiePriority;

  constructor(options?: CookieOptions | CookieData) {
    if (options) {
      if (typeof options !== 'object') throw new TypeError('argument options must be a object');
      const given = options as CookieOptions & CookieData & Record<string, unknown>;
      copyAttributes(this, given);
      // As express-session: `maxAge` and `expires` apply in the order given, so the last one set wins.
      for (const key of Object.keys(given)) {
        if (key === 'maxAge') {
          if (given.maxAge !== undefined && given.maxAge !== null) this.maxAge = given.maxAge;
        } else if (key === 'expires') {
          const expires: unknown = given.expires;
          // A Date given is the very object `expires` returns; stored text is parsed.
          if (expires instanceof Date) this.expires = expires;
          else if (expires) this.expires = new Date(expires as string);
          else if (expires !== undefined && expires !== null) this.expires = null;
        }
      }
      if (given.originalMaxAge !== undefined) this.originalMaxAge = given.originalMaxAge;
    }
  }

  get expires(): Date | null {
    return this._expires;
  }

  /** `false` (express-session's README: "set `expires` to `false`") makes a browser-session cookie, as `null`. */
  set expires(date: Date | null | false | undefined) {
    this._expires = date ? cappedExpiry(date) : null;
    this.originalMaxAge = this.maxAge;
  }

  /** Milliseconds left until the cookie expires; `null` for a browser-session cookie. */
  get maxAge(): number | null {
    return this._expires ? this._expires.valueOf() - Date.now() : null;
  }

  /** As express-session, any value but a number or a Date that is falsy (`false`, `null`) makes a browser-session cookie. */
  set maxAge(ms: number | Date | null | false | undefined) {
    if (ms instanceof Date) {
      this.expires = ms;
      return;
    }
    if (ms && typeof ms !== 'number') {
      throw new TypeError('maxAge must be a number or Date');
    }
    // Not through the `expires` setter, which derives originalMaxAge from a second clock read: a
    // millisecond ticking in between made a 60000 maxAge 59999 (express-session's Cookie does that).
    const age = typeof ms === 'number' ? cappedAge(ms) : null;
    this._expires = age === null ? null : new Date(Date.now() + age);
    this.originalMaxAge = age;
  }

  /** Restarts the lifetime from now, keeping the original maxAge (express-session's `resetMaxAge`). */
  resetMaxAge(): void {
    if (this.originalMaxAge !== null) {
      // A record stored with a longer lifetime is capped as a new one is.
      const original = cappedAge(this.originalMaxAge);
      this._expires = new Date(Date.now() + original);
      this.originalMaxAge = original;
    }
  }

  get data(): CookieData {
    // Same keys in the same order as before, undefined ones left out without `delete`.
    const data = {} as CookieData;
    if (this.originalMaxAge !== undefined) data.originalMaxAge = this.originalMaxAge;
    if (this.partitioned !== undefined) data.partitioned = this.partitioned;
    if (this.priority !== undefined) data.priority = attributeCase(this.priority);
    data.expires = this._expires ? isoString(this._expires.valueOf()) : null;
    if (this.secure !== undefined) data.secure = this.secure;
    if (this.httpOnly !== undefined) data.httpOnly = this.httpOnly;
    if (this.domain !== undefined) data.domain = this.domain;
    if (this.path !== undefined) data.path = this.path;
    if (this.sameSite !== undefined) data.sameSite = attributeCase(this.sameSite);
    return data;
  }

  serialize(name: string, value: string): string {
    return serializeSessionCookie(name, value, this, false);
  }

  toJSON(): CookieData {
    return this.data;
  }
}

/**
 * The cookie of a session continued under a new ID (a kept regenerate, a login): the same attributes as
 * the application left them, its lifetime restarted from now, as an ID renewal keeps it.
 */
export function continuedCookie(from: Cookie): Cookie {
  const cookie = new Cookie(from.data);
  cookie.resetMaxAge();
  return cookie;
}

/**
 * What browsers keep of an attribute's value (RFC 6265bis, "Storage Model"): past 1024 bytes the
 * attribute is dropped without a word. Domains and Paths the `cookie` package takes are ASCII, so
 * characters are bytes.
 */
export const MAX_COOKIE_ATTRIBUTE_BYTES = 1024;

/** The first of the cookie's Domain and Path longer than browsers keep (C27), or `null`. */
export function overlongAttribute(cookie: { domain?: unknown; path?: unknown }): 'domain' | 'path' | null {
  for (const attribute of ['domain', 'path'] as const) {
    const value = cookie[attribute];
    if (typeof value === 'string' && value.length > MAX_COOKIE_ATTRIBUTE_BYTES) return attribute;
  }
  return null;
}

/**
 * `SameSite` and `Priority` values are case-insensitive in a Set-Cookie (the `cookie` package lower-cases
 * them, so express-session takes `'Strict'`); stored and compared in lower case. `'auto'` is sessionkit's
 * and express-session's own word, matched exactly.
 */
export function attributeCase<T>(value: T): T {
  return typeof value === 'string' && value !== 'auto' ? (value.toLowerCase() as T) : value;
}

/**
 * Copies every defined option but the three about lifetime, as is (no rest object + delete: that leaves a
 * slow object). `data` is the getter of what a cookie serializes: express-session ignores it as an option.
 */
function copyAttributes(cookie: Cookie, given: Record<string, unknown>): void {
  for (const key of Object.keys(given)) {
    if (key === 'maxAge' || key === 'expires' || key === 'originalMaxAge' || key === 'data') continue;
    const value = key === 'sameSite' || key === 'priority' ? attributeCase(given[key]) : given[key];
    // No Path (null, ''), as express-session would send it, lets the browser scope the cookie to the
    // directory of the request that set it: the default '/' stays.
    if (key === 'path' && (value === null || value === '')) continue;
    if (value !== undefined) (cookie as unknown as Record<string, unknown>)[key] = value;
  }
}

/**
 * The cookie of a stored session. The store's deadline is the truth about its expiry: it moved with every
 * touch, the stored `expires` did not. With a stored `originalMaxAge` (every record sessionkit or
 * express-session wrote) the stored `expires` is not even parsed.
 */
export function restoreCookie(data: CookieData, deadline: number): Cookie {
  let cookie: Cookie;
  if (typeof data.originalMaxAge === 'number') {
    cookie = new Cookie();
    copyAttributes(cookie, data as unknown as Record<string, unknown>);
    cookie.originalMaxAge = data.originalMaxAge;
  } else {
    // No stored originalMaxAge but an `expires` (a foreign store's record): the age derived from it stays.
    cookie = new Cookie(data);
  }
  // The field, not the `expires` setter, which would derive originalMaxAge anew.
  if (cookie.originalMaxAge !== null) cookie._expires = new Date(deadline);
  return cookie;
}

/** A cookie's attributes without its expiry, which moves on every request: what a change is checked against. */
export type CookieShape = Pick<
  Cookie,
  'originalMaxAge' | 'path' | 'domain' | 'httpOnly' | 'secure' | 'sameSite' | 'partitioned' | 'priority'
>;

/** The cookie's attributes without its expiry, which moves on every request. */
export function cookieShape(cookie: Cookie): CookieShape {
  const { originalMaxAge, path, domain, httpOnly, secure, sameSite, partitioned, priority } = cookie;
  return { originalMaxAge, path, domain, httpOnly, secure, sameSite, partitioned, priority };
}

/** Compared field by field: a string key would be built on every request only to be thrown away. */
export function hasShape(cookie: Cookie, shape: CookieShape): boolean {
  return cookie.originalMaxAge === shape.originalMaxAge && sameAttributes(cookie, shape);
}

/** The attributes a Set-Cookie carries besides its value and Expires: a `Cookie` or its stored data. */
type CookieAttributes = Pick<
  CookieData,
  'path' | 'domain' | 'httpOnly' | 'secure' | 'sameSite' | 'partitioned' | 'priority'
>;

/**
 * A Set-Cookie value split around its two moving parts, the value and the Expires date, built once per
 * name and attribute set by the `cookie` package itself (so validation and attribute order are its own).
 */
interface Template {
  head: string;
  /** From after the value up to and including `Expires=`; the whole rest when there is no Expires. */
  mid: string;
  /** After the date; `null` when the cookie has no Expires. */
  tail: string | null;
}

const EPOCH = new Date(0);
const EPOCH_UTC = EPOCH.toUTCString();
const MAX_TEMPLATES = 64;
const templates = new Map<string, Template>();

/** The attributes the last template was looked up for: most responses send the same cookie shape. */
let last: {
  name: string;
  attributes: CookieAttributes;
  secure: boolean;
  expires: boolean;
  template: Template;
} | null = null;

function sameAttributes(a: CookieAttributes, b: CookieAttributes): boolean {
  return (
    a.path === b.path &&
    a.domain === b.domain &&
    a.httpOnly === b.httpOnly &&
    a.secure === b.secure &&
    a.sameSite === b.sameSite &&
    a.partitioned === b.partitioned &&
    a.priority === b.priority
  );
}

function templateFor(
  name: string,
  data: CookieAttributes,
  secure: boolean,
  expires: boolean,
): Template | null {
  if (
    last !== null &&
    last.name === name &&
    last.secure === secure &&
    last.expires === expires &&
    sameAttributes(last.attributes, data)
  ) {
    return last.template;
  }
  const template = lookUpTemplate(name, data, secure, expires);
  if (template !== null) {
    const { path, domain, httpOnly, secure: flag, sameSite, partitioned, priority } = data;
    // A copy: the attributes may be a live Cookie that the application changes later.
    const attributes = { path, domain, httpOnly, secure: flag, sameSite, partitioned, priority };
    last = { name, secure, expires, template, attributes };
  }
  return template;
}

function lookUpTemplate(
  name: string,
  data: CookieAttributes,
  secure: boolean,
  expires: boolean,
): Template | null {
  const key = `${name}\u0000${data.path}\u0000${data.domain}\u0000${data.httpOnly}\u0000${secure || data.secure === true}\u0000${data.partitioned}\u0000${data.priority}\u0000${data.sameSite}\u0000${expires}`;
  const cached = templates.get(key);
  if (cached) return cached;
  const text = serializeSlow(name, 'X', data, expires ? EPOCH : null, secure);
  const head = `${name}=`;
  if (!text.startsWith(`${head}X`)) return null;
  const rest = text.slice(head.length + 1);
  let template: Template;
  if (expires) {
    const at = rest.indexOf(`; Expires=${EPOCH_UTC}`);
    if (at === -1) return null;
    const cut = at + '; Expires='.length;
    template = { head, mid: rest.slice(0, cut), tail: rest.slice(cut + EPOCH_UTC.length) };
  } else {
    template = { head, mid: rest, tail: null };
  }
  if (templates.size >= MAX_TEMPLATES) templates.clear();
  templates.set(key, template);
  return template;
}

/** Builds a Set-Cookie value. `'auto'` flags must be resolved by the caller; `secure` here is the final value. */
export function serializeCookie(name: string, value: string, data: CookieData, secure: boolean): string {
  return serializeWith(name, value, data, data.expires ? new Date(data.expires) : null, secure);
}

/** `serializeCookie` for a live `Cookie`: its Expires comes from the Date it holds, not an ISO round trip. */
export function serializeSessionCookie(name: string, value: string, cookie: Cookie, secure: boolean): string {
  return serializeWith(name, value, cookie, cookie._expires, secure);
}

function serializeWith(
  name: string,
  value: string,
  attributes: CookieAttributes,
  date: Date | null,
  secure: boolean,
): string {
  // Same output as the `cookie` package (which built the template), without its per-call work.
  if (date === null || Number.isFinite(date.valueOf())) {
    const template = templateFor(name, attributes, secure, date !== null);
    if (template) {
      const encoded = value ? encodeURIComponent(value) : '';
      return template.tail === null
        ? template.head + encoded + template.mid
        : template.head + encoded + template.mid + utcString((date as Date).valueOf()) + template.tail;
    }
  }
  return serializeSlow(name, value, attributes, date, secure);
}

function serializeSlow(
  name: string,
  value: string,
  data: CookieAttributes,
  date: Date | null,
  secure: boolean,
): string {
  const options: SerializeOptions = {
    path: data.path,
    domain: data.domain,
    httpOnly: data.httpOnly,
    secure: secure || data.secure === true,
    partitioned: data.partitioned,
    priority: data.priority,
  };
  if (data.sameSite !== undefined && data.sameSite !== 'auto') options.sameSite = data.sameSite;
  if (date) options.expires = date;
  return serialize(name, value, options);
}

/** An expired cookie with the same name, Path and Domain: tells the browser to drop the session (C15). */
export function serializeClearingCookie(name: string, data: CookieData, secure: boolean): string {
  return serializeWith(name, '', data, EPOCH, secure);
}

const MAX_VALUES = 8;

/**
 * Every value the Cookie header holds under exactly `name`, in order. The `cookie` package keeps only the
 * first of duplicate names, but a cookie tossed in from a subdomain or a longer Path can shadow the real
 * one (B04), so all candidates are returned. Names match byte for byte (B05); only SP and HTAB are
 * trimmed; values that fail to percent-decode are skipped (B09). The whole header is read, however many
 * other cookies come first (express-session reads them all, and Node bounds the header's size), in one
 * pass (B03); at most 8 values are kept.
 */
export function readCookieValues(header: string | string[] | undefined, name: string): string[] {
  if (!header) return [];
  const text = Array.isArray(header) ? header.join('; ') : header;
  const values: string[] = [];
  let start = 0;
  // The next '=' at or after `start`, kept across pairs: pairs without one must not rescan the rest.
  let eq = -1;
  while (start < text.length && values.length < MAX_VALUES) {
    let end = text.indexOf(';', start);
    if (end === -1) end = text.length;
    if (eq < start) {
      eq = text.indexOf('=', start);
      if (eq === -1) eq = text.length;
    }
    if (eq < end && trimOws(text, start, eq) === name) {
      const value = decode(trimOws(text, eq + 1, end));
      if (value) values.push(value);
    }
    start = end + 1;
  }
  return values;
}

function trimOws(text: string, from: number, to: number): string {
  while (from < to && (text.charCodeAt(from) === 0x20 || text.charCodeAt(from) === 0x09)) from++;
  while (to > from && (text.charCodeAt(to - 1) === 0x20 || text.charCodeAt(to - 1) === 0x09)) to--;
  return text.slice(from, to);
}

function decode(raw: string): string | null {
  const value = raw.length > 1 && raw.startsWith('"') && raw.endsWith('"') ? raw.slice(1, -1) : raw;
  if (!value.includes('%')) return value;
  const signed = value.startsWith('s%3A') ? decodeSigned(value) : null;
  if (signed !== null) return signed;
  try {
    return decodeURIComponent(value);
  } catch {
    return null;
  }
}

/**
 * A signed session cookie as a browser sends it back: "s%3A", then the ID and a base64 MAC whose only
 * escapes are %2B, %2F and %3D. decodeURIComponent gives the same, through a runtime call on every
 * request that carries a cookie. `null` for any other escape: the caller decodes it in full.
 */
function decodeSigned(value: string): string | null {
  let out = 's:';
  let from = 4;
  for (let at = value.indexOf('%', from); at !== -1; at = value.indexOf('%', from)) {
    const high = value.charCodeAt(at + 1);
    const low = value.charCodeAt(at + 2) | 0x20;
    let char: string;
    if (high === 0x32 && low === 0x62) char = '+';
    else if (high === 0x32 && low === 0x66) char = '/';
    else if (high === 0x33 && low === 0x64) char = '=';
    else return null;
    out += value.slice(from, at) + char;
    from = at + 3;
  }
  return out + value.slice(from);
}

/**
 * What a `cookie` function returned, as attributes: null or undefined is the defaults (express-session's
 * Cookie takes them so); anything but a plain object is refused, since spreading it would drop every
 * attribute asked for (SameSite, Max-Age, Secure) and send a cookie weaker than configured.
 */
export function cookieResultOf(result: unknown): CookieOptions {
  if (result === undefined || result === null) return {};
  if (typeof (result as { then?: unknown }).then === 'function')
    throw new OptionsError(
      'cookie',
      'function returned a Promise; it must return the attributes synchronously',
    );
  if (typeof result !== 'object' || Array.isArray(result))
    throw new OptionsError(
      'cookie',
      `function must return an object of cookie attributes, not ${kindOf(result)}`,
    );
  return result as CookieOptions;
}

function kindOf(value: unknown): string {
  return Array.isArray(value) ? 'an array' : `a ${typeof value}`;
}
