import { KeyObject } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { serialize } from 'cookie';
import type { BindingAction, BindingProperty } from '../core/binding.js';
import {
  attributeCase,
  type CookieOptions,
  cookieResultOf,
  MAX_COOKIE_AGE_MS,
  MAX_COOKIE_ATTRIBUTE_BYTES,
  overlongAttribute,
} from '../core/cookie.js';
import type { SessionLogger } from '../core/debug.js';
import { createKeyring, type EncryptionOptions, type Keyring } from '../core/encryption.js';
import { OptionsError, SecretRequiredError } from '../core/errors.js';
import { DEFAULT_RENEW_GRACE_MS, renewalWindow } from '../core/renewal.js';
import { DEFAULT_TTL_MS } from '../core/serializer.js';
import type { Secret } from '../core/signature.js';
import { MAX_SPAN_MS, MAX_TIMER_MS } from '../core/time.js';
import type { OnLimit } from '../core/types.js';
import { isNativeStore, type SessionStore } from '../stores/contract.js';
import type { ExpressStoreLike } from '../stores/express-compat/store.js';
import { resolveUserLimit, type UserLimitOption } from './session-limit.js';

/** The request as sessionkit needs it: any Node `IncomingMessage`, Express's or Connect's. */
export interface SessionRequestLike {
  headers: Record<string, string | string[] | undefined>;
  url?: string;
  /** Express's URL before mounting stripped a prefix: what the cookie's Path is compared with. */
  originalUrl?: string;
  /** cookie-parser's secret: signs and verifies when `session()` has no `secret`. */
  secret?: unknown;
  /** Cookies cookie-parser already verified and unsigned. */
  signedCookies?: Record<string, unknown>;
  /** Cookies cookie-parser parsed, still signed. */
  cookies?: Record<string, unknown>;
  secure?: boolean;
  socket?: { encrypted?: boolean } | null;
  connection?: { encrypted?: boolean } | null;
}

export interface SessionOptions<Req = IncomingMessage> {
  /** Cookie name. Default `connect.sid` (express-session's), so existing cookies keep working. */
  name?: string;
  /** @deprecated express-session's old name for `name`. */
  key?: string;
  /**
   * Signs the cookie: a string, a Buffer or other bytes (a typed array, a DataView, a secret KeyObject:
   * express-session's `CipherKey`). An array rotates: the first signs, all verify; a cookie verified by an
   * older one is re-signed. Left out, each request's `req.secret` is used (cookie-parser's secret, as
   * express-session does); a request without one fails with ERR_SECRET_REQUIRED.
   */
  secret?: SecretKey | SecretKey[];
  /** Where sessions live. Default: a MemoryStore (bounded, expiring; for development and single processes). */
  store?: SessionStore | ExpressStoreLike;
  /** express-session's: write the session back even when unchanged (whole-object). Default `true`, with a warning. */
  resave?: boolean;
  /** express-session's: store new sessions nobody wrote to. Default `true`, with a warning. */
  saveUninitialized?: boolean;
  /** Send the cookie (with a fresh expiry) on every response. Default `false`. */
  rolling?: boolean;
  /** What `delete req.session` / `req.session = null` does: `'keep'` the stored session, or `'destroy'` it. */
  unset?: 'keep' | 'destroy';
  /** Trust `X-Forwarded-Proto` for `secure: 'auto'`: `true`, `false`, or `undefined` to follow Express's `trust proxy`. */
  proxy?: boolean;
  /*
   * The functions of the request below are declared with method syntax, so their parameter is checked
   * bivariantly, as express-session's `genid?(req: express.Request)` is: a function annotated with the
   * framework's own request type (or options typed for another request) is accepted.
   */
  /** Makes new session IDs. Default: 32 random bytes, base64url. */
  genid?(req: Req): string;
  /** Cookie attributes, or a function of the request returning them (per-request cookies, as express-session 1.18). */
  cookie?: CookieOptions | { cookie(req: Req): CookieOptions }['cookie'];
  /** No store write to extend an unchanged session within this many ms of its last write. Default: a tenth of its lifetime, at most 60 s. */
  touchAfter?: number;
  /** Hard limit on a session's life from its creation (ms), never extended by activity. Default: none. */
  absoluteTimeout?: number;
  /** Lifetime (ms) of a session whose cookie has no maxAge (a browser-session cookie). Default one day. */
  ttl?: number;
  /** Requests for which no session work happens at all (static files, health checks). */
  skip?(req: Req): boolean;
  /** Bound on every store call (ms). Default 5000. */
  storeTimeout?: number;
  /** When the store fails: `'fail'` → `next(err)` with status 503 (default); `'anonymous'` → a fresh session that is never stored. */
  onStoreError?: 'fail' | 'anonymous';
  /** Largest session data, in bytes of JSON. Default 1 MiB. */
  maxSessionBytes?: number;
  /**
   * `'owasp'`: the OWASP Session Management Cheat Sheet's defaults — a `__Host-sid` cookie, Secure,
   * SameSite=Lax, no Max-Age (a browser-session cookie), 30 minutes idle, 8 hours absolute, no resave, no
   * uninitialized sessions, a signing secret of at least 32 characters, and `Cache-Control: no-store` on
   * responses that set the cookie. Options you pass override the preset's.
   */
  preset?: 'owasp';
  /**
   * Encryption at rest: every session value is sealed with AES-256-GCM under the first key; every key
   * opens. Expiry, timestamps, the user ID and the cookie stay in clear.
   */
  encryption?: EncryptionOptions;
  /**
   * Move a session to a new ID when this many ms have passed since it got its current one (C13); data,
   * user and authentication time are kept. Default: never.
   */
  renewAfter?: number;
  /** How long (ms) the old ID still leads to the renewed session, for requests already under way. Default 10 000. */
  renewGrace?: number;
  /** Your logger (pino, console, …): its `warn` replaces `process.emitWarning`; see README "Observability". */
  logger?: SessionLogger;
  /** The most live sessions one user may have (C31), applied atomically by the store at `login()`. Default: no limit. */
  maxSessionsPerUser?: number;
  /** At the limit, end the user's oldest session (by creation) or make `login()` fail. Default 'evict-oldest'. */
  onLimit?: OnLimit;
  /**
   * Bind each session to the User-Agent and/or client IP it was signed in with (C33): a loaded session
   * whose request differs raises the `binding` event; `onChange: 'end'` also ends it. Default: no binding.
   */
  binding?: BindingOptions;
}

