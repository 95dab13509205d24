/**
 * RedisStore's server-side scripts, sent by EVALSHA (EVAL once when the server has not seen one).
 * Each script touches one key (KEYS[1]), or keys that share a hash tag (a user's index, revocation epoch
 * and in-progress marks), so every one is Cluster-safe; the session hash and the user's keys live in different slots and
 * are only ever written by separate commands.
 */
import { createHash } from 'node:crypto';

/** The `_v` field of every session hash the scripts write. */
const FORMAT_VERSION = '1';

/**
 * How many fields of a user's epoch hash a login under the per-user limit looks at to prune marks that no
 * longer matter (HSCAN COUNT, see LIMIT_LUA): well above the few marks one login adds, so the prune keeps
 * up, and small enough that a login's cost stays the same however many marks the hash holds.
 */
const MARKS_PRUNED_PER_LOGIN = 100;

// Lua's unpack() is bounded by its C stack (LUAI_MAXCSTACK, 8000), so long argument lists go out in
// chunks; every redis.call costs the server about as much as a small command, so each script batches its
// fields into as few calls as it can.
const BATCH_LUA = `
local function batch(cmd, k, list)
  for i = 1, #list, 2000 do
    redis.call(cmd, k, unpack(list, i, math.min(i + 1999, #list)))
  end
end
`;

/**
 * create (ARGV[8]=='c': NX) or set (whole-record upsert). ARGV[9] is the user's revocation epoch, read
 * with the index raise; a set that keeps the session's user keeps the epoch stamped at its login, so
 * rewriting a revoked session never brings it back; one without a stamp (bound by a sessionkit without
 * epochs, which the epoch does not revoke: see `revoked` in redis.ts) stays without. A session without a
 * user carries no `_ep`: such a sessionkit binding a user to it later leaves `_ep` as it finds it, and a
 * stamp there would date that login before the last revoke. Writes the data's size bound `_sz` (see
 * UPDATE_LUA).
 * Returns {written, previous user, the index score it was bound with (\`_ix\`) or ''}.
 */
const WRITE_LUA = `${BATCH_LUA}
local k = KEYS[1]
local old = false
local oldix = false
local ep = ARGV[9]
if ARGV[8] == 'c' then
  if redis.call('EXISTS', k) == 1 then return {0, ''} end
else
  if redis.call('TYPE', k).ok == 'hash' then
    local prev = redis.call('HMGET', k, '_u', '_ep', '_ix')
    old = prev[1]
    oldix = prev[3]
    if old and old == ARGV[5] then ep = prev[2] end
  end
  redis.call('DEL', k)
end
local set = {'_v', '${FORMAT_VERSION}', '_c', ARGV[7], '_e', ARGV[2], '_cr', ARGV[3], '_ls', ARGV[4]}
if ARGV[5] ~= '' then
  set[11] = '_u'; set[12] = ARGV[5]; set[13] = '_ix'; set[14] = ARGV[6]
  if ep then set[15] = '_ep'; set[16] = ep end
end
local sz = 2
for i = 10, #ARGV, 2 do sz = sz + #ARGV[i] + 2 + #ARGV[i + 1] end
set[#set + 1] = '_sz'; set[#set + 1] = sz; set[#set + 1] = '_sl'; set[#set + 1] = ARGV[4]
for i = 10, #ARGV do set[#set + 1] = ARGV[i] end
batch('HSET', k, set)
redis.call('PEXPIRE', k, ARGV[1])
return {1, old or '', oldix or ''}
`;

