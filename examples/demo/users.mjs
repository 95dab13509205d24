import { randomBytes, scrypt as scryptCallback, timingSafeEqual } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { promisify } from 'node:util';
import Database from 'better-sqlite3';

const scrypt = promisify(scryptCallback);
// scrypt's defaults (N=2^14, r=8, p=1): ~16 MB and tens of ms per hash, plenty for a demo, stored per hash
// so they can be raised later without invalidating existing passwords.
const PARAMS = { N: 16_384, r: 8, p: 1 };
const KEY_BYTES = 64;

export const USERNAME = /^[A-Za-z0-9_.-]{3,32}$/;
export const MIN_PASSWORD = 8;

async function hashPassword(password) {
  const salt = randomBytes(16);
  const key = await scrypt(password, salt, KEY_BYTES, PARAMS);
  return ['scrypt', PARAMS.N, PARAMS.r, PARAMS.p, salt.toString('base64'), key.toString('base64')].join('$');
}

async function checkPassword(password, stored) {
  const [scheme, N, r, p, salt, key] = stored.split('$');
  if (scheme !== 'scrypt') return false;
  const expected = Buffer.from(key, 'base64');
  const actual = await scrypt(password, Buffer.from(salt, 'base64'), expected.length, {
    N: Number(N),
    r: Number(r),
    p: Number(p),
  });
  return timingSafeEqual(actual, expected);
}

/** Users in a `users` table of a SQLite file: the sessions file itself when the session store is SQLite. */
export function openUsers(path) {
  mkdirSync(dirname(path), { recursive: true });
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  db.pragma('busy_timeout = 5000');
  db.exec(`CREATE TABLE IF NOT EXISTS users (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    username TEXT NOT NULL UNIQUE COLLATE NOCASE,
    password_hash TEXT NOT NULL,
    created_at INTEGER NOT NULL
  )`);
  const insert = db.prepare('INSERT INTO users (username, password_hash, created_at) VALUES (?, ?, ?)');
  const byName = db.prepare('SELECT id, username, password_hash FROM users WHERE username = ?');
  // Compared against when the name is unknown, so "no such user" takes as long as "wrong password".
  const dummy = hashPassword(randomBytes(16).toString('hex'));

  return {
    path,
    /** Resolves the new user, or `null` when the name is taken. */
    async register(username, password) {
      const hash = await hashPassword(password);
      try {
        const { lastInsertRowid } = insert.run(username, hash, Date.now());
        return { id: Number(lastInsertRowid), username };
      } catch (error) {
        if (error.code === 'SQLITE_CONSTRAINT_UNIQUE') return null;
        throw error;
      }
    },
    /** Resolves the user when the password matches, else `null`, in the same time either way. */
    async verify(username, password) {
      const row = byName.get(username);
      const ok = await checkPassword(password, row?.password_hash ?? (await dummy));
      return row && ok ? { id: row.id, username: row.username } : null;
    },
    close() {
      db.close();
    },
  };
}
