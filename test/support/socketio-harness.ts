import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type RequestListener, request } from 'node:http';
import type { Socket as NetSocket } from 'node:net';
import { Server, type ServerOptions } from 'socket.io';
import { io as connectClient, type ManagerOptions, type Socket, type SocketOptions } from 'socket.io-client';

/** A connect-style middleware, as `io.engine.use()` takes it (sessionkit's and express-session's both fit). */
export type EngineMiddleware = (req: IncomingMessage, res: never, next: (err?: unknown) => void) => void;

/**
 * socket.io's documented express-session recipe, on a loopback port: an HTTP app (an Express app, or any
 * request listener) and a socket.io server on the same `node:http` server, with the session middleware
 * mounted on the HTTP app by the caller and on `io.engine` here (`io.engine.use(sessionMiddleware)`).
 */
export interface SocketRig {
  url: string;
  io: Server;
  /** A socket.io client that does not reconnect; closed by `close()` if the test did not. */
  client(options?: Partial<ManagerOptions & SocketOptions>): Socket;
  /** Closes every client, the socket.io server and the HTTP server (cutting any connection left open). */
  close(): Promise<void>;
}

export async function socketRig(
  app: RequestListener,
  middleware: EngineMiddleware | null,
  options: Partial<ServerOptions> = {},
): Promise<SocketRig> {
  const server = createServer(app);
  const io = new Server(server, options);
  if (middleware !== null) io.engine.use(middleware);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  const clients = new Set<Socket>();
  return {
    url,
    io,
    client(clientOptions = {}) {
      // A refused or unanswered handshake fails in 2 s, not socket.io's 20.
      const socket = connectClient(url, {
        reconnection: false,
        forceNew: true,
        timeout: 2_000,
        ...clientOptions,
      });
      clients.add(socket);
      return socket;
    },
    async close() {
      for (const socket of clients) socket.close();
      await new Promise<void>((resolve) => {
        io.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}

/** Resolves once `socket` is connected; rejects with its `connect_error` (the handshake was refused). */
export function connected(socket: Socket): Promise<Socket> {
  return new Promise((resolve, reject) => {
    if (socket.connected) {
      resolve(socket);
      return;
    }
    const onConnect = (): void => {
      socket.off('connect_error', onError);
      resolve(socket);
    };
    const onError = (error: Error): void => {
      socket.off('connect', onConnect);
      reject(error);
    };
    socket.once('connect', onConnect);
    socket.once('connect_error', onError);
  });
}

/** Resolves once a client that began on long-polling has moved to its WebSocket. */
export function upgraded(socket: Socket): Promise<void> {
  const engine = socket.io.engine;
  if (engine.transport.name === 'websocket') return Promise.resolve();
  return new Promise((resolve) => engine.once('upgrade', () => resolve()));
}

/** Resolves with the reason once `socket` is disconnected. */
export function disconnected(socket: Socket): Promise<string> {
  return new Promise((resolve) => {
    if (socket.disconnected && !socket.active) resolve('already');
    else socket.once('disconnect', (reason) => resolve(reason));
  });
}

/** What an engine.io handshake request got back: its status and its Set-Cookie values. */
export interface Handshake {
  status: number;
  cookies: string[];
  /** The upgraded connection of a WebSocket handshake (101), for the caller to close. */
  socket: NetSocket | null;
}

function cookiesOf(header: string | string[] | undefined): string[] {
  if (header === undefined) return [];
  return Array.isArray(header) ? header : [header];
}

/**
 * One raw engine.io handshake, as a browser makes it: a polling GET, or a WebSocket upgrade, with the
 * headers given. The client libraries do not show the upgrade response's headers (a browser does take a
 * Set-Cookie from it), so the request is made by hand. Rejects after `timeoutMs` with no answer.
 */
export function handshake(
  url: string,
  transport: 'polling' | 'websocket',
  extraHeaders: Record<string, string> = {},
  timeoutMs = 2_000,
): Promise<Handshake> {
  const headers: Record<string, string> = { ...extraHeaders };
  if (transport === 'websocket') {
    Object.assign(headers, {
      connection: 'Upgrade',
      upgrade: 'websocket',
      'sec-websocket-key': randomBytes(16).toString('base64'),
      'sec-websocket-version': '13',
    });
  }
  return new Promise((resolve, reject) => {
    const req = request(`${url}/socket.io/?EIO=4&transport=${transport}`, { headers });
    const timer = setTimeout(() => {
      req.destroy();
      reject(new Error(`no answer to the ${transport} handshake within ${timeoutMs} ms`));
    }, timeoutMs);
    req.once('upgrade', (res, socket) => {
      clearTimeout(timer);
      resolve({ status: res.statusCode ?? 0, cookies: cookiesOf(res.headers['set-cookie']), socket });
    });
    req.once('response', (res) => {
      res.resume();
      res.once('end', () => {
        clearTimeout(timer);
        resolve({ status: res.statusCode ?? 0, cookies: cookiesOf(res.headers['set-cookie']), socket: null });
      });
    });
    req.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    req.end();
  });
}
