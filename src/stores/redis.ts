import {
  CorruptSessionError,
  InvalidArgumentError,
  OptionsError,
  SessionTooLargeError,
  StoreTimeoutError,
  StoreUnavailableError,
  StoreUrlError,
} from '../core/errors.js';
import { storageKey } from '../core/id.js';
import {
  applyDeltaToRecord,
  fromStoredExpressSession,
  isForbiddenKey,
  parseJson,
  stringifyJson,
} from '../core/serializer.js';
import { MAX_TIMER_MS } from '../core/time.js';
import type {
  CookieData,
  LimitOutcome,
  ListOptions,
  ListPage,
  SessionDelta,
  SessionRecord,
  SessionSummary,
  UserLimit,
} from '../core/types.js';
import {
  checkDelta,
  checkDestroyByUser,
  checkHandle,
  checkId,
  checkListOptions,
  checkRecord,
  checkSwaps,
  checkTouchTimes,
  checkUserIdArgument,
  checkUserLimit,
  checkWellFormedKey,
  type DataSwap,
  isWellFormedKey,
  reportCorrupt,
  type SessionStore,
} from './contract.js';
import { Store, type StoreOptions } from './express-compat/store.js';
import {
  classify,
  eachField,
  isUnavailable,
  type NodeSender,
  type RedisClientInput,
  type RedisDriver,
  scored,
  text,
  wrapClient,
} from './redis-clients.js';
import { connectFromUrl } from './redis-connect.js';
import { RESEAL_SCRIPT } from './redis-reseal.js';
import { SCRIPTS, type Script } from './redis-scripts.js';
import { readParams, storeDefinition } from './registry.js';

export type { RedisClientInput } from './redis-clients.js';

export interface RedisStoreOptions extends StoreOptions {
  /** A node-redis (v4+) client or cluster, or an ioredis (v5+) client or Cluster, already created. */
  client: RedisClientInput;
  /** Quit the client on `close()`. Default false: a client you pass stays yours. */
  closeClient?: boolean;
  /** Prepended to every key the store writes. Default `sk:`. Must not contain `{` or `}`. */
  prefix?: string;
  /** Read connect-redis's `<legacyPrefix><sid>` JSON strings when the native record is missing. */
  legacy?: 'connect-redis' | false;
  /** connect-redis's prefix (its `prefix` option, after any client prefix). Default `sess:`. */
  legacyPrefix?: string;
  /** SCAN COUNT hint for listings and housekeeping. Default 500. */
  scanCount?: number;
}

const HANDLE = /^[A-Za-z0-9_-]{43}$/;
/** Retries of an update whose user index needed a bump first; more only under pathological contention. */
const INDEX_ROUNDS = 4;

interface Decoded extends SessionRecord {
  handle: string;
  /** The revocation epoch stamped at login (`_ep`, as stored; `null` when absent: see `revoked`). */
  stamp: string | null;
}

/** A user's revocation epoch: sessions stamped below `n` are dead, but `keep` while its stamp is `from` or more. */
interface Epoch {
  n: number;
  keep: string | null;
  from: number;
  /** Those of the handles asked about that the per-user limit evicted (dead whatever their stamp). */
  evicted: Set<string>;
}

/**
 * A Redis store for standalone Redis, Sentinel and Cluster, over node-redis or ioredis.
 *
 * Layout (prefix `sk:`): one HASH per session at `sk:s:{<handle>}`, `handle` = SHA-256(ID) base64url, the
 * braces a hash tag; fields `d:<key>` hold each top-level data key as JSON, `_c` the cookie, `_e` / `_cr`
 * / `_ls` the deadline, creation and last-seen times, `_u` the bound user, `_ix` the score that user's
 * index holds for it, `_ep` the user's revocation epoch when it was bound (absent when no user is, or when
 * a sessionkit without epochs bound it), `_sz` a bound on the data's
 * JSON size (so the size cap needs no read of every field) and `_sl` the `_ls` that bound was written
 * with. Per user, a ZSET `sk:u:{<SHA-256(userId)>}` of handles scored by a deadline that is never below
 * the session's own, and beside it (same hash tag, so same Cluster slot) a HASH `sk:e:{<SHA-256(userId)>}`
 * holding the epoch, created by the first `destroyByUser` and never expiring once it holds one (the
 * per-user limit's marks alone expire), and a ZSET `sk:p:{<SHA-256(userId)>}` of the index members whose
 * binding is still writing its session, expiring with its last mark. Writes merge on the server in one
 * EVALSHA on the session key.
 */
export class RedisStore extends Store implements SessionStore {
  readonly prefix: string;
  readonly legacy: 'connect-redis' | false;
  readonly legacyPrefix: string;
  readonly scanCount: number;
  /** Which client kind the store is talking through. */
  readonly clientKind: RedisDriver['kind'];
  private readonly driver: RedisDriver;
  private readonly closeClient: boolean;
  private closed = false;

  constructor(options: RedisStoreOptions) {
    super(options);
    if (!options || options.client === undefined || options.client === null) {
      throw new OptionsError(
        'client',
        'is required: pass a node-redis or ioredis client, or use createFromUrl()',
      );
    }
    this.driver = wrapClient(options.client);
    this.clientKind = this.driver.kind;
    this.closeClient = options.closeClient ?? false;
    this.prefix = options.prefix ?? 'sk:';
    if (typeof this.prefix !== 'string' || /[{}]/.test(this.prefix)) {
      throw new OptionsError(
        'prefix',
        'must be a string without `{` or `}` (they would change the hash slot)',
      );
    }
    const legacy = options.legacy ?? false;
    if (legacy !== false && legacy !== 'connect-redis') {
      throw new OptionsError('legacy', "must be 'connect-redis' or false");
    }
    this.legacy = legacy;
    this.legacyPrefix = options.legacyPrefix ?? 'sess:';
    if (typeof this.legacyPrefix !== 'string') throw new OptionsError('legacyPrefix', 'must be a string');
    this.scanCount = options.scanCount ?? 500;
    if (!Number.isInteger(this.scanCount) || this.scanCount < 1) {
      throw new OptionsError('scanCount', 'must be a positive integer');
    }
    // A longer delay than a Node timer holds fires at once, failing every call as unanswered.
    if (!Number.isFinite(this.timeout) || this.timeout <= 0 || this.timeout > MAX_TIMER_MS) {
      throw new OptionsError(
        'timeout',
        `must be a positive number of milliseconds, at most ${MAX_TIMER_MS} (the longest delay a Node timer keeps)`,
      );
    }
    // The store's own timer bounds its commands in place of the client's (see redis-clients.ts): a client
    // set to fail faster than the store's default keeps failing that fast.
    const clientTimeout = this.driver.commandTimeout;
    if (options.timeout === undefined && clientTimeout !== undefined && clientTimeout < this.timeout) {
      this.timeout = clientTimeout;
    }
    if (this.driver.connected()) this.checkEvictionPolicy();
  }

