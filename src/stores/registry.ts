/**
 * The one list of store URL schemes and their parameters. `createStore()`, the stores' own URL handling,
 * the CLI's help and the README's store table all read it, so they cannot drift apart. It imports no
 * store and no driver: a definition loads its store module only when a store is built.
 */
import { StoreUrlError } from '../core/errors.js';
import { MAX_TIMER_MS } from '../core/time.js';
import type { SessionStore } from './contract.js';
import type { Store } from './express-compat/store.js';

export type AnyStore = SessionStore & Store;

/** How a parameter's text is read; a value that does not fit is refused with ERR_STORE_URL. */
export type ParamType =
  | 'string'
  /** A plain SQL name (letters, digits, `_`), checked again by the store. */
  | 'identifier'
  /** A number of milliseconds, above 0. */
  | 'ms'
  /** A whole number of milliseconds, 0 or more. */
  | 'ms0'
  /** Milliseconds, `0` or `false` to turn it off. */
  | 'interval'
  /** A whole number, above 0. */
  | 'count'
  /** `true`/`false` (also `1`/`0`, `yes`/`no`, `on`/`off`). */
  | 'boolean'
  /** One of `values`. */
  | 'enum'
  /** `host:port`, repeatable. */
  | 'endpoint';

export interface StoreParam {
  name: string;
  type: ParamType;
  /** What applies when the parameter is absent, as the README shows it. */
  default: string;
  description: string;
  /** For `enum`: the accepted values. */
  values?: readonly string[];
  /** Other names accepted for the same parameter. */
  aliases?: readonly string[];
  /** May be given more than once (`node=…&node=…`). */
  repeatable?: boolean;
  /** Only meaningful with these schemes; refused with the others. */
  schemes?: readonly string[];
}

export type ParamValue = string | number | boolean | string[];

/** The parameters of one URL, by canonical name, read and checked against the definition. */
export type StoreParams = Readonly<Record<string, ParamValue>>;

export interface StoreModule {
  createFromUrl(url: URL): Promise<AnyStore>;
}

export interface StoreDefinition {
  /** The class, as exported. */
  name: string;
  /** Where the class is exported from. */
  entry: string;
  /** The npm package the store needs, or null. */
  driver: string | null;
  /** URL schemes, with their colon, as `URL.protocol` spells them. */
  schemes: readonly string[];
  example: string;
  params: readonly StoreParam[];
  /**
   * Query parameters handed to the driver untouched. `'checked'`: the driver refuses the ones it does not
   * know itself, so any other name may pass; a list: only those names pass.
   */
  driverParams: 'checked' | readonly string[];
  /** Loads the store module (and with it the driver): only when a store is built. */
  load(): Promise<StoreModule>;
}

const timeout: StoreParam = {
  name: 'timeout',
  type: 'ms',
  default: '5000',
  description: 'bound on every store call (ms)',
};
const ttl: StoreParam = {
  name: 'ttl',
  type: 'ms',
  default: '1 day',
  description: 'lifetime of a record whose cookie has no expiry, written through express-session (ms)',
};
const sqlParams = (pruneDefault: string): StoreParam[] => [
  {
    name: 'table',
    type: 'identifier',
    default: 'sessionkit_sessions',
    description: 'table of the native layout',
  },
  {
    name: 'createTable',
    type: 'boolean',
    default: 'true',
    description: 'create the table and its indexes when missing',
  },
  timeout,
  ttl,
  {
    name: 'pruneInterval',
    type: 'interval',
    default: pruneDefault,
    description: 'mean time between prunes of expired rows (ms); `false` turns it off',
  },
];

