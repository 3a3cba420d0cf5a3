/// @file degradation.hpp
/// @brief Degradation: per-channel concurrency levels that step down while a channel keeps failing
/// (multiplicative decrease) and back up as successes return (additive increase), and the permits
/// that make worker threads respect them.
///
/// A sick dependency then gets fewer concurrent calls instead of a retry storm. WorkerPool owns one
/// and feeds it the DeliveryEvents of its workers; see docs/runtime.md, "Degradation".
///
/// Thread safety: every member may be called from any thread.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <map>
#include <memory>
#include <mutex>
#include <stop_token>
#include <string>
#include <vector>

#include "failpipe/clock.hpp"
#include "failpipe/delivery_event.hpp"

namespace failpipe {

/// @brief Degradation settings (JSON config: `degradation`).
struct DegradationOptions {
    bool enabled = false;                ///< Off: every channel keeps the full level (the thread count).
    double failure_ratio = 0.5;          ///< A channel is sick when its failure ratio over the window is above this (0 < r < 1).
    Seconds window{30.0};                ///< The sliding window the ratio is taken over.
    std::size_t minimum_samples = 20;    ///< Fewer deliveries than this in the window never lower the level.
    double decrease_factor = 0.5;        ///< level = max(minimum, floor(level * factor)) on each decrease (0 < f < 1).
    std::size_t increase_step = 1;       ///< Added on each increase, up to the thread count.
    Seconds interval{5.0};               ///< At most one change per channel this often.
    std::size_t minimum_concurrency = 1; ///< The level never goes below this (nor above the thread count).

    /// @brief Throws InvalidArgumentError naming the first setting out of its domain.
    void validate() const;
};

/// @brief One channel's level, for status, health and metrics (a gauge).
struct ChannelConcurrency {
    std::string channel;
    std::size_t level = 0;     ///< Threads allowed to process the channel at once.
    std::size_t maximum = 0;   ///< The thread count.
    std::size_t in_use = 0;    ///< Threads holding a permit right now.
    std::size_t samples = 0;   ///< Successes + failures in the window.
    double failure_ratio = 0;  ///< Failures / samples in the window (0 without samples).
};

/// @brief The AIMD controller and the per-channel permits.
///
/// Samples: a delivery whose handler succeeded counts as a success; one whose handler (or a
/// consume middleware) threw counts as a failure. Poison, expired, released and unsettled deliveries
/// are not samples: they say nothing about the channel's dependency.
///
/// tick() decides, per channel and at most once per interval: with at least minimum_samples in the
/// window and a failure ratio above the threshold the level decreases; with no samples or a ratio at
/// or below it the level increases; otherwise it holds. Each change is logged.
class Degradation final : public DeliveryObserver {
public:
    /// @param channels the channels governed (others are never limited).
    /// @param maximum  the full level: the pool's thread count (>= 1).
    /// @param clock    the window's and interval's time (null = SystemClock).
    Degradation(std::vector<std::string> channels, std::size_t maximum, DegradationOptions options,
                std::shared_ptr<const Clock> clock = nullptr);

    /// @brief Records one delivery's outcome (a success, a failure, or nothing).
    void on_delivery(const DeliveryEvent& event) noexcept override;
    /// @brief Records a sample directly (what on_delivery does for an event that is one).
    void record(const std::string& channel, bool failed);
    /// @brief Applies the rules to every channel (does nothing when disabled). Cheap: call it often.
    void tick();

    /// @brief The channels of @p wanted with a free permit now, each permit taken; when none is free,
    /// waits up to @p wait (or until @p stop) for one. Give them back with release().
    std::vector<std::string> acquire(const std::vector<std::string>& wanted, std::chrono::milliseconds wait,
                                     std::stop_token stop = {});
    /// @brief Gives back the permits of @p channels.
    void release(const std::vector<std::string>& channels);

    /// @brief A channel's current level (the maximum for a channel not governed).
    std::size_t level(const std::string& channel) const;
    /// @brief Every governed channel's level, in the order given to the constructor.
    std::vector<ChannelConcurrency> snapshot() const;
    const DegradationOptions& options() const noexcept { return options_; }

private:
    static constexpr std::size_t kBuckets = 10;
    struct Bucket {
        long long index = -1;  // which slice of time it counts (window / kBuckets wide)
        std::size_t successes = 0;
        std::size_t failures = 0;
    };
    struct Channel {
        std::size_t level = 0;
        std::size_t in_use = 0;
        Bucket buckets[kBuckets];
        TimePoint last_change{};
        bool changed = false;
    };
    long long bucket_index(TimePoint at) const;
    void totals(const Channel& channel, long long now_index, std::size_t& successes, std::size_t& failures) const;
    void decide(const std::string& name, Channel& channel, TimePoint now);

    std::vector<std::string> order_;
    std::size_t maximum_;
    DegradationOptions options_;
    std::shared_ptr<const Clock> clock_;
    mutable std::mutex mutex_;
    std::condition_variable_any freed_;
    std::map<std::string, Channel, std::less<>> channels_;
};

}  // namespace failpipe
