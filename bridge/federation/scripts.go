package federation

// The link's Lua scripts. Each touches keys of one hash tag only (so one
// Cluster slot), declared in KEYS. They are sent with EVAL: Redis caches
// them by digest, and EVAL never fails with NOSCRIPT after a Redis restart
// or inside a pipeline. Times come from the Redis clock (TIME), so routers'
// clocks need not agree.

// scriptHeartbeat records that a router lives and tells it what it needs to
// judge the others and itself.
//
//	KEYS: nodes, epoch, ver, the router's route set
//	ARGV: incarnation, an epoch to set if there is none
//	returns {now ms, epoch, the router's route version ("" if none),
//	         size of its route set, 1 if it was not in nodes, [inc, score, ...]}
const scriptHeartbeat = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local added = redis.call('ZADD', KEYS[1], now, ARGV[1])
local epoch = redis.call('GET', KEYS[2])
if not epoch then
  epoch = ARGV[2]
  redis.call('SET', KEYS[2], epoch)
end
local ver = redis.call('HGET', KEYS[3], ARGV[1]) or ''
return {tostring(now), epoch, ver, tostring(redis.call('SCARD', KEYS[4])), tostring(added),
  redis.call('ZRANGE', KEYS[1], 0, -1, 'WITHSCORES')}
`

// scriptEnsureInbox creates a router's inbox stream if it is missing
// (senders write with NOMKSTREAM, so an inbox exists only while its owner
// lives). The consumer group is never read: creating it is how an empty
// stream is made.
//
//	KEYS: inbox; ARGV: group
const scriptEnsureInbox = `
if redis.call('EXISTS', KEYS[1]) == 0 then
  redis.call('XGROUP', 'CREATE', KEYS[1], ARGV[1], '$', 'MKSTREAM')
  return 1
end
return 0
`

// scriptRoutes writes a router's route changes and logs each one with the
// router's next version. "delta" applies "+row" / "-row" items only if the
// stored version is the one the router last wrote (else it answers
// "mismatch" and the router resets); "reset" replaces the whole set.
//
//	KEYS: route set, ver, route log
//	ARGV: incarnation, log MAXLEN, "delta" | "reset", expected version, items...
//	returns {"ok" | "mismatch", version, set size}
const scriptRoutes = `
local cur = tonumber(redis.call('HGET', KEYS[2], ARGV[1]) or '0')
if ARGV[3] == 'delta' then
  if cur ~= tonumber(ARGV[4]) then
    return {'mismatch', tostring(cur), tostring(redis.call('SCARD', KEYS[1]))}
  end
  for i = 5, #ARGV do
    local op, row = string.sub(ARGV[i], 1, 1), string.sub(ARGV[i], 2)
    local changed
    if op == '+' then changed = redis.call('SADD', KEYS[1], row) else changed = redis.call('SREM', KEYS[1], row) end
    if changed == 1 then
      cur = redis.call('HINCRBY', KEYS[2], ARGV[1], 1)
      redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[2], '*', 'n', ARGV[1], 'v', cur,
        'op', op == '+' and 'add' or 'del', 'r', row)
    end
  end
else
  redis.call('DEL', KEYS[1])
  for i = 5, #ARGV do redis.call('SADD', KEYS[1], ARGV[i]) end
  cur = redis.call('HINCRBY', KEYS[2], ARGV[1], 1)
  redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[2], '*', 'n', ARGV[1], 'v', cur, 'op', 'reset')
end
return {'ok', tostring(cur), tostring(redis.call('SCARD', KEYS[1]))}
`

// scriptSnapshot reads a router's route set and its version atomically.
//
//	KEYS: ver, route set; ARGV: incarnation
//	returns {version or "", {rows...}}
const scriptSnapshot = `
return {redis.call('HGET', KEYS[1], ARGV[1]) or '', redis.call('SMEMBERS', KEYS[2])}
`

// scriptRemove removes a router from the route table and logs "bye" —
// unless it heartbeat within the timeout (ARGV[2] ms; -1 removes
// unconditionally, for a router leaving). Any router may run it for a dead
// one: it is idempotent, and it removes nothing from a router that came back.
//
//	KEYS: nodes, ver, route set, route log
//	ARGV: incarnation, timeout ms, log MAXLEN
//	returns the number of keys/members removed (0: nothing to do, or alive)
const scriptRemove = `
local s = redis.call('ZSCORE', KEYS[1], ARGV[1])
if s and tonumber(ARGV[2]) >= 0 then
  local t = redis.call('TIME')
  local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  if now - tonumber(s) <= tonumber(ARGV[2]) then return 0 end
end
local n = redis.call('ZREM', KEYS[1], ARGV[1]) + redis.call('HDEL', KEYS[2], ARGV[1]) + redis.call('DEL', KEYS[3])
if n > 0 then
  redis.call('XADD', KEYS[4], 'MAXLEN', '~', ARGV[3], '*', 'n', ARGV[1], 'op', 'bye')
end
return n
`

// scriptRetain sets (ARGV[3] given) or clears a retained topic and logs the
// change with the next retained sequence number: the log's order is the
// cluster's order of retained changes.
//
//	KEYS: retained hash, retained seq, retained log
//	ARGV: topic, log MAXLEN, [body]
const scriptRetain = `
local n = redis.call('INCR', KEYS[2])
if #ARGV >= 3 then
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
  redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[2], '*', 'n', n, 't', ARGV[1], 'b', ARGV[3])
else
  redis.call('HDEL', KEYS[1], ARGV[1])
  redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[2], '*', 'n', n, 't', ARGV[1])
end
return n
`

// scriptRetainIfAbsent sets a retained topic only if the store does not
// hold it, logging the change as scriptRetain does: how routers put back
// the retained messages they hold after Redis lost its data (the first
// router to write a topic wins; they all held the same).
//
//	KEYS: retained hash, retained seq, retained log
//	ARGV: topic, log MAXLEN, body
const scriptRetainIfAbsent = `
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then return 0 end
local n = redis.call('INCR', KEYS[2])
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[2], '*', 'n', n, 't', ARGV[1], 'b', ARGV[3])
return n
`

// scriptRetainedPosition returns where the retained log stands: its last
// entry's ID ("0-0" if empty) and the last change's sequence number.
//
//	KEYS: retained log, retained seq
const scriptRetainedPosition = `
local last = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)
local id = '0-0'
if #last > 0 then id = last[1][1] end
return {id, redis.call('GET', KEYS[2]) or '0'}
`
