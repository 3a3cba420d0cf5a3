/// @file outgoing_message.hpp
/// @brief A message on its way to a channel, with the delay before it becomes due.
#pragma once

#include <string>

#include "failpipe/clock.hpp"
#include "failpipe/message.hpp"

namespace failpipe {

/// @brief One push: @p message to @p channel, due after @p delay.
struct OutgoingMessage {
    std::string channel;
    Message message;
    Seconds delay{0.0};
};

}  // namespace failpipe
