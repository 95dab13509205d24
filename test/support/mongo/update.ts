import { type Document, EJSON, ObjectId } from 'bson';
import {
  conflictingUpdate,
  dollarPrefixed,
  emptyFieldName,
  immutableField,
  notImplemented,
  pathNotViable,
  typeMismatch,
} from './errors.js';
import { isOperatorObject } from './match.js';
import { cloneDocument, isPlainObject, valuesEqual } from './values.js';

const OPERATORS = new Set(['$set', '$unset', '$inc', '$setOnInsert']);

/**
 * Applies an update document (`$set $unset $inc $setOnInsert`) or a replacement document to a copy of
 * `doc`, with the server's rules for conflicting paths, `_id` immutability and paths through non-objects.
 */
export function applyUpdate(doc: Document, update: Document, inserting: boolean): Document {
  const keys = Object.keys(update);
  if (!keys.some((key) => key.startsWith('$'))) return replaceDocument(doc, update);
  const next = cloneDocument(doc);
  const seen: string[] = [];
  for (const op of keys) {
    if (!OPERATORS.has(op)) throw notImplemented(`update operator ${op}`);
    const fields = update[op] as Document;
    for (const path of Object.keys(fields)) {
      checkPath(path);
      const clash = seen.find((other) => other === path || isPrefix(other, path) || isPrefix(path, other));
      if (clash !== undefined) {
        throw conflictingUpdate(
          `Updating the path '${path}' would create a conflict at '${shorter(path, clash)}'`,
        );
      }
      seen.push(path);
    }
  }
  // Since 5.0 the server applies each operator's fields in lexicographic order ("Update Operators").
  for (const op of keys) {
    const fields = update[op] as Document;
    for (const path of Object.keys(fields).sort()) {
      const value = fields[path];
      if (path === '_id' && op !== '$setOnInsert' && !valuesEqual(next._id, value)) {
        throw immutableField("Performing an update on the path '_id' would modify the immutable field '_id'");
      }
      if (op === '$set') setPath(next, path, value);
      else if (op === '$setOnInsert') {
        if (inserting) setPath(next, path, value);
      } else if (op === '$unset') unsetPath(next, path);
      else incPath(next, path, value);
    }
  }
  return next;
}

function replaceDocument(doc: Document, replacement: Document): Document {
  if (replacement._id !== undefined && doc._id !== undefined && !valuesEqual(replacement._id, doc._id)) {
    throw immutableField(
      "After applying the update, the (immutable) field '_id' was found to have been altered",
    );
  }
  const { _id: _ignored, ...rest } = replacement;
  return cloneDocument({ _id: doc._id ?? replacement._id, ...rest });
}

/** The document an upsert starts from: the filter's equality conditions (`_id` first), as the server does. */
export function upsertSeed(filter: Document, update: Document): Document {
  const seed: Document = {};
  const isReplacement = !Object.keys(update).some((key) => key.startsWith('$'));
  collectEqualities(filter, seed, isReplacement);
  if (isReplacement && update._id !== undefined) seed._id = update._id;
  if (seed._id === undefined) seed._id = new ObjectId();
  const { _id, ...rest } = seed;
  return { _id, ...rest };
}

function collectEqualities(filter: Document, seed: Document, idOnly: boolean): void {
  for (const [key, condition] of Object.entries(filter)) {
    if (key === '$and') {
      for (const clause of condition as Document[]) collectEqualities(clause, seed, idOnly);
      continue;
    }
    if (key.startsWith('$') || (idOnly && key !== '_id')) continue;
    if (!isOperatorObject(condition)) setPath(seed, key, condition);
    else if (Object.hasOwn(condition, '$eq')) setPath(seed, key, condition.$eq);
  }
}

function isPrefix(prefix: string, path: string): boolean {
  return path.startsWith(`${prefix}.`);
}

function shorter(a: string, b: string): string {
  return a.length <= b.length ? a : b;
}

function checkPath(path: string): void {
  for (const part of path.split('.')) {
    if (part === '')
      throw emptyFieldName(`The update path '${path}' contains an empty field name, which is not allowed.`);
    if (part.startsWith('$')) {
      throw dollarPrefixed(
        `The dollar ($) prefixed field '${part}' in '${path}' is not allowed in an update path`,
      );
    }
  }
}

function describeElement(name: string, value: unknown): string {
  return `{${name}: ${EJSON.stringify(value, { relaxed: true })}}`;
}

/** Walks to the parent of the last path part, creating objects on the way when `create` is set. */
function parentOf(
  doc: Document,
  path: string,
  create: boolean,
): { parent: Document | unknown[]; last: string } | null {
  const parts = path.split('.');
  let current: Document | unknown[] = doc;
  for (let i = 0; i < parts.length - 1; i++) {
    const part = parts[i] as string;
    const child: unknown = Array.isArray(current) ? current[Number(part)] : current[part];
    if (child === undefined || child === null) {
      if (!create) return null;
      if (child === null)
        throw pathNotViable(
          `Cannot create field '${parts[i + 1]}' in element ${describeElement(part, child)}`,
        );
      const fresh: Document = {};
      if (Array.isArray(current)) throw notImplemented(`update paths into arrays ('${path}')`);
      current[part] = fresh;
      current = fresh;
    } else if (isPlainObject(child)) {
      current = child;
    } else if (Array.isArray(child) && /^\d+$/.test(parts[i + 1] as string)) {
      current = child;
    } else {
      if (!create) return null;
      throw pathNotViable(`Cannot create field '${parts[i + 1]}' in element ${describeElement(part, child)}`);
    }
  }
  return { parent: current, last: parts[parts.length - 1] as string };
}

function setPath(doc: Document, path: string, value: unknown): void {
  const found = parentOf(doc, path, true);
  if (!found) return;
  if (Array.isArray(found.parent)) found.parent[Number(found.last)] = value;
  else found.parent[found.last] = value;
}

function unsetPath(doc: Document, path: string): void {
  const found = parentOf(doc, path, false);
  if (!found) return;
  // $unset on an array element leaves null in its place ("$unset" docs).
  if (Array.isArray(found.parent)) {
    if (Number(found.last) < found.parent.length) found.parent[Number(found.last)] = null;
  } else {
    delete found.parent[found.last];
  }
}

function incPath(doc: Document, path: string, amount: unknown): void {
  if (typeof amount !== 'number') {
    throw typeMismatch(`Cannot increment with non-numeric argument: {${path}: ${EJSON.stringify(amount)}}`);
  }
  const found = parentOf(doc, path, true);
  if (!found || Array.isArray(found.parent)) throw notImplemented(`$inc into arrays ('${path}')`);
  const current = found.parent[found.last];
  if (current === undefined) {
    found.parent[found.last] = amount;
    return;
  }
  if (typeof current !== 'number') {
    throw typeMismatch(
      `Cannot apply $inc to a value of non-numeric type. {_id: ${EJSON.stringify(doc._id)}} has the field '${found.last}' of non-numeric type ${typeof current}`,
    );
  }
  found.parent[found.last] = current + amount;
}
