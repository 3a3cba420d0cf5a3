#include "failpipe/dead_letter_middleware.hpp"

#include "failpipe/metadata_keys.hpp"
#include "metadata.hpp"

namespace failpipe {

DeadLetterMiddleware::DeadLetterMiddleware(std::string id, std::string queue, ErrorClassSet on, std::string suffix,
                                           std::shared_ptr<const Clock> clock)
    : id_(std::move(id)),
      queue_(std::move(queue)),
      on_(on),
      suffix_(std::move(suffix)),
      clock_(clock ? std::move(clock) : std::make_shared<SystemClock>()) {}

std::string DeadLetterMiddleware::target_for(const std::string& channel, const std::string& dispatcher_suffix) const {
    if (!queue_.empty()) return queue_;
    return channel + (suffix_.empty() ? dispatcher_suffix : suffix_);
}

FailureHandlingRequest DeadLetterMiddleware::handle(FailureHandlingRequest request, const Failure& failure,
                                                    const FailureHandlerInterface& next) const {
    if (!on_.matches(failure.error_class)) return next.handle(std::move(request), failure);
    std::string target = target_for(request.channel(), request.dead_letter_suffix());
    return dead_letter(std::move(request), failure, id_, target, "failure", clock_->now());
}

FailureHandlingRequest DeadLetterMiddleware::dead_letter(FailureHandlingRequest request, const Failure& failure,
                                                         const std::string& middleware_id, const std::string& target,
                                                         std::string_view reason, TimePoint now) {
    static const std::string failures_key(metadata_keys::failures);
    Message message = request.take_message();
    const long long attempts = detail::to_count(detail::failure_value(message, failures_key));
    if (!message.metadata.is_object()) message.metadata = nlohmann::json::object();
    message.metadata[std::string(metadata_keys::dead_letter)] = {
        {"reason", reason},
        {"errorType", failure.type},
        {"errorMessage", failure.what},
        {"errorClass", to_string(failure.error_class)},
        {"time", detail::iso8601_utc(now)},
        {"attempts", attempts},
        {"channel", request.channel()},
        {"id", message.id},
        {"middleware", middleware_id},
    };
    Decision decision;
    decision.middleware = middleware_id;
    decision.action = FailureAction::dead_letter;
    decision.to = target;
    request.stage(OutgoingMessage{target, std::move(message), Seconds{0.0}});
    request.decide(std::move(decision));
    return request;
}

}  // namespace failpipe
