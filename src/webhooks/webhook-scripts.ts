/**
 * Lua scripts of the Redis webhook queue. Each runs atomically, so the decision "first subscriber across all nodes"
 * and the `channel_occupied` event it causes are one step: no node can die between them, and two nodes cannot both
 * decide it. Keys (prefix `<redis.prefix>:wh:`):
 * - `events`: the stream of waiting events (field `e`: the event JSON), capped at webhooks.maxQueue (oldest dropped);
 * - `occ:<channel>`: set of the node ids with a subscriber of the channel;
 * - `leases`: sorted set of `<node id> <channel>` scored by when it expires (ms), renewed by the live node, swept
 *   when its node died (its channel then vacated, if it was the last);
 * - `lock`: the node that delivers; `cursor:<hash of URL>`: the last stream id that URL acknowledged.
 * Lease times come from Redis' clock (TIME), so nodes' clocks may disagree without vacating a live node's channel.
 * Channel keys are built inside the scripts from the `occ:` prefix: fine on one Redis server, and the reason webhooks
 * refuse a Redis Cluster (config/schema.ts).
 */

/**
 * KEYS: events, leases. ARGV: maxQueue, node id, lease duration (ms), `occ:` prefix, then triples (kind, channel,
 * event JSON) with kind `event`, `enter` or `leave`. Returns {dropped, stream length}.
 */
export const APPEND_SCRIPT = `
local maxLen = tonumber(ARGV[1])
local node, occPrefix = ARGV[2], ARGV[4]
local t = redis.call('TIME')
local expiry = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) + tonumber(ARGV[3])
local dropped = 0
local function add(json)
  if redis.call('XLEN', KEYS[1]) >= maxLen then dropped = dropped + 1 end
  redis.call('XADD', KEYS[1], 'MAXLEN', maxLen, '*', 'e', json)
end
for i = 5, #ARGV, 3 do
  local kind, ch, json = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  if kind == 'event' then
    add(json)
  else
    local occ = occPrefix .. ch
    local member = node .. ' ' .. ch
    if kind == 'enter' then
      redis.call('ZADD', KEYS[2], string.format('%d', expiry), member)
      if redis.call('SADD', occ, node) == 1 and redis.call('SCARD', occ) == 1 then add(json) end
    else
      redis.call('ZREM', KEYS[2], member)
      if redis.call('SREM', occ, node) == 1 and redis.call('SCARD', occ) == 0 then add(json) end
    end
  end
end
return {dropped, redis.call('XLEN', KEYS[1])}
`;

/**
 * Leases of dead nodes: removes up to ARGV[2] expired ones (score <= now, Redis' clock in ms) and queues
 * `channel_vacated` for each channel left without a node. KEYS: events, leases. ARGV: unused, limit, `occ:` prefix,
 * id base (event ids are `<base>-<i>`), maxQueue. Returns how many channels were vacated.
 */
export const SWEEP_SCRIPT = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local expired = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', string.format('%d', now), 'LIMIT', 0, tonumber(ARGV[2]))
local n = 0
for i, m in ipairs(expired) do
  redis.call('ZREM', KEYS[2], m)
  local sp = string.find(m, ' ', 1, true)
  local node, ch = string.sub(m, 1, sp - 1), string.sub(m, sp + 1)
  local occ = ARGV[3] .. ch
  if redis.call('SREM', occ, node) == 1 and redis.call('SCARD', occ) == 0 then
    n = n + 1
    local json = '{"id":"' .. ARGV[4] .. '-' .. i .. '","name":"channel_vacated","time":' .. string.format('%d', now) .. ',"channel":' .. cjson.encode(ch) .. '}'
    redis.call('XADD', KEYS[1], 'MAXLEN', tonumber(ARGV[5]), '*', 'e', json)
  end
end
return n
`;

/**
 * Renews this node's leases of the channels it has subscribers of, and enters again a channel a sweep took from it
 * (Redis was unreachable longer than the lease), queueing `channel_occupied` if the channel had no node left.
 * KEYS: events, leases. ARGV: maxQueue, node id, lease duration (ms), `occ:` prefix, id base, then channels.
 * Returns how many channels were occupied again.
 */
export const RENEW_LEASES_SCRIPT = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local expiry = string.format('%d', now + tonumber(ARGV[3]))
local node = ARGV[2]
local n = 0
for i = 6, #ARGV do
  local ch = ARGV[i]
  redis.call('ZADD', KEYS[2], expiry, node .. ' ' .. ch)
  local occ = ARGV[4] .. ch
  if redis.call('SADD', occ, node) == 1 and redis.call('SCARD', occ) == 1 then
    n = n + 1
    local json = '{"id":"' .. ARGV[5] .. '-' .. i .. '","name":"channel_occupied","time":' .. string.format('%d', now) .. ',"channel":' .. cjson.encode(ch) .. '}'
    redis.call('XADD', KEYS[1], 'MAXLEN', tonumber(ARGV[1]), '*', 'e', json)
  end
end
return n
`;

/** KEYS: lock. ARGV: node id, ttl ms. Extends the lock if this node holds it: 1, else 0. */
export const RENEW_SCRIPT = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
`;

/** KEYS: lock. ARGV: node id. Releases the lock if this node holds it. */
export const RELEASE_SCRIPT = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`;

/**
 * KEYS: lock, cursor, events. ARGV: node id, acknowledged stream id, trim point ('' for none). Only while this node
 * holds the lock (else a node that lost it could move a cursor back): stores the cursor and drops the events every
 * URL has: those up to and including the trim point (XTRIM MINID keeps the point itself, so it is deleted too; a
 * reader resumes after its cursor whether or not the entry is still there, and the stream's length is then the queue
 * depth). Returns 1, or 0 when the lock is not held.
 */
export const ACK_SCRIPT = `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[2], ARGV[2])
if ARGV[3] ~= '' then
  redis.call('XTRIM', KEYS[3], 'MINID', ARGV[3])
  redis.call('XDEL', KEYS[3], ARGV[3])
end
return 1
`;
