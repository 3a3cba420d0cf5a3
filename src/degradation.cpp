#include "failpipe/degradation.hpp"

#include <algorithm>
#include <cmath>

#include "failpipe/error.hpp"
#include "logging.hpp"

namespace failpipe {

void DegradationOptions::validate() const {
    auto fail = [](const std::string& what) { throw InvalidArgumentError("degradation: " + what); };
    if (!(failure_ratio > 0.0 && failure_ratio < 1.0)) fail("failureRatio must be > 0 and < 1");
    if (!(window.count() > 0.0) || !std::isfinite(window.count())) fail("window must be a finite number of seconds > 0");
    if (!(interval.count() > 0.0) || !std::isfinite(interval.count())) fail("interval must be a finite number of seconds > 0");
    if (!(decrease_factor > 0.0 && decrease_factor < 1.0)) fail("decreaseFactor must be > 0 and < 1");
    if (increase_step < 1) fail("increaseStep must be at least 1");
    if (minimum_concurrency < 1) fail("minimumConcurrency must be at least 1");
}

Degradation::Degradation(std::vector<std::string> channels, std::size_t maximum, DegradationOptions options,
                         std::shared_ptr<const Clock> clock)
    : order_(std::move(channels)),
      maximum_(maximum),
      options_(options),
      clock_(clock ? std::move(clock) : std::make_shared<SystemClock>()) {
    if (maximum_ < 1) throw InvalidArgumentError("Degradation: the maximum level must be at least 1");
    options_.validate();
    // A floor above the thread count could never be honoured: the thread count wins.
    options_.minimum_concurrency = std::min(options_.minimum_concurrency, maximum_);
    for (const auto& name : order_) channels_[name].level = maximum_;
}

long long Degradation::bucket_index(TimePoint at) const {
    const auto width = std::max<std::int64_t>(
        1, std::chrono::duration_cast<std::chrono::nanoseconds>(options_.window / static_cast<double>(kBuckets)).count());
    return static_cast<long long>(std::chrono::duration_cast<std::chrono::nanoseconds>(at.time_since_epoch()).count() / width);
}

void Degradation::totals(const Channel& channel, long long now_index, std::size_t& successes,
                         std::size_t& failures) const {
    successes = failures = 0;
    for (const Bucket& bucket : channel.buckets) {
        if (bucket.index <= now_index - static_cast<long long>(kBuckets) || bucket.index > now_index) continue;
        successes += bucket.successes;
        failures += bucket.failures;
    }
}

void Degradation::on_delivery(const DeliveryEvent& event) noexcept {
    if (event.poison || event.expired) return;
    bool failed = false;
    switch (event.outcome) {
        case Outcome::succeeded: break;
        case Outcome::retried:
        case Outcome::dead_lettered:
        case Outcome::dropped:
            if (!event.error_class) return;  // not a handler failure
            failed = true;
            break;
        default: return;  // released, unsettled: not about the dependency
    }
    try {
        record(std::string(event.channel), failed);
    } catch (...) {
        // Allocation failure only: one sample less.
    }
}

void Degradation::record(const std::string& channel, bool failed) {
    if (!options_.enabled) return;
    const long long index = bucket_index(clock_->now());
    std::lock_guard lock(mutex_);
    auto it = channels_.find(channel);
    if (it == channels_.end()) return;
    Bucket& bucket = it->second.buckets[static_cast<std::size_t>(index % static_cast<long long>(kBuckets))];
    if (bucket.index != index) bucket = Bucket{index, 0, 0};
    ++(failed ? bucket.failures : bucket.successes);
}

void Degradation::tick() {
    if (!options_.enabled) return;
    const TimePoint now = clock_->now();
    std::lock_guard lock(mutex_);
    for (auto& [name, channel] : channels_) decide(name, channel, now);
}

void Degradation::decide(const std::string& name, Channel& channel, TimePoint now) {
    if (channel.changed && now - channel.last_change < to_clock_duration(options_.interval)) return;
    std::size_t successes = 0;
    std::size_t failures = 0;
    totals(channel, bucket_index(now), successes, failures);
    const std::size_t samples = successes + failures;
    const double ratio = samples == 0 ? 0.0 : static_cast<double>(failures) / static_cast<double>(samples);
    const std::size_t before = channel.level;
    if (samples >= options_.minimum_samples && samples > 0 && ratio > options_.failure_ratio) {
        const auto lowered = static_cast<std::size_t>(std::floor(static_cast<double>(channel.level) * options_.decrease_factor));
        channel.level = std::max(options_.minimum_concurrency, lowered);
    } else if (samples == 0 || ratio <= options_.failure_ratio) {
        channel.level = std::min(maximum_, channel.level + options_.increase_step);
    }
    if (channel.level == before) return;
    channel.last_change = now;
    channel.changed = true;
    if (channel.level < before) {
        detail::logger().warn("degradation: channel \"{}\" concurrency {} -> {} (failure ratio {:.2f} over {} deliveries "
                              "in the last {} s, threshold {})",
                              name, before, channel.level, ratio, samples, options_.window.count(),
                              options_.failure_ratio);
    } else {
        detail::logger().info("degradation: channel \"{}\" concurrency {} -> {} (failure ratio {:.2f} over {} deliveries)",
                              name, before, channel.level, ratio, samples);
        freed_.notify_all();
    }
}

std::vector<std::string> Degradation::acquire(const std::vector<std::string>& wanted, std::chrono::milliseconds wait,
                                              std::stop_token stop) {
    std::vector<std::string> granted;
    std::unique_lock lock(mutex_);
    auto take = [&] {
        for (const auto& name : wanted) {
            auto it = channels_.find(name);
            if (it == channels_.end()) {
                granted.push_back(name);  // not governed: never limited
                continue;
            }
            if (it->second.in_use >= it->second.level) continue;
            ++it->second.in_use;
            granted.push_back(name);
        }
        return !granted.empty();
    };
    freed_.wait_for(lock, stop, wait, take);
    return granted;
}

void Degradation::release(const std::vector<std::string>& channels) {
    {
        std::lock_guard lock(mutex_);
        for (const auto& name : channels) {
            auto it = channels_.find(name);
            if (it != channels_.end() && it->second.in_use > 0) --it->second.in_use;
        }
    }
    freed_.notify_all();
}

std::size_t Degradation::level(const std::string& channel) const {
    std::lock_guard lock(mutex_);
    auto it = channels_.find(channel);
    return it == channels_.end() ? maximum_ : it->second.level;
}

std::vector<ChannelConcurrency> Degradation::snapshot() const {
    const long long now_index = bucket_index(clock_->now());
    std::vector<ChannelConcurrency> result;
    std::lock_guard lock(mutex_);
    for (const auto& name : order_) {
        const Channel& channel = channels_.at(name);
        std::size_t successes = 0;
        std::size_t failures = 0;
        totals(channel, now_index, successes, failures);
        const std::size_t samples = successes + failures;
        result.push_back(ChannelConcurrency{name, channel.level, maximum_, channel.in_use, samples,
                                            samples == 0 ? 0.0 : static_cast<double>(failures) / static_cast<double>(samples)});
    }
    return result;
}

}  // namespace failpipe
