/**
 * What every Redis broker script shares: the script value (source + SHA-1 for EVALSHA) and a Lua prelude of helper
 * functions. Both script modules (redis-scripts.ts, keyed-redis-scripts.ts) build on it, so neither imports the other
 * for these.
 */
import { createHash } from 'node:crypto';

export interface LuaScript {
  readonly source: string;
  readonly sha1: string;
}

export function lua(source: string): LuaScript {
  return { source, sha1: createHash('sha1').update(source).digest('hex') };
}

/**
 * - `now_ms()`: Redis time in ms (one clock for every node).
 * - `trim_age(hist, min_time)`: drops history entries at least that old from the head.
 * - `open_stream(meta, hist, candidate, meta_ttl)`: the channel's epoch and top offset; a channel without stream state
 *   (new, or lost by Redis) gets the candidate epoch, offset 0, no history and the idle expiry. Returns epoch, top, and
 *   whether it was just created.
 */
export const PRELUDE = `
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function trim_age(hist, min_time)
  while true do
    local head = redis.call('LINDEX', hist, 0)
    if not head or cjson.decode(head).t > min_time then return end
    redis.call('LPOP', hist)
  end
end
local function open_stream(meta, hist, candidate, meta_ttl)
  local m = redis.call('HMGET', meta, 'epoch', 'offset')
  if m[1] then return m[1], tonumber(m[2] or '0'), false end
  redis.call('DEL', hist)
  redis.call('HSET', meta, 'epoch', candidate, 'offset', 0)
  redis.call('PEXPIRE', meta, meta_ttl)
  return candidate, 0, true
end
`;
