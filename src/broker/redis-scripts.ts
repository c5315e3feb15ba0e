/**
 * The Lua scripts of the Redis broker. Each one runs atomically inside Redis, so a channel's epoch, offset, history
 * and pub/sub order never disagree, whichever node publishes. Time comes from Redis (`TIME`): one clock for every
 * node. Scripts are sent as EVALSHA and fall back to EVAL once per connection when Redis answers NOSCRIPT.
 *
 * Keys of one channel share the hash tag `{ch:<channel>}` (one cluster slot, see redis-keys.ts); each script touches
 * only the keys it is passed in KEYS, all of one channel, as Redis Cluster requires:
 *   meta     hash  epoch, offset (last assigned), ttl (history age bound of the last publish, ms)
 *   hist     list  encoded publications, oldest first; their offsets are contiguous and end at meta.offset
 *   presence hash  client id -> {"x":<expires at, ms>,"m":<member JSON>}
 */
import { KEYED_ADMIT, KEYED_LUA, KEYED_WRITE } from './keyed-redis-scripts.js';
import { lua, PRELUDE } from './redis-lua.js';
import { NO_STREAM_EPOCH } from '../protocol/index.js';

export type { LuaScript } from './redis-lua.js';

/**
 * Assigns the next position, appends to history, trims it, refreshes expiry and publishes, atomically.
 * KEYS: meta, hist. ARGV: epoch candidate (used when the channel has none), pub/sub channel, history size,
 * history ttl ms, meta ttl ms, encoded head `{"c":..,"e":..,"d":..`, encoded tail `}` or `,"m":{..}}`,
 * publish command (`PUBLISH`, or `SPUBLISH` on a cluster), idempotency window ms ('0': none). The pub/sub channel is not a key (so not in KEYS) but
 * carries the channel's hash tag: on a cluster, SPUBLISH from this script reaches the shard that runs it.
 * Keyed channels add KEYS state, order, tombs and four last ARGV (keyed-redis-scripts.ts); a new key past the
 * channel's limit returns {'', 0, 0, 'key_limit'} and publishes nothing.
An idempotent publish adds its key (RedisKeys.idempotency) as the last KEYS entry (after the keyed ones): seen within
its window, the script returns the first publication's {epoch, offset, time, 'replay'} and publishes nothing; else it
publishes and stores `epoch offset time` there with the window as its expiry, in the same atomic step.
 * Returns {epoch, offset, time}.
 */
export const PUBLISH_SCRIPT = lua(`${PRELUDE}${KEYED_LUA}
local meta, hist = KEYS[1], KEYS[2]
local size, ttl = tonumber(ARGV[3]), tonumber(ARGV[4])
local idem = tonumber(ARGV[9])
if idem > 0 then
  local seen = redis.call('GET', KEYS[#KEYS])
  if seen then
    local e, o, t = string.match(seen, '^(%S+) (%d+) (%d+)$')
    return {e, tonumber(o), tonumber(t), 'replay'}
  end
end
local now = now_ms()
local epoch = redis.call('HGET', meta, 'epoch')
if not epoch then
  epoch = ARGV[1]
  redis.call('DEL', hist)
  redis.call('HSET', meta, 'epoch', epoch)
end
${KEYED_ADMIT}
local offset = redis.call('HINCRBY', meta, 'offset', 1)
redis.call('HSET', meta, 'ttl', ARGV[4])
local pub = ARGV[6] .. ',"p":"' .. epoch .. '","o":' .. string.format('%d', offset) ..
  ',"t":' .. string.format('%d', now) .. ARGV[7]
if size > 0 then
  redis.call('RPUSH', hist, pub)
  redis.call('LTRIM', hist, -size, -1)
  trim_age(hist, now - ttl)
  redis.call('PEXPIRE', hist, ARGV[5])
else
  redis.call('DEL', hist)
end
redis.call('PEXPIRE', meta, ARGV[5])
${KEYED_WRITE}
redis.call(ARGV[8], ARGV[2], pub)
if idem > 0 then
  redis.call('SET', KEYS[#KEYS], epoch .. ' ' .. string.format('%d', offset) .. ' ' .. string.format('%d', now), 'PX', idem)
end
return {epoch, offset, now}
`);

/**
 * Reads positions and a range of history, dropping age-expired entries first so they are never returned. A channel
 * without stream state reads as empty at epoch NO_STREAM_EPOCH and nothing is written, unless `open` (a subscriber's
 * read), which creates its epoch.
 * KEYS: meta, hist. ARGV: epoch candidate, default history ttl ms, meta ttl ms, since epoch ('' = none),
 * since offset, limit (-1 = all), reverse ('1' = newest `limit`), open ('1' = create the stream when it has none).
 * Returns {epoch, top offset, earliest offset, encoded publications oldest first}.
 */
export const HISTORY_SCRIPT = lua(`${PRELUDE}
local meta, hist = KEYS[1], KEYS[2]
if ARGV[8] ~= '1' and redis.call('EXISTS', meta) == 0 then return {'${NO_STREAM_EPOCH}', 0, 1, {}} end
local epoch, top, fresh = open_stream(meta, hist, ARGV[1], ARGV[3])
if not fresh then trim_age(hist, now_ms() - tonumber(redis.call('HGET', meta, 'ttl') or ARGV[2])) end
local earliest = top - redis.call('LLEN', hist) + 1
local pubs = {}
local since_epoch = ARGV[4]
if since_epoch == '' or since_epoch == epoch then
  local from, to = earliest, top
  if since_epoch ~= '' then from = math.max(from, tonumber(ARGV[5]) + 1) end
  local limit = tonumber(ARGV[6])
  if limit >= 0 and to - from + 1 > limit then
    if ARGV[7] == '1' then from = to - limit + 1 else to = from + limit - 1 end
  end
  if to >= from then pubs = redis.call('LRANGE', hist, from - earliest, to - earliest) end
end
return {epoch, top, earliest, pubs}
`);

/** KEYS: presence. ARGV: presence ttl ms, then client id and member JSON of each entry written (any number of them). */
export const ADD_PRESENCE_SCRIPT = lua(`${PRELUDE}
local head = '{"x":' .. string.format('%d', now_ms() + tonumber(ARGV[1])) .. ',"m":'
for i = 2, #ARGV, 2 do
  redis.call('HSET', KEYS[1], ARGV[i], head .. ARGV[i + 1] .. '}')
end
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return 1
`);

/** KEYS: presence. Returns the live entries' values; removes expired ones (their node stopped refreshing). */
export const PRESENCE_SCRIPT = lua(`${PRELUDE}
local now = now_ms()
local all = redis.call('HGETALL', KEYS[1])
local live = {}
for i = 1, #all, 2 do
  local expires = tonumber(string.match(all[i + 1], '^{"x":(%d+),'))
  if expires and expires > now then live[#live + 1] = all[i + 1] else redis.call('HDEL', KEYS[1], all[i]) end
end
return live
`);
