/**
 * Why: requests outside the cookie's Path get no session and no cookie. express-session decides whether
 * a request is inside the Path with `parseurl.original(req).pathname` (Node's url.parse for anything not
 * starting with "/"); two request-target forms Node's HTTP server accepts must be judged the same way:
 * - absolute-form with no path but a query holding a slash, `GET http://host?next=/api HTTP/1.1`:
 *   the pathname is "/", not "/api" from the query, so a `cookie.path: '/api'` session is not created;
 * - asterisk-form, `OPTIONS * HTTP/1.1` (a server-wide OPTIONS probe): no session ("*" does not start
 *   with "/"), so nothing is stored and no cookie set even with saveUninitialized;
 * - an empty `req.url` (a framework or an earlier middleware that cleared it) is "/", as express-session's
 *   own suite checks ("should handle empty req.url"): the session and its cookie as anywhere else.
 */
import http from 'node:http';
import net from 'node:net';
import { describe, expect, it } from 'vitest';
import { type Kind, middleware } from '../support/side-by-side.js';

function rawRequest(port: number, line: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    let data = '';
    socket.setEncoding('latin1');
    socket.on('data', (d) => (data += d));
    socket.on('error', reject);
    socket.on('close', () => resolve(data));
    socket.write(`${line}\r\nhost: example.test\r\nconnection: close\r\n\r\n`);
  });
}

/** Plain node:http, the middleware's documented usage there. */
async function observe(
  kind: Kind,
  path: string,
  line: string,
  rewrite?: (req: http.IncomingMessage) => void,
) {
  const mw = middleware(kind, { saveUninitialized: true, cookie: { path, sameSite: 'lax' } }) as unknown as (
    req: http.IncomingMessage,
    res: http.ServerResponse,
    next: () => void,
  ) => void;
  const server = http.createServer((req, res) => {
    rewrite?.(req);
    mw(req, res, () => res.end((req as unknown as { session?: unknown }).session ? 'session' : 'none'));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  try {
    const answer = await rawRequest((server.address() as net.AddressInfo).port, line);
    // The body, chunked or not, says 'session' or 'none'.
    const body = answer.slice(answer.indexOf('\r\n\r\n') + 4);
    return { session: body.includes('session'), setCookie: /\r\nset-cookie:/i.test(answer) };
  } finally {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  }
}

describe('the cookie Path check on unusual request targets', () => {
  it("absolute-form with a query: 'GET http://example.test?next=/api' is outside Path=/api", async () => {
    const line = 'GET http://example.test?next=/api HTTP/1.1';
    const expected = await observe('express-session', '/api', line);
    expect(expected).toEqual({ session: false, setCookie: false });
    expect(await observe('sessionkit', '/api', line)).toEqual(expected);
  });

  it("asterisk-form: 'OPTIONS *' gets no session", async () => {
    const line = 'OPTIONS * HTTP/1.1';
    const expected = await observe('express-session', '/', line);
    expect(expected).toEqual({ session: false, setCookie: false });
    expect(await observe('sessionkit', '/', line)).toEqual(expected);
  });

  it('an empty req.url is the root: a session and its cookie', async () => {
    const clear = (req: http.IncomingMessage) => {
      req.url = '';
    };
    const line = 'GET /x HTTP/1.1';
    const expected = await observe('express-session', '/', line, clear);
    expect(expected).toEqual({ session: true, setCookie: true });
    expect(await observe('sessionkit', '/', line, clear)).toEqual(expected);
  });
});