/**
 * update / touch: merges the delta into the hash, never creating it. Returns {0} when missing, {2, user}
 * when the user's index must first be raised to cover the new deadline (nothing written), {3, bytes}
 * when the merged data would be over the size cap (nothing written), else {1, previous user, the index
 * score it was bound with (\`_ix\`) or ''}.
 * ARGV: 1 ttl, 2 expiresAt, 3 lastSeenAt, 4 user flag (k keep, n unbind, s set), 5 user, 6 user whose
 * index was just raised, 7 the score it was raised to, 8 that user's revocation epoch, read with the
 * raise, 9 replace, 10 cookie JSON or '', 11 number of set pairs, 12 the cap on the data's JSON size in
 * bytes or '', then the pairs, then the fields to delete. A session that changes user is stamped with the
 * new user's epoch; one that keeps its user keeps its stamp, or its lack of one (an update never revives a
 * revoked session); one left without a user loses it (see WRITE_LUA).
 * Every record has `_e`, so one HMGET both proves the hash is there and reads the user binding; pcall
 * turns a key of another type into "missing", as TYPE did.
 *
 * The size is that of the data as one JSON object: each `d:<key>` field stands for `"<key>":<value>`,
 * and the field name is as long as the quoted key (a key JSON must escape counts a few bytes short). It is
 * checked here, inside the script, so concurrent writes cannot add up past the cap (only writes that set
 * keys can grow the data). Measuring it reads every data field (HKEYS, then HSTRLEN each), so the hash
 * keeps `_sz`, a bound never below the data's size, raised by what each write sets and never lowered by
 * what it replaces or deletes. A write whose new bound is within the cap needs no measuring; one over it
 * measures, and stores the exact figure. `_sl` is the `_ls` the bound was written with: a write by a
 * sessionkit that does not keep the bound (an older one, during a rolling upgrade) moves `_ls` and so
 * voids it.
 */
const UPDATE_LUA = `${BATCH_LUA}
local k = KEYS[1]
local meta = redis.pcall('HMGET', k, '_e', '_u', '_ix', '_sz', '_ls', '_sl')
if meta.err or not meta[1] then return {0, ''} end
local npairs = tonumber(ARGV[11])
local cap = tonumber(ARGV[12])
local replace = ARGV[9] == '1'
local sz = false
if replace then
  sz = 2
elseif meta[4] and meta[6] == meta[5] then
  sz = tonumber(meta[4])
end
if sz then
  for j = 13, 12 + 2 * npairs, 2 do sz = sz + #ARGV[j] + 2 + #ARGV[j + 1] end
end
if cap and npairs > 0 and ((not sz) or sz > cap) then
  local fresh = {}
  local size, count = 0, 0
  for j = 13, 12 + 2 * npairs, 2 do
    fresh[ARGV[j]] = true
    size = size + #ARGV[j] + 1 + #ARGV[j + 1]
    count = count + 1
  end
  for j = 13 + 2 * npairs, #ARGV do fresh[ARGV[j]] = true end
  if not replace then
    for _, f in ipairs(redis.call('HKEYS', k)) do
      if string.sub(f, 1, 2) == 'd:' and not fresh[f] then
        size = size + #f + 1 + redis.call('HSTRLEN', k, f)
        count = count + 1
      end
    end
  end
  if count > 1 then size = size + count - 1 end
  size = size + 2
  if size > cap then return {3, tostring(size)} end
  sz = size + 1
end
local cur = meta[2]
local nu = cur
if ARGV[4] == 'n' then nu = false elseif ARGV[4] == 's' then nu = ARGV[5] end
local ix = false
if nu then
  if nu == cur then ix = tonumber(meta[3]) end
  if nu == ARGV[6] then
    local g = tonumber(ARGV[7])
    if g and ((not ix) or g > ix) then ix = g end
  end
  if (not ix) or tonumber(ARGV[2]) > ix then return {2, nu} end
end
if replace then
  local stale = {}
  for _, f in ipairs(redis.call('HKEYS', k)) do
    if string.sub(f, 1, 2) == 'd:' then stale[#stale + 1] = f end
  end
  batch('HDEL', k, stale)
end
local set = {'_e', ARGV[2], '_ls', ARGV[3]}
if ARGV[10] ~= '' then set[5] = '_c'; set[6] = ARGV[10] end
if nu then
  set[#set + 1] = '_u'; set[#set + 1] = nu; set[#set + 1] = '_ix'; set[#set + 1] = string.format('%.17g', ix)
  if nu ~= cur then set[#set + 1] = '_ep'; set[#set + 1] = ARGV[8] end
end
local gone = {}
if sz then
  set[#set + 1] = '_sz'; set[#set + 1] = sz; set[#set + 1] = '_sl'; set[#set + 1] = ARGV[3]
elseif meta[4] then
  gone[1] = '_sz'; gone[2] = '_sl'
end
local i = 13
for _ = 1, 2 * npairs do
  set[#set + 1] = ARGV[i]
  i = i + 1
end
batch('HSET', k, set)
for j = i, #ARGV do gone[#gone + 1] = ARGV[j] end
if not nu then
  if cur or meta[3] then gone[#gone + 1] = '_u'; gone[#gone + 1] = '_ix' end
  gone[#gone + 1] = '_ep'
end
batch('HDEL', k, gone)
redis.call('PEXPIRE', k, ARGV[1])
return {1, cur or '', meta[3] or ''}
`;

