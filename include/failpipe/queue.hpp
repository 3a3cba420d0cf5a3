/// @file queue.hpp
/// @brief Queue: the producer side of one channel.
#pragma once

#include <memory>
#include <string>

#include "failpipe/adapter.hpp"

namespace failpipe {

/// @brief Pushes messages to one channel of an adapter. Cheap to copy; thread-safe when the adapter is.
class Queue {
public:
    /// @brief A producer for @p channel (must not be empty) on @p adapter (must not be null).
    Queue(std::shared_ptr<AdapterInterface> adapter, std::string channel);

    /// @brief Pushes @p message, due after @p delay (seconds, ≥ 0). Returns its id.
    std::string push(Message message, Seconds delay = Seconds{0.0}) const;

    /// @brief The channel this queue pushes to.
    const std::string& channel() const noexcept { return channel_; }
    /// @brief The adapter below.
    const std::shared_ptr<AdapterInterface>& adapter() const noexcept { return adapter_; }

private:
    std::shared_ptr<AdapterInterface> adapter_;
    std::string channel_;
};

}  // namespace failpipe
