/// @file failure_middleware.hpp
/// @brief The interface of a failure middleware, and of the "next" it may call.
///
/// Thread safety: middlewares are built once and shared by every worker thread, so handle() is
/// const and must be safe to call concurrently. Per-message state lives in the message metadata.
#pragma once

#include <memory>
#include <optional>
#include <string>

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
};

/// @brief How pipelines hold middlewares: shared and immutable.
using FailureMiddlewarePtr = std::shared_ptr<const MiddlewareFailureInterface>;

}  // namespace failpipe
