/**
 * Masking of credentials in anything that may reach a log, a terminal or an error handler. It works on
 * text, not on parsed URLs: the URLs that most need masking are the ones `new URL()` refuses (a typo in
 * the port), and drivers put URLs, or parts of them, in their own error messages.
 */

const MASK = '***';

/**
 * `scheme://user:password@`: the user is kept, everything between the first `:` after it and the last
 * `@` before the end of the token is masked (a password may itself hold `@`, `:` or `/` when it was not
 * percent-encoded). Tokens end at whitespace, quotes, `<`/`>` and backticks.
 */
const USERINFO = /([A-Za-z][A-Za-z0-9+.-]*:\/\/)([^\s"'`<>@/:]*):([^\s"'`<>]*)@/g;
/**
 * A whole URL argument's password, however it is written: everything after the first `:` of what lies
 * between `scheme://` and the last `@`. A password with a quote, `<`, `>`, a backtick or a space, which
 * USERINFO stops at, is found this way when the text is known to be one URL.
 */
const WHOLE_URL_PASSWORD = /^[A-Za-z][A-Za-z0-9+.-]*:\/\/[^:@/]*:(.*)@/s;
/** `password=…` style query parameters (`?password=`, `&sentinelPassword=`, `pass=`, `pwd=`, `token=`), up to `&`. */
const PARAMETER = /([?&;\s](?:[A-Za-z]*[Pp]ass(?:word|wd)?|pwd|secret|token)=)([^\s&"'`<>]+)/g;

/** `text` with every password of a URL in it masked, whether or not the URL parses. */
export function maskCredentials(text: string): string {
  return text
    .replace(USERINFO, (_match, scheme: string, user: string) => `${scheme}${user}:${MASK}@`)
    .replace(PARAMETER, (_match, name: string) => `${name}${MASK}`);
}

/**
 * The passwords a URL string carries, raw and percent-decoded, found the same textual way; a driver may
 * quote a password alone (an authentication error), away from its URL.
 */
export function passwordsIn(url: string): string[] {
  const found = new Set<string>();
  const add = (value: string) => {
    if (value.length < 3) return; // masking "a" everywhere would garble the message and hide nothing
    found.add(value);
    try {
      found.add(decodeURIComponent(value));
    } catch {
      // not valid percent-encoding: the raw form is all there is
    }
  };
  const whole = WHOLE_URL_PASSWORD.exec(url.trim());
  if (whole) add(whole[1] as string);
  for (const match of url.matchAll(USERINFO)) add(match[3] as string);
  for (const match of url.matchAll(PARAMETER)) add(match[2] as string);
  return [...found].sort((a, b) => b.length - a.length);
}

/** `text` with URL credentials masked, and with every literal occurrence of `url`'s passwords too. */
export function maskWith(text: string, url: string | undefined): string {
  let out = maskCredentials(text);
  if (url) for (const password of passwordsIn(url)) out = out.split(password).join(MASK);
  return out;
}

/**
 * Masks credentials in an error's message and stack, and in those of its causes, in place: an error
 * thrown while opening a store from a URL is often logged whole by the application.
 */
export function maskError<E>(error: E, url?: string): E {
  const seen = new Set<unknown>();
  let current: unknown = error;
  while (current instanceof Error && !seen.has(current)) {
    seen.add(current);
    const target = current as Error;
    // `input`: Node's ERR_INVALID_URL carries the URL it could not parse there.
    for (const key of ['message', 'stack', 'input'] as const) {
      const value = (target as Error & { input?: unknown })[key];
      if (typeof value !== 'string') continue;
      const masked = maskWith(value, url);
      if (masked === value) continue;
      try {
        Object.defineProperty(target, key, { value: masked, writable: true, configurable: true });
      } catch {
        // a frozen error: nothing to do but leave it
      }
    }
    if (target instanceof AggregateError) for (const inner of target.errors) maskError(inner, url);
    current = (target as { cause?: unknown }).cause;
  }
  return error;
}