/** Every store that can be built from a URL, in the order the README and the CLI list them. */
export const STORES: readonly StoreDefinition[] = [
  {
    name: 'MemoryStore',
    entry: 'sessionkit',
    driver: null,
    schemes: ['memory:'],
    example: 'memory:',
    params: [
      {
        name: 'max',
        type: 'count',
        default: '100000',
        description: 'most sessions held; past it one is evicted',
      },
      {
        name: 'sweepInterval',
        type: 'ms',
        default: '60000',
        description: 'time between sweeps of expired sessions (ms)',
      },
    ],
    driverParams: [],
    load: async () => {
      const { MemoryStore } = await import('./memory.js');
      return {
        createFromUrl: async (url) => {
          const params = readParams(url);
          return new MemoryStore({
            ...(params.max === undefined ? {} : { max: params.max as number }),
            ...(params.sweepInterval === undefined ? {} : { sweepInterval: params.sweepInterval as number }),
          });
        },
      };
    },
  },
  {
    name: 'SQLiteStore',
    entry: 'sessionkit/stores/sqlite',
    driver: 'better-sqlite3',
    schemes: ['sqlite:'],
    example: 'sqlite:./data/sessions.db',
    params: [
      ...sqlParams('300000'),
      {
        name: 'busyTimeout',
        type: 'ms0',
        default: 'timeout',
        description: "how long a writer waits for another process's lock (ms)",
      },
    ],
    driverParams: [],
    load: () => import('./sqlite.js'),
  },
  {
    name: 'PostgresStore',
    entry: 'sessionkit/stores/postgres',
    driver: 'pg',
    schemes: ['postgres:', 'postgresql:'],
    example: 'postgres://app:secret@db:5432/app',
    params: [
      ...sqlParams('900000'),
      {
        name: 'schema',
        type: 'identifier',
        default: 'search_path',
        description: 'schema of the native table',
      },
      {
        name: 'preparedStatements',
        type: 'boolean',
        default: 'true',
        description: 'named prepared statements; `false` behind PgBouncer in transaction mode',
      },
      {
        name: 'legacy',
        type: 'enum',
        values: ['connect-pg-simple'],
        default: 'none',
        description: "read connect-pg-simple's sessions on a native miss",
      },
      {
        name: 'legacyTable',
        type: 'identifier',
        default: 'session',
        description: "connect-pg-simple's table",
      },
    ],
    // What pg 8 applies from a connection string (pg-connection-string's parse, then pg's
    // connection-parameters.js), and libpq's `sslpassword`, which pg ignores. pg also reads `binary`, but
    // only from its config object, and `database`, which the URL's path overrides: both would do nothing,
    // so they are refused like any other unknown name.
    driverParams: [
      'host',
      'port',
      'user',
      'password',
      'ssl',
      'sslmode',
      'sslcert',
      'sslkey',
      'sslrootcert',
      'sslpassword',
      'sslnegotiation',
      'application_name',
      'fallback_application_name',
      'options',
      'client_encoding',
      'replication',
      'uselibpqcompat',
      'statement_timeout',
      'query_timeout',
      'lock_timeout',
      'idle_in_transaction_session_timeout',
    ],
    load: () => import('./postgres.js'),
  },
  {
    name: 'MySQLStore',
    entry: 'sessionkit/stores/mysql',
    driver: 'mysql2',
    schemes: ['mysql:', 'mariadb:'],
    example: 'mysql://app:secret@db:3306/app',
    params: [
      ...sqlParams('900000'),
      {
        name: 'legacy',
        type: 'enum',
        values: ['express-mysql-session'],
        default: 'none',
        description: "read express-mysql-session's sessions on a native miss",
      },
      {
        name: 'legacyTable',
        type: 'identifier',
        default: 'sessions',
        description: "express-mysql-session's table",
      },
    ],
    driverParams: [],
    load: () => import('./mysql.js'),
  },
  {
    name: 'RedisStore',
    entry: 'sessionkit/stores/redis',
    driver: 'redis or ioredis',
    schemes: [
      'redis:',
      'rediss:',
      'redis+sentinel:',
      'rediss+sentinel:',
      'redis+cluster:',
      'rediss+cluster:',
    ],
    example: 'redis://127.0.0.1:6379',
    params: [
      { name: 'prefix', type: 'string', default: 'sk:', description: 'prepended to every key' },
      timeout,
      ttl,
      {
        name: 'client',
        type: 'enum',
        values: ['redis', 'node-redis', 'ioredis'],
        default: 'redis when installed',
        description: 'the client package (Sentinel always uses ioredis)',
      },
      { name: 'scanCount', type: 'count', default: '500', description: 'SCAN COUNT hint for listings' },
      {
        name: 'legacy',
        type: 'enum',
        values: ['connect-redis'],
        default: 'none',
        description: "read connect-redis's sessions on a native miss",
      },
      { name: 'legacyPrefix', type: 'string', default: 'sess:', description: "connect-redis's prefix" },
      {
        name: 'node',
        type: 'endpoint',
        repeatable: true,
        schemes: ['redis+cluster:', 'rediss+cluster:'],
        default: 'none',
        description: 'further Cluster nodes (`host:port`, repeatable)',
      },
      {
        name: 'sentinel',
        type: 'endpoint',
        repeatable: true,
        schemes: ['redis+sentinel:', 'rediss+sentinel:'],
        default: 'none',
        description: 'further sentinels (`host:port`, repeatable)',
      },
      {
        name: 'sentinelPassword',
        type: 'string',
        schemes: ['redis+sentinel:', 'rediss+sentinel:'],
        default: 'none',
        description: "the sentinels' password",
      },
      {
        name: 'db',
        type: 'count',
        schemes: ['redis+sentinel:', 'rediss+sentinel:'],
        default: '0',
        description: 'database number behind a Sentinel (`redis://host/2` otherwise)',
      },
    ],
    driverParams: [],
    load: () => import('./redis.js'),
  },
  {
    name: 'MongoStore',
    entry: 'sessionkit/stores/mongodb',
    driver: 'mongodb',
    schemes: ['mongodb:', 'mongodb+srv:'],
    example: 'mongodb://db:27017/app',
    params: [
      {
        name: 'collectionName',
        aliases: ['collection'],
        type: 'string',
        default: 'sessions',
        description: 'collection of the native layout',
      },
      {
        name: 'autoRemove',
        type: 'boolean',
        default: 'true',
        description: 'a TTL index on `expiresAt`, so the server deletes expired sessions',
      },
      timeout,
      ttl,
      {
        name: 'legacy',
        type: 'enum',
        values: ['connect-mongo'],
        default: 'none',
        description: "read connect-mongo's sessions on a native miss",
      },
      {
        name: 'legacyCollectionName',
        type: 'string',
        default: 'sessions',
        description: "connect-mongo's collection",
      },
    ],
    driverParams: 'checked',
    load: () => import('./mongodb.js'),
  },
];

