/**
 * Change detection: what a request did to its session's data, found by comparing the session with a
 * snapshot of what the store holds. Per top-level key, so a write sends only the keys that changed (the
 * delta that keeps concurrent requests from undoing each other); object values compare as JSON, so a
 * nested mutation counts without the application marking anything.
 */
import { isReservedKey } from './auth-time.js';
import { checkDepth, stringifyJson } from './serializer.js';

/** Per data key, what the store holds: a primitive as itself, an object as its JSON. */
export type Snapshot = Map<string, unknown>;

class ObjectSnapshot {
  constructor(readonly json: string) {}
}

function snapshotValue(value: unknown): unknown {
  return value !== null && typeof value === 'object' ? new ObjectSnapshot(stringifyJson(value)) : value;
}

/** What a request changed, from `diff`. */
export interface Changes {
  changed: boolean;
  set: Record<string, unknown>;
  unset: string[];
  /** The JSON of each changed object value, made while comparing. */
  json: Map<string, string> | null;
  /** At least the byte length of the whole data as JSON (each UTF-16 unit is 3 bytes at most, 6 escaped). */
  boundBytes: number;
}

/**
 * The most bytes a top-level primitive takes in JSON. A value JSON cannot hold (BigInt) gets an infinite
 * bound, so the exact check runs and reports it as a typed error.
 */
function primitiveBound(value: unknown): number {
  switch (typeof value) {
    case 'string':
      return 6 * value.length + 2;
    case 'number':
      // The longest a number prints: `-0.0000012345678901234567` (25); exponent forms take 24 at most.
      return 25;
    case 'boolean':
      return 5;
    default:
      return value === null ? 4 : Number.POSITIVE_INFINITY;
  }
}

function isStorable(value: unknown): boolean {
  if (typeof value === 'object') return value === null || !hasNoJson(value);
  return value !== undefined && typeof value !== 'function' && typeof value !== 'symbol';
}

/** An object whose toJSON() gives undefined: JSON.stringify leaves such a member out, and so does the store. */
function hasNoJson(value: object): boolean {
  return (
    typeof (value as { toJSON?: unknown }).toJSON === 'function' &&
    (stringifyJson(value) as string | undefined) === undefined
  );
}

/** What the store holds after it took `data` whole. */
export function takeSnapshot(data: Record<string, unknown>): Snapshot {
  const snapshot = new Map<string, unknown>();
  for (const key of Object.keys(data))
    if (isStorable(data[key]) && !isReservedKey(key)) snapshot.set(key, snapshotValue(data[key]));
  return snapshot;
}

/**
 * The snapshot of every new session: it holds nothing yet. Shared, so never changed in place: a session
 * leaves it only through the manager's `markSaved`, which gives it a snapshot of its own.
 */
export const EMPTY_SNAPSHOT: Snapshot = new Map();

/** Whether `dataOf(session)` would hold anything, without building it. */
export function hasData(session: object): boolean {
  const own = session as Record<string, unknown>;
  for (const key in own) if (Object.hasOwn(own, key) && isData(key, own[key])) return true;
  return false;
}

/** A session property that is data: anything but `cookie` and sessionkit's reserved keys, and only what JSON can hold. */
function isData(key: string, value: unknown): boolean {
  return key !== 'cookie' && !isReservedKey(key) && isStorable(value);
}

/** The session's data: its own enumerable properties but `cookie`, without values JSON cannot hold. */
export function dataOf(session: object): Record<string, unknown> {
  const data: Record<string, unknown> = {};
  for (const key of Object.keys(session)) {
    const value = (session as Record<string, unknown>)[key];
    if (isData(key, value)) data[key] = value;
  }
  return data;
}

/**
 * What changed since load or the last save. Nested mutation counts: object values compare as JSON,
 * and the JSON made for a changed one is kept for the snapshot. Also bounds the data's JSON size.
 */
export function diff(session: object, snapshot: Snapshot): Changes {
  const changes: Changes = { changed: false, set: {}, unset: [], json: null, boundBytes: 2 };
  const own = session as Record<string, unknown>;
  for (const key of Object.keys(session)) {
    if (key === 'cookie' || isReservedKey(key)) continue;
    const value = own[key];
    if (!isStorable(value)) continue;
    const previous = snapshot.get(key);
    if (value !== null && typeof value === 'object') {
      const json = stringifyJson(value);
      changes.boundBytes += 3 * json.length;
      if (!(previous instanceof ObjectSnapshot && previous.json === json)) {
        checkDepth(json, 1);
        changes.json ??= new Map();
        changes.json.set(key, json);
        changes.set[key] = value;
        changes.changed = true;
      }
    } else {
      changes.boundBytes += primitiveBound(value);
      if (previous === undefined || !Object.is(previous, value)) {
        changes.set[key] = value;
        changes.changed = true;
      }
    }
    changes.boundBytes += 6 * key.length + 4;
  }
  for (const key of snapshot.keys()) {
    if (isStorable(own[key]) && Object.hasOwn(own, key)) continue;
    changes.unset.push(key);
    changes.changed = true;
  }
  return changes;
}

/**
 * Brings a snapshot up to date after the store took `changes`: keys the diff found unchanged already
 * hold their saved JSON, so only what was written is re-snapshotted, with the JSON the diff made.
 */
export function recordWritten(snapshot: Snapshot, changes: Changes): void {
  for (const key of Object.keys(changes.set)) {
    const json = changes.json?.get(key);
    snapshot.set(key, json === undefined ? changes.set[key] : new ObjectSnapshot(json));
  }
  for (const key of changes.unset) snapshot.delete(key);
}
