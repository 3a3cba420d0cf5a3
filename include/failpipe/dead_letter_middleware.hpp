/// @file dead_letter_middleware.hpp
/// @brief DeadLetterMiddleware: park the failed message in a dead-letter channel with the reason attached.
#pragma once

#include <string>

#include "failpipe/clock.hpp"
#include "failpipe/error_class.hpp"
#include "failpipe/failure_middleware.hpp"

namespace failpipe {

/// @brief Moves a failed message to a dead-letter channel (default `<channel><suffix>`, i.e.
/// `<channel>:dlq`) and records the failure record under metadata `failpipe-dead-letter` (reason,
/// error type, message, class and fingerprint, times, counters, origin and the attempt history:
/// see failure_record.hpp and docs/dead-letters.md). Always applies, subject to `on`.
class DeadLetterMiddleware final : public MiddlewareFailureInterface {
public:
    /// @brief Config type name.
    static constexpr const char* kType = "dead-letter";
    /// @brief The default suffix of dead-letter channels.
    static constexpr const char* kDefaultSuffix = ":dlq";
    /// @brief How many times a message may be dead-lettered since it was pushed or last replayed
    /// (metadata `failpipe-dead-letter-hops`). Past it, dead_letter() sends it to the dead letters of
    /// the channel it failed on instead of the target it is given: dead-letter channels that are
    /// consumed and dead-letter onwards in a loop (A to B, B to A) cannot move it on for ever.
    static constexpr long long kMaxHops = 8;

    /// @param id      its id (recorded as `middleware`).
    /// @param queue   the dead-letter channel; empty = the failing channel + @p suffix. A message that
    ///                fails on @p queue itself goes to @p queue + suffix (never back where it failed).
    /// @param on      error classes it applies to (empty = all).
    /// @param suffix  appended to the failing channel when @p queue is empty; empty = the suffix of the
    ///                dispatcher running it (FailureMiddlewareDispatcher::Options::dead_letter_suffix).
    /// @param clock   the time recorded (null = system clock).
    DeadLetterMiddleware(std::string id, std::string queue = {}, ErrorClassSet on = {},
                         std::string suffix = {}, std::shared_ptr<const Clock> clock = nullptr);

    FailureHandlingRequest handle(FailureHandlingRequest request, const Failure& failure,
                                  const FailureHandlerInterface& next) const override;
    const std::string& id() const noexcept override { return id_; }
    /// @brief Its queue, or the failing channel + its suffix (the dispatcher's when it has none).
    std::optional<std::vector<MiddlewareTarget>> targets(const std::string& dead_letter_suffix) const override;

    const std::string& queue() const noexcept { return queue_; }
    const ErrorClassSet& on() const noexcept { return on_; }
    /// @brief The dead-letter channel for a message that failed on @p channel, under a dispatcher
    /// whose suffix is @p dispatcher_suffix.
    std::string target_for(const std::string& channel, const std::string& dispatcher_suffix = kDefaultSuffix) const;

    /// @brief Dead-letters @p request now: counts the hop, appends the dead-letter step to the
    /// message's history (bounded by the request's history_limit()), writes the failure record with
    /// @p reason and @p failure, and stages the push to @p target — or, past kMaxHops, to the failing
    /// channel + the request's dead_letter_suffix(), with a note that says so. The one function
    /// every dead-letter path uses.
    static FailureHandlingRequest dead_letter(FailureHandlingRequest request, const Failure& failure,
                                              const std::string& middleware_id, const std::string& target,
                                              std::string_view reason, TimePoint now);

private:
    std::string id_;
    std::string queue_;
    ErrorClassSet on_;
    std::string suffix_;
    std::shared_ptr<const Clock> clock_;
};

}  // namespace failpipe
