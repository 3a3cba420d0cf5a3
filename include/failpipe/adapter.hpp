/// @file adapter.hpp
/// @brief AdapterInterface: what a broker must offer. Nothing above it knows which broker is below.
///
/// Thread safety: every implementation shipped with failpipe is safe to share between threads
/// (one adapter, many workers). Errors surface as failpipe::AdapterError subclasses, never as a
/// silent false.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "failpipe/clock.hpp"
#include "failpipe/delivery.hpp"
#include "failpipe/message.hpp"
#include "failpipe/outgoing_message.hpp"
#include "failpipe/settlement.hpp"

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

/// @brief The answer of AdapterInterface::status.
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
    /// AdapterInterface::depth_with_dead_letters (0 otherwise).
    std::size_t dead = 0;
    /// @brief The messages of the channel itself (dead letters not included).
    std::size_t total() const noexcept { return ready + delayed + reserved; }
};

/// @brief What a move does to each message it moves (AdapterInterface::move): it may change the
/// message's metadata, data and handler — not its id. It may run before the adapter's atomic step
/// (on Redis, before the compare-and-swap; on the memory adapter, under the adapter's lock), so it
/// must be a plain function of the message: no calls to the adapter, no side effects that must
/// happen exactly once (it may run for a message that is then skipped as `changed`). When it throws,
/// or changes the id, that message is skipped (`rewrite-failed`) and stays where it was.
using MessageRewrite = std::function<void(Message&)>;

/// @brief Why AdapterInterface::move left a message where it was.
enum class MoveSkipReason {
    not_found,       ///< No waiting message with this id in the source channel (never there, already moved, handled, removed).
    reserved,        ///< Held by a worker right now: it belongs to that worker until settled or given back.
    undecodable,     ///< Its bytes are not a message, and a rewrite was asked for (without one it moves as it is).
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

/// @brief One message AdapterInterface::move did not move.
struct MoveSkip {
    std::string id;
    MoveSkipReason reason = MoveSkipReason::not_found;
    std::string detail;  ///< More for a human (the rewrite's error text); may be empty.
};

/// @brief What AdapterInterface::move did: every requested id is in `moved` or in `skipped`, never in
/// both. (An id is in `moved` twice only when the source held two waiting messages with that id.)
struct MoveResult {
    std::vector<std::string> moved;  ///< Ids of the messages now in the target channel, in the order they went.
    std::vector<MoveSkip> skipped;   ///< The rest, in the order of the requested ids.
};

/// @brief The broker contract. See DESIGN.md, "AdapterInterface".
class AdapterInterface {
public:
    AdapterInterface() = default;
    AdapterInterface(const AdapterInterface&) = delete;
    AdapterInterface& operator=(const AdapterInterface&) = delete;
    virtual ~AdapterInterface() = default;

    /// @brief Pushes @p message to @p channel, due after @p delay. Assigns an id when the message
    /// has none and returns the id.
    virtual std::string push(const std::string& channel, Message message, Seconds delay = Seconds{0.0}) = 0;

    /// @brief Pushes many messages at once (one round trip where the broker allows). Returns their ids
    /// in order. Not atomic across messages unless the adapter says so.
    virtual std::vector<std::string> push_batch(std::vector<OutgoingMessage> messages) = 0;

    /// @brief Reserves up to @p max_messages due messages from @p channels (earlier channels first),
    /// waiting up to @p wait for the first one. Returns an empty vector when none came in time.
    /// Each delivery must then be settled or released; one that is not within the adapter's
    /// visibility timeout is given back by reclaim().
    virtual std::vector<Delivery> reserve(const std::vector<std::string>& channels, std::size_t max_messages,
                                          std::chrono::milliseconds wait) = 0;

    /// @brief Acknowledges @p delivery and applies every push of @p settlement in ONE atomic step.
    /// Throws StaleDeliveryError (and changes nothing) when the delivery was already given back.
    /// The adapter moves from @p settlement only once it has succeeded: when it throws, the
    /// settlement is intact and may be sent again — a settle whose reply was lost must be safe to
    /// repeat (it must not duplicate the pushes).
    virtual void settle(const Delivery& delivery, Settlement&& settlement) = 0;

    /// @brief Settles many deliveries, each atomically on its own exactly as settle() would, in as
    /// few round trips as the broker allows. Returns one result per item: null when it was settled,
    /// else the exception settle() would have thrown for it (StaleDeliveryError: nothing changed).
    /// When the broker cannot be reached it throws ConnectionError; any of the items may then have
    /// been applied, and sending the same items again is safe. The default calls settle() in turn.
    virtual std::vector<std::exception_ptr> settle_batch(std::vector<SettleItem> items);

    /// @brief Gives @p delivery back to its channel, due after @p delay, without counting it as a delivery
    /// (for a circuit breaker or a shutdown). Throws StaleDeliveryError when it was already given back.
    virtual void release(const Delivery& delivery, Seconds delay = Seconds{0.0}) = 0;

    /// @brief Gives back every delivery held longer than the visibility timeout (its worker vanished).
    /// Returns how many. Adapters also do this on their own while reserving.
    virtual std::size_t reclaim() = 0;

    /// @brief Where the message with @p id is now.
    virtual MessageStatus status(const std::string& id) = 0;

    /// @brief Messages of @p channel by state.
    virtual ChannelDepth depth(const std::string& channel) = 0;

    /// @brief depth(@p channel), plus in `dead` the messages waiting in its dead-letter channel
    /// (@p channel + @p dead_letter_suffix).
    ChannelDepth depth_with_dead_letters(const std::string& channel, const std::string& dead_letter_suffix = ":dlq");

    /// @brief Up to @p limit waiting messages (ready, then delayed by due time) of @p channel,
    /// skipping the first @p offset. Used to inspect dead letters. Reserved messages are not listed.
    virtual std::vector<Message> browse(const std::string& channel, std::size_t offset, std::size_t limit) = 0;

    /// @brief Removes the waiting messages of @p channel whose ids are in @p ids. Returns how many went.
    virtual std::size_t remove(const std::string& channel, const std::vector<std::string>& ids) = 0;

    /// @brief remove(), and adds how many went to @p channel's eviction counter in the same atomic
    /// step (on Redis, per script step; in memory, under the adapter's lock), so no eviction can go
    /// uncounted. Retention (DeadLetters::enforce_retention) evicts through this. Returns how many went.
    virtual std::size_t evict(const std::string& channel, const std::vector<std::string>& ids) = 0;

    /// @brief How many messages evict() removed from @p channel, ever: kept by the broker (on Redis in
    /// `{<prefix>}:evicted:<channel>`), so it survives processes; 0 for a channel never evicted from.
    virtual std::uint64_t evicted(const std::string& channel) = 0;

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
    /// earlier steps moved stays moved).
    virtual MoveResult move(const std::string& from, const std::string& to, const std::vector<std::string>& ids,
                            const MessageRewrite& rewrite = {}, Seconds delay = Seconds{0.0}) = 0;

    /// @brief Every channel that holds or has held a message, sorted.
    virtual std::vector<std::string> channels() = 0;
};

}  // namespace failpipe