  // ------------------------------------------------------------------------------------------ contract

  get(id: string): Promise<SessionRecord | null> {
    // Promise steps rather than an async function: a read is most requests' only store call, and each
    // await would cost it a further promise and microtask.
    return this.run('get', () => {
      checkId('get', id);
      return this.readHandle(storageKey(id), 'get').then((found) => {
        if (found === null) return null;
        if (found === undefined) return this.legacy ? this.readLegacy(id) : null;
        if (found.userId === null) return strip(found);
        return this.alive(found, 'get').then((live) => (live ? strip(found) : null));
      });
    });
  }

  create(id: string, record: SessionRecord): Promise<boolean> {
    return this.run('create', async () => {
      checkId('create', id);
      checkRecord(this, 'create', record);
      // A connect-redis record under the same ID needs no cleanup here: the native one shadows it on
      // read, and destroy removes both.
      return this.writeRecord(storageKey(id), record, 'c');
    });
  }

  update(id: string, delta: SessionDelta): Promise<boolean> {
    return this.run('update', () => {
      checkId('update', id);
      checkDelta(this, 'update', delta);
      const handle = storageKey(id);
      return this.applyUpdate(handle, delta, 'update').then((result) => {
        if (result !== 'missing') return true;
        if (!this.legacy) return false;
        return this.migrateLegacy(
          id,
          (record) => applyDeltaToRecord(record, delta),
          () => this.applyUpdate(handle, delta, 'update'),
        );
      });
    });
  }

  set(id: string, record: SessionRecord): Promise<void> {
    return this.run('set', async () => {
      checkId('set', id);
      checkRecord(this, 'set', record);
      await this.writeRecord(storageKey(id), record, 's');
      if (this.legacy) await this.cmd('set', this.legacyKey(id), ['DEL', this.legacyKey(id)]);
    });
  }

  destroy(id: string): Promise<void> {
    return this.run('destroy', async () => {
      checkId('destroy', id);
      // Legacy first, then native. A migration racing this destroy deletes the legacy key after writing
      // the native record, and undoes the write when the key was already gone; a destroy that removed the
      // legacy key before the migration read it leaves nothing to migrate. Native first would let the
      // migration write its record after this destroy found none and before it removed the legacy key.
      if (this.legacy) await this.cmd('destroy', this.legacyKey(id), ['DEL', this.legacyKey(id)]);
      await this.destroyHandle(storageKey(id), '', 'destroy');
    });
  }

  touch(id: string, expiresAt: number, lastSeenAt: number): Promise<boolean> {
    return this.run('touch', async () => {
      checkId('touch', id);
      checkTouchTimes('touch', expiresAt, lastSeenAt);
      const handle = storageKey(id);
      const delta: SessionDelta = { set: {}, unset: [], expiresAt, lastSeenAt };
      const result = await this.applyUpdate(handle, delta, 'touch');
      if (result !== 'missing') return true;
      if (!this.legacy) return false;
      return this.migrateLegacy(
        id,
        (record) => ({ ...record, expiresAt, lastSeenAt }),
        () => this.applyUpdate(handle, delta, 'touch'),
      );
    });
  }

  /**
   * One page of live sessions. The cursor names a master (by its rank in address order) and that master's
   * SCAN cursor; like SCAN, a page may hold a few more than `limit`, and a session written or a master
   * added during the listing may be missed or seen twice.
   */
  list(options: ListOptions = {}): Promise<ListPage> {
    return this.run('list', async () => {
      checkListOptions('list', options);
      // As the SQL stores: a page of at most 10,000 (SCAN's COUNT refuses more than a 64-bit integer).
      const limit = Math.min(options.limit ?? 100, 10_000);
      const masters = await this.masters('list');
      let [node, cursor] = parseCursor(options.cursor ?? null);
      const keys: string[] = [];
      while (node < masters.length && keys.length < limit) {
        const [next, batch] = await this.scan(
          masters[node] as NodeSender,
          cursor,
          this.sessionPattern(),
          limit,
        );
        keys.push(...batch);
        cursor = next;
        if (cursor === '0') node++;
      }
      const sessions = (await Promise.all(keys.map((key) => this.loadSummary(handleOf(key), 'list')))).filter(
        (s): s is SessionSummary => s !== null,
      );
      return { sessions, cursor: node < masters.length ? `${node}:${cursor}` : null };
    });
  }

  length(): Promise<number> {
    return this.run('length', async () => {
      let count = 0;
      await this.eachKey('length', this.sessionPattern(), async (keys) => {
        count += keys.length;
      });
      return count;
    });
  }

  clear(): Promise<void> {
    return this.run('clear', async () => {
      const ours = new RegExp(`^${escapeRegExp(this.prefix)}[suep]:\\{`);
      await this.eachKey('clear', `${escapeGlob(this.prefix)}*`, async (keys) => {
        // One DEL per key: keys of a page may sit in different slots (no CROSSSLOT, connect-redis #360).
        await Promise.all(keys.filter((k) => ours.test(k)).map((k) => this.cmd('clear', k, ['UNLINK', k])));
      });
      if (this.legacy) {
        await this.eachKey('clear', `${escapeGlob(this.legacyPrefix)}*`, async (keys) => {
          await Promise.all(keys.map((k) => this.cmd('clear', k, ['UNLINK', k])));
        });
      }
    });
  }

