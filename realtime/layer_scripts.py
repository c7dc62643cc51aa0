"""The fast path's Redis scripts (realtime/layers.py): storing to many groups' channels in one call."""

# channels_redis's group_send script, plus its message-expiry cleanup of each key (a
# pipeline of its own there), for several messages at once. KEYS: a key per entry (a key
# may come again, for the next message); ARGV: a message, a capacity and a score per
# entry, then the expiry and the score below which a message has expired.
STORE_LUA = """
local n = #KEYS
local expiry = ARGV[3 * n + 1]
local expired = ARGV[3 * n + 2]
local over_capacity = 0
for i = 1, n do
    redis.call('ZREMRANGEBYSCORE', KEYS[i], 0, expired)
    if redis.call('ZCOUNT', KEYS[i], '-inf', '+inf') < tonumber(ARGV[n + i]) then
        redis.call('ZADD', KEYS[i], ARGV[2 * n + i], ARGV[i])
        redis.call('EXPIRE', KEYS[i], expiry)
    else
        over_capacity = over_capacity + 1
    end
end
return over_capacity
"""

# group_send's cleanup and read of each group's members, for many groups in one command
# (a pipeline of two commands per group cost the sender more to write and parse than the
# round trip). KEYS: the groups; ARGV: the score below which a membership has expired.
READ_GROUPS_LUA = """
local members = {}
for i = 1, #KEYS do
    redis.call('ZREMRANGEBYSCORE', KEYS[i], 0, ARGV[1])
    members[i] = redis.call('ZRANGE', KEYS[i], 0, -1)
end
return members
"""

# The whole group send in one command, for a layer on one Redis: each group's cleanup and
# read as above, then each message stored once in the key of every process holding one of
# its groups' channels, with the list of those channels appended (GROUPED_MAGIC, the
# body's length, the body, the channels in MessagePack: `_hand_out` takes it apart), and
# once in each plain channel's key as it is; each key's messages go in with one ZADD and
# one capacity check (a command per message and key was about a third of the script's time:
# 670 → 450 µs in Redis for a 10-team broadcast to 1 000 connections). The sender parses no
# member list and serializes each message once instead of once per process. The process keys are found
# from the members, so they are not among KEYS: fine on one Redis server, not on a cluster
# (which channels_redis does not use either). KEYS: the groups; ARGV: the score below which
# a membership has expired, the one below which a message has, the expiry, a key's
# capacity, the layer's prefix, then per message its score, its body, how many groups it
# goes to and their positions in KEYS.
SEND_TO_GROUPS_LUA = """
local stale, expired, expiry = ARGV[1], ARGV[2], ARGV[3]
local capacity, prefix = tonumber(ARGV[4]), ARGV[5]
local groups = {}
for i = 1, #KEYS do
    redis.call('ZREMRANGEBYSCORE', KEYS[i], 0, stale)
    local by_key, keys = {}, {}
    for _, channel in ipairs(redis.call('ZRANGE', KEYS[i], 0, -1)) do
        local bang = string.find(channel, '!', 1, true)
        local key = prefix .. (bang and string.sub(channel, 1, bang) or channel)
        if not by_key[key] then
            by_key[key] = {}
            keys[#keys + 1] = key
        end
        table.insert(by_key[key], channel)
    end
    groups[i] = {keys = keys, by_key = by_key}
end
local over, at = 0, 6
local stores, stored_keys = {}, {}
while at <= #ARGV do
    local score, body, count = ARGV[at], ARGV[at + 1], tonumber(ARGV[at + 2])
    local targets, keys = {}, {}
    for j = 1, count do
        local group = groups[tonumber(ARGV[at + 2 + j])]
        for _, key in ipairs(group.keys) do
            local target = targets[key]
            if not target then
                target = {channels = {}, seen = {}}
                targets[key] = target
                keys[#keys + 1] = key
            end
            for _, channel in ipairs(group.by_key[key]) do
                if not target.seen[channel] then
                    target.seen[channel] = true
                    table.insert(target.channels, channel)
                end
            end
        end
    end
    at = at + 3 + count
    for _, key in ipairs(keys) do
        local member = body
        if string.sub(key, -1) == '!' then
            member = 'CDG1' .. struct.pack('>I4', #body) .. body .. cmsgpack.pack(targets[key].channels)
        end
        local store = stores[key]
        if not store then
            store = {}
            stores[key] = store
            stored_keys[#stored_keys + 1] = key
        end
        store[#store + 1] = score
        store[#store + 1] = member
    end
end
for _, key in ipairs(stored_keys) do
    redis.call('ZREMRANGEBYSCORE', key, 0, expired)
    local store = stores[key]
    local room = math.max(0, capacity - redis.call('ZCOUNT', key, '-inf', '+inf'))
    local fit = math.min(room, #store / 2)
    over = over + #store / 2 - fit
    -- The first that fit, as one message at a time would have stored; unpack takes a few
    -- thousand values at most, so a long batch goes in parts.
    for first = 1, 2 * fit, 1000 do
        redis.call('ZADD', key, unpack(store, first, math.min(first + 999, 2 * fit)))
    end
    if fit > 0 then
        redis.call('EXPIRE', key, expiry)
    end
end
return over
"""
# How SEND_TO_GROUPS_LUA's messages for a process's channels begin.
GROUPED_MAGIC = b"CDG1"
