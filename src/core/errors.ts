/**
 * Every error sessionkit raises is a SessionError with a stable `code`; match on the code, never on the
 * message. `status` is the HTTP status an error handler should answer with when the error reaches `next(err)`.
 */
export class SessionError extends Error {
  readonly code: string;
  status: number;
  statusCode: number;
  /**
   * Tells error handlers that read it (Koa, http-errors, Nest, our Hono and SvelteKit adapters) not to show
   * the message to the client: it is written for the operator, and a store's failure is no client's business.
   */
  expose = false;

  constructor(code: string, message: string, options?: { cause?: unknown; status?: number }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.status = options?.status ?? 500;
    this.statusCode = this.status;
  }
}

/**
 * An option passed to `session()` or to a store is missing or invalid. Thrown at construction time, worded
 * as express-session words its own ("genid option must be a function").
 */
export class OptionsError extends SessionError {
  readonly option: string;
  constructor(option: string, message: string) {
    super('ERR_INVALID_OPTION', `sessionkit: ${option} option ${message}`);
    this.option = option;
  }
}

/**
 * No secret to sign with: none given to `session()` and none on the request (`req.secret`, which
 * cookie-parser sets). The wording is express-session's, so handlers that match on it keep working.
 */
export class SecretRequiredError extends SessionError {
  constructor(
    message = 'sessionkit: secret option required for sessions (set `secret`, or cookie-parser with a secret)',
  ) {
    super('ERR_SECRET_REQUIRED', message);
  }
}

/**
 * The store could not be reached, or did not answer within its timeout. Fail closed: 503. `message` is
 * sessionkit's own words; for a driver's error use `fromDriver`.
 */
export class StoreUnavailableError extends SessionError {
  readonly operation: string;
  constructor(operation: string, message: string, cause?: unknown) {
    super('ERR_STORE_UNAVAILABLE', `sessionkit: store unavailable during ${operation}: ${message}`, {
      cause,
      status: 503,
    });
    this.operation = operation;
  }

  /**
   * A driver's connection failure, named by class and code only (`Error ECONNREFUSED`), with the driver's
   * error as the `cause` for the application's own logs. A connection error's message names the host and
   * port it tried (`connect ECONNREFUSED 10.0.3.7:6379`), and this message reaches error pages (Fastify's
   * default reply puts it in the body whatever the status), diagnostics subscribers and traces.
   */
  static fromDriver(operation: string, error: unknown): StoreUnavailableError {
    return new StoreUnavailableError(operation, labelOf(error), error);
  }
}

/** A store call that did not settle within `storeTimeout`. Its outcome is unknown. */
export class StoreTimeoutError extends StoreUnavailableError {
  readonly timeoutMs: number;
  constructor(operation: string, timeoutMs: number) {
    super(operation, `no answer within ${timeoutMs} ms`);
    this.timeoutMs = timeoutMs;
  }
}

/**
 * The store answered, but with an error that is not about reachability (a bug, a constraint, bad SQL).
 * `cause` is the driver's error, for the application's own logs. The message names it by class and code
 * only (`DatabaseError 23514`): a driver's message may quote the values it was sent, which are the
 * session's data (a trigger's RAISE or SIGNAL text, MySQL's duplicate entry, PostgreSQL's invalid input
 * for a type), and this message reaches diagnostics subscribers, framework error pages and Fastify's
 * default reply. `reason` replaces the label with sessionkit's own words when there is no driver error.
 */
export class StoreError extends SessionError {
  constructor(operation: string, cause: unknown, reason = labelOf(cause)) {
    super('ERR_STORE', `sessionkit: store failed during ${operation}: ${reason}`, { cause, status: 500 });
  }
}

/** A stored record could not be decoded. Treated as no session; reported, never thrown at the request. */
export class CorruptSessionError extends SessionError {
  constructor(reason: string, cause?: unknown) {
    super('ERR_SESSION_CORRUPT', `sessionkit: stored session is corrupt: ${reason}`, { cause });
  }
}