export interface ResolvedOptions<Req> {
  name: string;
  /** `null`: no `secret` option; each request signs with its `req.secret` (cookie-parser's). */
  secrets: Secret[] | null;
  store: SessionStore | ExpressStoreLike | undefined;
  resave: boolean;
  saveUninitialized: boolean;
  rolling: boolean;
  unset: 'keep' | 'destroy';
  proxy: boolean | undefined;
  genid: ((req: Req) => string) | undefined;
  cookie: CookieOptions | ((req: Req) => CookieOptions);
  /**
   * The cookie's Path when it is a fixed one other than `/`: requests outside it get no session at all, as
   * in express-session. `null` for `/` (every request) and for a cookie function (checked per request).
   */
  cookiePath: string | null;
  /** The cookie name's browser-enforced prefix (see cookiePrefix). */
  namePrefix: 'secure' | 'host' | null;
  touchAfter: number | undefined;
  absoluteTimeout: number | undefined;
  ttl: number;
  skip: ((req: Req) => boolean) | undefined;
  storeTimeout: number;
  onStoreError: 'fail' | 'anonymous';
  maxSessionBytes: number;
  /** Send `Cache-Control: no-store` with every response that sets or clears the cookie (C20). */
  noStoreWithCookie: boolean;
  /** The validated `encryption` key ring, when given. */
  keyring: Keyring | undefined;
  renewAfter: number | undefined;
  renewGrace: number;
  userLimit: UserLimitOption | undefined;
  /** The validated `binding` option; `undefined`: no binding, and no work for it on any request. */
  binding: ResolvedBinding | undefined;
  /** Notices for the operator, each printed once. */
  warnings: string[];
}

const OWASP_IDLE_MS = 30 * 60 * 1000;
const OWASP_ABSOLUTE_MS = 8 * 3600 * 1000;
const OWASP_COOKIE: CookieOptions = { secure: true, sameSite: 'lax', httpOnly: true, path: '/' };

/** The preset's values under the caller's: what the caller sets wins, cookie attributes one by one. */
function applyPreset<Req>(options: SessionOptions<Req>): SessionOptions<Req> {
  if (options.preset === undefined) return options;
  if (options.preset !== 'owasp') throw new OptionsError('preset', "must be 'owasp'");
  const given = options.cookie;
  // A cookie function's result sits on the preset's attributes, as an object's does: what it leaves out
  // (Secure above all) is still the preset's.
  const cookie =
    typeof given === 'function'
      ? (req: Req): CookieOptions => ({ ...OWASP_COOKIE, ...cookieResultOf(given(req)) })
      : { ...OWASP_COOKIE, ...given };
  return {
    name: '__Host-sid',
    resave: false,
    saveUninitialized: false,
    ttl: OWASP_IDLE_MS,
    absoluteTimeout: OWASP_ABSOLUTE_MS,
    ...options,
    cookie,
  };
}

