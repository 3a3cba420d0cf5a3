/// @file exponential_delay_middleware.hpp
/// @brief ExponentialDelayMiddleware: push the failed message again after a growing, capped delay.
#pragma once

#include <memory>
#include <string>

#include "failpipe/clock.hpp"
#include "failpipe/error_class.hpp"
#include "failpipe/failure_middleware.hpp"
#include "failpipe/jitter.hpp"

namespace failpipe {

/// @brief Optional settings of ExponentialDelayMiddleware beyond Yii's parameters.
struct ExponentialDelayOptions {
    std::string queue;                       ///< Target channel; empty = the channel the message failed on.
    ErrorClassSet on;                        ///< Error classes it applies to; empty = all.
    Jitter jitter = Jitter::none;            ///< Randomisation of each delay (never beyond delayMaximum).
    std::shared_ptr<RandomSource> random;    ///< Source of jitter draws; null = seeded from random_device.
};

/// @brief Re-pushes a failed message after `min(delayInitial × exponent^(k−1), delayMaximum)` seconds
/// the k-th time it acts (k = 1..maxAttempts), computed by repeated multiplication so figures match
/// Yii's to the last digit. The first delay is delayInitial (see yii-queue-semantics.md).
///
/// Metadata (inside `failpipe-failure`): `failure-strategy-exponential-delay-attempts-<id>` (int;
/// a negative value reads as 0 — unlike Yii, where it grants extra attempts, so that no message can
/// buy itself more retries than maxAttempts) and
/// `failure-strategy-exponential-delay-delay-<id>` (the last un-jittered delay; ≤ 0 or not a
/// number restarts from delayInitial). With decorrelated jitter, the last applied delay is kept
/// under `failure-strategy-exponential-delay-applied-<id>`.
///
/// Retry-After: when the failure carries a delay hint (failpipe::RetryAfter, or any exception
/// implementing RetryAfterHint), that attempt is delayed by the hint instead — clamped to
/// [0, delayMaximum], NaN or infinite hints ignored, no jitter — and the decision (and the message's
/// history) records `retryAfter`. The attempt counts against maxAttempts as usual.
class ExponentialDelayMiddleware final : public MiddlewareFailureInterface {
public:
    /// @brief Config type name.
    static constexpr const char* kType = "exponential-delay";

    /// @brief Optional settings beyond Yii's parameters.
    using Options = ExponentialDelayOptions;

    /// Checks, in Yii's order, each raising InvalidArgumentError: maxAttempts > 0, delayInitial > 0,
    /// delayMaximum ≥ delayInitial, exponent > 0 (and all finite).
    ExponentialDelayMiddleware(std::string id, long long max_attempts, double delay_initial, double delay_maximum,
                               double exponent, Options options = {});

    FailureHandlingRequest handle(FailureHandlingRequest request, const Failure& failure,
                                  const FailureHandlerInterface& next) const override;
    const std::string& id() const noexcept override { return id_; }
    /// @brief delayMaximum: what a retry past the retry budget waits.
    std::optional<Seconds> maximum_delay() const override { return Seconds{delay_maximum_}; }
    /// @brief Its queue, or the channel the message failed on.
    std::optional<std::vector<MiddlewareTarget>> targets(const std::string& dead_letter_suffix) const override;

    long long max_attempts() const noexcept { return max_attempts_; }
    double delay_initial() const noexcept { return delay_initial_; }
    double delay_maximum() const noexcept { return delay_maximum_; }
    double exponent() const noexcept { return exponent_; }
    const std::string& queue() const noexcept { return options_.queue; }
    const ErrorClassSet& on() const noexcept { return options_.on; }
    Jitter jitter() const noexcept { return options_.jitter; }

    /// @brief How many times it has acted on @p message (tolerant reading; negative reads as 0).
    long long attempts(const Message& message) const;
    /// @brief The un-jittered delay it would apply next to @p message.
    double next_delay(const Message& message) const;

private:
    std::string id_;
    long long max_attempts_;
    double delay_initial_;
    double delay_maximum_;
    double exponent_;
    Options options_;
    std::string attempts_key_;
    std::string delay_key_;
    std::string applied_key_;
};

}  // namespace failpipe
