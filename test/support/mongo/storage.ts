import { BSON, type Document, EJSON } from 'bson';
import { badValue, objectTooLarge, ServerError } from './errors.js';

/** The 16 MiB document limit every real server enforces ("MongoDB Limits and Thresholds"). */
export const MAX_BSON_SIZE = 16 * 1024 * 1024;

export interface IndexSpec {
  key: Document;
  name: string;
  expireAfterSeconds?: number;
}

/**
 * One collection: documents kept as BSON bytes (so nothing handed out can alias what is stored, and the
 * size limit is checked on the real encoding), in insertion order, with the `_id` unique index. Each also
 * keeps its decoded form, which only the filters read: a query decodes the documents it returns, not every
 * document it looks at.
 */
export class MemoryCollection {
  private readonly docs = new Map<string, { bytes: Buffer; decoded: Document }>();
  readonly indexes: IndexSpec[] = [{ key: { _id: 1 }, name: '_id_' }];

  /** A copy of every document. */
  all(): Document[] {
    return this.where(() => true);
  }

  /** A copy of each document `accept` takes; `accept` must not change what it is given. */
  where(accept: (doc: Document) => boolean): Document[] {
    const found: Document[] = [];
    for (const { bytes, decoded } of this.docs.values())
      if (accept(decoded)) found.push(BSON.deserialize(bytes));
    return found;
  }

  insert(doc: Document, namespace: string): void {
    if (doc._id === undefined) throw badValue('stand-in: documents reach storage with an _id');
    const key = idKey(doc._id);
    if (this.docs.has(key)) throw duplicateKey(namespace, doc._id);
    this.docs.set(key, stored(doc));
  }

  replace(doc: Document): void {
    this.docs.set(idKey(doc._id), stored(doc));
  }

  remove(id: unknown): boolean {
    return this.docs.delete(idKey(id));
  }
}

function stored(doc: Document): { bytes: Buffer; decoded: Document } {
  const bytes = encode(doc);
  return { bytes, decoded: BSON.deserialize(bytes) };
}

function encode(doc: Document): Buffer {
  const bytes = Buffer.from(BSON.serialize(doc));
  if (bytes.length > MAX_BSON_SIZE) {
    throw objectTooLarge(
      `object to insert too large. size in bytes: ${bytes.length}, max size: ${MAX_BSON_SIZE}`,
    );
  }
  return bytes;
}

/** A Map key equal for `_id` values the server considers equal (numbers of any width compare by value). */
export function idKey(id: unknown): string {
  if (typeof id === 'string') return `s:${id}`;
  if (typeof id === 'number') return `n:${id}`;
  return `x:${EJSON.stringify({ id }, { relaxed: true })}`;
}

export function duplicateKey(namespace: string, id: unknown): ServerError {
  return new ServerError(
    11000,
    'DuplicateKey',
    `E11000 duplicate key error collection: ${namespace} index: _id_ dup key: { _id: ${EJSON.stringify(id)} }`,
  );
}

export class MemoryDatabase {
  readonly collections = new Map<string, MemoryCollection>();

  /** Writes create the collection on first use, as on a real server. */
  collection(name: string): MemoryCollection {
    let collection = this.collections.get(name);
    if (!collection) {
      collection = new MemoryCollection();
      this.collections.set(name, collection);
    }
    return collection;
  }
}
