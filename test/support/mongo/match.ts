import type { Document } from 'bson';
import { badValue, notImplemented } from './errors.js';
import { compareValues, getPath, isPlainObject, typeRank, valuesEqual } from './values.js';

/**
 * Query-filter matching for the operators sessionkit's MongoStore and connect-mongo send: equality,
 * `$eq $ne $gt $gte $lt $lte $in $nin $exists`, and `$and $or $nor`. Everything else is refused.
 */
export function matches(doc: Document, filter: Document): boolean {
  for (const [key, condition] of Object.entries(filter)) {
    if (key === '$and' || key === '$or' || key === '$nor') {
      if (!Array.isArray(condition) || condition.length === 0) {
        throw badValue(`${key} must be a nonempty array`);
      }
      const results = condition.map((clause: Document) => matches(doc, clause));
      if (key === '$and' && !results.every(Boolean)) return false;
      if (key === '$or' && !results.some(Boolean)) return false;
      if (key === '$nor' && results.some(Boolean)) return false;
    } else if (key.startsWith('$')) {
      throw notImplemented(`top-level query operator ${key}`);
    } else if (!matchesField(getPath(doc, key), condition)) {
      return false;
    }
  }
  return true;
}

export function isOperatorObject(value: unknown): value is Document {
  if (!isPlainObject(value)) return false;
  const first = Object.keys(value)[0];
  return first?.startsWith('$') ?? false;
}

function matchesField(value: unknown, condition: unknown): boolean {
  if (!isOperatorObject(condition)) return equalityMatches(value, condition);
  for (const [op, operand] of Object.entries(condition)) {
    if (!matchesOperator(value, op, operand)) return false;
  }
  return true;
}

/** `{f: v}`: the value equals v, or is an array holding v; `{f: null}` also matches a missing field. */
function equalityMatches(value: unknown, operand: unknown): boolean {
  if (valuesEqual(value, operand)) return true;
  return Array.isArray(value) && value.some((element) => valuesEqual(element, operand));
}

function matchesOperator(value: unknown, op: string, operand: unknown): boolean {
  switch (op) {
    case '$eq':
      return equalityMatches(value, operand);
    case '$ne':
      return !equalityMatches(value, operand);
    case '$gt':
      return compares(value, operand, (order) => order > 0);
    case '$gte':
      return compares(value, operand, (order) => order >= 0);
    case '$lt':
      return compares(value, operand, (order) => order < 0);
    case '$lte':
      return compares(value, operand, (order) => order <= 0);
    case '$in':
      if (!Array.isArray(operand)) throw badValue('$in needs an array');
      return operand.some((candidate) => equalityMatches(value, candidate));
    case '$nin':
      if (!Array.isArray(operand)) throw badValue('$nin needs an array');
      return !operand.some((candidate) => equalityMatches(value, candidate));
    case '$exists':
      return (value !== undefined) === Boolean(operand);
    default:
      throw notImplemented(`query operator ${op}`);
  }
}

/**
 * Range operators only match values of the operand's own type bracket: `{expiresAt: {$gt: <Date>}}` never
 * matches a string or a missing field ("Comparison Query Operators", type bracketing).
 */
function compares(value: unknown, operand: unknown, accept: (order: number) => boolean): boolean {
  const candidates = Array.isArray(value) ? value : [value];
  return candidates.some(
    (candidate) =>
      candidate !== undefined &&
      typeRank(candidate) === typeRank(operand) &&
      accept(compareValues(candidate, operand)),
  );
}

/** Sorts by a `{field: 1 | -1}` spec; missing fields sort as null, as on a real server. */
export function sortDocuments(docs: Document[], sort: Document): Document[] {
  const fields = Object.entries(sort).map(([path, direction]) => {
    if (direction !== 1 && direction !== -1) throw notImplemented(`sort direction ${String(direction)}`);
    return { path, direction };
  });
  return [...docs].sort((a, b) => {
    for (const { path, direction } of fields) {
      const order = compareValues(getPath(a, path) ?? null, getPath(b, path) ?? null);
      if (order !== 0) return order * direction;
    }
    return 0;
  });
}
