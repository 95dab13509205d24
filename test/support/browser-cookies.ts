/**
 * Shared by the test/security/cookie-*.test.ts files: what a browser does with a Set-Cookie (RFC 6265bis,
 * Chrome/Firefox), and one app per framework (Express 5, Fastify 5, Hono) through the adapter harnesses
 * of test/adapters.
 */
import type { AdapterHarness, SuiteOptions, SuiteRoute } from '../../src/testing/index.js';
import { expressHarnesses, fastifyHarness, honoHarness } from '../adapters/harnesses.js';

export const SECRET = 'cookie-rules-secret-of-at-least-32-characters';

export const FRAMEWORKS: AdapterHarness[] = [
  expressHarnesses.find((h) => h.name.includes('5')) ?? (expressHarnesses[0] as AdapterHarness),
  fastifyHarness('Fastify 5', () => import('fastify')),
  honoHarness,
];

export interface Parsed {
  name: string;
  value: string;
  attributes: Map<string, string | true>;
}

/** A Set-Cookie split into name, value and attributes (names lower-cased, last one wins, as browsers). */
export function parseSetCookie(header: string): Parsed {
  const [pair = '', ...rest] = header.split(';');
  const eq = pair.indexOf('=');
  const attributes = new Map<string, string | true>();
  for (const part of rest) {
    const at = part.indexOf('=');
    const key = (at === -1 ? part : part.slice(0, at)).trim().toLowerCase();
    attributes.set(key, at === -1 ? true : part.slice(at + 1).trim());
  }
  return { name: pair.slice(0, eq).trim(), value: pair.slice(eq + 1).trim(), attributes };
}

/** RFC 6265bis 5.1.4 default-path of a request path. */
export function defaultPath(requestPath: string): string {
  if (!requestPath.startsWith('/')) return '/';
  const last = requestPath.lastIndexOf('/');
  return last <= 0 ? '/' : requestPath.slice(0, last);
}

/** RFC 6265bis 5.6.4: the cookie-path a browser stores for `header` set on a response to `requestPath`. */
export function storedPath(header: string, requestPath: string): string {
  const path = parseSetCookie(header).attributes.get('path');
  if (typeof path !== 'string' || path === '' || !path.startsWith('/')) return defaultPath(requestPath);
  return path;
}

/**
 * Why a browser would refuse to store this Set-Cookie, or `null` when it stores it: the cookie prefixes
 * (RFC 6265bis 4.1.3, matched case-insensitively by current drafts, Chrome and Firefox), SameSite=None
 * without Secure (Chrome, Firefox with the SameSite-by-default rules) and CHIPS's Partitioned without Secure.
 */
export function browserRejects(header: string): string | null {
  const { name, attributes } = parseSetCookie(header);
  const secure = attributes.has('secure');
  const lower = name.toLowerCase();
  if ((lower.startsWith('__secure-') || lower.startsWith('__host-')) && !secure)
    return `${name} without Secure`;
  if (lower.startsWith('__host-')) {
    if (attributes.has('domain')) return `${name} with a Domain`;
    if (attributes.get('path') !== '/') return `${name} without Path=/`;
  }
  const sameSite = attributes.get('samesite');
  if (typeof sameSite === 'string' && sameSite.toLowerCase() === 'none' && !secure)
    return 'SameSite=None without Secure';
  if (attributes.has('partitioned') && !secure) return 'Partitioned without Secure';
  return null;
}

export const HTTPS = { 'x-forwarded-proto': 'https' };

/** An app of `harness` with `options` (MemoryStore given by the caller), warnings collected. */
export async function appOf(
  harness: AdapterHarness,
  options: SuiteOptions,
  routes: Record<string, SuiteRoute>,
  warnings: string[] = [],
) {
  return harness.create(
    {
      secret: SECRET,
      resave: false,
      saveUninitialized: false,
      logger: { warn: (m: string) => warnings.push(m), error() {} },
      ...options,
    },
    routes,
    { trustProxy: true },
  );
}

/** The `name=value` pair of the first Set-Cookie. */
export const pairOf = (setCookie: string[]) => setCookie[0]?.split(';')[0] ?? '';
