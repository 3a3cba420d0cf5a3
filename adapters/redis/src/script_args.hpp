// The one encoder of the arguments every script call sends. Each script's file (adapters/redis/lua)
// documents its layout at the top and reads it through the decoders of lua/prelude.lua (`read.*`);
// the functions here write the same layout, field by field, and nothing else appends to a script
// call. tests/redis/test_redis_script_args.cpp sends what each one writes through the prelude's
// decoder and compares, so the two sides cannot drift apart unnoticed.
#pragma once

#include <cstddef>
#include <cstdint>
#include <iterator>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "connection.hpp"
#include "scripts.hpp"

namespace failpipe::detail::redis {

/// An argument's bytes: a view the caller keeps alive until the call is sent, or a string the call
/// keeps (moved in).
class Text {
public:
    Text(std::string_view view) : view_(view) {}  // NOLINT: implicit on purpose
    Text(const char* view) : view_(view) {}        // NOLINT
    Text(std::string&& owned) : owned_(std::move(owned)), owns_(true) {}  // NOLINT
    std::string_view view() const noexcept { return owns_ ? std::string_view(owned_) : view_; }
    void add_to(Args& args) && {
        if (owns_) {
            args.add_copy(std::move(owned_));
        } else {
            args.add(view_);
        }
    }

private:
    std::string_view view_;
    std::string owned_;
    bool owns_ = false;
};

/// One EVALSHA of a script: the script (its source is loaded when the server does not know it) and
/// the command's parts.
struct ScriptCall {
    const Script* script;
    Args args;
};

/// What the prelude reads first on every call: KEYS[1] = P:channels (so a cluster client can route
/// the call; every key a script touches shares its slot), ARGV[1] = P, ARGV[2] = visibility ms.
class ScriptHead {
public:
    ScriptHead(std::string prefix, std::string visibility_ms)
        : prefix_(std::move(prefix)), channels_key_(prefix_ + ":channels"), visibility_ms_(std::move(visibility_ms)) {}

    /// EVALSHA of @p script with the head; the script's own arguments follow.
    ScriptCall call(const Script& script, std::size_t more_parts = 0) const;

