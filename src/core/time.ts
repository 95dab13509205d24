/** The last instant (epoch ms) a JavaScript Date can hold. */
export const MAX_DATE = 8.64e15;

/** The longest delay Node's timers keep: a longer one fires after 1 ms (with a TimeoutOverflowWarning). */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/** Epoch ms of 9999-12-31T23:59:59.999Z: up to here an ISO date is `YYYY-MM-DDTHH:mm:ss.sssZ`. */
const LAST_FOUR_DIGIT_YEAR = 253_402_300_799_999;

/**
 * The longest span (ms) from now to a deadline sessionkit stores (`ttl`, a renewal's marker): every store
 * holds a deadline within a Date's range, and from any moment up to the end of the year 9999 now + this
 * is still within it. About 265,000 years, so only values meant as "never" are refused, and a bound that
 * does not depend on today's clock accepts the same options tomorrow.
 */
export const MAX_SPAN_MS = MAX_DATE - LAST_FOUR_DIGIT_YEAR;

let cachedSecond = Number.NaN;
let cachedPrefix = '';

/**
 * `new Date(ms).toISOString()`, without a Date per call for times in the same second as the last one
 * (a store writing `now + maxAge` over and over, or restoring the expiry of sessions written together).
 * Throws the same RangeError for a time no Date can hold.
 */
export function isoString(ms: number): string {
  if (!(ms >= 0 && ms <= LAST_FOUR_DIGIT_YEAR) || !Number.isInteger(ms)) return new Date(ms).toISOString();
  const second = Math.floor(ms / 1000);
  if (second !== cachedSecond) {
    // "YYYY-MM-DDTHH:mm:ss." of this second.
    cachedPrefix = new Date(second * 1000).toISOString().slice(0, 20);
    cachedSecond = second;
  }
  const millis = ms - second * 1000;
  return `${cachedPrefix}${millis < 10 ? '00' : millis < 100 ? '0' : ''}${millis}Z`;
}

let cachedUtcSecond = Number.NaN;
let cachedUtc = '';

/**
 * `new Date(ms).toUTCString()` (a cookie's Expires), which has no milliseconds: every time in the same
 * second as the last one gives the same text, so only a new second formats a date.
 */
export function utcString(ms: number): string {
  if (!(ms >= 0 && ms <= LAST_FOUR_DIGIT_YEAR)) return new Date(ms).toUTCString();
  const second = Math.floor(ms / 1000);
  if (second !== cachedUtcSecond) {
    cachedUtc = new Date(second * 1000).toUTCString();
    cachedUtcSecond = second;
  }
  return cachedUtc;
}
