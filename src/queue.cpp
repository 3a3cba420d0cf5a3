#include "failpipe/queue.hpp"

#include <cmath>

#include "failpipe/error.hpp"
#include "failpipe/expiry.hpp"
#include "failpipe/metadata_keys.hpp"
#include "correlation.hpp"

namespace failpipe {

Queue::Queue(std::shared_ptr<BrokerAdapter> adapter, std::string channel, std::shared_ptr<const Clock> clock)
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
    // Every message pushed here starts a chain of work that logs and events can follow.
    if (detail::stored_correlation_id(message).empty()) {
        auto& id = message.metadata[std::string(metadata_keys::correlation_id)];
        // A number (or anything not a string) keeps its value, as text; empty or null gets a new id.
        const bool keep = !id.is_null() && !(id.is_string() && id.get_ref<const std::string&>().empty());
        id = keep ? id.dump() : detail::new_correlation_id();
    }
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