  /**
   * Redis expires sessions by itself; this removes the few whose deadline passed by the application's
   * clock before Redis's, and drops index members dead by score.
   */
  prune(): Promise<number> {
    return this.run('prune', async () => {
      const now = String(Date.now());
      let removed = 0;
      await this.eachKey('prune', this.sessionPattern(), async (keys) => {
        const counts = await Promise.all(keys.map((k) => this.eval('prune', SCRIPTS.prune, k, [now])));
        for (const n of counts) removed += Number(n);
      });
      await this.eachKey('prune', `${escapeGlob(this.prefix)}u:{*`, async (keys) => {
        await Promise.all(keys.map((k) => this.cmd('prune', k, ['ZREMRANGEBYSCORE', k, '-inf', now])));
      });
      return removed;
    });
  }

  listByUser(userId: string): Promise<SessionSummary[]> {
    return this.run('listByUser', async () => {
      checkUserIdArgument('listByUser', userId);
      const members = await this.indexMembers(userId, 'listByUser');
      const loaded = await Promise.all(members.map(([handle]) => this.readHandle(handle, 'listByUser')));
      // Read after the sessions: one revoked while they loaded is left out.
      const epoch =
        members.length > 0
          ? await this.readEpoch(
              userId,
              'listByUser',
              members.map(([handle]) => handle),
            )
          : null;
      const out: SessionSummary[] = [];
      const stale: Array<[string, number]> = [];
      const dead: Decoded[] = [];
      members.forEach((member, i) => {
        const found = loaded[i];
        if (found === null) return; // corrupt: reported by load, left for someone to inspect
        if (found === undefined) return; // absent: see below
        if (found.userId !== userId)
          stale.push(member); // bound to someone else now
        else if (epoch && revoked(found, epoch)) dead.push(found);
        else out.push(summaryOf(found));
      });
      // A member without a session stays: it may be a login between its index add and its session
      // write, and dropping it would leave that session out of every later listing. Destroy removes its
      // own member; members of sessions that expired go by score (index add, prune).
      await Promise.all(dead.map((found) => this.bury(found, 'listByUser')));
      await this.dropStale(userId, stale, 'listByUser');
      return out;
    });
  }

  /**
   * Raises the user's revocation epoch and reads the index in one step, then deletes what the index
   * shows. A session the index missed (a login that had joined the index but not yet written its
   * session, a lost delete) carries an older epoch and is dead on load all the same. The `except`
   * session is recorded as exempt in that same step, so it never looks revoked, not even briefly.
   */
  destroyByUser(userId: string, options: { except?: string } = {}): Promise<number> {
    return this.run('destroyByUser', async () => {
      checkDestroyByUser('destroyByUser', userId, options);
      const keep = options.except === undefined ? null : storageKey(options.except);
      const [, reply] = (await this.eval(
        'destroyByUser',
        SCRIPTS.revoke,
        [this.indexKey(userId), this.epochKey(userId)],
        [keep ?? ''],
      )) as [unknown, unknown];
      const members = scored(reply).filter(([h]) => HANDLE.test(h) && h !== keep);
      const results = await Promise.all(
        members.map(([handle]) =>
          this.eval('destroyByUser', SCRIPTS.destroy, this.sessionKey(handle), [userId]).then(tuple),
        ),
      );
      let removed = 0;
      const stale: Array<[string, number]> = [];
      const gone: string[] = [];
      results.forEach(([deleted], i) => {
        const member = members[i] as [string, number];
        if (deleted === 1) {
          removed++;
          gone.push(member[0]);
        } else stale.push(member);
      });
      const index = this.indexKey(userId);
      if (gone.length > 0) await this.cmd('destroyByUser', index, ['ZREM', index, ...gone]);
      await this.dropStale(userId, stale, 'destroyByUser');
      return removed;
    });
  }

  /**
   * The limit is applied by one script in the user's slot (LIMIT_LUA), which counts the index, evicts
   * and adds the new member in one step; the session hash, in its own slot, is written after it, as
   * every login's is. The script cannot read session hashes (other slots), so this first reads the
   * user's members and tells it which are gone (expired, destroyed, rebound, revoked) and when each live
   * one was created; the script recounts whatever the index holds by then.
   */
  createWithinLimit(id: string, record: SessionRecord, limit: UserLimit): Promise<LimitOutcome> {
    return this.run('createWithinLimit', async () => {
      const operation = 'createWithinLimit';
      checkId(operation, id);
      checkUserLimit(this, operation, record, limit);
      const userId = record.userId as string;
      const fields = dataFields(record.data);
      const handle = storageKey(id);
      const replaced = limit.replaces === undefined ? '' : storageKey(limit.replaces);
      if ((await this.readHandle(handle, operation)) !== undefined) return { result: 'exists', evicted: [] };
      const members = (await this.indexMembers(userId, operation)).filter(
        ([h]) => h !== handle && h !== replaced,
      );
      const found = await Promise.all(members.map(([h]) => this.readHandle(h, operation)));
      const epoch = await this.readEpoch(
        userId,
        operation,
        members.map(([h]) => h),
      );
      const verdicts = members.flatMap(([h, score], i) => {
        const session = found[i];
        // Corrupt: counted, as the oldest (it is no use to anyone).
        if (session === null) return [h, String(score), '0'];
        // 'a': absent (a binding may still be writing it); 'd': bound elsewhere or revoked.
        if (session === undefined) return [h, String(score), 'a'];
        const gone = session.userId !== userId || revoked(session, epoch);
        return [h, String(score), gone ? 'd' : String(session.createdAt)];
      });
      const now = Date.now();
      const score = record.expiresAt + Math.max(record.expiresAt - now, 0);
      const reply = (await this.eval(
        operation,
        SCRIPTS.limit,
        [this.indexKey(userId), this.epochKey(userId), this.markKey(userId)],
        [
          String(now),
          String(score),
          handle,
          String(limit.max),
          limit.onLimit === 'refuse' ? 'r' : 'e',
          replaced,
          String(this.grace()),
          ...verdicts,
        ],
      )) as unknown[];
      if (text(reply[0]) === 'r') return { result: 'refused', evicted: [] };
      const stamp = text(reply[1]);
      const evicted = (Array.isArray(reply[2]) ? reply[2] : []).map(text);
      let answer: unknown;
      try {
        answer = await this.eval(operation, SCRIPTS.write, this.sessionKey(handle), [
          ttlOf(record.expiresAt),
          String(record.expiresAt),
          String(record.createdAt),
          String(record.lastSeenAt),
          userId,
          String(score),
          stringifyJson(record.cookie ?? { originalMaxAge: null }),
          'c',
          stamp,
          ...fields,
        ]);
      } catch (error) {
        // Redis answered with a refusal (at its memory limit, say): the login is taken back, and the
        // sessions evicted for it come back. A write whose fate is unknown (timed out, connection lost)
        // keeps its evictions: it may still land, and the user would then hold one session too many.
        if (!(error instanceof StoreUnavailableError)) await this.undoLimit(userId, handle, evicted);
        throw error;
      }
      const [written] = tuple(answer);
      // Already dead by their mark; the delete only frees the memory, and may fail without harm.
      await Promise.all(
        evicted.map((h) =>
          this.eval(operation, SCRIPTS.destroy, this.sessionKey(h), [userId]).catch(() => undefined),
        ),
      );
      if (written !== 1) return { result: 'exists', evicted: [] };
      return { result: 'created', evicted };
    });
  }

