/// @file expiry.hpp
/// @brief Time to live: a message not handled by a given time is expired, never handled.
///
/// The expiry time travels in metadata `failpipe-expires-at` as UTC epoch milliseconds (an integer),
/// so it means the same on every broker and machine. Queue::push sets it from PushOptions::ttl
/// (counted from the push, not from when the message becomes due: a delay longer than the TTL
/// expires it). A worker that reserves a message whose expiry time has passed (by the dispatcher's
/// clock) never runs its handler: it dead-letters it with reason `expired`, or drops it when
/// WorkerOptions::on_expired says so, and counts it in WorkerMetrics::expired. The key stays on
/// retries, so a message that waits out its TTL in a retry delay expires too. A value that is not a
/// positive number is ignored (the message never expires).
#pragma once

#include <optional>
#include <string_view>

#include "failpipe/clock.hpp"
#include "failpipe/message.hpp"

namespace failpipe {

/// @brief What a worker does with a message whose time to live has passed (JSON config: `onExpired`).
enum class ExpiredBehavior {
    dead_letter,  ///< move it to the dead letters with reason `expired` (default)
    drop,         ///< acknowledge and discard it (counted in WorkerMetrics::expired and ::dropped)
};

/// @brief `dead-letter`, `drop`.
std::string_view to_string(ExpiredBehavior behavior) noexcept;
/// @brief Parses an ExpiredBehavior name; std::nullopt when unknown.
std::optional<ExpiredBehavior> parse_expired_behavior(std::string_view name) noexcept;

/// @brief Sets @p message to expire at @p when (metadata made an object if it was not one).
void set_expires_at(Message& message, TimePoint when);

/// @brief Sets @p message to expire @p ttl after @p now. Throws InvalidArgumentError unless @p ttl is
/// a finite number of seconds > 0.
void set_time_to_live(Message& message, TimePoint now, Seconds ttl);

/// @brief When @p message expires, or std::nullopt when it does not (no key, or not a positive number).
std::optional<TimePoint> expires_at(const Message& message);

/// @brief True when @p message has an expiry time and it is before or at @p now.
bool is_expired(const Message& message, TimePoint now);

}  // namespace failpipe
