/**
 * A command failure the stand-in answers with `{ ok: 0, errmsg, code, codeName }`, the shape and codes a
 * real server uses (codes from MongoDB's src/mongo/base/error_codes.yml).
 */
export class ServerError extends Error {
  constructor(
    readonly code: number,
    readonly codeName: string,
    message: string,
  ) {
    super(message);
  }
}

export const badValue = (message: string) => new ServerError(2, 'BadValue', message);
export const typeMismatch = (message: string) => new ServerError(14, 'TypeMismatch', message);
export const pathNotViable = (message: string) => new ServerError(28, 'PathNotViable', message);
export const conflictingUpdate = (message: string) =>
  new ServerError(40, 'ConflictingUpdateOperators', message);
export const dollarPrefixed = (message: string) => new ServerError(52, 'DollarPrefixedFieldName', message);
export const emptyFieldName = (message: string) => new ServerError(56, 'EmptyFieldName', message);
export const commandNotFound = (message: string) => new ServerError(59, 'CommandNotFound', message);
export const immutableField = (message: string) => new ServerError(66, 'ImmutableField', message);
export const indexOptionsConflict = (message: string) => new ServerError(85, 'IndexOptionsConflict', message);
export const unknownField = (message: string) => new ServerError(40415, 'Location40415', message);
export const objectTooLarge = (message: string) => new ServerError(10334, 'BSONObjectTooLarge', message);

/** What the stand-in does not implement: a loud, recognisable refusal rather than a silent guess. */
export const notImplemented = (what: string) =>
  new ServerError(
    115,
    'CommandNotSupported',
    `mongo-wire-server stand-in does not implement ${what}; run against a real mongod (MONGODB_URL) or extend the stand-in`,
  );