/**
 * Deletes a session; with ARGV[1] set, only if it is bound to that user (destroyByUser must not delete a
 * session that moved to someone else), and with ARGV[2] set, only if it still carries that revocation
 * epoch (a revoked session removed on sight, unless it was rebound meanwhile; '-' stands for no stamp).
 * Returns {deleted, user}.
 */
const DESTROY_LUA = `
local k = KEYS[1]
local t = redis.call('TYPE', k).ok
if t == 'none' then return {0, ''} end
local u = false
local ep = false
if t == 'hash' then
  local meta = redis.call('HMGET', k, '_u', '_ep')
  u = meta[1]
  ep = meta[2] or '-'
end
if ARGV[1] ~= '' and u ~= ARGV[1] then return {0, u or ''} end
if ARGV[2] and ARGV[2] ~= '' and ep ~= ARGV[2] then return {0, u or ''} end
redis.call('DEL', k)
return {1, u or ''}
`;

/** Deletes a session whose own deadline has passed (clock skew between app and Redis). */
const PRUNE_LUA = `
local k = KEYS[1]
if redis.call('TYPE', k).ok ~= 'hash' then return 0 end
local e = tonumber(redis.call('HGET', k, '_e'))
if e and e <= tonumber(ARGV[1]) then return redis.call('DEL', k) end
return 0
`;

// A user's in-progress marks (KEYS of the user's slot, \`p:{user}\`): a sorted set of \`<kind>:<handle>\`
// scored by the deadline (the Redis server's clock, ms) until which the member counts as a binding still
// writing its session. Kind \`c\`: a create (the session is absent until written); kind \`b\`: a write that
// binds an existing session (update, set), which readers may meanwhile find bound to nobody or someone
// else. Each add drops the marks past their deadline and expires the key at its last deadline, so it never
// outlives the bindings in flight.
// A mark is stamped by one app server and judged by another: only the Redis server's clock (\`clock()\`,
// TIME) is the same for both, so app servers whose clocks differ, or differ from Redis's, agree on how
// long a mark lasts. A script calls \`clock()\` before its first write: Redis before 5 only lets a script
// write after TIME once it has asked for its effects to be replicated, the default from Redis 5 on.
const MARK_LUA = `
local function clock()
  if redis.replicate_commands then redis.replicate_commands() end
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function mark(m, at, kind, h, ms)
  redis.call('ZREMRANGEBYSCORE', m, '-inf', string.format('(%.0f', at))
  local mk = kind .. ':' .. h
  local deadline = at + tonumber(ms)
  local was = tonumber(redis.call('ZSCORE', m, mk))
  if (not was) or deadline > was then redis.call('ZADD', m, string.format('%.0f', deadline), mk) end
  local top = redis.call('ZRANGE', m, -1, -1, 'WITHSCORES')
  redis.call('PEXPIRE', m, string.format('%.0f', math.ceil(tonumber(top[2]) - at) + 1))
end
local function pending(m, at, h, absent)
  local b = tonumber(redis.call('ZSCORE', m, 'b:' .. h))
  if b and b >= at then return true end
  if absent then
    local c = tonumber(redis.call('ZSCORE', m, 'c:' .. h))
    if c and c >= at then return true end
  end
  return false
end
`;

/**
 * Adds a member to a user index, scored at least ARGV[2] and strictly above its previous score (so a
 * reader's conditional removal, keyed on the score it saw, misses a concurrent re-add). Drops members
 * dead by score and keeps the key alive until the highest score. KEYS[2] is the user's revocation epoch
 * (same hash tag, same slot): its current number is returned, read in the same step as the add, so a
 * login either lands in the index before a revoke reads it or carries the epoch that revoke left. A
 * member the per-user limit evicted (its \`x:<handle>\` field, see LIMIT_LUA) is never added back:
 * returns {'-1'}, and the caller writes nothing. KEYS[3] is the user's in-progress marks (MARK_LUA): the
 * member is marked, of kind ARGV[5], for ARGV[4] ms (capped by the caller at the session's remaining
 * lifetime), so no reader drops it before its session is written. ARGV[1] is now (the app's clock, as
 * the scores are deadlines on it); the index key expires after its highest score, counted from ARGV[1]
 * (PEXPIRE, so a Redis server whose clock differs keeps it as long). Returns {the user's epoch, the score
 * the member now has}: the session's \`_ix\` is that very score, so INDEX_LEAVE can tell this binding
 * from a later one.
 */
