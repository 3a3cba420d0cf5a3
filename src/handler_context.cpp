#include "failpipe/handler_context.hpp"

#include <cmath>

#include "failpipe/config_limits.hpp"
#include "failpipe/error.hpp"
#include "correlation.hpp"

namespace failpipe {

void HandlerContext::push(std::string channel, Message message, Seconds delay) {
    // Checked here, in the handler, so that a bad follow-up fails this delivery instead of its settle.
    if (channel.empty()) throw InvalidArgumentError("HandlerContext::push: the channel name must not be empty");
    if (!std::isfinite(delay.count()) || delay.count() < 0) {
        throw InvalidArgumentError("HandlerContext::push: the delay must be a finite number of seconds >= 0");
    }
    if (!message.metadata.is_object()) {
        throw InvalidArgumentError(std::string("HandlerContext::push: metadata must be a JSON object, found ") +
                                   message.metadata.type_name());
    }
    check_message_depth(message, "HandlerContext::push");
    detail::give_correlation_id(message, correlation_id());
    staged_.push_back(OutgoingMessage{std::move(channel), std::move(message), delay});
}

std::string_view HandlerContext::correlation_id() const noexcept {
    return message_ != nullptr ? detail::correlation_id_of(*message_) : std::string_view{};
}

void HandlerContext::release(Seconds delay, std::string by) {
    if (!std::isfinite(delay.count()) || delay.count() < 0 || delay.count() > ConfigLimits::kMaxSeconds) {
        throw InvalidArgumentError("HandlerContext::release: the delay must be a number of seconds from 0 to 1e9");
    }
    released_ = Release{delay, std::move(by)};
}

}  // namespace failpipe
