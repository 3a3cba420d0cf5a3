/// @file failure_middleware.hpp
/// @brief The interface of a failure middleware, and of the "next" it may call.
///
/// Thread safety: middlewares are built once and shared by every worker thread, so handle() is
/// const and must be safe to call concurrently. Per-message state lives in the message metadata.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "failpipe/failure.hpp"
#include "failpipe/failure_handling_request.hpp"

namespace failpipe {

/// @brief The rest of the pipeline after a middleware (Yii's FailureHandlerInterface).
class FailureHandlerInterface {
public:
    virtual ~FailureHandlerInterface() = default;
    /// @brief Runs the rest of the pipeline and its final handler on @p request.
    virtual FailureHandlingRequest handle(FailureHandlingRequest request, const Failure& failure) const = 0;
};

/// @brief A channel a middleware may push a failed message to, relative to the channel C the message
/// failed on. Shard groups (shard_groups.hpp) are derived from these: a channel and every channel
/// its pipeline may push to share one Redis Cluster hash tag, so every settle stays atomic.
struct MiddlewareTarget {
    std::string channel;       ///< A fixed channel; empty: C itself.
    std::string suffix;        ///< Appended to `channel` (or to C): the dead-letter suffix of `C:dlq`.
    bool dead_letter = false;  ///< Messages rest there: no pipeline runs on them (unless it is consumed too).

    /// @brief The channel it names for a message that failed on @p failed_on.
    std::string resolve(const std::string& failed_on) const { return (channel.empty() ? failed_on : channel) + suffix; }
};

/// @brief One step of a failure pipeline: act on the failure, or pass it to @p next.
///
/// To act, stage a push on the request (FailureHandlingRequest::stage), record a Decision
/// (FailureHandlingRequest::decide) and return the request. To decline, return next.handle(request, failure).
class MiddlewareFailureInterface {
public:
    virtual ~MiddlewareFailureInterface() = default;
    /// @brief Acts on @p failure of @p request's message, or calls @p next.
    virtual FailureHandlingRequest handle(FailureHandlingRequest request, const Failure& failure,
                                          const FailureHandlerInterface& next) const = 0;
    /// @brief The middleware's id: the key of its counters in message metadata.
    virtual const std::string& id() const noexcept = 0;
    /// @brief The longest delay it ever retries with, if it has one (ExponentialDelayMiddleware:
    /// delayMaximum). A retry past the channel's RetryBudget waits this long instead of retrying
    /// early; without one (the default, and SendAgainMiddleware) it waits the budget's fallbackDelay.
    virtual std::optional<Seconds> maximum_delay() const { return std::nullopt; }
    /// @brief Every channel it may push a failed message to, under a dispatcher whose dead-letter
    /// suffix is @p dead_letter_suffix; std::nullopt (the default) when it does not say. The
    /// built-ins say; a custom middleware that pushes should, or `failpipe config check` cannot
    /// place its targets in a shard group (docs/shard-groups.md) and says so.
    virtual std::optional<std::vector<MiddlewareTarget>> targets(const std::string& dead_letter_suffix) const {
        (void)dead_letter_suffix;
        return std::nullopt;
    }
};

/// @brief How pipelines hold middlewares: shared and immutable.
using FailureMiddlewarePtr = std::shared_ptr<const MiddlewareFailureInterface>;

}  // namespace failpipe
