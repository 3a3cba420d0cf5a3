#include "failpipe/clock.hpp"

#include <algorithm>
#include <cmath>

#include "failpipe/error.hpp"

namespace failpipe {

std::chrono::system_clock::duration to_clock_duration(Seconds seconds) {
    // About a century: far beyond any delay, far from overflowing the clock's 64-bit ticks.
    constexpr double kLimit = 100.0 * 365 * 24 * 3600;
    const double s = std::isnan(seconds.count()) ? 0.0 : std::clamp(seconds.count(), -kLimit, kLimit);
    return std::chrono::ceil<std::chrono::system_clock::duration>(Seconds{s});
}

ManualClock::ManualClock(TimePoint start) : ticks_(start.time_since_epoch().count()) {}

TimePoint ManualClock::now() const {
    return TimePoint{std::chrono::system_clock::duration{ticks_.load(std::memory_order_acquire)}};
}

void ManualClock::advance(Seconds by) {
    if (!std::isfinite(by.count()) || by.count() < 0) {
        throw InvalidArgumentError("ManualClock::advance: expected a finite, non-negative duration, got " +
                                   std::to_string(by.count()) + " s");
    }
    ticks_.fetch_add(to_clock_duration(by).count(), std::memory_order_acq_rel);
}

void ManualClock::set(TimePoint to) {
    auto target = to.time_since_epoch().count();
    auto current = ticks_.load(std::memory_order_acquire);
    if (target < current) throw InvalidArgumentError("ManualClock::set: the clock may not move backwards");
    // A concurrent advance may have moved it further; never go back past that.
    while (current < target && !ticks_.compare_exchange_weak(current, target, std::memory_order_acq_rel)) {
    }
}

}  // namespace failpipe
