/// @file retry_after.hpp
/// @brief Retry-After: a handler says when trying again makes sense.
///
/// A handler that knows when a retry can succeed (an HTTP 429/503 with a `Retry-After` header, a
/// rate limit that resets in 30 s) throws failpipe::RetryAfter, or any exception that also derives
/// from RetryAfterHint. ExponentialDelayMiddleware then delays that attempt by the hint instead of its
/// own schedule — capped at its delayMaximum; a negative hint counts as 0 and a NaN or infinite one
/// is ignored — and the attempt's history entry records `retryAfter`. The attempt still counts
/// against the middleware's maxAttempts, and its own schedule goes on underneath, so the next
/// failure without a hint gets the delay it would have had anyway. SendAgainMiddleware ignores hints
/// (it retries at once).
#pragma once

#include <optional>
#include <string>

#include "failpipe/clock.hpp"
#include "failpipe/error.hpp"

namespace failpipe {

/// @brief The interface an exception implements to carry a delay hint (mix it into your own
/// exception types; the classifier finds it with a dynamic_cast).
class RetryAfterHint {
public:
    virtual ~RetryAfterHint() = default;
    /// @brief The delay after which a retry makes sense, or std::nullopt for no hint.
    virtual std::optional<Seconds> retry_after() const noexcept = 0;
};

/// @brief A transient failure with a delay hint: `throw failpipe::RetryAfter(Seconds{30}, "HTTP 429")`.
/// Classified `transient` (it is a TransientError).
class RetryAfter : public TransientError, public RetryAfterHint {
public:
    RetryAfter(Seconds delay, const std::string& message) : TransientError(message), delay_(delay) {}
    std::optional<Seconds> retry_after() const noexcept override { return delay_; }

private:
    Seconds delay_;
};

}  // namespace failpipe