/** The definition serving a URL's scheme; ERR_STORE_URL naming the known schemes when none does. */
export function definitionFor(url: Pick<URL, 'protocol'>): StoreDefinition {
  const protocol = url.protocol.toLowerCase();
  const found = STORES.find((store) => store.schemes.includes(protocol));
  if (found) return found;
  throw new StoreUrlError(
    `unknown store scheme ${JSON.stringify(url.protocol)}: use ${STORES.flatMap((s) => s.schemes).join(', ')}`,
  );
}

const TRUE = new Set(['true', '1', 'yes', 'on']);
const FALSE = new Set(['false', '0', 'no', 'off']);
const ENDPOINT = /^\[?[^\]]+?\]?:\d{1,5}$/;

/**
 * Reads a URL's query against its store's definition: every sessionkit parameter typed, every name
 * the store does not know refused, naming it. Values are never quoted in a message: a misplaced
 * password must not reach a log.
 */
export function readParams(
  url: Pick<URL, 'protocol' | 'searchParams'>,
  definition: StoreDefinition = definitionFor(url),
): StoreParams {
  const protocol = url.protocol.toLowerCase();
  const out: Record<string, ParamValue> = {};
  const scheme = definition.schemes[0] as string;
  for (const name of new Set(url.searchParams.keys())) {
    const param = definition.params.find((p) => p.name === name || p.aliases?.includes(name));
    if (!param) {
      const passes = definition.driverParams === 'checked' || definition.driverParams.includes(name);
      if (passes) continue;
      const known = definition.params.map((p) => p.name);
      const driver = definition.driverParams === 'checked' ? [] : definition.driverParams;
      throw new StoreUrlError(
        `unknown parameter \`${name}\` for a ${scheme} store URL; known: ${[...known, ...driver].join(', ') || 'none'}`,
      );
    }
    if (param.schemes && !param.schemes.includes(protocol))
      throw new StoreUrlError(`parameter \`${name}\` applies only to ${param.schemes.join(' and ')} URLs`);
    if (out[param.name] !== undefined && !param.repeatable)
      throw new StoreUrlError(`parameter \`${param.name}\` is given more than once`);
    const texts = url.searchParams.getAll(name);
    if (!param.repeatable && texts.length > 1)
      throw new StoreUrlError(`parameter \`${name}\` is given more than once`);
    if (param.repeatable) {
      out[param.name] = [
        ...((out[param.name] as string[] | undefined) ?? []),
        ...texts.map((t) => check(param, t) as string),
      ];
    } else {
      out[param.name] = check(param, texts[0] as string);
    }
  }
  return out;
}

