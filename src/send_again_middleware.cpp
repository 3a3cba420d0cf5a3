#include "failpipe/send_again_middleware.hpp"

#include "failpipe/error.hpp"
#include "failpipe/metadata_keys.hpp"
#include "metadata.hpp"

namespace failpipe {

SendAgainMiddleware::SendAgainMiddleware(std::string id, long long max_attempts, std::string queue, ErrorClassSet on)
    : id_(std::move(id)),
      max_attempts_(max_attempts),
      queue_(std::move(queue)),
      on_(on),
      counter_key_(std::string(metadata_keys::resend_attempts_prefix) + id_) {
    if (max_attempts_ < 1) {
        throw InvalidArgumentError("maxAttempts parameter must be a positive integer, " + std::to_string(max_attempts_) +
                                   " given.");
    }
}

long long SendAgainMiddleware::attempts(const Message& message) const {
    return detail::to_count(detail::failure_value(message, counter_key_));
}

std::optional<std::vector<MiddlewareTarget>> SendAgainMiddleware::targets(const std::string& /*dead_letter_suffix*/) const {
    return std::vector<MiddlewareTarget>{{queue_, "", false}};
}

FailureHandlingRequest SendAgainMiddleware::handle(FailureHandlingRequest request, const Failure& failure,
                                                   const FailureHandlerInterface& next) const {
    if (!on_.matches(failure.error_class)) return next.handle(std::move(request), failure);
    nlohmann::json* counter = detail::find_member(detail::find_failure_object(request.message()), counter_key_);
    // Negative reads as 0 (as in Yii); below max_attempts_, so done + 1 cannot overflow.
    const long long done = detail::to_count(counter);
    if (done >= max_attempts_) return next.handle(std::move(request), failure);

    detail::set_failure_value(request.message(), counter, counter_key_, done + 1);
    std::string target = queue_.empty() ? request.channel() : queue_;
    Decision decision;
    decision.middleware = id_;
    decision.action = FailureAction::send_again;
    decision.to = target;
    request.stage(OutgoingMessage{std::move(target), request.take_message(), Seconds{0.0}});
    request.decide(std::move(decision));
    return request;
}

}  // namespace failpipe