/** A key express-session signs with (Node's `CipherKey`): taken as a string or a copy of its bytes. */
export type SecretKey = Secret | NodeJS.ArrayBufferView | KeyObject;

/** The secret as sessionkit signs with it, or `null` for a value that is none (or empty). */
function toSecret(value: unknown): Secret | null {
  let secret: Secret | null = null;
  if (typeof value === 'string' || Buffer.isBuffer(value)) secret = value;
  // A copy: the application may reuse the bytes it passed.
  else if (ArrayBuffer.isView(value))
    secret = Buffer.from(new Uint8Array(value.buffer, value.byteOffset, value.byteLength));
  else if (value instanceof KeyObject && value.type === 'secret') secret = value.export();
  return secret !== null && secret.length > 0 ? secret : null;
}

/**
 * The secrets, newest first, or `null` to sign with each request's `req.secret` (express-session's
 * fallback for cookie-parser users). An empty array is refused in express-session's words.
 */
function resolveSecrets<Req>(options: SessionOptions<Req>, warnings: string[]): Secret[] | null {
  const { secret } = options;
  if (secret === undefined || secret === null || secret === '') {
    // The preset promises a strong secret, which a per-request one cannot be checked to be.
    if (options.preset === 'owasp') throw new SecretRequiredError();
    warnings.push('no secret option: each request is signed with req.secret (cookie-parser); provide secret');
    return null;
  }
  const given: unknown[] = Array.isArray(secret) ? secret : [secret];
  if (given.length === 0)
    throw new SecretRequiredError('sessionkit: secret option array must contain one or more secrets');
  const keys = given.map((each) => {
    const key = toSecret(each);
    check(key !== null, 'secret', 'must hold non-empty strings, Buffers or other bytes');
    return key as Secret;
  });
  // The array given, when it holds strings and Buffers only: an application that edits it in place (a
  // secret removed on rotation) is heard, as by express-session, which keeps it.
  const secrets =
    Array.isArray(secret) && keys.every((key, i) => key === given[i]) ? (secret as Secret[]) : keys;
  if (options.preset === 'owasp') {
    check(
      (secrets[0] as Secret).length >= 32,
      'secret',
      'must be at least 32 characters with the owasp preset (C35)',
    );
  } else if ((secrets[0] as Secret).length < 32) {
    warnings.push(
      'the signing secret is shorter than 32 characters; use 32 or more random bytes (OWASP C35)',
    );
  }
  return secrets;
}

/**
 * What browsers keep of a cookie (RFC 6265bis, "Cookie Lifetime Limits"): its name and value together up
 * to 4096 bytes; past that the cookie is dropped without a word. The name and value are ASCII here, so
 * characters are bytes. Each attribute's own bound is core/cookie.ts's MAX_COOKIE_ATTRIBUTE_BYTES.
 */
const MAX_COOKIE_PAIR_BYTES = 4096;
/**
 * The longest session cookie value: `s:<ID>.<MAC>` percent-encoded, with an ID of at most 256 characters
 * (core/id.ts) and a 43-character base64 MAC, every character of both escaped to three in the worst case.
 */
const MAX_COOKIE_VALUE_BYTES = 1 + 3 + 3 * 256 + 1 + 3 * 43;
/** So that `name=value` always fits MAX_COOKIE_PAIR_BYTES; the name is then the only variable part. */
const MAX_COOKIE_NAME_BYTES = MAX_COOKIE_PAIR_BYTES - 1 - MAX_COOKIE_VALUE_BYTES;

function check(condition: boolean, option: string, message: string): void {
  if (!condition) throw new OptionsError(option, message);
}

function isDuration(value: unknown): value is number {
  return typeof value === 'number' && Number.isFinite(value) && value >= 0;
}

