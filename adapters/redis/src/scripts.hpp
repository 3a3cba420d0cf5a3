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

// Each script's arguments and reply are documented at the top of its file, adapters/redis/lua/
// <name>.lua; script_args.hpp writes the arguments (and only it does).

/// apply.lua: settles, releases and pushes; one status per operation.
const Script& apply_script();
/// apply.lua without allow-oom: for operations that only push (refused under OOM).
const Script& push_script();
/// reserve.lua: deliveries from several channels.
const Script& reserve_script();
/// prepare.lua: readies one channel for the plain XREADGROUP sent after it in the same round trip.
const Script& prepare_script();
/// status.lua: where a message is.
const Script& status_script();
/// depth.lua: ready, delayed and reserved messages of a channel.
const Script& depth_script();
/// browse.lua: a window of a channel's waiting messages.
const Script& browse_script();
/// browse_after.lua: a page of a channel's waiting messages after a cursor.
const Script& browse_after_script();
/// remove.lua: removes (or evicts) waiting messages by id.
const Script& remove_script();
/// evicted.lua: the eviction counter of a channel.
const Script& evicted_script();
/// move_read.lua: the first half of a move (read only).
const Script& move_read_script();
/// move.lua: the second half of a move (compare-and-swap).
const Script& move_script();
/// reclaim.lua: gives idle deliveries back.
const Script& reclaim_script();
/// outbox_take.lua: the relay's reservation of a group's outbox entries.
const Script& outbox_take_script();
/// outbox_ack.lua: acknowledges and deletes relayed outbox entries.
const Script& outbox_ack_script();
/// outbox_lag.lua: entries not relayed yet and the age of the oldest.
const Script& outbox_lag_script();
/// migrate_source.lua: the old side of a key-layout migration (inventory, read, delete, finish).
const Script& migrate_source_script();
/// migrate_target.lua: the new side of a key-layout migration (writes each message once).
const Script& migrate_target_script();

/// lua/prelude.lua on its own (the helpers and argument decoders every script starts with), for
/// tests that check the decoders against script_args.hpp.
std::string_view prelude_source();

/// The consumer group (and consumer) name used on every channel stream.
inline constexpr std::string_view kGroup = "failpipe";

}  // namespace failpipe::detail::redis
