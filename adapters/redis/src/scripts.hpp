// The Lua scripts of the Redis adapter. Every change of state happens inside one of them, so each
// operation is atomic on the server, and due-ness and idle times come from the server's clock.
#pragma once

#include <string>
#include <string_view>

namespace failpipe::detail::redis {

/// A script and its SHA-1 (for EVALSHA).
struct Script {
    std::string_view name;
    std::string source;
    std::string sha;
};

/// ARGV: prefix, visibility ms, then operations (see scripts.cpp). Returns one status per operation.
const Script& apply_script();
/// The apply script without allow-oom: for operations that only push (refused under OOM).
const Script& push_script();
/// ARGV: prefix, visibility ms, max, reclaim-throttle ms, channels... Returns now, next-due, then
/// per entry: channel index (1-based), stream id, the entry's fields.
const Script& reserve_script();
/// ARGV: prefix, visibility ms, channel, reclaim-throttle ms. Returns {now, next-due}; a plain
/// XREADGROUP of the channel follows it in the same round trip.
const Script& prepare_script();
/// ARGV: prefix, visibility ms, id. Returns {state, channel}.
const Script& status_script();
/// ARGV: prefix, visibility ms, channel. Returns {ready, delayed, reserved}.
const Script& depth_script();
/// ARGV: prefix, visibility ms, channel, offset, limit. Returns {stream id, fields, ...} (stream id
/// empty for delayed messages).
const Script& browse_script();
/// ARGV: prefix, visibility ms, channel, mode ('i' | 's'), stream cursor, hash cursor, ids...
/// 'i' returns {removed, ids not found where the index says}; 's' scans a bounded step and returns
/// {removed, stream cursor, hash cursor} ('done' when finished).
const Script& remove_script();
/// ARGV: prefix, visibility ms, channel, mode ('i' | 's'), stream cursor, hash cursor, ids... The
/// waiting messages with these ids: 'i' returns {items, ids not found where the index says, ids
/// reserved}; 's' scans a bounded step and returns {items, {stream cursor, hash cursor}}. An item is
/// id, kind ('s' | 'd'), stream id or member, delayed value, fields.
/// The eviction counter of a channel (ARGV[3]).
const Script& evicted_script();
const Script& move_read_script();
/// ARGV: prefix, visibility ms, from, to, delay ms, token, then {kind ref value id 'k'|'r' bytes}*.
/// Returns one letter per message: m moved, g gone, r reserved, c changed.
const Script& move_script();
/// ARGV: prefix, visibility ms. Returns how many deliveries were given back.
const Script& reclaim_script();

/// The consumer group (and consumer) name used on every channel stream.
inline constexpr std::string_view kGroup = "failpipe";

}  // namespace failpipe::detail::redis