  /**
   * Takes back a login under the limit whose session write Redis refused (LIMIT_UNDO), best effort: what
   * it cannot undo stays as a failed login leaves it. The login's own member goes only when its session is
   * absent, as a refused write leaves it: the index must hold every session that exists.
   */
  private async undoLimit(userId: string, handle: string, evicted: string[]): Promise<void> {
    const operation = 'createWithinLimit';
    try {
      const key = this.sessionKey(handle);
      const absent = Number(await this.cmd(operation, key, ['EXISTS', key])) === 0;
      if (!absent && evicted.length === 0) return;
      await this.eval(
        operation,
        SCRIPTS.limitUndo,
        [this.indexKey(userId), this.epochKey(userId)],
        [String(Date.now()), absent ? handle : '', ...evicted],
      );
    } catch {
      // The login failed either way; its evictions then stand, as after a lost connection.
    }
  }

  getByHandle(handle: string): Promise<SessionSummary | null> {
    return this.run('getByHandle', async () => {
      checkHandle('getByHandle', handle);
      if (!HANDLE.test(handle)) return null;
      return this.loadSummary(handle, 'getByHandle');
    });
  }

  destroyByHandle(handle: string): Promise<boolean> {
    return this.run('destroyByHandle', async () => {
      checkHandle('destroyByHandle', handle);
      if (!HANDLE.test(handle)) return false;
      return this.destroyHandle(handle, '', 'destroyByHandle');
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.closeClient) await this.driver.close(this.timeout);
  }

  // ------------------------------------------------------------------------------------------ keys

  private sessionKey(handle: string): string {
    return `${this.prefix}s:{${handle}}`;
  }

  private indexKey(userId: string): string {
    return `${this.prefix}u:{${storageKey(userId)}}`;
  }

  /** The user's revocation epoch: a hash in the index's slot (same hash tag), so one script sees both. */
  private epochKey(userId: string): string {
    return `${this.prefix}e:{${storageKey(userId)}}`;
  }

  /**
   * The user's in-progress marks (MARK_LUA): a sorted set in the index's slot, expiring with its last
   * mark, of the members whose binding may still be writing its session.
   */
  private markKey(userId: string): string {
    return `${this.prefix}p:{${storageKey(userId)}}`;
  }

  /**
   * How long (ms) a member just added to an index counts as a binding still writing its session: the
   * binding's session write is sent at most one round trip later, and gives up after `timeout`.
   */
  private grace(): number {
    return 2 * this.timeout;
  }

  private legacyKey(id: string): string {
    return `${this.legacyPrefix}${id}`;
  }

  private sessionPattern(): string {
    return `${escapeGlob(this.prefix)}s:{*`;
  }

  /**
   * Every operation, bounded by `timeout`. A timed-out operation on a client the store owns drops that
   * connection (at most once a second): its replies may never come, and the client would keep matching
   * later replies to the commands still owed them.
   */
  override run<T>(operation: string, fn: () => Promise<T>): Promise<T> {
    // A client that knows it is not connected fails the call now, not after `timeout`: while Redis is
    // down every request would otherwise wait the whole timeout before its 503.
    if (this.driver.offline()) {
      if (this.closeClient && !this.closed && performance.now() - this.lastRevive > 1_000) {
        this.lastRevive = performance.now();
        this.driver.revive?.();
      }
      return Promise.reject(new StoreUnavailableError(operation, 'the Redis client is not connected'));
    }
    if (!this.evictionPolicyRead) this.checkEvictionPolicy();
    if (!this.closeClient) return super.run(operation, fn);
    return super.run(operation, fn).catch((error: unknown) => {
      if (isTimeout(error) && performance.now() - this.lastReconnect > 1_000) {
        this.lastReconnect = performance.now();
        this.driver.reconnect?.();
      }
      throw error;
    });
  }

  private lastReconnect = Number.NEGATIVE_INFINITY;
  private lastRevive = Number.NEGATIVE_INFINITY;

  /** Whether `checkEvictionPolicy` has read (or is reading) the servers' policy. */
  private evictionPolicyRead = false;

  /**
   * Warns once when a master's `maxmemory-policy` is not `noeviction`: any other policy lets Redis, at
   * its memory limit, evict keys this store cannot lose (a user's index, revocation epoch and marks carry
   * a TTL, so even a `volatile-*` policy takes them; docs/stores/redis.md, "Memory and eviction"). Read
   * from INFO (a managed Redis may refuse CONFIG), in the background, at construction when the client is
   * connected, else at the first call made while it is; Redis out of reach means another try on a later
   * call, INFO refused means none. A single server's INFO goes out before this returns, so it never falls
   * among the commands of a call made after.
   */
  private checkEvictionPolicy(): void {
    this.evictionPolicyRead = true;
    const info = ['INFO', 'memory'];
    let replies: Promise<unknown[]>;
    try {
      replies = this.driver.cluster
        ? this.driver.masters().then((nodes) => Promise.all(nodes.map((send) => send(info))))
        : this.driver.send(undefined, info).then((reply) => [reply]);
    } catch (error) {
      replies = Promise.reject(error);
    }
    replies.then(
      (all) => {
        const policies = new Set(all.map(evictionPolicyOf).filter((policy) => policy !== null));
        policies.delete('noeviction');
        if (policies.size === 0) return;
        process.emitWarning(
          `sessionkit: RedisStore: Redis's maxmemory-policy is ${[...policies].join(', ')}: at its memory limit Redis may evict the keys that list, count and revoke each user's sessions; use noeviction (docs/stores/redis.md, "Memory and eviction")`,
          { code: 'SESSIONKIT' },
        );
      },
      (error: unknown) => {
        if (isUnavailable(error)) this.evictionPolicyRead = false;
      },
    );
  }

  // ------------------------------------------------------------------------------------------ commands

  /** One command, with reachability failures turned into ERR_STORE_UNAVAILABLE. */
  private async cmd(operation: string, key: string | undefined, args: string[]): Promise<unknown> {
    try {
      return await this.driver.send(key, args);
    } catch (error) {
      return classify(operation, error);
    }
  }

  /**
   * EVALSHA, falling back to EVAL (which also caches the script) on a node that has not seen it. `key` is
   * the script's only key, or its keys (which share one hash tag), the first routing the call.
   */
  private eval(operation: string, s: Script, key: string | string[], args: string[]): Promise<unknown> {
    const command =
      typeof key === 'string'
        ? ['EVALSHA', s.sha, '1', key, ...args]
        : ['EVALSHA', s.sha, String(key.length), ...key, ...args];
    const route = command[3] as string;
    return this.driver.send(route, command).catch((error: unknown) => {
      if (!(error instanceof Error) || !error.message.startsWith('NOSCRIPT'))
        return classify(operation, error);
      command[0] = 'EVAL';
      command[1] = s.source;
      return this.driver.send(route, command).catch((again: unknown) => classify(operation, again));
    });
  }

  private async masters(operation: string): Promise<NodeSender[]> {
    try {
      return await this.driver.masters();
    } catch (error) {
      return classify(operation, error);
    }
  }

  private async scan(
    send: NodeSender,
    cursor: string,
    match: string,
    count: number,
  ): Promise<[string, string[]]> {
    let reply: unknown;
    try {
      reply = await send(['SCAN', cursor, 'MATCH', match, 'COUNT', String(Math.max(count, this.scanCount))]);
    } catch (error) {
      return classify('scan', error);
    }
    const [next, keys] = reply as [unknown, unknown[]];
    return [text(next), keys.map(text)];
  }

  /** Every key matching `match` on every master, a SCAN batch at a time. */
  private async eachKey(
    operation: string,
    match: string,
    onBatch: (keys: string[]) => Promise<void>,
  ): Promise<void> {
    for (const send of await this.masters(operation)) {
      let cursor = '0';
      do {
        const [next, keys] = await this.scan(send, cursor, match, this.scanCount);
        if (keys.length > 0) await onBatch(keys);
        cursor = next;
      } while (cursor !== '0');
    }
  }

  // ------------------------------------------------------------------------------------------ reading

  /**
   * The native record under `handle`: the record, `null` when the key holds something undecodable (it is
   * reported), `undefined` when there is none or it has expired.
   */
  private readHandle(handle: string, operation: string): Promise<Decoded | null | undefined> {
    const key = this.sessionKey(handle);
    return this.driver.send(key, ['HGETALL', key]).then(
      (reply) => {
        let decoded: Decoded | undefined;
        try {
          decoded = decodeHash(handle, reply);
        } catch (error) {
          reportCorrupt(this, error);
          return null;
        }
        return decoded === undefined || decoded.expiresAt <= Date.now() ? undefined : decoded;
      },
      (error: unknown) => {
        if (error instanceof Error && error.message.startsWith('WRONGTYPE')) {
          reportCorrupt(this, new CorruptSessionError('the session key is not a hash', error));
          return null;
        }
        return classify(operation, error);
      },
    );
  }

  private async loadSummary(handle: string, operation: string): Promise<SessionSummary | null> {
    const found = await this.readHandle(handle, operation);
    return found && (await this.alive(found, operation)) ? summaryOf(found) : null;
  }

  /** The user's epoch, and which of `handles` the per-user limit evicted; one command. */
  private async readEpoch(userId: string, operation: string, handles: string[] = []): Promise<Epoch> {
    const key = this.epochKey(userId);
    const reply = await this.cmd(operation, key, [
      'HMGET',
      key,
      'n',
      'k',
      'f',
      ...handles.map((handle) => `x:${handle}`),
    ]);
    const [n, keep, from, ...marks] = Array.isArray(reply) ? reply : [];
    const evicted = new Set<string>();
    marks.forEach((mark, i) => {
      if (mark !== null && mark !== undefined) evicted.add(handles[i] as string);
    });
    return {
      n: n === null || n === undefined ? 0 : Number(text(n)),
      keep: keep === null || keep === undefined ? null : text(keep),
      from: from === null || from === undefined ? 0 : Number(text(from)),
      evicted,
    };
  }

  /**
   * False when the session's user revoked every session since it was stamped: the session is then
   * removed (unless rebound or re-stamped meanwhile) and treated as absent. Costs a second command for a
   * session bound to a user; none for an anonymous one.
   */
  private async alive(found: Decoded, operation: string): Promise<boolean> {
    if (found.userId === null) return true;
    if (!revoked(found, await this.readEpoch(found.userId, operation, [found.handle]))) return true;
    await this.bury(found, operation);
    return false;
  }

  /** Removes a revoked session, best effort: it is dead whether or not this lands. */
  private async bury(found: Decoded, operation: string): Promise<void> {
    const userId = found.userId ?? '';
    try {
      const [deleted] = tuple(
        await this.eval(operation, SCRIPTS.destroy, this.sessionKey(found.handle), [
          userId,
          found.stamp ?? '-',
        ]),
      );
      if (deleted === 1) {
        const index = this.indexKey(userId);
        await this.cmd(operation, index, ['ZREM', index, found.handle]);
      }
    } catch {
      // The epoch keeps it dead; expiry or the next load removes it.
    }
  }

  private async readLegacy(id: string): Promise<SessionRecord | null> {
    const key = this.legacyKey(id);
    let raw: unknown;
    try {
      raw = await this.driver.send(key, ['GET', key]);
    } catch (error) {
      if (error instanceof Error && error.message.startsWith('WRONGTYPE')) return null;
      return classify('get', error);
    }
    if (raw === null || raw === undefined) return null;
    const now = Date.now();
    let record: SessionRecord;
    try {
      record = fromStoredExpressSession(text(raw), now, this.ttl);
    } catch (error) {
      reportCorrupt(this, error);
      return null;
    }
    // The key's own TTL is the authority: connect-redis's touch moves it, never the payload's expiry. The
    // payload's is kept where the two agree (it has the millisecond; the TTL has the round trip's lag).
    const ttl = Number(await this.cmd('get', key, ['PTTL', key]));
    if (ttl === -2) return null;
    if (ttl > 0 && Math.abs(now + ttl - record.expiresAt) > 1_000)
      record = { ...record, expiresAt: now + ttl };
    if (record.expiresAt <= now) return null;
    if (record.userId !== null && (await this.legacyRevoked(id, record.userId))) {
      await this.cmd('get', key, ['DEL', key]).catch(() => undefined);
      return null;
    }
    return record;
  }

  /**
   * A session still in the old layout was bound before its user's first revoke (the old layout has no
   * epoch, and this store only reads it): stamp 0, so any revoke since ended it, unless that revoke kept it.
   */
  private async legacyRevoked(id: string, userId: string): Promise<boolean> {
    const handle = storageKey(id);
    const epoch = await this.readEpoch(userId, 'get', [handle]);
    return epoch.n > 0 && revoked({ handle, stamp: '0' }, epoch);
  }

  private async indexMembers(userId: string, operation: string): Promise<Array<[string, number]>> {
    const index = this.indexKey(userId);
    const reply = await this.cmd(operation, index, ['ZRANGE', index, '0', '-1', 'WITHSCORES']);
    return scored(reply).filter(([handle]) => HANDLE.test(handle));
  }

  private async dropStale(userId: string, stale: Array<[string, number]>, operation: string): Promise<void> {
    if (stale.length === 0) return;
    const args = stale.flatMap(([handle, score]) => [handle, String(score)]);
    await this.eval(operation, SCRIPTS.indexDrop, [this.indexKey(userId), this.markKey(userId)], args);
  }

  /**
   * Removes `handle` from the index of `userId`, which it just left while bound with index score `ix`
   * (its `_ix`, '' when unknown), unless it was added to that index again since: a move back (INDEX_LEAVE).
   */
  private leaveIndex(userId: string, handle: string, ix: string, operation: string): Promise<unknown> {
    return this.eval(
      operation,
      SCRIPTS.indexLeave,
      [this.indexKey(userId), this.markKey(userId)],
      [handle, ix],
    );
  }

  // ------------------------------------------------------------------------------------------ writing

  /**
   * Raises the user's index to cover `expiresAt`, before the session that needs it is written: the index
   * then always holds every live session bound to the user, whatever fails in between. The score is
   * padded by the session's remaining lifetime so that a rolling session needs this extra command about
   * once per lifetime, not on every request. The member is marked in progress for the grace (`kind` 'c'
   * for a create, whose session is absent until written; 'b' for a write that binds an existing session),
   * so no reader drops it before that write lands; never past the session's own deadline, after which no
   * reader counts it anyway. Returns the score the index now holds (above `expiresAt`, and above the
   * member's previous score), which the session's `_ix` records.
   */
  private async raiseIndex(
    userId: string,
    handle: string,
    expiresAt: number,
    operation: string,
    kind: 'c' | 'b',
  ): Promise<{ score: number; epoch: string } | null> {
    const now = Date.now();
    const score = expiresAt + Math.max(expiresAt - now, 0);
    // A duration: the script dates the mark by the Redis server's clock (MARK_LUA).
    const mark = Math.min(this.grace(), expiresAt - now);
    const reply = await this.eval(
      operation,
      SCRIPTS.indexAdd,
      [this.indexKey(userId), this.epochKey(userId), this.markKey(userId)],
      [String(now), String(score), handle, String(mark), kind],
    );
    const [epoch, held] = reply as [unknown, unknown];
    // '-1': the per-user limit evicted this session; nothing of it may be written again.
    if (text(epoch) === '-1') return null;
    return { score: Number(text(held)), epoch: text(epoch) };
  }

  private async writeRecord(handle: string, record: SessionRecord, mode: 'c' | 's'): Promise<boolean> {
    const operation = mode === 'c' ? 'create' : 'set';
    const fields = dataFields(record.data);
    const cookie = stringifyJson(record.cookie ?? { originalMaxAge: null });
    let ix = '';
    let epoch = '0';
    if (record.userId !== null && record.userId !== undefined) {
      const raised = await this.raiseIndex(
        record.userId,
        handle,
        record.expiresAt,
        operation,
        mode === 'c' ? 'c' : 'b',
      );
      if (raised === null) return false;
      ix = String(raised.score);
      epoch = raised.epoch;
    }
    const key = this.sessionKey(handle);
    const [written, previous, previousIx] = tuple(
      await this.eval(operation, SCRIPTS.write, key, [
        ttlOf(record.expiresAt),
        String(record.expiresAt),
        String(record.createdAt),
        String(record.lastSeenAt),
        record.userId ?? '',
        ix,
        cookie,
        mode,
        epoch,
        ...fields,
      ]),
    );
    if (written === 1 && previous !== '' && previous !== (record.userId ?? '')) {
      await this.leaveIndex(previous, handle, previousIx, operation);
    }
    return written === 1;
  }

  private applyUpdate(handle: string, delta: SessionDelta, operation: string): Promise<'missing' | 'done'> {
    const key = this.sessionKey(handle);
    const dropped: string[] = [];
    const setPairs = dataFields(delta.set, dropped);
    const args = [
      ttlOf(delta.expiresAt),
      String(delta.expiresAt),
      String(delta.lastSeenAt),
      delta.userId === undefined ? 'k' : delta.userId === null ? 'n' : 's',
      delta.userId ?? '',
      '', // 6-8: the user whose index this update raised first, its score and epoch (see attempt)
      '',
      '0',
      delta.replace ? '1' : '0',
      delta.cookie === undefined ? '' : stringifyJson(delta.cookie),
      String(setPairs.length / 2),
      delta.maxBytes === undefined ? '' : String(delta.maxBytes),
      ...setPairs,
    ];
    // A key checkWellFormedKey refuses was never stored; its U+FFFD field would be another key's.
    for (const k of delta.unset) if (isWellFormedKey(k)) args.push(`d:${k}`);
    for (const k of dropped) args.push(`d:${k}`);
    // Promise steps rather than an async loop: nearly every update is done in its first round.
    const attempt = (round: number): Promise<'missing' | 'done'> =>
      this.eval(operation, SCRIPTS.update, key, args).then((reply) => {
        const [status, user, userIx] = tuple(reply);
        if (status === 0) return 'missing';
        if (status === 3) throw new SessionTooLargeError(Number(user), delta.maxBytes as number);
        if (status === 2) {
          if (round + 1 >= INDEX_ROUNDS)
            throw new Error('the user index kept moving under this update; try again');
          return this.raiseIndex(user, handle, delta.expiresAt, operation, 'b').then((raised) => {
            if (raised === null) return 'missing';
            args[5] = user;
            args[6] = String(raised.score);
            args[7] = raised.epoch;
            return attempt(round + 1);
          });
        }
        const bound = delta.userId === undefined ? user : (delta.userId ?? '');
        if (user === '' || user === bound) return 'done';
        return this.leaveIndex(user, handle, userIx, operation).then(() => 'done');
      });
    return attempt(0);
  }

  private async destroyHandle(handle: string, onlyUser: string, operation: string): Promise<boolean> {
    const [deleted, user] = tuple(
      await this.eval(operation, SCRIPTS.destroy, this.sessionKey(handle), [onlyUser]),
    );
    if (user !== '') {
      const index = this.indexKey(user);
      await this.cmd(operation, index, ['ZREM', index, handle]);
    }
    return deleted === 1;
  }

  /**
   * Moves a connect-redis record to the native layout on its first write. The legacy key is deleted after
   * the native record is created; if it had already gone, a destroy ran in between, and the native record
   * just written is removed again rather than resurrecting the session.
   */
  private async migrateLegacy(
    id: string,
    transform: (record: SessionRecord) => SessionRecord,
    retryNative: () => Promise<'missing' | 'done'>,
  ): Promise<boolean> {
    const record = await this.readLegacy(id);
    if (!record) return false;
    const handle = storageKey(id);
    const created = await this.writeRecord(handle, transform(record), 'c');
    if (!created) {
      // Someone else migrated it first: apply this write to their native record.
      return (await retryNative()) === 'done';
    }
    const legacyKey = this.legacyKey(id);
    const deleted = Number(await this.cmd('migrate', legacyKey, ['DEL', legacyKey]));
    if (deleted === 0) {
      await this.destroyHandle(handle, '', 'migrate');
      return false;
    }
    return true;
  }

  /** See SessionStore.resealByHandle: one script on the session hash, a compare-and-set per field. */
  resealByHandle(handle: string, swaps: readonly DataSwap[]): Promise<number> {
    return this.run('resealByHandle', async () => {
      checkHandle('resealByHandle', handle);
      checkSwaps('resealByHandle', swaps);
      if (!HANDLE.test(handle) || swaps.length === 0) return 0;
      const args = swaps.flatMap(({ key, from, to }) => [`d:${key}`, stringifyJson(from), stringifyJson(to)]);
      const replaced = await this.eval('resealByHandle', RESEAL_SCRIPT, this.sessionKey(handle), args);
      return Number(replaced);
    });
  }
}

// ---------------------------------------------------------------------------------------------- helpers

function tuple(reply: unknown): [number, string, string] {
  if (typeof reply === 'number') return [reply, '', ''];
  const [n, s, t] = reply as [unknown, unknown, unknown];
  return [
    Number(n),
    s === undefined || s === null ? '' : text(s),
    t === undefined || t === null ? '' : text(t),
  ];
}

function ttlOf(expiresAt: number): string {
  // PEXPIRE with 0 deletes at once: a record written already expired is never readable.
  return String(Math.max(0, Math.ceil(expiresAt - Date.now())));
}

/**
 * The data as hash fields. A value JSON cannot hold (`undefined`, a function, a symbol, a `toJSON` that
 * gives nothing) is left out, as JSON.stringify leaves it out of the other stores' documents; its key
 * goes to `dropped` when given, for an update to delete the field the merged data would lose.
 */
function dataFields(data: Record<string, unknown>, dropped?: string[]): string[] {
  const out: string[] = [];
  for (const key of Object.keys(data)) {
    if (isForbiddenKey(key)) continue;
    checkWellFormedKey(key);
    const json = stringifyJson(data[key]) as string | undefined;
    if (json === undefined) dropped?.push(key);
    else out.push(`d:${key}`, json);
  }
  return out;
}

/** The record an HGETALL reply holds, `undefined` for an empty reply (no such key). */
function decodeHash(handle: string, reply: unknown): Decoded | undefined {
  const data: Record<string, unknown> = {};
  let fields = 0;
  let cookie: CookieData | undefined;
  let expiresAt = Number.NaN;
  let createdAt = Number.NaN;
  let lastSeenAt = Number.NaN;
  let userId: string | null = null;
  let stamp: string | null = null;
  eachField(reply, (field, value) => {
    fields++;
    if (field.startsWith('d:')) {
      const key = field.slice(2);
      if (!isForbiddenKey(key)) data[key] = parseJson(value);
      return;
    }
    switch (field) {
      case '_c': {
        const parsed = parseJson(value);
        if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
          throw new CorruptSessionError('`cookie` is not an object');
        }
        cookie = parsed as CookieData;
        break;
      }
      case '_e':
        expiresAt = Number(value);
        break;
      case '_cr':
        createdAt = Number(value);
        break;
      case '_ls':
        lastSeenAt = Number(value);
        break;
      case '_u':
        userId = value;
        break;
      case '_ep':
        stamp = value;
        break;
      default:
        break;
    }
  });
  if (fields === 0) return undefined;
  if (!cookie) throw new CorruptSessionError('`cookie` missing');
  if (!Number.isFinite(expiresAt) || !Number.isFinite(createdAt) || !Number.isFinite(lastSeenAt)) {
    throw new CorruptSessionError('timestamps missing or not numbers');
  }
  return { handle, data, cookie, expiresAt, createdAt, lastSeenAt, userId, stamp };
}

