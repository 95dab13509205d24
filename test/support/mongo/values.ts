import { BSON, type Document } from 'bson';
import { notImplemented } from './errors.js';

/**
 * BSON value ordering as MongoDB defines it ("Comparison/Sort Order"): MinKey < null < numbers < strings <
 * objects < arrays < binary < ObjectId < booleans < dates < timestamps < regex < MaxKey. Only the types a
 * session store can hold are ranked; anything else is refused rather than compared wrongly.
 */
export function typeRank(value: unknown): number {
  if (value === null || value === undefined) return 1;
  if (typeof value === 'number' || typeof value === 'bigint') return 2;
  if (typeof value === 'string') return 3;
  if (Array.isArray(value)) return 5;
  if (value instanceof Uint8Array) return 6;
  if (typeof value === 'boolean') return 8;
  if (value instanceof Date) return 9;
  const bsonType = bsonTypeOf(value);
  if (bsonType === 'Long' || bsonType === 'Int32' || bsonType === 'Double' || bsonType === 'Decimal128')
    return 2;
  if (bsonType === 'Binary') return 6;
  if (bsonType === 'ObjectId') return 7;
  if (bsonType) throw notImplemented(`comparison of BSON ${bsonType} values`);
  if (isPlainObject(value)) return 4;
  throw notImplemented(`comparison of ${Object.prototype.toString.call(value)} values`);
}

export function bsonTypeOf(value: unknown): string | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const tag = (value as { _bsontype?: unknown })._bsontype;
  return typeof tag === 'string' ? tag : undefined;
}

export function isPlainObject(value: unknown): value is Document {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  if (bsonTypeOf(value) !== undefined) return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

function toNumber(value: unknown): number {
  if (typeof value === 'number') return value;
  if (typeof value === 'bigint') return Number(value);
  return Number((value as { valueOf(): unknown }).valueOf?.() ?? Number.NaN);
}

/** Negative, zero or positive, as MongoDB orders the two values (simple binary collation for strings). */
export function compareValues(a: unknown, b: unknown): number {
  const rankA = typeRank(a);
  const rankB = typeRank(b);
  if (rankA !== rankB) return rankA - rankB;
  switch (rankA) {
    case 1:
      return 0;
    case 2:
      return Math.sign(toNumber(a) - toNumber(b));
    case 3:
      return Buffer.compare(Buffer.from(a as string, 'utf8'), Buffer.from(b as string, 'utf8'));
    case 4:
      return compareObjects(a as Document, b as Document);
    case 5:
      return compareArrays(a as unknown[], b as unknown[]);
    case 6:
      return Buffer.compare(Buffer.from(bytesOf(a)), Buffer.from(bytesOf(b)));
    case 7:
      return String(a).localeCompare(String(b));
    case 8:
      return Number(a) - Number(b);
    case 9:
      return Math.sign((a as Date).getTime() - (b as Date).getTime());
    default:
      return 0;
  }
}

function bytesOf(value: unknown): Uint8Array {
  if (value instanceof Uint8Array) return value;
  return (value as { buffer: Uint8Array }).buffer;
}

function compareObjects(a: Document, b: Document): number {
  const keysA = Object.keys(a);
  const keysB = Object.keys(b);
  for (let i = 0; i < Math.min(keysA.length, keysB.length); i++) {
    const byValueType = typeRank(a[keysA[i] as string]) - typeRank(b[keysB[i] as string]);
    if (byValueType !== 0) return byValueType;
    const byName = Buffer.compare(Buffer.from(keysA[i] as string), Buffer.from(keysB[i] as string));
    if (byName !== 0) return byName;
    const byValue = compareValues(a[keysA[i] as string], b[keysB[i] as string]);
    if (byValue !== 0) return byValue;
  }
  return keysA.length - keysB.length;
}

function compareArrays(a: unknown[], b: unknown[]): number {
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    const order = compareValues(a[i], b[i]);
    if (order !== 0) return order;
  }
  return a.length - b.length;
}

export function valuesEqual(a: unknown, b: unknown): boolean {
  return compareValues(a, b) === 0;
}

/** A deep copy through BSON, so what the stand-in holds can never be mutated by what it returned. */
export function cloneDocument(doc: Document): Document {
  return BSON.deserialize(BSON.serialize(doc));
}

/** Reads a dotted path; array elements are reachable by numeric index only (the store never needs more). */
export function getPath(doc: Document, path: string): unknown {
  let current: unknown = doc;
  for (const part of path.split('.')) {
    if (Array.isArray(current)) {
      if (!/^\d+$/.test(part)) throw notImplemented(`query paths that traverse arrays ('${path}')`);
      current = current[Number(part)];
    } else if (isPlainObject(current)) {
      current = Object.hasOwn(current, part) ? current[part] : undefined;
    } else {
      return undefined;
    }
  }
  return current;
}
