#include "failpipe/exponential_delay_middleware.hpp"

#include <algorithm>
#include <cmath>
#include <optional>
#include <sstream>

#include "failpipe/error.hpp"
#include "failpipe/metadata_keys.hpp"
#include "metadata.hpp"

namespace failpipe {
namespace {

std::string number_text(double value) {
    std::ostringstream out;
    out << value;
    return out.str();
}

}  // namespace

ExponentialDelayMiddleware::ExponentialDelayMiddleware(std::string id, long long max_attempts, double delay_initial,
                                                       double delay_maximum, double exponent, Options options)
    : id_(std::move(id)),
      max_attempts_(max_attempts),
      delay_initial_(delay_initial),
      delay_maximum_(delay_maximum),
      exponent_(exponent),
      options_(std::move(options)),
      attempts_key_(std::string(metadata_keys::delay_attempts_prefix) + id_),
      delay_key_(std::string(metadata_keys::delay_delay_prefix) + id_),
      applied_key_(std::string(metadata_keys::delay_applied_prefix) + id_) {
    // Yii's checks, in Yii's order; NaN and infinities are refused too since no schedule can use them.
    if (max_attempts_ <= 0) {
        throw InvalidArgumentError("maxAttempts parameter must be a positive integer, " + std::to_string(max_attempts_) +
                                   " given.");
    }
    if (!(delay_initial_ > 0) || !std::isfinite(delay_initial_)) {
        throw InvalidArgumentError("delayInitial parameter must be a positive finite number, " +
                                   number_text(delay_initial_) + " given.");
    }
    if (!(delay_maximum_ >= delay_initial_) || !std::isfinite(delay_maximum_)) {
        throw InvalidArgumentError("delayMaximum parameter must not be less than delayInitial (" +
                                   number_text(delay_initial_) + "), " + number_text(delay_maximum_) + " given.");
    }
    if (!(exponent_ > 0) || !std::isfinite(exponent_)) {
        throw InvalidArgumentError("exponent parameter must be a positive finite number, " + number_text(exponent_) +
                                   " given.");
    }
    if (options_.jitter != Jitter::none && !options_.random) {
        options_.random = std::make_shared<RandomSource>(RandomSource::random_seed());
    }
}

long long ExponentialDelayMiddleware::attempts(const Message& message) const {
    return detail::to_count(detail::failure_value(message, attempts_key_));
}

double ExponentialDelayMiddleware::next_delay(const Message& message) const {
    const double previous = detail::to_float(detail::failure_value(message, delay_key_));
    if (previous <= 0) return delay_initial_;
    // One multiplication per step from the stored value, so figures match Yii's to the last digit.
    return std::min(previous * exponent_, delay_maximum_);
}

std::optional<std::vector<MiddlewareTarget>> ExponentialDelayMiddleware::targets(
    const std::string& /*dead_letter_suffix*/) const {
    return std::vector<MiddlewareTarget>{{options_.queue, "", false}};
}

FailureHandlingRequest ExponentialDelayMiddleware::handle(FailureHandlingRequest request, const Failure& failure,
                                                          const FailureHandlerInterface& next) const {
    if (!options_.on.matches(failure.error_class)) return next.handle(std::move(request), failure);
    // One search of the failure object, then of each key; the values are updated in place.
    Message& message = request.message();
    nlohmann::json* meta = detail::find_failure_object(message);
    nlohmann::json* attempts_value = detail::find_member(meta, attempts_key_);
    // Negative reads as 0 (Yii would grant a message that says -1e12 that many attempts); below
    // max_attempts_, so done + 1 cannot overflow.
    const long long done = detail::to_count(attempts_value);
    if (!(max_attempts_ > done)) return next.handle(std::move(request), failure);

    nlohmann::json* delay_value = detail::find_member(meta, delay_key_);
    const double previous_base = detail::to_float(delay_value);
    // One multiplication per step from the stored value, so figures match Yii's to the last digit.
    const double base = previous_base <= 0 ? delay_initial_ : std::min(previous_base * exponent_, delay_maximum_);
    double applied = base;
    double low = base;
    double high = base;
    switch (options_.jitter) {
        case Jitter::none: break;
        case Jitter::full:
            low = 0.0;
            applied = base * options_.random->next_unit();
            break;
        case Jitter::equal:
            low = base / 2;
            applied = low + (base - low) * options_.random->next_unit();
            break;
        case Jitter::decorrelated: {
            double previous = detail::to_float(detail::find_member(meta, applied_key_));
            if (previous <= 0) previous = delay_initial_;
            const double upper = std::clamp(previous * 3, delay_initial_, delay_maximum_);
            applied = delay_initial_ + (upper - delay_initial_) * options_.random->next_unit();
            // Report the widest range any run can draw at this step (deterministic for `explain`):
            // [delayInitial, min(delayMaximum, delayInitial × 3^k)].
            low = delay_initial_;
            high = delay_initial_;
            for (long long k = 0; k <= done && high < delay_maximum_; ++k) high = std::min(high * 3, delay_maximum_);
            break;
        }
    }
    applied = std::clamp(applied, low, high);
    // A Retry-After hint replaces this attempt's delay, within [0, delayMaximum]; the schedule's own
    // value is still stored, so the next attempt without a hint continues the schedule.
    std::optional<Seconds> hint;
    if (failure.retry_after && std::isfinite(failure.retry_after->count())) {
        hint = Seconds{std::clamp(failure.retry_after->count(), 0.0, delay_maximum_)};
        applied = low = high = hint->count();
    }

    detail::set_failure_value(message, attempts_value, attempts_key_, done + 1);
    detail::set_failure_value(message, delay_value, delay_key_, base);
    if (options_.jitter == Jitter::decorrelated) {
        detail::set_failure_value(message, detail::find_member(detail::find_failure_object(message), applied_key_),
                                  applied_key_, applied);
    }

    std::string target = options_.queue.empty() ? request.channel() : options_.queue;
    Decision decision;
    decision.middleware = id_;
    decision.action = FailureAction::delay;
    decision.to = target;
    decision.delay = Seconds{applied};
    decision.base_delay = Seconds{base};
    decision.delay_min = Seconds{low};
    decision.delay_max = Seconds{high};
    decision.jittered = options_.jitter != Jitter::none && !hint;
    decision.retry_after = hint;
    request.stage(OutgoingMessage{std::move(target), request.take_message(), Seconds{applied}});
    request.decide(std::move(decision));
    return request;
}

}  // namespace failpipe
