import { createServer, type Socket } from 'node:net';
import type { Document } from 'bson';
import { CommandRouter } from './mongo/commands.js';
import { ServerError } from './mongo/errors.js';
import { encodeReply, parseRequest, type Request, takeMessages, UnsupportedOpCode } from './mongo/wire.js';

/**
 * An in-process MongoDB stand-in for tests on machines without `mongod`: it speaks the wire protocol
 * (OP_MSG, plus the OP_QUERY hello the driver opens each connection with) on a 127.0.0.1 port, and serves
 * exactly the commands the official driver sends for sessionkit's MongoStore and for connect-mongo, over
 * in-memory collections. It is NOT MongoDB: no TTL monitor, no replication, no auth, no other commands.
 * Anything it does not implement gets an error reply and is recorded in `rejected`, so tests can assert
 * that nothing they relied on fell through.
 */
export interface MongoWireServer {
  host: string;
  port: number;
  /** `mongodb://127.0.0.1:<port>` */
  url: string;
  router: CommandRouter;
  /** One line per refused command, field, operator or opcode (the stand-in's gaps that were hit). */
  rejected: string[];
  /** How many times each command name arrived. */
  commandCounts: Map<string, number>;
  close(): Promise<void>;
}

/** Error codes that mean "the stand-in lacks this", as opposed to a legitimate server error. */
const GAP_CODES = new Set([59, 115, 40415]);

export async function startMongoWireServer(): Promise<MongoWireServer> {
  const router = new CommandRouter();
  const rejected: string[] = [];
  const commandCounts = new Map<string, number>();
  const sockets = new Set<Socket>();

  const answer = (request: Request): Document => {
    const name = Object.keys(request.command)[0] ?? '';
    commandCounts.set(name, (commandCounts.get(name) ?? 0) + 1);
    let reply: Document;
    try {
      reply = router.run(request.command);
    } catch (error) {
      reply =
        error instanceof ServerError
          ? { ok: 0, errmsg: error.message, code: error.code, codeName: error.codeName }
          : {
              ok: 0,
              errmsg: `stand-in internal error: ${String(error)}`,
              code: 1,
              codeName: 'InternalError',
            };
      if (!(error instanceof ServerError) || GAP_CODES.has(error.code))
        rejected.push(`${name}: ${reply.errmsg}`);
    }
    for (const writeError of (reply.writeErrors as Document[] | undefined) ?? []) {
      if (GAP_CODES.has(writeError.code as number)) rejected.push(`${name}: ${writeError.errmsg}`);
    }
    return reply;
  };

  const server = createServer((socket) => {
    sockets.add(socket);
    let pending: Buffer = Buffer.alloc(0);
    let awaiting: NodeJS.Timeout | null = null;
    // An awaitable hello (`topologyVersion` + `maxAwaitTimeMS`) is answered when the wait ends, as the
    // topology never changes here; with exhaustAllowed the replies keep coming, flagged moreToCome,
    // until the connection closes. This is the driver's streaming monitor protocol.
    const stream = (request: Request, waitMs: number) => {
      awaiting = setTimeout(() => {
        awaiting = null;
        if (socket.destroyed) return;
        socket.write(encodeReply(request, answer(request), request.exhaustAllowed));
        if (request.exhaustAllowed) stream(request, waitMs);
      }, waitMs);
      awaiting.unref();
    };
    socket.on('data', (chunk) => {
      try {
        const { messages, rest } = takeMessages(Buffer.concat([pending, chunk]));
        pending = rest;
        for (const message of messages) {
          const request = parseRequest(message);
          const waitMs = request.command.maxAwaitTimeMS;
          if (request.command.topologyVersion && typeof waitMs === 'number') {
            stream(request, waitMs);
            continue;
          }
          const reply = answer(request);
          if (!request.moreToCome) socket.write(encodeReply(request, reply));
        }
      } catch (error) {
        // Framing we cannot read (compression, a new opcode) has no reply shape the client would accept.
        const what = error instanceof UnsupportedOpCode ? `opCode ${error.opCode}` : String(error);
        rejected.push(`connection dropped: ${what}`);
        socket.destroy();
      }
    });
    socket.on('error', () => socket.destroy());
    socket.on('close', () => {
      if (awaiting) clearTimeout(awaiting);
      sockets.delete(socket);
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as { port: number };
  return {
    host: '127.0.0.1',
    port,
    url: `mongodb://127.0.0.1:${port}`,
    router,
    rejected,
    commandCounts,
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