const INDEX_ADD_LUA = `${MARK_LUA}
local k = KEYS[1]
local at = clock()
if redis.call('HEXISTS', KEYS[2], 'x:' .. ARGV[3]) == 1 then return {'-1'} end
redis.call('ZREMRANGEBYSCORE', k, '-inf', ARGV[1])
local old = tonumber(redis.call('ZSCORE', k, ARGV[3]))
local s = tonumber(ARGV[2])
if old and s <= old then s = old + 0.001 end
local score = string.format('%.17g', s)
redis.call('ZADD', k, score, ARGV[3])
local top = redis.call('ZRANGE', k, -1, -1, 'WITHSCORES')
redis.call('PEXPIRE', k, string.format('%.0f', math.ceil(tonumber(top[2]) - tonumber(ARGV[1])) + 1))
mark(KEYS[3], at, ARGV[5], ARGV[3], ARGV[4])
return {redis.call('HGET', KEYS[2], 'n') or '0', score}
`;

/**
 * "Log out everywhere" for one user (KEYS[1] the index, KEYS[2] the epoch hash, one slot): raises the
 * epoch FIRST and reads the index in the same step. Every session stamped below the new epoch is dead on
 * load, whether or not the caller then reaches it through the index. ARGV[1], when set, is the handle
 * kept alive (\`except\`): the epoch hash records it (\`k\`) with the lowest stamp it may carry (\`f\`), so the
 * kept session stays live through the bump without a second, cross-slot write. A kept handle that was
 * already exempt keeps its old floor; any other kept handle needs a stamp that was live before the bump.
 * The epoch hash has no expiry (PERSIST undoes the one LIMIT_LUA may have set): losing it would revive
 * every session it made dead. PERSIST is also the script's first write: at Redis's memory limit under
 * \`noeviction\`, Redis refuses a script whose first write is one that may grow memory (HSET), and lets
 * one that has written run to its end, so a "log out everywhere" still goes through when Redis is full.
 * Returns {new epoch, index members with scores}.
 */
const REVOKE_LUA = `
local e = KEYS[2]
redis.call('PERSIST', e)
local cur = redis.call('HMGET', e, 'n', 'k', 'f')
local n = tonumber(cur[1]) or 0
local nn = string.format('%d', n + 1)
if ARGV[1] ~= '' then
  local from = string.format('%d', n)
  if cur[2] == ARGV[1] and cur[3] then from = cur[3] end
  redis.call('HSET', e, 'n', nn, 'k', ARGV[1], 'f', from)
else
  redis.call('HSET', e, 'n', nn)
  redis.call('HDEL', e, 'k', 'f')
end
return {nn, redis.call('ZRANGE', KEYS[1], 0, -1, 'WITHSCORES')}
`;

/**
 * A login under the per-user limit (C31), in the user's slot (KEYS[1] the index, KEYS[2] the epoch hash,
 * KEYS[3] the in-progress marks of MARK_LUA), so logins of one user run one after another on the server
 * whichever app server sends them. ARGV: 1 now (the app's clock, which the index scores, the evicted
 * members' deadlines and createdAt are on), 2 the new member's score, 3 its handle, 4 max, 5 'r' to
 * refuse or 'e' to evict, 6 the replaced handle or '', 7 how long (ms) a member added here counts as a
 * login still writing its session, then triples (handle, score, createdAt, or 'a' / 'd') for the members
 * the caller read: 'a' marks one whose session it found absent, 'd' one bound to someone else, unbound or
 * revoked; either is dropped here if its score is unchanged and it is not a binding still in progress: a
 * login this script added (its \`p:<handle>\` field, stamped with the Redis server's clock like the marks
 * of MARK_LUA and for the same reason), or a mark of MARK_LUA (of either kind for 'a', a binding of an
 * existing session for 'd'). Every other member counts; one the caller did not see is a login newer than
 * its read. Evicted members, oldest createdAt first, leave the index and get an \`x:<handle>\` field
 * holding their score (a deadline no write of theirs can pass): readers treat the session as dead and
 * INDEX_ADD never takes it back, so no request of theirs still in flight can revive it.
 *
 * The login's own \`p:\` mark is the script's first write, and one that may grow memory: at Redis's memory
 * limit under \`noeviction\` Redis refuses such a first write, and with it the whole script, before it has
 * evicted anything (a first write that frees memory, as the prunes below do, would let the script run to
 * its end, and the login's session write would then be refused after its evictions). A refused login
 * takes its mark back.
 *
 * Each login prunes the marks that no longer matter from the next batch of the hash's fields (HSCAN, its
 * cursor kept in field \`s\`), never the whole hash: the \`x:\` marks of the last two lifetimes' evictions
 * may be many, and a login's cost must not grow with them. A mark not yet reached by the prune may still
 * be there: \`p:\` marks are judged by their stamp, and a stale \`x:\` mark only names a session long dead.
 * A hash with no revocation epoch (\`n\`) holds only these marks, so it expires once the last of them no
 * longer matters (a login's grace, an evicted member's deadline; PEXPIRE, counted from now) instead of
 * staying for every user who ever logged in under the limit: each login extends its expiry to cover the
 * marks it adds and never shortens it, which covers the marks it does not read. REVOKE_LUA makes it
 * permanent. Returns {'r'} when refused, else {'c', the user's epoch, evicted handles}.
 */
