// The two anchor stores the legacy tests drive ship no types; only what the tests call is declared.
declare module 'connect-pg-simple' {
  import type { Store } from 'express-session';
  import type { Pool } from 'pg';

  interface PgStoreOptions {
    pool?: Pool;
    conString?: string;
    tableName?: string;
    schemaName?: string;
    createTableIfMissing?: boolean;
    pruneSessionInterval?: number | false;
    ttl?: number;
  }
  class PgStore extends Store {
    constructor(options?: PgStoreOptions);
    get(sid: string, callback: (err: unknown, session?: unknown) => void): void;
    set(sid: string, session: unknown, callback?: (err?: unknown) => void): void;
    destroy(sid: string, callback?: (err?: unknown) => void): void;
    close(): Promise<void>;
  }
  export default function connectPgSimple(session: unknown): typeof PgStore;
}

declare module 'express-mysql-session' {
  import type { Store } from 'express-session';

  interface MySQLStoreOptions {
    host?: string;
    port?: number;
    user?: string;
    password?: string;
    database?: string;
    createDatabaseTable?: boolean;
    clearExpired?: boolean;
    expiration?: number;
    schema?: { tableName?: string; columnNames?: { session_id?: string; expires?: string; data?: string } };
  }
  class MySQLStore extends Store {
    constructor(options?: MySQLStoreOptions, connection?: unknown);
    onReady(): Promise<void>;
    get(sid: string, callback: (err: unknown, session?: unknown) => void): void;
    set(sid: string, session: unknown, callback?: (err?: unknown) => void): void;
    destroy(sid: string, callback?: (err?: unknown) => void): void;
    close(): Promise<void>;
  }
  export default function expressMysqlSession(session: unknown): typeof MySQLStore;
}