/** Validates every option at `session()` time, with a message naming the option. */
export function resolveOptions<Req>(given: SessionOptions<Req> = {}): ResolvedOptions<Req> {
  // `session()` with no options runs as express-session's does: the secret is then cookie-parser's.
  if (!given || typeof given !== 'object') throw new OptionsError('options', 'must be an object');
  const options = applyPreset(given);
  const warnings: string[] = [];
  // `||`, as express-session: an empty name falls back too.
  const name = options.name || options.key || 'connect.sid';
  check(
    typeof name === 'string' && /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/.test(name),
    'name',
    'must be a cookie name token (RFC 6265)',
  );
  check(
    name.length <= MAX_COOKIE_NAME_BYTES,
    'name',
    `must be at most ${MAX_COOKIE_NAME_BYTES} characters: with the longest signed ID it must fit the ${MAX_COOKIE_PAIR_BYTES} bytes browsers keep of a cookie's name and value (C27)`,
  );
  const secrets = resolveSecrets(options, warnings);

  for (const flag of ['resave', 'saveUninitialized', 'rolling', 'proxy'] as const) {
    check(options[flag] === undefined || typeof options[flag] === 'boolean', flag, 'must be a boolean');
  }
  if (options.resave === undefined)
    warnings.push('undefined resave option; provide resave option (defaults to true, as express-session)');
  if (options.saveUninitialized === undefined) {
    warnings.push(
      'undefined saveUninitialized option; provide saveUninitialized option (defaults to true, as express-session)',
    );
  }
  check(
    options.unset === undefined || options.unset === 'keep' || options.unset === 'destroy',
    'unset',
    'must be "destroy" or "keep"',
  );
  check(options.genid === undefined || typeof options.genid === 'function', 'genid', 'must be a function');
  check(options.skip === undefined || typeof options.skip === 'function', 'skip', 'must be a function');
  check(
    options.onStoreError === undefined ||
      options.onStoreError === 'fail' ||
      options.onStoreError === 'anonymous',
    'onStoreError',
    "must be 'fail' or 'anonymous'",
  );
  for (const duration of [
    'touchAfter',
    'absoluteTimeout',
    'ttl',
    'storeTimeout',
    'maxSessionBytes',
    'renewAfter',
    'renewGrace',
  ] as const) {
    check(
      options[duration] === undefined || isDuration(options[duration]),
      duration,
      'must be a finite number ≥ 0',
    );
  }
  check(options.absoluteTimeout !== 0, 'absoluteTimeout', 'must be greater than 0 (leave it out for none)');
  check(options.storeTimeout !== 0, 'storeTimeout', 'must be greater than 0');
  // A longer timer fires at once: every store call would fail as unanswered.
  check(
    options.storeTimeout === undefined || options.storeTimeout <= MAX_TIMER_MS,
    'storeTimeout',
    `must be at most ${MAX_TIMER_MS} ms, the longest delay a Node timer keeps`,
  );
  // The deadlines made from them must be dates every store holds (see MAX_SPAN_MS).
  check(
    options.ttl === undefined || options.ttl <= MAX_SPAN_MS,
    'ttl',
    `must be at most ${MAX_SPAN_MS} ms: now + ttl must be a date every store holds`,
  );
  check(
    options.renewGrace === undefined || renewalWindow(options.renewGrace) <= MAX_SPAN_MS,
    'renewGrace',
    `must be at most ${Math.floor(MAX_SPAN_MS / 2)} ms: the old ID's marker is kept for twice renewGrace, to a date every store holds`,
  );
  check(options.renewAfter !== 0, 'renewAfter', 'must be greater than 0 (leave it out for none)');
  check(
    options.renewAfter === undefined || secrets !== null,
    'renewAfter',
    'needs the secret option: the renewed ID is derived with the newest secret',
  );

  const store = options.store;
  if (store !== undefined) {
    const usable =
      isNativeStore(store) ||
      (typeof store === 'object' &&
        store !== null &&
        typeof (store as ExpressStoreLike).get === 'function' &&
        typeof (store as ExpressStoreLike).set === 'function' &&
        typeof (store as ExpressStoreLike).destroy === 'function');
    check(usable, 'store', 'must be a sessionkit store or an express-session store (get, set, destroy)');
  } else if (process.env.NODE_ENV === 'production') {
    warnings.push(
      'the MemoryStore holds sessions in this process only; use a shared store (Redis, SQL, MongoDB) in production',
    );
  }

  const cookie = options.cookie ?? {};
  check(
    typeof cookie === 'object' || typeof cookie === 'function',
    'cookie',
    'must be an object or a function',
  );
  if (typeof cookie === 'object') validateCookie(name, cookie, warnings);
  // Read-only requests extend the stored session only once touchAfter has passed: a touchAfter no shorter
  // than the idle lifetime lets a session in use expire (under `rolling`, behind a cookie renewed each time).
  if (options.touchAfter !== undefined && typeof cookie === 'object') {
    const idle = typeof cookie.maxAge === 'number' ? cookie.maxAge : (options.ttl ?? DEFAULT_TTL_MS);
    if (options.touchAfter >= idle)
      warnings.push(
        `touchAfter (${options.touchAfter} ms) is not shorter than the session's idle lifetime (${idle} ms): read-only requests would never extend the stored session`,
      );
  }

  return {
    name,
    secrets,
    store,
    resave: options.resave ?? true,
    saveUninitialized: options.saveUninitialized ?? true,
    rolling: options.rolling ?? false,
    unset: options.unset ?? 'keep',
    proxy: options.proxy,
    genid: options.genid,
    cookie,
    cookiePath: typeof cookie === 'object' && cookie.path && cookie.path !== '/' ? cookie.path : null,
    namePrefix: cookiePrefix(name),
    touchAfter: options.touchAfter,
    absoluteTimeout: options.absoluteTimeout,
    ttl: options.ttl ?? DEFAULT_TTL_MS,
    skip: options.skip,
    storeTimeout: options.storeTimeout ?? 5_000,
    onStoreError: options.onStoreError ?? 'fail',
    maxSessionBytes: options.maxSessionBytes ?? 1024 * 1024,
    noStoreWithCookie: options.preset === 'owasp',
    keyring: options.encryption === undefined ? undefined : createKeyring(options.encryption),
    renewAfter: options.renewAfter,
    renewGrace: options.renewGrace ?? DEFAULT_RENEW_GRACE_MS,
    userLimit: resolveUserLimit(options.maxSessionsPerUser, options.onLimit, store),
    binding: resolveBinding(options.binding),
    warnings,
  };
}