const LIMIT_LUA = `${MARK_LUA}${BATCH_LUA}
local k, e, m = KEYS[1], KEYS[2], KEYS[3]
local at = clock()
local now = tonumber(ARGV[1])
local grace = tonumber(ARGV[7])
local login = 'p:' .. ARGV[3]
redis.call('HSET', e, login, string.format('%.0f', at))
redis.call('ZREMRANGEBYSCORE', k, '-inf', ARGV[1])
local scan = redis.call('HSCAN', e, redis.call('HGET', e, 's') or '0', 'COUNT', ${MARKS_PRUNED_PER_LOGIN})
local fields = scan[2]
local stale = {}
for i = 1, #fields, 2 do
  local f, v = fields[i], tonumber(fields[i + 1])
  local kind = string.sub(f, 1, 2)
  if (kind == 'x:' and v < now) or (kind == 'p:' and v + grace < at) then stale[#stale + 1] = f end
end
if scan[1] == '0' then stale[#stale + 1] = 's' else redis.call('HSET', e, 's', scan[1]) end
batch('HDEL', e, stale)
local created = {}
for i = 8, #ARGV, 3 do
  local h = ARGV[i]
  local v = ARGV[i + 2]
  if v == 'a' or v == 'd' then
    local s = redis.call('ZSCORE', k, h)
    local p = tonumber(redis.call('HGET', e, 'p:' .. h))
    if s and tonumber(s) == tonumber(ARGV[i + 1]) and not (p and p + grace >= at)
      and not pending(m, at, h, v == 'a') then
      redis.call('ZREM', k, h)
    end
  else
    created[h] = tonumber(ARGV[i + 2])
  end
end
local live = {}
for _, h in ipairs(redis.call('ZRANGE', k, 0, -1)) do
  if h ~= ARGV[3] and h ~= ARGV[6] then live[#live + 1] = {h, created[h] or now} end
end
local over = #live - tonumber(ARGV[4]) + 1
if over > 0 and ARGV[5] == 'r' then
  redis.call('HDEL', e, login)
  return {'r'}
end
local evicted = {}
local last = grace
if over > 0 then
  table.sort(live, function(a, b)
    if a[2] ~= b[2] then return a[2] < b[2] end
    return a[1] < b[1]
  end)
  for i = 1, over do
    local h = live[i][1]
    local s = redis.call('ZSCORE', k, h)
    redis.call('HSET', e, 'x:' .. h, s)
    if tonumber(s) - now > last then last = tonumber(s) - now end
    redis.call('ZREM', k, h)
    redis.call('ZREM', m, 'b:' .. h, 'c:' .. h)
    evicted[#evicted + 1] = h
  end
end
redis.call('ZADD', k, ARGV[2], ARGV[3])
local top = redis.call('ZRANGE', k, -1, -1, 'WITHSCORES')
redis.call('PEXPIRE', k, string.format('%.0f', math.ceil(tonumber(top[2]) - now) + 1))
local n = redis.call('HGET', e, 'n')
if not n then
  local keep = math.ceil(last) + 1
  if redis.call('PTTL', e) < keep then redis.call('PEXPIRE', e, string.format('%.0f', keep)) end
end
return {'c', n or '0', evicted}
`;

