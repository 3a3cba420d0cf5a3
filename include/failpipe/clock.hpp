/// @file clock.hpp
/// @brief Where due times come from: the system clock in production, a manual clock in tests.
///
/// Thread safety: both clocks may be read and (ManualClock) moved from any thread.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>

namespace failpipe {

/// @brief Delays and timeouts in (fractional) seconds, the unit of the JSON config and of Yii.
using Seconds = std::chrono::duration<double>;
/// @brief A point in wall-clock time.
using TimePoint = std::chrono::system_clock::time_point;

/// @brief Converts seconds to the clock's tick, rounding up so that a message is never due early.
std::chrono::system_clock::duration to_clock_duration(Seconds seconds);

/// @brief Source of the current time for due-ness of delayed messages and visibility timeouts.
class Clock {
public:
    virtual ~Clock() = default;
    /// @brief The current time.
    virtual TimePoint now() const = 0;
};

/// @brief The machine's wall clock.
class SystemClock final : public Clock {
public:
    TimePoint now() const override { return std::chrono::system_clock::now(); }
};

/// @brief A clock that moves only when told to: a retry schedule of hours runs in microseconds.
class ManualClock final : public Clock {
public:
    /// @brief Starts at @p start (default: 2026-01-01T00:00:00Z, so test output is stable).
    explicit ManualClock(TimePoint start = TimePoint{std::chrono::seconds{1767225600}});
    TimePoint now() const override;
    /// @brief Moves the clock forward by @p by (negative values are refused with InvalidArgumentError).
    void advance(Seconds by);
    /// @brief Sets the clock to @p to (may not move backwards).
    void set(TimePoint to);

private:
    std::atomic<std::int64_t> ticks_;
};

}  // namespace failpipe