function check(param: StoreParam, text: string): ParamValue {
  const fail = (what: string): never => {
    throw new StoreUrlError(`parameter \`${param.name}\` must be ${what}`);
  };
  switch (param.type) {
    case 'string':
      if (text === '') fail('a non-empty string');
      return text;
    case 'identifier':
      if (!/^[A-Za-z_][A-Za-z0-9_]{0,62}$/.test(text)) fail('a plain SQL name (letters, digits, _)');
      return text;
    case 'ms': {
      const n = Number(text);
      if (text.trim() === '' || !Number.isFinite(n) || n <= 0 || n > MAX_TIMER_MS)
        fail(`a positive number of milliseconds, at most ${MAX_TIMER_MS}`);
      return n;
    }
    case 'ms0': {
      const n = Number(text);
      if (text.trim() === '' || !Number.isInteger(n) || n < 0 || n > MAX_TIMER_MS)
        fail(`a whole number of milliseconds, at most ${MAX_TIMER_MS}`);
      return n;
    }
    case 'interval': {
      if (FALSE.has(text)) return false;
      const n = Number(text);
      if (text.trim() === '' || !Number.isFinite(n) || n < 0 || n > MAX_TIMER_MS)
        fail(`a number of milliseconds at most ${MAX_TIMER_MS}, or false`);
      return n;
    }
    case 'count': {
      const n = Number(text);
      if (!/^\d+$/.test(text) || !Number.isSafeInteger(n) || n < (param.name === 'db' ? 0 : 1))
        fail('a whole number');
      return n;
    }
    case 'boolean':
      if (TRUE.has(text)) return true;
      if (FALSE.has(text)) return false;
      return fail('true or false');
    case 'enum':
      if (!param.values?.includes(text)) fail((param.values ?? []).map((v) => `'${v}'`).join(' or '));
      return text;
    case 'endpoint':
      if (!ENDPOINT.test(text)) fail('host:port');
      return text;
  }
}

/** The definition of the store class `name` (`'PostgresStore'`, …). */
export function storeDefinition(name: string): StoreDefinition {
  const found = STORES.find((store) => store.name === name);
  if (!found) throw new Error(`no store definition named ${name}`);
  return found;
}

/** The URL without sessionkit's own parameters: what the driver is given. */
export function driverUrl(url: URL, definition: StoreDefinition = definitionFor(url)): URL {
  const copy = new URL(url.href);
  for (const param of definition.params)
    for (const name of [param.name, ...(param.aliases ?? [])]) copy.searchParams.delete(name);
  return copy;
}

/** The README's store table (between its `store-table` markers), one row per store. */
export function storeTable(): string {
  const rows = STORES.map((store) => {
    const schemes = store.schemes.map((s) => `\`${s}\``).join(' ');
    const params = store.params
      .map((p) => `\`${p.name}\`${p.default === 'none' ? '' : ` (${p.default})`}`)
      .join(', ');
    const driver = store.driver ? `\`${store.driver.replace(' or ', '` or `')}\`` : 'none';
    const passed =
      store.driverParams === 'checked'
        ? '; other parameters go to the driver, which refuses unknown ones'
        : store.driverParams.length > 0
          ? `; passed to the driver: ${store.driverParams.map((p) => `\`${p}\``).join(', ')}`
          : '';
    return `| \`${store.name}\` (\`${store.entry}\`) | ${schemes} | ${driver} | ${params || 'none'}${passed} |`;
  });
  return ['| store | schemes | driver | URL parameters (default) |', '|---|---|---|---|', ...rows].join('\n');
}

/** The CLI's help section on store URLs. */
export function storeHelp(): string {
  const lines = ['Store URLs (--store, SESSION_STORE_URL):'];
  for (const store of STORES) {
    lines.push(`  ${store.schemes.join(' ')}  e.g. ${store.example}`);
    const params = store.params.map((p) => `${p.name}=${helpValue(p)}`).join(' ');
    if (params) lines.push(`      ${params}`);
  }
  lines.push('  An unknown parameter is refused (exit 4, ERR_STORE_URL).');
  return lines.join('\n');
}

function helpValue(param: StoreParam): string {
  switch (param.type) {
    case 'enum':
      return (param.values ?? []).join('|');
    case 'boolean':
      return 'true|false';
    case 'interval':
      return 'ms|false';
    case 'endpoint':
      return 'host:port';
    case 'ms':
    case 'ms0':
      return 'ms';
    case 'count':
      return 'n';
    default:
      return '…';
  }
}
