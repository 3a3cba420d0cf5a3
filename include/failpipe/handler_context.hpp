/// @file handler_context.hpp
/// @brief HandlerContext: what a handler knows about its delivery, and its outbox.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "failpipe/clock.hpp"
#include "failpipe/message.hpp"
#include "failpipe/outgoing_message.hpp"

namespace failpipe {

/// @brief Passed to a handler with its message. Pushes made here are staged, not sent: they are
/// published together with the acknowledgement if the handler succeeds, and discarded if it throws
/// (outbox), so a retried handler never publishes its follow-ups twice.
class HandlerContext {
public:
    HandlerContext(const std::string& channel, std::uint32_t deliveries) : channel_(channel), deliveries_(deliveries) {}
    /// @brief A context for the delivery of @p message (borrowed: it must outlive the context), whose
    /// correlation id the follow-ups inherit.
    HandlerContext(const std::string& channel, std::uint32_t deliveries, const Message& message)
        : channel_(channel), deliveries_(deliveries), message_(&message) {}

    /// @brief Stages @p message for @p channel, due after @p delay. A follow-up without a
    /// `correlationId` gets the one of the message being handled (see correlation_id()).
    void push(std::string channel, Message message, Seconds delay = Seconds{0.0});
    /// @brief The correlation id of the message being handled: its metadata `correlationId`, else its
    /// id; empty for a context made without a message.
    std::string_view correlation_id() const noexcept;
    /// @brief The channel the message was consumed from.
    const std::string& channel() const noexcept { return channel_; }
    /// @brief How many times this message has been reserved (1 on the first delivery).
    std::uint32_t deliveries() const noexcept { return deliveries_; }
    /// @brief Gives the delivery back to the broker, due again after @p delay, without counting an
    /// attempt: "not now, this is not a failure" (a circuit breaker, a rate limit, a dependency that
    /// is down). The worker settles it as Outcome::released once the handler (or the consume
    /// middleware) returns: no failure counter, history or delivery count moves, and every push
    /// staged for this delivery is discarded. @p by names who released it (logs and metrics, e.g.
    /// the breaker's name). A later release replaces an earlier one. If the handler throws after
    /// releasing, the release still wins (the exception is logged, not counted as a failure).
    /// Throws InvalidArgumentError for a negative or non-finite delay.
    void release(Seconds delay = Seconds{0.0}, std::string by = "handler");
    /// @brief A release requested on this delivery.
    struct Release {
        Seconds delay{0.0};
        std::string by;
    };
    /// @brief The release requested by release(), if any.
    const std::optional<Release>& released() const noexcept { return released_; }
    /// @brief The staged pushes.
    const std::vector<OutgoingMessage>& staged() const noexcept { return staged_; }
    /// @brief Moves the staged pushes out.
    std::vector<OutgoingMessage> take_staged() noexcept { return std::move(staged_); }
    /// @brief Drops the pushes staged after the first @p count: the worker calls it when a handler
    /// throws, so its follow-ups are discarded even if a consume middleware swallows the exception.
    void discard_staged_from(std::size_t count) {
        if (count < staged_.size()) staged_.erase(staged_.begin() + static_cast<std::ptrdiff_t>(count), staged_.end());
    }

private:
    const std::string& channel_;
    std::uint32_t deliveries_;
    const Message* message_ = nullptr;
    std::vector<OutgoingMessage> staged_;
    std::optional<Release> released_;
};

}  // namespace failpipe
