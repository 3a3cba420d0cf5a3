/// @file failure_handling_request.hpp
/// @brief FailureHandlingRequest: the message that failed, where, and what the pipeline decided.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "failpipe/clock.hpp"
#include "failpipe/failure_record.hpp"
#include "failpipe/message.hpp"
#include "failpipe/outgoing_message.hpp"

namespace failpipe {

/// @brief What a failure pipeline did with a message.
enum class FailureAction {
    send_again,   ///< pushed again with no delay (to its channel or another)
    delay,        ///< pushed again after a delay
    dead_letter,  ///< moved to a dead-letter channel with the failure recorded
    drop,         ///< acknowledged and discarded (counted)
    rethrow,      ///< nobody handled it; the worker throws and leaves the delivery unsettled
};

/// @brief `send-again`, `delay`, `dead-letter`, `drop`, `rethrow`.
std::string_view to_string(FailureAction action) noexcept;

/// @brief The decision recorded on a request: who acted, how, where to and after how long.
struct Decision {
    std::string middleware;        ///< The acting middleware's id, or `final`.
    FailureAction action = FailureAction::rethrow;
    std::string to;                ///< The target channel (empty for drop and rethrow).
    Seconds delay{0.0};            ///< The delay applied (for jitter: the one drawn).
    Seconds base_delay{0.0};       ///< The un-jittered schedule value (equals delay without jitter or budget).
    Seconds delay_min{0.0};        ///< The smallest delay this step could have drawn.
    Seconds delay_max{0.0};        ///< The largest delay this step could have drawn.
    bool jittered = false;         ///< True when delay was drawn at random within [delay_min, delay_max].
    std::optional<Seconds> retry_after{};  ///< The failure's Retry-After hint, when it decided the delay (as capped).
    std::string note{};            ///< Why the pipeline stopped early (maxElapsed passed), or why a retry
                                   ///< waits longer than its schedule (the retry budget); empty otherwise.
    /// The channel's RetryBudget was spent: this retry waits its middleware's maximum delay (delay)
    /// instead of the schedule's (base_delay). The worker copies it to DeliveryEvent::budget_exhausted.
    bool budget_exhausted = false;
};

/// @brief The value passed along a failure pipeline. Move-only in spirit: pass it by value and return it.
///
/// A middleware that acts stages its pushes here (with the updated message) and records a
/// Decision; the worker then settles the delivery with exactly these pushes, atomically.
class FailureHandlingRequest {
public:
    /// @brief A request for @p message, which failed on @p channel.
    FailureHandlingRequest(Message message, std::string channel);

    /// @brief The message as it failed, with the pipeline's updates so far (empty after take_message()).
    const Message& message() const noexcept { return message_; }
    /// @brief Mutable access, so a middleware can update metadata before it acts or passes on.
    Message& message() noexcept { return message_; }
    /// @brief Moves the message out (the usual first step of acting on it).
    Message take_message() noexcept { return std::move(message_); }
    /// @brief The channel the message was consumed from; it selected the pipeline.
    const std::string& channel() const noexcept { return channel_; }
    /// @brief The dead-letter suffix of the dispatcher running this request (`:dlq` by default), so a
    /// DeadLetterMiddleware built in code picks the same channel as the final handler.
    const std::string& dead_letter_suffix() const noexcept { return dead_letter_suffix_; }
    /// @brief Set by the dispatcher.
    void set_dead_letter_suffix(std::string suffix) { dead_letter_suffix_ = std::move(suffix); }
    /// @brief How many attempts the message's history keeps (the dispatcher's history_limit).
    std::size_t history_limit() const noexcept { return history_limit_; }
    /// @brief Set by the dispatcher.
    void set_history_limit(std::size_t limit) noexcept { history_limit_ = limit; }
    /// @brief Why the dispatcher skipped the pipeline (maxElapsed passed), recorded on the decision,
    /// the history and the failure record; empty when it did not.
    const std::string& note() const noexcept { return note_; }
    /// @brief Set by the dispatcher.
    void set_note(std::string note) { note_ = std::move(note); }

    /// @brief Stages a push, to be settled atomically with the acknowledgement.
    void stage(OutgoingMessage push) { pushes_.push_back(std::move(push)); }
    /// @brief The staged pushes.
    const std::vector<OutgoingMessage>& pushes() const noexcept { return pushes_; }
    /// @brief Mutable access, so the dispatcher can add the attempt to a staged message's history.
    std::vector<OutgoingMessage>& pushes() noexcept { return pushes_; }
    /// @brief Moves the staged pushes out.
    std::vector<OutgoingMessage> take_pushes() noexcept { return std::move(pushes_); }

    /// @brief Records what was done. A request with a decision counts as handled.
    void decide(Decision decision) { decision_ = std::move(decision); }
    /// @brief What was done, if anything yet.
    const std::optional<Decision>& decision() const noexcept { return decision_; }
    /// @brief True once a middleware (or the final handler) has decided.
    bool handled() const noexcept { return decision_.has_value(); }

private:
    Message message_;
    std::string channel_;
    std::string dead_letter_suffix_ = ":dlq";
    std::size_t history_limit_ = kDefaultHistoryLimit;
    std::string note_;
    std::vector<OutgoingMessage> pushes_;
    std::optional<Decision> decision_;
};

}  // namespace failpipe
