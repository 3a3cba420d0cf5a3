#include "failpipe/queue.hpp"

#include <cmath>

#include "failpipe/error.hpp"
#include "failpipe/expiry.hpp"

namespace failpipe {

Queue::Queue(std::shared_ptr<AdapterInterface> adapter, std::string channel, std::shared_ptr<const Clock> clock)
    : adapter_(std::move(adapter)), channel_(std::move(channel)), clock_(std::move(clock)) {
    if (!adapter_) throw InvalidArgumentError("Queue: the adapter must not be null");
    if (channel_.empty()) throw InvalidArgumentError("Queue: the channel name must not be empty");
}

std::string Queue::push(Message message, Seconds delay) const {
    if (!std::isfinite(delay.count()) || delay.count() < 0) {
        throw InvalidArgumentError("Queue::push: the delay must be a finite number of seconds >= 0, got " +
                                   std::to_string(delay.count()));
    }
    if (!message.metadata.is_object()) {
        throw InvalidArgumentError(std::string("Queue::push: metadata must be a JSON object, found ") +
                                   message.metadata.type_name());
    }
    check_message_depth(message, "Queue::push");
    return adapter_->push(channel_, std::move(message), delay);
}

std::string Queue::push(Message message, const PushOptions& options) const {
    if (options.ttl) {
        if (!message.metadata.is_object()) {
            throw InvalidArgumentError(std::string("Queue::push: metadata must be a JSON object, found ") +
                                       message.metadata.type_name());
        }
        try {
            set_time_to_live(message, clock_ ? clock_->now() : std::chrono::system_clock::now(), *options.ttl);
        } catch (const InvalidArgumentError& e) {
            throw InvalidArgumentError(std::string("Queue::push: ") + e.what());
        }
    }
    return push(std::move(message), options.delay);
}

}  // namespace failpipe
