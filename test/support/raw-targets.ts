/**
 * Why: express-session and sessionkit must make the same session/no-session decision and send the same
 * cookie for any request target Node's HTTP server accepts, however the middleware is mounted. These
 * helpers build either middleware for plain node:http or Express, send raw HTTP/1.1 requests (any
 * request-target, no client-side normalisation) and normalise the Set-Cookie headers for comparison.
 */
import type http from 'node:http';
import net from 'node:net';
import expressSession from 'express-session';
import session, { MemoryStore } from '../../src/index.js';
import { type Kind, SECRET } from './side-by-side.js';

export type Middleware = (
  req: http.IncomingMessage,
  res: http.ServerResponse,
  next: (err?: unknown) => void,
) => void;

/** Builds the middleware; returns the thrown error's message instead when construction throws. */
export function build(kind: Kind, options: Record<string, unknown>): Middleware | { threw: string } {
  try {
    if (kind === 'express-session')
      return expressSession({
        resave: false,
        saveUninitialized: true,
        secret: SECRET,
        store: new expressSession.MemoryStore(),
        ...options,
      } as never) as unknown as Middleware;
    return session({
      resave: false,
      saveUninitialized: true,
      secret: SECRET,
      store: new MemoryStore(),
      logger: { warn() {}, error() {} },
      ...options,
    } as never) as unknown as Middleware;
  } catch (e) {
    return { threw: (e as Error).message };
  }
}

export interface Raw {
  status: number;
  headers: Record<string, string | string[]>;
  body: string;
}

/** Sends a raw HTTP/1.1 request (any request-target) and parses the answer. */
export function raw(
  port: number,
  target: string,
  headers: Record<string, string> = {},
  method = 'GET',
): Promise<Raw> {
  return new Promise((resolve, reject) => {
    const sock = net.connect(port, '127.0.0.1');
    sock.setTimeout(3000, () => sock.destroy());
    let data = '';
    sock.setEncoding('latin1');
    sock.on('data', (d) => (data += d));
    sock.on('error', reject);
    sock.on('close', () => {
      if (!data) return resolve({ status: 0, headers: {}, body: 'no answer' });
      const [head, ...rest] = data.split('\r\n\r\n');
      const lines = (head ?? '').split('\r\n');
      const status = Number((lines[0] ?? '').split(' ')[1]);
      const h: Record<string, string | string[]> = {};
      for (const line of lines.slice(1)) {
        const i = line.indexOf(':');
        const k = line.slice(0, i).toLowerCase();
        const v = line.slice(i + 1).trim();
        if (k === 'set-cookie') h[k] = [...((h[k] as string[] | undefined) ?? []), v];
        else h[k] = v;
      }
      let body = rest.join('\r\n\r\n');
      if (h['transfer-encoding'] === 'chunked') {
        let out = '';
        let s = body;
        for (;;) {
          const nl = s.indexOf('\r\n');
          const n = parseInt(s.slice(0, nl), 16);
          if (!n) break;
          out += s.slice(nl + 2, nl + 2 + n);
          s = s.slice(nl + 2 + n + 2);
        }
        body = out;
      }
      resolve({ status, headers: h, body });
    });
    const hs = Object.entries({ host: 'example.test', connection: 'close', ...headers })
      .map(([k, v]) => `${k}: ${v}\r\n`)
      .join('');
    sock.write(`${method} ${target} HTTP/1.1\r\n${hs}\r\n`);
  });
}

export function setCookies(r: Raw): string[] {
  const v = r.headers['set-cookie'];
  return v === undefined ? [] : Array.isArray(v) ? v : [v];
}

/** A Set-Cookie normalised: value replaced by its shape, attributes lower-cased and sorted, expiry bucketed. */
export function norm(header: string): string {
  const [pair = '', ...attrs] = header.split(';').map((p) => p.trim());
  const eq = pair.indexOf('=');
  const name = pair.slice(0, eq);
  const value = decodeURIComponent(pair.slice(eq + 1));
  const out = [`${name}=${value.startsWith('s:') ? 'signed' : value === '' ? '' : 'other'}`];
  for (const a of attrs) {
    const [k, v] = a.split('=') as [string, string | undefined];
    if (k.toLowerCase() === 'expires') {
      const life = Date.parse(v as string) - Date.now();
      out.push(`expires~${Math.round(life / 60_000)}min`);
    } else out.push(v === undefined ? k.toLowerCase() : `${k.toLowerCase()}=${v.toLowerCase()}`);
  }
  return out.sort().join('; ');
}
