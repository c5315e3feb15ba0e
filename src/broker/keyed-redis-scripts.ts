/**
 * Lua for keyed channels on Redis (docs/keyed-channels.md): the latest publication per key, updated inside the publish
 * script (same atomic step as the offset and history), and read in pages by offset.
 *
 * Keys of one channel, all under its hash tag (RedisKeys):
 *   state   hash  key -> encoded publication (the key's latest: an upsert, or a delete kept as a tombstone)
 *   order   zset  key scored by the offset of its latest publication (the compacted log, read with ZRANGEBYSCORE)
 *   tombs   zset  deleted keys scored by offset (oldest first: expiry and eviction read its head)
 *   meta    hash  + `kc`: every tombstone above this offset is still kept; `kt`: tombstone ttl (ms) of the last publish
 * A keyed channel's meta never expires while it holds keys (PERSIST): offline clients come back days later.
 */
import { lua, PRELUDE } from './redis-lua.js';
import { NO_STREAM_EPOCH } from '../protocol/index.js';

/** Tombstone ttl a read uses for a channel whose publishes never stored one (7 days, as `keyed.tombstoneTtl`). */
export const DEFAULT_TOMBSTONE_TTL_MS = 7 * 24 * 3600 * 1000;

/** Tombstones dropped per script call at most, so one call never runs long; the rest go on the next calls. */
const EXPIRE_BATCH = 200;

/**
 * Functions spliced into the publish script (and used by the state script). Each takes the keys explicitly (they are
 * passed in KEYS by the caller, as Redis Cluster requires).
 */
export const KEYED_LUA = `
local function keyed_drop(ks, ko, kt, meta, key, offset)
  redis.call('HDEL', ks, key)
  redis.call('ZREM', ko, key)
  redis.call('ZREM', kt, key)
  if offset > tonumber(redis.call('HGET', meta, 'kc') or '0') then
    redis.call('HSET', meta, 'kc', string.format('%d', offset))
  end
end
local function keyed_init(ks, ko, kt, meta)
  if redis.call('HEXISTS', meta, 'kc') == 0 then
    redis.call('DEL', ks, ko, kt)
    redis.call('HSET', meta, 'kc', '0')
  end
end
local function keyed_expire(ks, ko, kt, meta, min_time)
  for _ = 1, ${EXPIRE_BATCH} do
    local head = redis.call('ZRANGE', kt, 0, 0, 'WITHSCORES')
    if #head == 0 then return end
    local entry = redis.call('HGET', ks, head[1])
    if entry and cjson.decode(entry).t > min_time then return end
    keyed_drop(ks, ko, kt, meta, head[1], tonumber(head[2]))
  end
end
local function keyed_admit(ks, ko, kt, meta, key, max_keys, ttl, now)
  keyed_init(ks, ko, kt, meta)
  keyed_expire(ks, ko, kt, meta, now - ttl)
  if redis.call('HEXISTS', ks, key) == 1 or redis.call('HLEN', ks) < max_keys then return false end
  local oldest = redis.call('ZRANGE', kt, 0, 0, 'WITHSCORES')
  if #oldest == 0 then return true end
  keyed_drop(ks, ko, kt, meta, oldest[1], tonumber(oldest[2]))
  return false
end
local function keyed_write(ks, ko, kt, meta, key, op, ttl, offset, pub)
  redis.call('HSET', ks, key, pub)
  redis.call('ZADD', ko, offset, key)
  if op == 'delete' then redis.call('ZADD', kt, offset, key) else redis.call('ZREM', kt, key) end
  redis.call('HSET', meta, 'kt', string.format('%d', ttl))
  redis.call('PERSIST', meta)
end
`;

/**
 * The lines the publish script runs for a keyed publication: `KEYED_ADMIT` before the offset is taken (a refused
 * publication leaves no hole), `KEYED_WRITE` after the publication is encoded. Keyed publishes pass KEYS[3..5] =
 * state, order, tombs and, as the last four ARGV, key, op, max keys, tombstone ttl ms. Needs `now`, `meta`, `offset`,
 * `pub` in scope.
 */
export const KEYED_ADMIT = `
local kk = #KEYS >= 5 and #ARGV - 3
if kk and keyed_admit(KEYS[3], KEYS[4], KEYS[5], meta, ARGV[kk], tonumber(ARGV[kk + 2]), tonumber(ARGV[kk + 3]), now) then
  return {'', 0, 0, 'key_limit'}
end
`;
export const KEYED_WRITE = `
if kk then keyed_write(KEYS[3], KEYS[4], KEYS[5], meta, ARGV[kk], ARGV[kk + 1], tonumber(ARGV[kk + 3]), offset, pub) end
`;

/**
 * Reads a page of the state: entries with offset > `after`, oldest first, dropping expired tombstones first so they
 * are never returned. Creates nothing: a channel without stream state reads as empty at epoch NO_STREAM_EPOCH, one
 * never published with keys as an empty state.
 * KEYS: meta, hist, state, order, tombs. ARGV: epoch candidate (unused), meta ttl ms, after, limit, default tombstone
 * ttl ms.
 * Returns {epoch, top offset, complete, encoded publications}.
 */
export const STATE_SCRIPT = lua(`${PRELUDE}${KEYED_LUA}
local meta, ks, ko, kt = KEYS[1], KEYS[3], KEYS[4], KEYS[5]
local m = redis.call('HMGET', meta, 'epoch', 'offset', 'kc')
if not m[1] then return {'${NO_STREAM_EPOCH}', 0, 0, {}} end
local epoch, top = m[1], tonumber(m[2] or '0')
-- No 'kc': never published with keys since the stream began (state keys, if any, are an older stream's leftovers).
if not m[3] then return {epoch, top, 0, {}} end
keyed_expire(ks, ko, kt, meta, now_ms() - tonumber(redis.call('HGET', meta, 'kt') or ARGV[5]))
-- Nothing left to keep: the channel may idle out again like any other.
if redis.call('HLEN', ks) == 0 and redis.call('PTTL', meta) == -1 then redis.call('PEXPIRE', meta, ARGV[2]) end
local keys = redis.call('ZRANGEBYSCORE', ko, '(' .. ARGV[3], '+inf', 'LIMIT', 0, tonumber(ARGV[4]))
local pubs = {}
if #keys > 0 then pubs = redis.call('HMGET', ks, unpack(keys)) end
return {epoch, top, tonumber(redis.call('HGET', meta, 'kc')), pubs}
`);
