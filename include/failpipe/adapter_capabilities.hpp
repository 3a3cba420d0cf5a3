/// @file adapter_capabilities.hpp
/// @brief What an adapter declares it can do (AdapterCapabilities), and the error a caller throws
/// when it needs what the adapter left out (UnsupportedCapabilityError).
///
/// Thread safety: plain values.
#pragma once

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>

#include "failpipe/error.hpp"

namespace failpipe {

/// @brief One thing an adapter may or may not offer. The first three shape the broker core
/// (BrokerAdapter); the rest are the operations of the inspection side (InspectionAdapter).
enum class Capability : std::uint8_t {
    /// settle() acknowledges and applies every push, to any channel, in ONE atomic step, and a
    /// repeated settle does not duplicate them. Without it a worker that dies mid-settle may leave
    /// a retry or dead letter pushed twice, or the delivery acknowledged with a push missing.
    atomic_settle,
    /// push(), push_batch(), settle pushes and release() honour a delay > 0. Without it they throw
    /// UnsupportedCapabilityError for one (a delayed retry then fails to settle, and the delivery
    /// comes back after the visibility timeout, counted).
    delayed_delivery,
    /// release() gives a delivery back without counting it as a delivery. Without it a circuit
    /// breaker's releases count towards maxDeliveries.
    uncounted_release,
    status,    ///< InspectionAdapter::status: where a message is, by id.
    depth,     ///< InspectionAdapter::depth: messages of a channel by state.
    browse,    ///< InspectionAdapter::browse: list waiting messages by offset.
    remove,    ///< InspectionAdapter::remove: delete waiting messages by id.
    evict,     ///< InspectionAdapter::evict and ::evicted: remove and count, in a counter the broker keeps.
    move,      ///< InspectionAdapter::move: move waiting messages between channels, each one atomically.
    channels,  ///< InspectionAdapter::channels: every channel that holds or held a message.
    /// InspectionAdapter::browse_after is the adapter's own: O(limit) per page at any depth, and a
    /// cursor stays valid when messages are pushed or removed. Without it browse_after pages by
    /// offset over browse() (a deep page costs its depth, and removals shift what follows).
    browse_cursor,
};

/// @brief How many Capability values there are.
inline constexpr std::size_t kCapabilityCount = static_cast<std::size_t>(Capability::browse_cursor) + 1;

/// @brief The name of a capability: `atomic-settle`, `delayed-delivery`, `uncounted-release`,
/// `status`, `depth`, `browse`, `remove`, `evict`, `move`, `channels`, `browse-cursor`.
constexpr std::string_view to_string(Capability capability) noexcept {
    switch (capability) {
        case Capability::atomic_settle: return "atomic-settle";
        case Capability::delayed_delivery: return "delayed-delivery";
        case Capability::uncounted_release: return "uncounted-release";
        case Capability::status: return "status";
        case Capability::depth: return "depth";
        case Capability::browse: return "browse";
        case Capability::remove: return "remove";
        case Capability::evict: return "evict";
        case Capability::move: return "move";
        case Capability::channels: return "channels";
        case Capability::browse_cursor: return "browse-cursor";
    }
    return "unknown";
}

/// @brief What an adapter can do (BrokerAdapter::capabilities()). Callers above the adapter check it
/// before they use an operation, and fail with UnsupportedCapabilityError naming what is missing.
struct AdapterCapabilities {
    /// The largest message, encoded, push() and push_batch() accept (0 = no limit): the adapter's
    /// `maxMessageBytes`. Bigger ones are refused with InvalidArgumentError.
    std::size_t max_message_bytes = 0;

    /// @brief Everything: what InMemoryAdapter and RedisAdapter offer.
    static constexpr AdapterCapabilities all() noexcept {
        AdapterCapabilities c;
        c.flags_ = (1U << kCapabilityCount) - 1;
        return c;
    }
    /// @brief Nothing declared (add what the adapter offers with with()).
    static constexpr AdapterCapabilities none() noexcept { return AdapterCapabilities{}; }

    constexpr bool has(Capability capability) const noexcept { return (flags_ & bit(capability)) != 0; }
    /// @brief This set plus @p capability.
    constexpr AdapterCapabilities with(Capability capability) const noexcept {
        AdapterCapabilities c = *this;
        c.flags_ |= bit(capability);
        return c;
    }
    /// @brief This set without @p capability.
    constexpr AdapterCapabilities without(Capability capability) const noexcept {
        AdapterCapabilities c = *this;
        c.flags_ &= ~bit(capability);
        return c;
    }
    constexpr bool operator==(const AdapterCapabilities&) const noexcept = default;

    /// @brief The declared capabilities' names, comma-separated, in enum order (e.g. for `failpipe health`).
    std::string to_string() const;

private:
    static constexpr std::uint32_t bit(Capability capability) noexcept {
        return 1U << static_cast<std::uint32_t>(capability);
    }
    std::uint32_t flags_ = 0;
};

/// @brief An operation needs a capability the adapter does not declare. Thrown by the adapter for
/// an operation it does not offer, and by callers (DeadLetters, channel_stats, probe_broker, a
/// Worker with dead-letter retention) before they start, so nothing is half done.
class UnsupportedCapabilityError : public AdapterError {
public:
    /// @param who what needed it, e.g. `DeadLetters::replay`.
    UnsupportedCapabilityError(Capability capability, std::string_view who);
    Capability capability() const noexcept { return capability_; }

private:
    Capability capability_;
};

/// @brief Throws UnsupportedCapabilityError for the first of @p needed that @p declared lacks.
void require_capabilities(const AdapterCapabilities& declared, std::initializer_list<Capability> needed,
                          std::string_view who);

}  // namespace failpipe