/** The session data would serialize past `maxSessionBytes`. */
export class SessionTooLargeError extends SessionError {
  readonly bytes: number;
  readonly limit: number;
  constructor(bytes: number, limit: number) {
    super(
      'ERR_SESSION_TOO_LARGE',
      `sessionkit: session data is ${bytes} bytes, over the ${limit} byte limit`,
    );
    this.bytes = bytes;
    this.limit = limit;
  }
}

/**
 * A store method got an argument of the wrong type: a session ID, handle, user ID or cursor that is not a
 * string, or a record or delta of the wrong shape. JavaScript callers have no compiler, and a query
 * object smuggled in from a request body (`{ $ne: null }`) must never reach a database as a filter.
 */
export class InvalidArgumentError extends SessionError {
  readonly argument: string;
  constructor(operation: string, argument: string, expected: string) {
    super('ERR_INVALID_ARGUMENT', `sessionkit: ${operation}(): \`${argument}\` must be ${expected}`);
    this.argument = argument;
  }
}

/**
 * A user ID the store cannot hold exactly as given (too long for its column, a NUL on PostgreSQL, text
 * that is not well-formed Unicode). Refused before anything is changed; the message never repeats the ID.
 */
export class InvalidUserIdError extends SessionError {
  constructor(reason: string) {
    super('ERR_INVALID_USER', `sessionkit: the user ID cannot be stored: ${reason}`);
  }
}

/** The session data holds a value JSON cannot represent (BigInt, a cycle, …). */
export class SessionDataError extends SessionError {
  constructor(message: string, cause?: unknown) {
    super('ERR_SESSION_DATA', `sessionkit: session data cannot be stored: ${message}`, { cause });
  }
}

/**
 * `reload()` or `save()` on a session the store no longer has. `reload`'s message is express-session's own
 * ("failed to load session"), which applications show or match.
 */
export class SessionNotFoundError extends SessionError {
  constructor(operation: string) {
    super(
      'ERR_SESSION_NOT_FOUND',
      operation === 'reload'
        ? 'failed to load session'
        : `sessionkit: ${operation}: the session no longer exists in the store`,
      { status: 500 },
    );
  }
}

/** A record handed to a store's `create`/`set` that is not a session record (no `cookie` object, no times). */
export class InvalidRecordError extends SessionError {
  constructor(operation: string, reason: string) {
    super('ERR_INVALID_RECORD', `sessionkit: ${operation}() needs a session record: ${reason}`);
  }
}

/**
 * `login()` under `maxSessionsPerUser` with `onLimit: 'refuse'`: the user already has that many live
 * sessions. Nothing changed: the session the request came with is as it was. 409: the login conflicts
 * with the user's other sessions, not with their credentials.
 */
export class SessionLimitError extends SessionError {
  readonly limit: number;
  constructor(limit: number) {
    super(
      'ERR_SESSION_LIMIT',
      `sessionkit: the user already has ${limit} live session${limit === 1 ? '' : 's'} (maxSessionsPerUser)`,
      { status: 409 },
    );
    this.limit = limit;
  }
}

/** The store does not implement an optional method of the contract. */
export class NotSupportedError extends SessionError {
  constructor(method: string) {
    super('ERR_NOT_SUPPORTED', `sessionkit: this store does not support ${method}()`);
  }
}

/** A store URL given to `createStore()` or the CLI that cannot be used. */
export class StoreUrlError extends SessionError {
  constructor(message: string) {
    super('ERR_STORE_URL', `sessionkit: ${message}`);
  }
}

/** An error's class and code, never its message: `DatabaseError 23514`, `SqliteError SQLITE_CONSTRAINT`. */
function labelOf(error: unknown): string {
  if (!(error instanceof Error)) return error === null ? 'null' : typeof error;
  const named = error.constructor?.name;
  const name = typeof named === 'string' && named !== '' ? named : 'Error';
  const { code } = error as { code?: unknown };
  // A code is a short token by convention; anything else is left out rather than trusted.
  const shown =
    (typeof code === 'string' && /^[\w.-]{1,64}$/.test(code)) ||
    (typeof code === 'number' && Number.isFinite(code))
      ? ` ${code}`
      : '';
  return `${name}${shown}`;
}

export function describe(error: unknown): string {
  if (error instanceof Error) return error.message || error.name;
  return String(error);
}