    const std::string& prefix() const noexcept { return prefix_; }
    const std::string& channels_key() const noexcept { return channels_key_; }

private:
    std::string prefix_;
    std::string channels_key_;
    std::string visibility_ms_;
};

// --- apply.lua: operations, one after the other (read.apply_op) ---------------------------------

/// One message a settle or a push operation adds. delay_ms "0" = ready now.
struct PushArg {
    std::string_view channel;
    std::string_view id;
    Text bytes;
    Text delay_ms;
};

/// The delivery a settle or release is about, from its receipt.
struct DeliveryArg {
    std::string_view channel;
    std::string_view stream_id;
    std::string_view id;
    std::string_view reserved_ms;  ///< when it was reserved, server ms
};

/// A follow-up to a channel of another shard group: written to the settling group's outbox, and
/// published later by the relay as a push operation carrying @p token.
struct OutboxArg {
    PushArg push;
    Text token;
};

/// A settle: acknowledge @p delivery and add @p pushes (and @p outbox entries), atomically.
struct SettleArg {
    bool resend = false;  ///< a repeat of a try whose reply was lost
    DeliveryArg delivery;
    std::vector<PushArg> pushes;
    std::vector<OutboxArg> outbox;  ///< shard groups only: pushes to other groups' channels
};

/// A release: give @p delivery back to its channel after @p delay_ms.
struct ReleaseArg {
    bool resend = false;
    DeliveryArg delivery;
    Text delay_ms;
};

/// Pushes of new messages, stored once per @p token (the same on every try of one call).
struct PushOpArg {
    bool resend = false;
    std::string_view token;
    std::vector<PushArg> pushes;
};

/// One plain acknowledgement (a settle without pushes or follow-ups) of a plain-acks operation.
struct PlainAck {
    bool resend = false;  ///< a repeat of a try whose reply was lost
    std::string_view stream_id;
    std::string_view id;
    std::string_view reserved_ms;
};

/// Plain acknowledgements of one @p channel, sent as one operation: per acknowledgement only its
/// message id is an argument of its own, the rest is packed (each argument costs the server about
/// as much as a command's overhead to parse, turn into a Lua string and free). The script settles
/// them together and answers one status each, in this order. The encoder's caller (apply_call)
/// makes sure that the stream ids are spelt as Redis writes them, distinct and ascending, and that
/// no other operation of the call touches these deliveries or message ids: the script relies on it.
struct PlainAcksArg {
    std::string_view channel;
    std::vector<PlainAck> acks;  ///< at most kMaxPlainAcks
};

/// The most acknowledgements one plain-acks operation carries (its ids are unpacked onto Lua's
/// stack, which holds some 8,000 values).
inline constexpr std::size_t kMaxPlainAcks = 512;

/// A stream id's two halves, when it is spelt as Redis writes it (no leading zero, each at most
/// 2^64 - 1): Redis answers in that spelling, so only such ids can be matched against its answers.
struct StreamId {
    std::uint64_t ms = 0;
    std::uint64_t seq = 0;
    friend auto operator<=>(const StreamId&, const StreamId&) = default;
};
std::optional<StreamId> canonical_stream_id(std::string_view text);

/// Each appends one operation to @p call (the parts of an apply call: ScriptHead::call of
/// apply_script() or push_script(), or WriteOp::args) and returns the position of its resend flag,
/// which a repeat sets to "1".
std::size_t encode(Args& call, SettleArg&& op);
std::size_t encode(Args& call, ReleaseArg&& op);
std::size_t encode(Args& call, PushOpArg&& op);
/// A plain-acks operation: its resend flag is a run of one character per acknowledgement, which a
/// repeat sets to all_resent(op.acks.size()).
std::size_t encode(Args& call, const PlainAcksArg& op);
/// What the resend flags of a plain-acks operation of @p acks acknowledgements become on a repeat.
std::string_view all_resent(std::size_t acks);
/// The number of parts encode() appends for a plain-acks operation of @p acks acknowledgements.
constexpr std::size_t plain_acks_parts(std::size_t acks) { return 6 + acks; }
/// The most pushes one run of a push operation carries (its ids and bytes are unpacked at once onto
/// Lua's stack, which holds some 8,000 values; the script refuses a run of more: MAX_PUSH_RUN).
inline constexpr std::size_t kMaxPushRun = 1000;
/// At most the number of parts encode() appends for a push operation of @p pushes pushes (for
/// Args::reserve: pushes of one channel and delay share their run's head).
constexpr std::size_t push_op_parts(std::size_t pushes) { return 4 + 5 * pushes; }
/// The number of parts encode() appends for a settle with @p pushes pushes and @p outbox outbox
/// entries (for Args::reserve).
constexpr std::size_t settle_parts(std::size_t pushes, std::size_t outbox = 0) { return 8 + 4 * pushes + 5 * outbox; }

// --- the other scripts: one call each --------------------------------------------------------

/// reserve.lua: up to @p max deliveries from @p channels, in order.
ScriptCall reserve_call(const ScriptHead& head, std::size_t max, std::string_view reclaim_every_ms,
                  const std::vector<std::string>& channels);
/// prepare.lua: ready @p channel for the XREADGROUP that follows.
ScriptCall prepare_call(const ScriptHead& head, std::string_view channel, std::string_view reclaim_every_ms);
/// status.lua of message @p id.
ScriptCall status_call(const ScriptHead& head, std::string_view id);
/// depth.lua of @p channel.
ScriptCall depth_call(const ScriptHead& head, std::string_view channel);
/// browse.lua: @p limit waiting messages of @p channel from @p offset.
ScriptCall browse_call(const ScriptHead& head, std::string_view channel, std::size_t offset, std::size_t limit);
/// browse_after.lua: @p limit waiting messages of @p channel after the position @p kind ('', 'r',
/// 'd') @p ref (stream id or member) @p score (the member's due score).
ScriptCall browse_after_call(const ScriptHead& head, std::string_view channel, std::size_t limit, std::string_view kind,
                             std::string_view ref, std::string_view score);
/// evicted.lua of @p channel.
ScriptCall evicted_call(const ScriptHead& head, std::string_view channel);
/// reclaim.lua.
ScriptCall reclaim_call(const ScriptHead& head);
/// outbox_take.lua: up to @p max outbox entries (idle ones taken over first, then new ones).
ScriptCall outbox_take_call(const ScriptHead& head, std::size_t max);
/// outbox_ack.lua: the outbox entries @p stream_ids were published.
ScriptCall outbox_ack_call(const ScriptHead& head, std::span<const std::string> stream_ids);
/// outbox_lag.lua.
ScriptCall outbox_lag_call(const ScriptHead& head);

/// How remove.lua and move_read.lua look for ids: where the index says, or one step of a scan.
struct Lookup {
    enum class Mode { indexed, scan } mode = Mode::indexed;
    std::string_view stream_cursor;  ///< scan: "start" first, "done" when finished
    std::string_view hash_cursor;    ///< scan: "0" first, "done" when finished
};

namespace script_args_detail {
/// The layout remove.lua and move_read.lua share (read.lookup): channel mode stream-cursor
/// hash-cursor id...
ScriptCall lookup_call(const ScriptHead& head, const Script& script, std::string_view channel, std::string_view mode,
                 const Lookup& lookup, std::size_t ids);
}  // namespace script_args_detail

/// remove.lua: remove @p ids (strings or views) from @p channel; @p evict also counts them as evicted.
template <class Ids>
ScriptCall remove_call(const ScriptHead& head, std::string_view channel, const Lookup& lookup, bool evict, const Ids& ids) {
    const bool indexed = lookup.mode == Lookup::Mode::indexed;
    ScriptCall call = script_args_detail::lookup_call(head, remove_script(), channel,
                                                evict ? (indexed ? "I" : "S") : (indexed ? "i" : "s"), lookup,
                                                std::size(ids));
    for (const auto& id : ids) call.args.add(id);
    return call;
}
/// move_read.lua: the waiting messages of @p channel with @p ids (strings or views).
template <class Ids>
ScriptCall move_read_call(const ScriptHead& head, std::string_view channel, const Lookup& lookup, const Ids& ids) {
    ScriptCall call = script_args_detail::lookup_call(head, move_read_script(), channel,
                                                lookup.mode == Lookup::Mode::indexed ? "i" : "s", lookup, std::size(ids));
    for (const auto& id : ids) call.args.add(id);
    return call;
}

/// One message of move.lua, as move_read.lua read it.
struct MoveArg {
    std::string_view kind;   ///< "s" stream entry | "d" delayed member
    std::string_view ref;    ///< stream id or member
    std::string_view value;  ///< the delayed value read ("" for "s")
    std::string_view id;
    bool replace = false;    ///< true: @p bytes replace the message's bytes; false: moved as it is
    std::string_view bytes;
};

/// Where move.lua puts what it moves.
enum class MoveVia {
    target,  ///< into @p to's keys (the same slot: one Redis, or one shard group)
    outbox,  ///< into the source group's outbox, addressed to @p to (a channel of another shard group)
};

/// move.lua: move @p items from @p from to @p to (@p via) after @p delay_ms, once per @p token.
ScriptCall move_call(const ScriptHead& head, std::string_view from, std::string_view to, std::string_view delay_ms,
               std::string_view token, MoveVia via, std::span<const MoveArg> items);

// --- migrate_source.lua / migrate_target.lua: a key-layout migration ---------------------------

/// migrate-source I: the inventory of @p channel (moving to @p group), listing at most @p limit
/// live reservations.
ScriptCall migrate_inventory_call(const ScriptHead& head, std::string_view channel, std::string_view group,
                                  std::size_t limit);
/// migrate-source R: a batch of at most @p max messages of @p channel after stream id @p cursor ("" first).
ScriptCall migrate_read_call(const ScriptHead& head, std::string_view channel, std::string_view group, std::size_t max,
                             std::string_view cursor);

/// One item of a migration batch, as migrate-source R read it.
struct MigrateItem {
    std::string kind;   ///< "s" waiting entry, "p" expired reservation, "d" delayed, "e" eviction counter
    std::string ref;    ///< stream id, member, or ""
    std::string num;    ///< delivery count to write, due time (server ms), or the counter
    std::string token;  ///< what the target remembers it by
    std::vector<std::string> fields;  ///< entry fields (name, value, ...), or {delayed value}, or none
};

/// migrate-source D: delete @p items from @p channel, each only if still as read.
ScriptCall migrate_delete_call(const ScriptHead& head, std::string_view channel, std::span<const MigrateItem> items);
/// migrate-source F: remove @p channel's keys when it holds nothing any more.
ScriptCall migrate_finish_call(const ScriptHead& head, std::string_view channel);
/// migrate-target: write @p items into @p channel of the group of @p head, each once.
ScriptCall migrate_target_call(const ScriptHead& head, std::string_view channel, std::span<const MigrateItem> items);

}  // namespace failpipe::detail::redis