function strip(decoded: Decoded): SessionRecord {
  const { data, cookie, expiresAt, createdAt, lastSeenAt, userId } = decoded;
  return { data, cookie, expiresAt, createdAt, lastSeenAt, userId };
}

function summaryOf(decoded: Decoded): SessionSummary {
  const { cookie: _cookie, stamp: _stamp, ...summary } = decoded;
  return summary;
}

/**
 * A session stamped below its user's epoch is dead, unless it is the one the last revoke kept. One
 * without a stamp was bound by a sessionkit without epochs (0.1.0, sharing the store during a rolling
 * upgrade), and is judged as that version judged it: the epoch does not revoke it (destroyByUser still
 * deletes it through the index, which that version keeps too). Taking it for epoch 0 would log out every
 * login such a server makes after the user's first revoke.
 */
function revoked(decoded: Pick<Decoded, 'handle' | 'stamp'>, epoch: Epoch): boolean {
  if (epoch.evicted.has(decoded.handle)) return true;
  if (decoded.stamp === null) return false;
  const stamp = Number(decoded.stamp);
  if (stamp >= epoch.n) return false;
  return !(decoded.handle === epoch.keep && stamp >= epoch.from);
}

/** The `maxmemory_policy` an INFO reply names, or null. */
function evictionPolicyOf(reply: unknown): string | null {
  const info = typeof reply === 'string' || Buffer.isBuffer(reply) ? text(reply) : String(reply);
  return /^maxmemory_policy:(\S+)/m.exec(info)?.[1] ?? null;
}

