import { BSON, type Document } from 'bson';

/**
 * MongoDB wire-protocol framing for the test stand-in: OP_MSG both ways, OP_QUERY in / OP_REPLY out for
 * the legacy handshake the driver opens each connection with. Layouts from MongoDB's "Wire Protocol" page.
 */
export const OP_REPLY = 1;
export const OP_QUERY = 2004;
export const OP_COMPRESSED = 2012;
export const OP_MSG = 2013;

const CHECKSUM_PRESENT = 1 << 0;
const MORE_TO_COME = 1 << 1;
const EXHAUST_ALLOWED = 1 << 16;
const HEADER_BYTES = 16;

export interface Request {
  requestId: number;
  opCode: number;
  /** The command document, with OP_MSG document-sequence sections folded in under their identifiers. */
  command: Document;
  /** OP_QUERY's full collection name (`admin.$cmd`); `undefined` for OP_MSG. */
  namespace?: string;
  /** The client asked for no reply (w:0 writes). */
  moreToCome: boolean;
  /** The client accepts a stream of replies to this one request (the monitor's awaitable hello). */
  exhaustAllowed: boolean;
}

/** Splits complete messages off the front of `buffer`; returns them and the unconsumed rest. */
export function takeMessages(buffer: Buffer): { messages: Buffer[]; rest: Buffer } {
  const messages: Buffer[] = [];
  let offset = 0;
  while (buffer.length - offset >= 4) {
    const length = buffer.readInt32LE(offset);
    if (length < HEADER_BYTES) throw new Error(`stand-in: message length ${length} is below the header size`);
    if (buffer.length - offset < length) break;
    messages.push(buffer.subarray(offset, offset + length));
    offset += length;
  }
  return { messages, rest: buffer.subarray(offset) };
}

// Commands arrive exactly as the driver encoded them; Int64 stays a Long only where a number cannot hold it.
const DESERIALIZE = { promoteLongs: true, promoteValues: true } as const;

export function parseRequest(message: Buffer): Request {
  const requestId = message.readInt32LE(4);
  const opCode = message.readInt32LE(12);
  if (opCode === OP_MSG) return parseOpMsg(message, requestId);
  if (opCode === OP_QUERY) return parseOpQuery(message, requestId);
  throw new UnsupportedOpCode(opCode, requestId);
}

export class UnsupportedOpCode extends Error {
  constructor(
    readonly opCode: number,
    readonly requestId: number,
  ) {
    super(`stand-in: unsupported wire opCode ${opCode} (only OP_MSG and the OP_QUERY handshake are served)`);
  }
}

function parseOpMsg(message: Buffer, requestId: number): Request {
  const flags = message.readUInt32LE(HEADER_BYTES);
  const end = flags & CHECKSUM_PRESENT ? message.length - 4 : message.length;
  let offset = HEADER_BYTES + 4;
  let body: Document | null = null;
  const sequences: Record<string, Document[]> = {};
  while (offset < end) {
    const kind = message.readUInt8(offset);
    offset += 1;
    if (kind === 0) {
      const size = message.readInt32LE(offset);
      body = BSON.deserialize(message.subarray(offset, offset + size), DESERIALIZE);
      offset += size;
    } else if (kind === 1) {
      const size = message.readInt32LE(offset);
      const sectionEnd = offset + size;
      const nameEnd = message.indexOf(0, offset + 4);
      const identifier = message.toString('utf8', offset + 4, nameEnd);
      let cursor = nameEnd + 1;
      const docs: Document[] = [];
      while (cursor < sectionEnd) {
        const docSize = message.readInt32LE(cursor);
        docs.push(BSON.deserialize(message.subarray(cursor, cursor + docSize), DESERIALIZE));
        cursor += docSize;
      }
      sequences[identifier] = docs;
      offset = sectionEnd;
    } else {
      throw new Error(`stand-in: unknown OP_MSG section kind ${kind}`);
    }
  }
  if (!body) throw new Error('stand-in: OP_MSG without a body section');
  return {
    requestId,
    opCode: OP_MSG,
    command: { ...body, ...sequences },
    moreToCome: !!(flags & MORE_TO_COME),
    exhaustAllowed: !!(flags & EXHAUST_ALLOWED),
  };
}

function parseOpQuery(message: Buffer, requestId: number): Request {
  let offset = HEADER_BYTES + 4; // flags
  const nameEnd = message.indexOf(0, offset);
  const namespace = message.toString('utf8', offset, nameEnd);
  offset = nameEnd + 1 + 8; // numberToSkip, numberToReturn
  const size = message.readInt32LE(offset);
  const query = BSON.deserialize(message.subarray(offset, offset + size), DESERIALIZE);
  // Drivers may wrap the command as { $query: cmd, $readPreference }.
  const command = (query.$query as Document | undefined) ?? query;
  return { requestId, opCode: OP_QUERY, command, namespace, moreToCome: false, exhaustAllowed: false };
}

let nextResponseId = 1;

function header(length: number, responseTo: number, opCode: number): Buffer {
  const head = Buffer.alloc(HEADER_BYTES);
  head.writeInt32LE(length, 0);
  head.writeInt32LE(nextResponseId++, 4);
  head.writeInt32LE(responseTo, 8);
  head.writeInt32LE(opCode, 12);
  return head;
}

/** The reply to a request, in the opcode family it came in. */
export function encodeReply(
  request: Pick<Request, 'requestId' | 'opCode'>,
  reply: Document,
  moreToCome = false,
): Buffer {
  const body = Buffer.from(BSON.serialize(reply));
  if (request.opCode === OP_QUERY) {
    const fields = Buffer.alloc(20); // responseFlags, cursorID (8), startingFrom, numberReturned
    fields.writeInt32LE(1, 16);
    return Buffer.concat([
      header(HEADER_BYTES + 20 + body.length, request.requestId, OP_REPLY),
      fields,
      body,
    ]);
  }
  const flagsAndKind = Buffer.alloc(5); // flagBits, then section kind 0
  if (moreToCome) flagsAndKind.writeUInt32LE(MORE_TO_COME, 0);
  return Buffer.concat([
    header(HEADER_BYTES + 5 + body.length, request.requestId, OP_MSG),
    flagsAndKind,
    body,
  ]);
}