/**
 * Checks cookie attributes once, at configuration time (CVE-2024-47764: never let `;` or CR/LF into a
 * Set-Cookie field). Also used for per-request cookie functions' results.
 */
export function validateCookie(name: string, cookie: CookieOptions, warnings: string[]): void {
  const { maxAge, expires, sameSite, secure, priority } = cookie;
  if (maxAge instanceof Date) {
    check(
      Number.isFinite(maxAge.valueOf()),
      'cookie.maxAge',
      'must be a number of milliseconds or a valid Date',
    );
  } else if (maxAge !== undefined && maxAge !== null && maxAge !== false) {
    check(
      typeof maxAge === 'number' && Number.isFinite(maxAge),
      'cookie.maxAge',
      'must be a finite number of milliseconds',
    );
    check((maxAge as number) >= 0, 'cookie.maxAge', 'must not be negative');
    if (maxAge > MAX_COOKIE_AGE_MS) {
      warnings.push('cookie.maxAge is over 400 days; browsers cap it there, so sessionkit does too');
      cookie.maxAge = MAX_COOKIE_AGE_MS;
    }
  }
  if (expires !== undefined && expires !== null && expires !== false) {
    check(
      expires instanceof Date && Number.isFinite(expires.valueOf()),
      'cookie.expires',
      'must be a valid Date',
    );
  }
  // Case-insensitive, as in a Set-Cookie (the cookie is built with them in lower case); null is unset.
  const lower = attributeCase;
  check(
    sameSite === undefined ||
      sameSite === null ||
      [true, false, 'lax', 'strict', 'none', 'auto'].includes(lower(sameSite) as never),
    'cookie.sameSite',
    "must be true, false, 'lax', 'strict', 'none' or 'auto'",
  );
  check(
    secure === undefined || secure === null || typeof secure === 'boolean' || secure === 'auto',
    'cookie.secure',
    "must be a boolean or 'auto'",
  );
  check(
    priority === undefined ||
      priority === null ||
      ['low', 'medium', 'high'].includes(lower(priority) as never),
    'cookie.priority',
    "must be 'low', 'medium' or 'high'",
  );
  // Another type would be written as its string (`Domain=5`) or, for the path, match no request at all.
  for (const text of ['domain', 'path'] as const) {
    const value: unknown = cookie[text];
    check(
      value === undefined || value === null || typeof value === 'string',
      `cookie.${text}`,
      'must be a string',
    );
  }
  // A relative Path is no Path to a browser, which scopes the cookie to the request's directory instead
  // (null or '' mean '/').
  check(
    typeof cookie.path !== 'string' || cookie.path === '' || cookie.path.startsWith('/'),
    'cookie.path',
    'must start with "/"',
  );
  for (const flag of ['httpOnly', 'partitioned'] as const) {
    const value: unknown = cookie[flag];
    check(
      value === undefined || value === null || typeof value === 'boolean',
      `cookie.${flag}`,
      'must be a boolean',
    );
  }
  if (lower(sameSite) === 'none' && secure !== true && secure !== 'auto') {
    warnings.push('cookie.sameSite is "none" without cookie.secure; browsers reject such cookies');
  }
  if (cookie.partitioned === true && secure !== true && secure !== 'auto') {
    warnings.push('cookie.partitioned without cookie.secure; browsers reject such cookies');
  }
  // Browsers match the prefixes in any letter case, and refuse such a cookie without Secure.
  const prefix = cookiePrefix(name);
  if (prefix !== null) {
    check(
      secure === true || secure === 'auto',
      'cookie.secure',
      `must be true or 'auto' with a ${name.slice(0, name.indexOf('-') + 1)} cookie name: browsers refuse it without Secure`,
    );
  }
  if (prefix === 'host') {
    check(cookie.domain === undefined, 'cookie.domain', 'must not be set with a __Host- cookie name');
    check(
      cookie.path === undefined || cookie.path === '/',
      'cookie.path',
      "must be '/' with a __Host- cookie name",
    );
  }
  const overlong = overlongAttribute(cookie);
  check(
    overlong === null,
    `cookie.${overlong}`,
    `must be at most ${MAX_COOKIE_ATTRIBUTE_BYTES} characters: browsers ignore a longer attribute (C27)`,
  );
  try {
    serialize(name, 'x', { domain: cookie.domain, path: cookie.path });
  } catch (error) {
    throw new OptionsError(
      cookie.domain !== undefined ? 'cookie.domain' : 'cookie.path',
      `is invalid: ${(error as Error).message}`,
    );
  }
}

