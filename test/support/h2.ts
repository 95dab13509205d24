/**
 * An HTTPS server on `node:http2`'s compatibility API that also takes HTTP/1.1 (`allowHTTP1`), as
 * applications deploy it, and clients for both protocols, for tests of what a handler's response does.
 */
import { once } from 'node:events';
import {
  type ClientHttp2Session,
  connect,
  createSecureServer,
  type Http2SecureServer,
  type Http2ServerRequest,
  type Http2ServerResponse,
  type IncomingHttpHeaders,
  type OutgoingHttpHeaders,
  type ServerHttp2Session,
} from 'node:http2';
import { request as httpsRequest } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { TEST_TLS } from './tls.js';

export interface H2Served {
  server: Http2SecureServer;
  port: number;
  close(): Promise<void>;
}

export type H2Handler = (req: Http2ServerRequest, res: Http2ServerResponse) => void;

export async function serveH2(handler: H2Handler): Promise<H2Served> {
  const server = createSecureServer({ ...TEST_TLS, allowHTTP1: true }, handler);
  const sessions = new Set<ServerHttp2Session>();
  server.on('session', (session) => {
    sessions.add(session);
    session.on('close', () => sessions.delete(session));
  });
  const sockets = new Set<Socket>();
  server.on('secureConnection', (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    server,
    port: (server.address() as AddressInfo).port,
    close: async () => {
      for (const session of sessions) session.destroy();
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

export function h2client(port: number): ClientHttp2Session {
  const client = connect(`https://127.0.0.1:${port}`, { rejectUnauthorized: false });
  client.on('error', () => undefined);
  return client;
}

export interface H2Answer {
  status: number;
  cookies: string[];
  body: string;
  /** The stream was reset or failed before its end. */
  error: boolean;
}

/** One request on an HTTP/2 connection; resolves when its stream closes, whatever happened to it. */
export function ask(client: ClientHttp2Session, headers: OutgoingHttpHeaders): Promise<H2Answer> {
  return new Promise((resolve) => {
    const stream = client.request({ ':path': '/', ...headers });
    const answer: H2Answer = { status: 0, cookies: [], body: '', error: false };
    stream.on('response', (response: IncomingHttpHeaders) => {
      answer.status = Number(response[':status']);
      answer.cookies = (response['set-cookie'] as string[] | undefined) ?? [];
    });
    stream.setEncoding('utf8');
    stream.on('data', (chunk: string) => {
      answer.body += chunk;
    });
    stream.on('error', () => {
      answer.error = true;
    });
    stream.on('close', () => {
      if (stream.rstCode !== 0) answer.error = true;
      resolve(answer);
    });
    stream.end();
  });
}

/** One HTTP/1.1 request to the same server. */
export function h1get(
  port: number,
  path: string,
  cookie?: string,
): Promise<{ status: number; cookies: string[]; body: string }> {
  return new Promise((resolve, reject) => {
    const request = httpsRequest(
      {
        host: '127.0.0.1',
        port,
        path,
        agent: false,
        rejectUnauthorized: false,
        headers: cookie ? { cookie } : {},
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          body += chunk;
        });
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, cookies: res.headers['set-cookie'] ?? [], body }),
        );
      },
    );
    request.on('error', reject);
    request.end();
  });
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