function handleOf(key: string): string {
  const open = key.lastIndexOf('{');
  return key.slice(open + 1, key.length - 1);
}

function parseCursor(cursor: string | null): [number, string] {
  if (!cursor) return [0, '0'];
  const match = /^(\d{1,9}):(\d{1,20})$/.exec(cursor);
  // A cursor is only ever one this store handed out (a master's rank, then a SCAN cursor, an unsigned
  // 64-bit integer): anything else is the caller's mistake, typed, not a store error from Redis.
  if (!match || BigInt(match[2] as string) >= 2n ** 64n)
    throw new InvalidArgumentError('list', 'options.cursor', 'a cursor from an earlier page of list()');
  return [Number(match[1]), match[2] as string];
}

function escapeGlob(value: string): string {
  return value.replace(/[*?[\]\\]/g, '\\$&');
}

function escapeRegExp(value: string): string {
  return value.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

// ---------------------------------------------------------------------------------------------- URLs

/**
 * Builds a store from a URL, with a client of its own configured to fail fast (no offline queue, a
 * command timeout, reconnection in the background); the store quits it on `close()`.
 *
 * - `redis://[user:pass@]host:port[/db]`, `rediss://…` (TLS): one server.
 * - `redis+sentinel://[user:pass@]sentinel:port/<master name>[?sentinel=host:port&sentinel=…]`: Sentinel
 *   (ioredis); further sentinels as repeated `sentinel` parameters, since a URL has one authority.
 * - `redis+cluster://host:port[?node=host:port&node=…]` (`rediss+cluster://` for TLS): a Cluster.
 *
 * Query parameters: those of the store registry (`src/stores/registry.ts`); `client=redis|ioredis` picks the
 * client (default: node-redis when installed, else ioredis; Sentinel always uses ioredis).
 */
export async function createFromUrl(url: URL): Promise<RedisStore> {
  const definition = storeDefinition('RedisStore');
  if (!definition.schemes.includes(url.protocol))
    throw new StoreUrlError(`redis URL: unsupported scheme ${url.protocol}`);
  const params = readParams(url, definition);
  const timeout = params.timeout as number | undefined;
  const client = await connectFromUrl(url, (params.client as string | undefined) ?? null, {
    timeout: timeout ?? 5_000,
  });
  return new RedisStore({
    client,
    closeClient: true,
    ...(timeout === undefined ? {} : { timeout }),
    ...(params.ttl === undefined ? {} : { ttl: params.ttl as number }),
    ...(params.prefix === undefined ? {} : { prefix: params.prefix as string }),
    ...(params.scanCount === undefined ? {} : { scanCount: params.scanCount as number }),
    ...(params.legacy === undefined ? {} : { legacy: 'connect-redis' as const }),
    ...(params.legacyPrefix === undefined ? {} : { legacyPrefix: params.legacyPrefix as string }),
  });
}

/** A store timeout, or a client's own command timeout wrapped as its cause. */
function isTimeout(error: unknown): boolean {
  if (error instanceof StoreTimeoutError) return true;
  const cause = (error as { cause?: unknown } | null)?.cause;
  return cause instanceof Error && (cause.name === 'TimeoutError' || cause.message === 'Command timed out');
}
