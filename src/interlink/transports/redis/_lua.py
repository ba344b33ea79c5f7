"""Lua scripts of the Redis transport: each runs atomically, in one round trip.

Times come from the server's clock (``TIME``) so that presence does not depend
on the clocks of the hosts running services. Some scripts touch keys they
derive from their arguments, so the transport suits a single Redis server (or
a primary with replicas), not Redis Cluster.
"""

from __future__ import annotations

from interlink.transports.redis._conn import Script

_NOW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
"""

# KEYS: members zset of the endpoint, its request list. ARGV: frame, ttl ms.
# Returns 0 (nobody serves the subject: NoResponders) or 1 (queued).
# (Each redis.call costs a few microseconds inside a script: the hot scripts keep them few.)
REQUEST = Script(_NOW + """
if redis.call('ZCOUNT', KEYS[1], now, '+inf') == 0 then return 0 end
if redis.call('RPUSH', KEYS[2], ARGV[1]) == 1 then
  redis.call('PEXPIRE', KEYS[2], ARGV[2])
else
  redis.call('PEXPIRE', KEYS[2], ARGV[2], 'GT')
end
return 1
""")

# KEYS: the registry index of the subject's first token, the index of patterns
# starting with a wildcard. ARGV: subject, frame, durable '1'|'0', maxlen,
# pub/sub channel of the subject, member channel prefix.
# A registry entry is PREFIX:KIND:GROUP:PATTERN scored with the time it lapses:
# KIND g is a durable group (the key is its stream), l a live-only group, b the
# broadcast bindings of PATTERN (GROUP empty); KEY:m holds running members.
# A durable publish is appended to the stream of every matching durable group;
# otherwise one running member of each matching group gets it on its own
# channel (starting from a member picked by the clock, skipping any that have
# gone). Broadcast bindings get one PUBLISH on the subject, if any match.
PUBLISH = Script(_NOW + """
local subject, frame, durable = ARGV[1], ARGV[2], ARGV[3] == '1'
local s
local function matches(pattern)
  if pattern == subject then return true end
  if not s then
    s = {}
    for token in string.gmatch(subject, '[^.]+') do s[#s + 1] = token end
  end
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
local broadcast = false
local entries = redis.call('ZUNION', 2, KEYS[1], KEYS[2], 'AGGREGATE', 'MAX', 'WITHSCORES')
for i = 1, #entries, 2 do
  if tonumber(entries[i + 1]) > now then
    local kind, pattern = string.match(entries[i], '^[^:]+:([glb]):[^:]*:(.+)$')
    if pattern and matches(pattern) then
      if kind == 'b' then
        broadcast = true
      elseif durable and kind == 'g' then
        redis.call('XADD', entries[i], 'MAXLEN', '~', ARGV[4], '*', 'f', frame)
      else
        to_one_member(entries[i])
      end
    end
  end
end
if broadcast then redis.call('PUBLISH', ARGV[5], frame) end
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