/**
 * Takes back a login whose session write Redis refused (KEYS as LIMIT_LUA's; ARGV: 1 now, on the app's
 * clock, 2 the login's handle, or '' when its session may have been written after all, then the handles
 * LIMIT_LUA evicted for it): the login's member and \`p:\` mark go, so it counts against no later login,
 * and each evicted member goes back into the index at the score its \`x:\` mark kept, and the mark goes.
 * The first writes free memory (ZREM, HDEL), which Redis allows at its memory limit, and a script that has
 * written runs to its end: a write refused for want of memory can be undone. Returns how many came back.
 */
const LIMIT_UNDO_LUA = `
local k, e = KEYS[1], KEYS[2]
if ARGV[2] ~= '' then
  redis.call('ZREM', k, ARGV[2])
  redis.call('HDEL', e, 'p:' .. ARGV[2])
end
local back = {}
for i = 3, #ARGV do
  local s = redis.call('HGET', e, 'x:' .. ARGV[i])
  if s then
    redis.call('HDEL', e, 'x:' .. ARGV[i])
    back[#back + 1] = s
    back[#back + 1] = ARGV[i]
  end
end
if #back == 0 then return 0 end
redis.call('ZADD', k, unpack(back))
local top = redis.call('ZRANGE', k, -1, -1, 'WITHSCORES')
redis.call('PEXPIRE', k, string.format('%.0f', math.ceil(tonumber(top[2]) - tonumber(ARGV[1])) + 1))
return #back / 2
`;

/**
 * Removes members only if their score is still the one the caller read and they are not a binding of an
 * existing session still in progress (KEYS[2], MARK_LUA): the caller found them bound to someone else (or
 * to nobody), which such a binding looks like until its session write lands. ARGV: pairs of member,
 * score.
 */
const INDEX_DROP_LUA = `${MARK_LUA}
local n = 0
local at = clock()
for i = 1, #ARGV, 2 do
  local s = redis.call('ZSCORE', KEYS[1], ARGV[i])
  if s and tonumber(s) == tonumber(ARGV[i + 1]) and not pending(KEYS[2], at, ARGV[i], false) then
    n = n + redis.call('ZREM', KEYS[1], ARGV[i])
  end
end
return n
`;

/**
 * Removes a session from the index of the user it just left (KEYS[1], KEYS[2] that user's marks). ARGV: 1
 * the handle, 2 the index score the session was bound with when it left (its \`_ix\`), or ''.
 * Each index add leaves the member a score above its last one, so a member scored above ARGV[2] was added
 * again after that binding: a binding back to this user (U to V to U at once) whose removal here, landing
 * late, must not drop it. A member scored at most ARGV[2] is removed, with its binding mark: the binding
 * that mark stood for is the one the session just left. Without ARGV[2] (a session written by an older
 * version), a member marked as a binding in progress is kept. A member kept that was not a move back is
 * stale, and readers drop it once its mark has passed.
 */
const INDEX_LEAVE_LUA = `${MARK_LUA}
local h = ARGV[1]
local s = tonumber(redis.call('ZSCORE', KEYS[1], h))
if not s then return 0 end
local ix = tonumber(ARGV[2])
if ix then
  if s > ix then return 0 end
  redis.call('ZREM', KEYS[2], 'b:' .. h)
elseif pending(KEYS[2], clock(), h, false) then
  return 0
end
return redis.call('ZREM', KEYS[1], h)
`;

export interface Script {
  source: string;
  sha: string;
  /** How many keys the script takes (all in one slot). */
  keys?: number;
}

function script(source: string, keys = 1): Script {
  return { source, sha: createHash('sha1').update(source).digest('hex'), keys };
}

export const SCRIPTS = {
  write: script(WRITE_LUA),
  update: script(UPDATE_LUA),
  destroy: script(DESTROY_LUA),
  prune: script(PRUNE_LUA),
  indexAdd: script(INDEX_ADD_LUA, 3),
  revoke: script(REVOKE_LUA, 2),
  limit: script(LIMIT_LUA, 3),
  limitUndo: script(LIMIT_UNDO_LUA, 2),
  indexDrop: script(INDEX_DROP_LUA, 2),
  indexLeave: script(INDEX_LEAVE_LUA, 2),
};
