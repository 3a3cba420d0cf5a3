/// @file send_again_middleware.hpp
/// @brief SendAgainMiddleware: push the failed message again at once, to its channel or another.
#pragma once

#include <string>

#include "failpipe/error_class.hpp"
#include "failpipe/failure_middleware.hpp"

namespace failpipe {

/// @brief Sends a failed message again with no delay, at most `maxAttempts` times per message.
///
/// Yii's semantics: its counter lives in metadata under `failure-strategy-resend-attempts-<id>`
/// (inside `failpipe-failure`); negative or non-numeric stored values count as 0; with
/// maxAttempts = N it acts exactly N times, then passes failures on. Beyond Yii: an `on` filter
/// of error classes (empty = all).
class SendAgainMiddleware final : public MiddlewareFailureInterface {
public:
    /// @brief Config type name.
    static constexpr const char* kType = "send-again";

    /// @param id         its counter key; two middlewares with the same id share a counter.
    /// @param max_attempts how many times it acts (≥ 1, else InvalidArgumentError).
    /// @param queue      target channel; empty means the channel the message failed on.
    /// @param on         the error classes it applies to (empty: all).
    SendAgainMiddleware(std::string id, long long max_attempts, std::string queue = {}, ErrorClassSet on = {});

    FailureHandlingRequest handle(FailureHandlingRequest request, const Failure& failure,
                                  const FailureHandlerInterface& next) const override;
    const std::string& id() const noexcept override { return id_; }
    /// @brief Its queue, or the channel the message failed on.
    std::optional<std::vector<MiddlewareTarget>> targets(const std::string& dead_letter_suffix) const override;

    long long max_attempts() const noexcept { return max_attempts_; }
    const std::string& queue() const noexcept { return queue_; }
    const ErrorClassSet& on() const noexcept { return on_; }
    /// @brief How many times it has acted on @p message (Yii's tolerant reading, clamped at 0).
    long long attempts(const Message& message) const;

private:
    std::string id_;
    long long max_attempts_;
    std::string queue_;
    ErrorClassSet on_;
    std::string counter_key_;
};

}  // namespace failpipe