/** The prefix browsers enforce on a cookie name, in any letter case (RFC 6265bis 4.1.3): `__Secure-`, `__Host-`. */
export function cookiePrefix(name: string): 'secure' | 'host' | null {
  const start = name.slice(0, 9).toLowerCase();
  if (start.startsWith('__host-')) return 'host';
  return start === '__secure-' ? 'secure' : null;
}

/** The `binding` option (C33). */
export interface BindingOptions {
  /** Bind to the request's `User-Agent` header. */
  userAgent?: boolean;
  /** Bind to the client's address as the framework resolves it (its proxy trust setting applies). */
  ip?: boolean;
  /** On a change: `'report'` (default) signals and keeps the session; `'end'` signals and ends it. */
  onChange?: BindingAction;
}

export interface ResolvedBinding {
  /** The bound properties, in a fixed order; never empty. */
  properties: readonly BindingProperty[];
  onChange: BindingAction;
}

const BINDING_FIELDS = new Set(['userAgent', 'ip', 'onChange']);

/**
 * Validates `binding` at `session()`. An object that names no property to bind is refused, since it
 * would bind nothing while looking as if it did (`{ onChange: 'end' }`); one that sets each property to
 * `false` (a switch turned off) is no binding.
 */
function resolveBinding(binding: unknown): ResolvedBinding | undefined {
  if (binding === undefined) return undefined;
  check(
    typeof binding === 'object' && binding !== null && !Array.isArray(binding),
    'binding',
    'must be an object: { userAgent?, ip?, onChange? }',
  );
  const given = binding as Record<string, unknown>;
  for (const key of Object.keys(given))
    check(BINDING_FIELDS.has(key), `binding.${key}`, 'is not a binding option (userAgent, ip, onChange)');
  const properties: BindingProperty[] = [];
  for (const property of ['userAgent', 'ip'] as const) {
    const value = given[property];
    check(value === undefined || typeof value === 'boolean', `binding.${property}`, 'must be a boolean');
    if (value === true) properties.push(property);
  }
  const { onChange } = given;
  check(
    onChange === undefined || onChange === 'report' || onChange === 'end',
    'binding.onChange',
    "must be 'report' or 'end'",
  );
  if (properties.length === 0) {
    check(
      given.userAgent === false || given.ip === false,
      'binding',
      'names nothing to bind: set userAgent and/or ip to true (or leave binding out)',
    );
    return undefined;
  }
  return { properties, onChange: (onChange as BindingAction | undefined) ?? 'report' };
}
