/// @file retry_budget.hpp
/// @brief RetryBudget: a storm guard per channel — early retries may be at most a percentage of
/// first attempts over a sliding window. See docs/retry-budget.md.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "failpipe/clock.hpp"
#include "failpipe/delivery_event.hpp"

namespace failpipe {

/// @brief The budget of one channel (JSON: `retryBudget`, see docs/retry-budget.md).
struct RetryBudgetOptions {
    /// Early retries allowed per window, as a percentage of the first attempts in it (0 < ratio ≤ 100).
    double ratio_percent = 20.0;
    /// The sliding window first attempts and retries are counted over (> 0 s).
    Seconds window{60.0};
    /// Early retries always allowed per window, however few first attempts there were (the floor
    /// that keeps a quiet channel from being starved): the allowance is max(min_retries,
    /// ratio_percent % of first attempts).
    std::uint32_t min_retries = 10;
    /// The delay a retry past the budget waits when its middleware has no maximum delay of its own
    /// (send-again, a custom middleware) (> 0 s).
    Seconds fallback_delay{60.0};
};

/// @brief Where one channel's budget stands.
struct RetryBudgetChannelSnapshot {
    std::string channel;
    std::uint64_t first_attempts = 0;  ///< In the window.
    std::uint64_t retries = 0;         ///< Early retries let through in the window.
    std::uint64_t allowance = 0;       ///< Early retries the window allows: max(minRetries, ratio × first attempts).
    double use = 0.0;                  ///< retries / allowance (≥ 1 when exhausted).
    bool full = false;                 ///< The next early retry would be deferred.
    bool exhausted = false;            ///< Retries were deferred within the window (health: warning).
    std::uint64_t denied_total = 0;    ///< Retries deferred to their maximum delay since the budget was built.
    std::uint64_t denied_in_window = 0;
};

/// @brief Counts first attempts (as a DeliveryObserver: events with first_attempt set) and early
/// retries per channel, and says whether one more early retry fits. A retry past the budget is not
/// dropped: the dispatcher gives it its middleware's maximum delay (or fallback_delay).
///
/// Channels without options of their own use the default options; with neither, a channel has no
/// budget (every retry is allowed and nothing is counted).
/// Thread safety: every member is safe to call concurrently.
class RetryBudget final : public DeliveryObserver {
public:
    /// Throws InvalidArgumentError for options out of range.
    explicit RetryBudget(std::optional<RetryBudgetOptions> defaults, std::map<std::string, RetryBudgetOptions> channels = {},
                         std::shared_ptr<const Clock> clock = nullptr);
    ~RetryBudget() override;

    /// @brief Counts a first attempt on the event's channel (the worker reports every delivery):
    /// one with first_attempt set that a handler tried — not poison, expired or released.
    void on_delivery(const DeliveryEvent& event) noexcept override;
    /// @brief Counts a first attempt on @p channel.
    void record_first_attempt(std::string_view channel);
    /// @brief True, and counted as a retry, when one more early retry on @p channel fits the budget;
    /// false, and counted as denied, when it does not.
    bool try_retry(std::string_view channel);

    /// @brief The options that apply to @p channel, if it has a budget.
    const RetryBudgetOptions* options_for(std::string_view channel) const;
    const std::optional<RetryBudgetOptions>& default_options() const noexcept { return defaults_; }
    const std::map<std::string, RetryBudgetOptions, std::less<>>& channel_options() const noexcept { return channels_; }

    /// @brief Channels under the default options counted on their own. A retry is charged to the
    /// channel its message first failed on, as its metadata says — which any producer can write —
    /// so past this many, further channels share one budget named kOtherChannels: memory stays
    /// bounded, and a made-up origin per message cannot buy a fresh allowance each time.
    static constexpr std::size_t kMaxTrackedChannels = 1000;
    static constexpr const char* kOtherChannels = "(other channels)";

    /// @brief Every channel seen so far, by name.
    std::vector<RetryBudgetChannelSnapshot> snapshot() const;
    /// @brief One channel (zeros when it has not been seen).
    RetryBudgetChannelSnapshot snapshot(std::string_view channel) const;

private:
    struct Channel;
    Channel* channel_locked(std::string_view name);
    RetryBudgetChannelSnapshot snapshot_locked(const std::string& name, const Channel& channel, TimePoint now) const;
    TimePoint now() const;

    std::optional<RetryBudgetOptions> defaults_;
    std::map<std::string, RetryBudgetOptions, std::less<>> channels_;
    std::shared_ptr<const Clock> clock_;
    mutable std::mutex mutex_;
    std::map<std::string, std::unique_ptr<Channel>, std::less<>> state_;
};

/// @brief Throws InvalidArgumentError naming @p where when @p options are out of range.
void check_retry_budget_options(const RetryBudgetOptions& options, const std::string& where);

}  // namespace failpipe
