/// @file inspection_adapter.hpp
/// @brief InspectionAdapter: the operator's side of a broker — status, depth, browse, remove,
/// evict, move, channels. DeadLetters, channel_stats, probe_broker and the CLI use it; a Worker does
/// not (except for dead-letter retention: browse and evict).
///
/// Each operation is a capability (AdapterCapabilities): an adapter that cannot offer one leaves it
/// undeclared, and the operation throws UnsupportedCapabilityError naming it (the defaults here do).
/// Thread safety and errors as for BrokerAdapter.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "failpipe/adapter_capabilities.hpp"
#include "failpipe/clock.hpp"
#include "failpipe/message.hpp"

namespace failpipe {

/// @brief Where a message is now.
enum class MessageState {
    not_found,  ///< Unknown id, or handled and forgotten.
    ready,      ///< Waiting in its channel, due now.
    delayed,    ///< Waiting in its channel until its due time.
    reserved,   ///< Held by a worker.
};

/// @brief The name of a state: `not-found`, `ready`, `delayed`, `reserved`.
std::string_view to_string(MessageState state) noexcept;

/// @brief The answer of InspectionAdapter::status.
struct MessageStatus {
    MessageState state = MessageState::not_found;
    std::string channel;  ///< The channel that holds it (empty when not found).
};

/// @brief How many messages a channel holds, by state.
struct ChannelDepth {
    std::size_t ready = 0;
    std::size_t delayed = 0;
    std::size_t reserved = 0;
    /// Messages waiting in the channel's dead-letter channel; filled only by
    /// InspectionAdapter::depth_with_dead_letters (0 otherwise).
    std::size_t dead = 0;
    /// @brief The messages of the channel itself (dead letters not included).
    std::size_t total() const noexcept { return ready + delayed + reserved; }
};

/// @brief What a move does to each message it moves (InspectionAdapter::move): it may change the
/// message's metadata, data and handler — not its id. It may run before the adapter's atomic step
/// (on Redis, before the compare-and-swap; on the memory adapter, under the adapter's lock), so it
/// must be a plain function of the message: no calls to the adapter, no side effects that must
/// happen exactly once (it may run for a message that is then skipped as `changed`). When it throws,
/// or changes the id, that message is skipped (`rewrite-failed`) and stays where it was.
using MessageRewrite = std::function<void(Message&)>;

/// @brief Why InspectionAdapter::move left a message where it was.
enum class MoveSkipReason {
    not_found,       ///< No waiting message with this id in the source channel (never there, already moved, handled, removed).
    reserved,        ///< Held by a worker right now: it belongs to that worker until settled or given back.
    undecodable,     ///< Its bytes are not a message, and a rewrite was asked for (without one it moves as it is);
                     ///< on Redis also an entry with another producer's fields moved to another shard group (`detail`).
    changed,         ///< It changed between the read and the atomic step, again on every try (Redis only).
    rewrite_failed,  ///< The rewrite threw, or changed the id (`detail` says which).
};

/// @brief The name of a reason: `not-found`, `reserved`, `undecodable`, `changed`, `rewrite-failed`.
constexpr std::string_view to_string(MoveSkipReason reason) noexcept {
    switch (reason) {
        case MoveSkipReason::not_found: return "not-found";
        case MoveSkipReason::reserved: return "reserved";
        case MoveSkipReason::undecodable: return "undecodable";
        case MoveSkipReason::changed: return "changed";
        case MoveSkipReason::rewrite_failed: return "rewrite-failed";
    }
    return "unknown";
}

/// @brief One message InspectionAdapter::move did not move.
struct MoveSkip {
    std::string id;
    MoveSkipReason reason = MoveSkipReason::not_found;
    std::string detail;  ///< More for a human (the rewrite's error text); may be empty.
};

/// @brief What InspectionAdapter::move did: every requested id is in `moved` or in `skipped`, never in
/// both. (An id is in `moved` twice only when the source held two waiting messages with that id.)
struct MoveResult {
    std::vector<std::string> moved;  ///< Ids of the messages now in the target channel, in the order they went.
    std::vector<MoveSkip> skipped;   ///< The rest, in the order of the requested ids.
};

/// @brief Where InspectionAdapter::browse_after continues: an opaque string the adapter made (empty =
/// from the start). A cursor the adapter did not make is refused with InvalidArgumentError.
using BrowseCursor = std::string;

/// @brief One page of InspectionAdapter::browse_after.
struct BrowsePage {
    std::vector<Message> messages;  ///< In browse order.
    BrowseCursor next;              ///< Continues after the last message (the given cursor when none).
    bool end = false;               ///< Nothing followed the page when it was read.
};

/// @brief The inspection side of a broker. Every operation's default throws UnsupportedCapabilityError.
class InspectionAdapter {
public:
    InspectionAdapter() = default;
    InspectionAdapter(const InspectionAdapter&) = delete;
    InspectionAdapter& operator=(const InspectionAdapter&) = delete;
    virtual ~InspectionAdapter() = default;

