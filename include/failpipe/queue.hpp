/// @file queue.hpp
/// @brief Queue: the producer side of one channel.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "failpipe/adapter.hpp"
#include "failpipe/clock.hpp"

namespace failpipe {

/// @brief How one message is pushed.
struct PushOptions {
    Seconds delay{0.0};          ///< Due after this many seconds (≥ 0).
    /// Time to live, from now (> 0): a worker that reserves the message after it has passed never
    /// runs its handler — it dead-letters it with reason `expired` or drops it (see expiry.hpp).
    /// Stored as metadata `failpipe-expires-at` (UTC epoch ms); unset = never expires.
    std::optional<Seconds> ttl;
};

/// @brief Pushes messages to one channel of an adapter. Cheap to copy; thread-safe when the adapter is.
class Queue {
public:
    /// @brief A producer for @p channel (must not be empty) on @p adapter (must not be null).
    /// @p clock dates the expiry of pushes with a time to live (null = system clock).
    Queue(std::shared_ptr<BrokerAdapter> adapter, std::string channel, std::shared_ptr<const Clock> clock = nullptr);

    /// @brief Pushes @p message, due after @p delay (seconds, ≥ 0). Returns its id. A message without
    /// a `correlationId` (metadata, a non-empty string) gets a new one (32 hex digits).
    std::string push(Message message, Seconds delay = Seconds{0.0}) const;

    /// @brief Pushes @p message with @p options (delay, time to live). Returns its id. Throws
    /// InvalidArgumentError for a delay or ttl out of range, before anything is sent.
    std::string push(Message message, const PushOptions& options) const;

    /// @brief The channel this queue pushes to.
    const std::string& channel() const noexcept { return channel_; }
    /// @brief The adapter below.
    const std::shared_ptr<BrokerAdapter>& adapter() const noexcept { return adapter_; }

private:
    std::shared_ptr<BrokerAdapter> adapter_;
    std::string channel_;
    std::shared_ptr<const Clock> clock_;
};

}  // namespace failpipe
