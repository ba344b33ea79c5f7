"""Lua scripts of the Redis transport: each runs atomically, in one round trip.

Times come from the server's clock (``TIME``) so that presence does not depend
on the clocks of the hosts running services. Some scripts touch keys they
derive from their arguments, so the transport suits a single Redis server (or
a primary with replicas), not Redis Cluster.
"""

from __future__ import annotations

from interlink.transports._redis_conn import Script

_NOW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
"""

# KEYS: members zset of the endpoint, its request list. ARGV: frame, ttl ms.
# Returns 0 (nobody serves the subject: NoResponders) or 1 (queued).
REQUEST = Script(_NOW + """
if redis.call('ZCOUNT', KEYS[1], now, '+inf') == 0 then return 0 end
redis.call('RPUSH', KEYS[2], ARGV[1])
if redis.call('PTTL', KEYS[2]) < tonumber(ARGV[2]) then redis.call('PEXPIRE', KEYS[2], ARGV[2]) end
return 1
""")

# KEYS: the registry index of the subject's first token, the index of patterns
# starting with a wildcard. ARGV: subject, frame, durable '1'|'0', maxlen,
# pub/sub channel, member channel prefix. A registry entry names a group:
# PREFIX:g:GROUP:PATTERN (durable: its stream) or PREFIX:l:GROUP:PATTERN
# (live only), scored with the time it lapses; KEY:m holds its running members.
# A durable publish is appended to the stream of every matching durable group;
# otherwise one running member of each matching group gets it on its own
# channel (starting from a member picked by the clock, skipping any that have
# gone). Live pub/sub bindings (broadcast) get the PUBLISH on the subject.
PUBLISH = Script(_NOW + """
local subject, frame, durable, maxlen = ARGV[1], ARGV[2], ARGV[3] == '1', ARGV[4]
local s = {}
for token in string.gmatch(subject, '[^.]+') do s[#s + 1] = token end
local function matches(pattern)
  local i = 0
  for token in string.gmatch(pattern, '[^.]+') do
    i = i + 1
    if token == '>' then return #s >= i end
    if i > #s then return false end
    if token ~= '*' and token ~= s[i] then return false end
  end
  return i == #s
end
local function to_one_member(group)
  local members = redis.call('ZRANGEBYSCORE', group .. ':m', now, '+inf')
  local n = #members
  local first = tonumber(t[2]) % math.max(n, 1)
  for i = 0, n - 1 do
    if redis.call('PUBLISH', ARGV[6] .. members[(first + i) % n + 1], frame) > 0 then return end
  end
end
for k = 1, 2 do
  for _, key in ipairs(redis.call('ZRANGEBYSCORE', KEYS[k], now, '+inf')) do
    local kind, pattern = string.match(key, '^[^:]+:([gl]):[^:]+:(.+)$')
    if pattern and matches(pattern) then
      if durable and kind == 'g' then
        redis.call('XADD', key, 'MAXLEN', '~', maxlen, '*', 'f', frame)
      else
        to_one_member(key)
      end
    end
  end
end
redis.call('PUBLISH', ARGV[5], frame)
""")

# KEYS: members zset, stream, [registry index]. ARGV: consumer, live ms, keep ms.
# Marks the consumer alive for `live` ms; keeps the stream (and its registry
# entry) for `keep` ms more; forgets consumers and entries that lapsed.
BEAT = Script(_NOW + """
local live, keep = tonumber(ARGV[2]), tonumber(ARGV[3])
redis.call('ZADD', KEYS[1], now + live, ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
redis.call('PEXPIRE', KEYS[1], live * 3)
redis.call('PEXPIRE', KEYS[2], keep)
if KEYS[3] then
  redis.call('ZADD', KEYS[3], 'GT', now + keep, KEYS[2])
  redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now)
  if redis.call('PTTL', KEYS[3]) < keep then redis.call('PEXPIRE', KEYS[3], keep) end
end
""")

# KEYS: members zset, group key, [registry index]. ARGV: consumer, forget '1'|'0'.
# The consumer leaves; a live-only group whose last member left is unregistered.
LEAVE = Script(_NOW + """
redis.call('ZREM', KEYS[1], ARGV[1])
if ARGV[2] == '1' and KEYS[3] and redis.call('ZCOUNT', KEYS[1], now, '+inf') == 0 then
  redis.call('ZREM', KEYS[3], KEYS[2])
  redis.call('DEL', KEYS[2])
end
""")

# KEYS: stream. ARGV: group, entry id, frame, deliveries so far, maxlen.
# A failed delivery goes back as a new entry carrying its delivery count, and
# the old one is settled, atomically; nothing happens if it was settled already.
RETRY = Script("""
if redis.call('XACK', KEYS[1], ARGV[1], ARGV[2]) == 1 then
  redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[5], '*', 'f', ARGV[3], 'a', ARGV[4])
  redis.call('XDEL', KEYS[1], ARGV[2])
end
""")

# KEYS: stream. Returns how many entries it held, then deletes it.
DROP = Script("""
local n = redis.call('XLEN', KEYS[1])
redis.call('DEL', KEYS[1])
return n
""")