    /// @brief What this adapter offers (one function with BrokerAdapter::capabilities in an adapter
    /// that is both).
    virtual AdapterCapabilities capabilities() const = 0;

    /// @brief Where the message with @p id is now (Capability::status).
    virtual MessageStatus status(const std::string& id);

    /// @brief Messages of @p channel by state (Capability::depth).
    virtual ChannelDepth depth(const std::string& channel);

    /// @brief depth(@p channel), plus in `dead` the messages waiting in its dead-letter channel
    /// (@p channel + @p dead_letter_suffix).
    ChannelDepth depth_with_dead_letters(const std::string& channel, const std::string& dead_letter_suffix = ":dlq");

    /// @brief Up to @p limit waiting messages (ready, then delayed by due time) of @p channel,
    /// skipping the first @p offset. Used to inspect dead letters. Reserved messages are not listed
    /// (Capability::browse).
    virtual std::vector<Message> browse(const std::string& channel, std::size_t offset, std::size_t limit);

    /// @brief Up to @p limit waiting messages of @p channel that come after @p after, in browse order
    /// (ready in arrival order, then delayed by due time), and the cursor of the next page. With
    /// Capability::browse_cursor a page costs O(limit) whatever its depth (on Redis, delayed
    /// messages sharing one due time cost their number when the cursor's own message was removed),
    /// and the cursor still continues when messages are pushed or removed meanwhile — also the
    /// cursor's own message: a message waiting from the first page to the last is listed exactly
    /// once. A delayed message that becomes due after the pages passed the ready ones is not listed
    /// (it joins the ready ones at their end). Without the capability this default pages by offset
    /// over browse(). Throws InvalidArgumentError for a cursor this adapter did not make, or
    /// @p limit 0. An adapter that declares browse_cursor overrides this; so does a wrapper that
    /// forwards capabilities().
    virtual BrowsePage browse_after(const std::string& channel, const BrowseCursor& after, std::size_t limit);

    /// @brief Removes the waiting messages of @p channel whose ids are in @p ids. Returns how many
    /// went (Capability::remove).
    virtual std::size_t remove(const std::string& channel, const std::vector<std::string>& ids);

    /// @brief remove(), and adds how many went to @p channel's eviction counter in the same atomic
    /// step (on Redis, per script step; in memory, under the adapter's lock), so no eviction can go
    /// uncounted. Retention (DeadLetters::enforce_retention) evicts through this. Returns how many
    /// went (Capability::evict).
    virtual std::size_t evict(const std::string& channel, const std::vector<std::string>& ids);

    /// @brief How many messages evict() removed from @p channel, ever: kept by the broker (on Redis in
    /// `{<prefix>}:evicted:<channel>`), so it survives processes; 0 for a channel never evicted from
    /// (Capability::evict).
    virtual std::uint64_t evicted(const std::string& channel);

    /// @brief Moves the waiting messages of @p from whose ids are in @p ids to @p to, each one
    /// atomically: at every instant a message is in exactly one of the two channels — never lost,
    /// never in both, even if the calling process dies half-way through a long list. Each moved
    /// message is passed through @p rewrite (when given), joins @p to ready or, with @p delay,
    /// delayed by that long, and counts its deliveries from zero again. Reserved messages stay with
    /// their worker (skipped `reserved`). Undecodable bytes move as they are when no rewrite is
    /// given, else are skipped `undecodable`. An id repeated in @p ids counts once. Calling it again with the
    /// same ids (after a ConnectionError, whose call may have moved some) moves what is left and
    /// duplicates nothing: what already moved is skipped `not-found`.
    ///
    /// Atomic per message, not for the whole list: a large move goes in steps (on Redis, one script
    /// call per chunk), and messages may be pushed, reserved or moved by others in between. Messages
    /// arrive in @p to in the order of @p ids (on Redis, those found only by a scan of @p from come
    /// last). Throws InvalidArgumentError (nothing moved) when a channel name is empty, @p from ==
    /// @p to, or @p delay is negative or not finite; an AdapterError when the broker fails (what
    /// earlier steps moved stays moved). Capability::move.
    virtual MoveResult move(const std::string& from, const std::string& to, const std::vector<std::string>& ids,
                            const MessageRewrite& rewrite = {}, Seconds delay = Seconds{0.0});

    /// @brief Every channel that holds or has held a message, sorted (Capability::channels).
    virtual std::vector<std::string> channels();

    /// @brief The shard group whose outbox a move() from @p from to @p to goes through, or
    /// std::nullopt when the moved messages join @p to directly (this default). The Redis adapter
    /// with shard groups names the source's group when @p to is in another one: the messages then
    /// reach @p to only once a worker's outbox relay publishes them, which a replay's summary says
    /// (ReplayResult::through_outbox). Asks the broker nothing; a wrapper that forwards move()
    /// forwards this too.
    virtual std::optional<std::string> outbox_of_move(const std::string& from, const std::string& to) const;
};

}  // namespace failpipe
