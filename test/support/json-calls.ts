/** Requests to a JSON test app over HTTP, and the session cookie a browser would hold after them. */

export type Json = Record<string, unknown>;

export interface Reply {
  status: number;
  body: Json;
  /** The `name=value` of each session cookie the response set. */
  cookies: string[];
}

/** One request to `url` + `path`, with `cookie` if given; a body that is not JSON comes back as `{ text }`. */
export async function call(
  app: { url: string },
  method: 'GET' | 'POST',
  path: string,
  cookie?: string,
): Promise<Reply> {
  const res = await fetch(`${app.url}${path}`, { method, headers: cookie ? { cookie } : {} });
  const text = await res.text();
  let body: Json;
  try {
    body = JSON.parse(text) as Json;
  } catch {
    body = { text };
  }
  const cookies = res.headers.getSetCookie().map((header) => header.split(';')[0] as string);
  return { status: res.status, body, cookies };
}

/** The cookie a browser holds after `replies` arrived in this order (the last Set-Cookie wins). */
export function jar(cookie: string, ...replies: Reply[]): string {
  let held = cookie;
  for (const reply of replies) for (const set of reply.cookies) held = set;
  return held;
}
