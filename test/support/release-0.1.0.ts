/**
 * What sessionkit 0.1.0, the released version, made in an SQL database: its sessions table, exactly as
 * its CREATE TABLE statements were (no revocation epoch, `user_id` as text). Tests of an upgrade from it
 * make the table this way and check the current code on it.
 */
export type Dialect = 'postgres' | 'mysql' | 'sqlite';

/** 0.1.0's CREATE TABLE statements for `table`. */
export function release010TableSql(dialect: Dialect, t: string): string[] {
  if (dialect === 'mysql') {
    return [
      `CREATE TABLE ${t} (
  id varchar(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  data longtext CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
  cookie text CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
  user_id varchar(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NULL,
  created_at bigint NOT NULL,
  last_seen_at bigint NOT NULL,
  expires_at bigint NOT NULL,
  PRIMARY KEY (id),
  KEY ${t}_user_id (user_id),
  KEY ${t}_expires_at (expires_at)
) ENGINE=InnoDB`,
    ];
  }
  const id = dialect === 'postgres' ? 'text COLLATE "C"' : 'TEXT';
  const int = dialect === 'postgres' ? 'bigint' : 'INTEGER';
  return [
    `CREATE TABLE ${t} (id ${id} PRIMARY KEY, data text NOT NULL, cookie text NOT NULL, user_id text NULL, created_at ${int} NOT NULL, last_seen_at ${int} NOT NULL, expires_at ${int} NOT NULL)`,
    `CREATE INDEX ${t}_user_id ON ${t} (user_id)`,
    `CREATE INDEX ${t}_expires_at ON ${t} (expires_at)`,
  ];
}
