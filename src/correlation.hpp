// Correlation ids (metadata `correlationId`): reading, generating, and the form of log lines about a message.
#pragma once

#include <string>
#include <string_view>

#include "failpipe/message.hpp"

namespace failpipe::detail {

/// The message's `correlationId` when it is a non-empty string, else empty (no allocation).
std::string_view stored_correlation_id(const Message& message) noexcept;

/// The correlation id of @p message: its `correlationId`, else its id (plain adapter pushes and the
/// CLI's pushes carry none).
std::string_view correlation_id_of(const Message& message) noexcept;

/// A fresh correlation id: 128 random bits as 32 lowercase hex digits.
std::string new_correlation_id();

/// Sets `correlationId` on @p message (whose metadata must be an object) to @p id when it has none.
void give_correlation_id(Message& message, std::string_view id);

/// How every worker log line names a message: `message <id> [channel=<channel> correlation=<id>]`,
/// each value with control bytes escaped (`\n`, `\xNN`) and cut after 200 bytes: they come from producers.
std::string about_message(std::string_view id, std::string_view channel, std::string_view correlation);

}  // namespace failpipe::detail
