/// @file delivery.hpp
/// @brief A reserved message, held by one worker until it is settled or released.
#pragma once

#include <cstdint>
#include <string>

#include "failpipe/message.hpp"

namespace failpipe {

/// @brief A message handed to a worker by BrokerAdapter::reserve.
///
/// When the stored bytes did not decode, `decode_error` says why, `raw` holds the bytes and
/// `message` has only whatever id the adapter knows; the worker dead-letters it without running
/// a handler.
struct Delivery {
    std::string channel;          ///< The channel it was reserved from.
    std::string receipt;          ///< The adapter's handle for settle/release; opaque to everyone else.
    Message message;              ///< The decoded message (when `decode_error` is empty).
    std::uint32_t deliveries = 1; ///< Times it has been reserved, this one included (releases do not count).
    std::string raw;              ///< The undecodable bytes, only when `decode_error` is set.
    std::string decode_error;     ///< Why the bytes are not a message; empty for a good delivery.

    /// @brief True when the stored bytes were not a message.
    bool poisoned() const noexcept { return !decode_error.empty(); }
};

}  // namespace failpipe
