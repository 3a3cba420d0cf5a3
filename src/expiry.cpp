#include "failpipe/expiry.hpp"

#include <cmath>
#include <string>

#include "failpipe/error.hpp"
#include "failpipe/metadata_keys.hpp"
#include "metadata.hpp"

namespace failpipe {

std::string_view to_string(ExpiredBehavior behavior) noexcept {
    return behavior == ExpiredBehavior::drop ? "drop" : "dead-letter";
}

std::optional<ExpiredBehavior> parse_expired_behavior(std::string_view name) noexcept {
    if (name == "dead-letter") return ExpiredBehavior::dead_letter;
    if (name == "drop") return ExpiredBehavior::drop;
    return std::nullopt;
}

void set_expires_at(Message& message, TimePoint when) {
    if (!message.metadata.is_object()) message.metadata = nlohmann::json::object();
    message.metadata[std::string(metadata_keys::expires_at)] = detail::epoch_ms(when);
}

void set_time_to_live(Message& message, TimePoint now, Seconds ttl) {
    // Years of TTL are fine; beyond ~100 years the epoch milliseconds would stop meaning anything.
    if (!std::isfinite(ttl.count()) || !(ttl.count() > 0) || ttl.count() > 3.2e9) {
        throw InvalidArgumentError("the time to live must be a finite number of seconds > 0 (at most 3.2e9), got " +
                                   std::to_string(ttl.count()));
    }
    set_expires_at(message, now + to_clock_duration(ttl));
}

std::optional<TimePoint> expires_at(const Message& message) {
    if (!message.metadata.is_object()) return std::nullopt;
    auto it = message.metadata.find(std::string(metadata_keys::expires_at));
    if (it == message.metadata.end() || !it->is_number()) return std::nullopt;
    const long long ms = detail::to_int(&*it);
    if (ms <= 0) return std::nullopt;
    return detail::from_epoch_ms(ms);
}

bool is_expired(const Message& message, TimePoint now) {
    auto when = expires_at(message);
    return when && *when <= now;
}

}  // namespace failpipe
