// RetryBudget: first attempts and early retries per channel, over a sliding window.
#include "failpipe/retry_budget.hpp"

#include <algorithm>
#include <cmath>
#include <sstream>

#include "failpipe/error.hpp"
#include "sliding_window.hpp"

namespace failpipe {
namespace {

constexpr std::size_t kFirst = 0;
constexpr std::size_t kRetries = 1;
constexpr std::size_t kDenied = 2;

std::string number(double value) {
    std::ostringstream out;
    out << value;
    return out.str();
}

std::uint64_t allowance_of(const RetryBudgetOptions& options, std::uint64_t first_attempts) {
    const double share = std::floor(static_cast<double>(first_attempts) * options.ratio_percent / 100.0);
    return std::max<std::uint64_t>(options.min_retries, static_cast<std::uint64_t>(share));
}

}  // namespace

struct RetryBudget::Channel {
    explicit Channel(const RetryBudgetOptions& o) : options(o), counts(o.window) {}
    const RetryBudgetOptions& options;
    detail::SlidingCounts<3> counts;
    std::uint64_t denied_total = 0;
};

void check_retry_budget_options(const RetryBudgetOptions& o, const std::string& where) {
    if (!std::isfinite(o.ratio_percent) || !(o.ratio_percent > 0) || o.ratio_percent > 100)
        throw InvalidArgumentError("retry budget " + where + ": the ratio must be a percentage > 0 and <= 100, " +
                                   number(o.ratio_percent) + " given");
    if (!std::isfinite(o.window.count()) || !(o.window.count() > 0))
        throw InvalidArgumentError("retry budget " + where + ": the window must be a finite number of seconds > 0, " +
                                   number(o.window.count()) + " given");
    if (!std::isfinite(o.fallback_delay.count()) || !(o.fallback_delay.count() > 0))
        throw InvalidArgumentError("retry budget " + where +
                                   ": the fallback delay must be a finite number of seconds > 0, " +
                                   number(o.fallback_delay.count()) + " given");
}

RetryBudget::RetryBudget(std::optional<RetryBudgetOptions> defaults, std::map<std::string, RetryBudgetOptions> channels,
                         std::shared_ptr<const Clock> clock)
    : defaults_(std::move(defaults)), clock_(std::move(clock)) {
    if (defaults_) check_retry_budget_options(*defaults_, "(default)");
    for (auto& [name, options] : channels) {
        if (name.empty()) throw InvalidArgumentError("retry budget: a channel name must not be empty");
        check_retry_budget_options(options, "of channel \"" + name + "\"");
        channels_.emplace(name, options);
    }
}

RetryBudget::~RetryBudget() = default;

TimePoint RetryBudget::now() const { return clock_ ? clock_->now() : std::chrono::system_clock::now(); }

const RetryBudgetOptions* RetryBudget::options_for(std::string_view channel) const {
    auto it = channels_.find(channel);
    if (it != channels_.end()) return &it->second;
    return defaults_ ? &*defaults_ : nullptr;
}

// Creates the channel's counters on first use; null when the channel has no budget.
RetryBudget::Channel* RetryBudget::channel_locked(std::string_view name) {
    auto it = state_.find(name);
    if (it != state_.end()) return it->second.get();
    const RetryBudgetOptions* options = options_for(name);
    if (!options) return nullptr;
    if (channels_.find(name) == channels_.end() && state_.size() >= kMaxTrackedChannels + channels_.size()) {
        // Beyond the cap, every further channel under the defaults shares one budget.
        auto other = state_.find(std::string_view(kOtherChannels));
        if (other != state_.end()) return other->second.get();
        name = kOtherChannels;
    }
    return state_.emplace(std::string(name), std::make_unique<Channel>(*options)).first->second.get();
}

void RetryBudget::on_delivery(const DeliveryEvent& event) noexcept {
    // Only a handler's first try grows the budget: poison and expired messages never reached one,
    // and a released delivery (an open breaker) comes back again and again without being tried.
    if (!event.first_attempt || event.poison || event.expired || event.outcome == Outcome::released) return;
    try {
        record_first_attempt(event.channel);
    } catch (...) {
        // Out of memory for a new channel's counters: this attempt is not counted, which only makes
        // the budget stricter.
    }
}

void RetryBudget::record_first_attempt(std::string_view channel) {
    std::lock_guard lock(mutex_);
    if (Channel* state = channel_locked(channel)) state->counts.add(now(), kFirst);
}

bool RetryBudget::try_retry(std::string_view channel) {
    std::lock_guard lock(mutex_);
    Channel* state = channel_locked(channel);
    if (!state) return true;
    const TimePoint at = now();
    const auto totals = state->counts.totals(at);
    if (totals[kRetries] < allowance_of(state->options, totals[kFirst])) {
        state->counts.add(at, kRetries);
        return true;
    }
    state->counts.add(at, kDenied);
    ++state->denied_total;
    return false;
}

RetryBudgetChannelSnapshot RetryBudget::snapshot_locked(const std::string& name, const Channel& channel,
                                                        TimePoint now) const {
    const auto totals = channel.counts.totals(now);
    RetryBudgetChannelSnapshot s;
    s.channel = name;
    s.first_attempts = totals[kFirst];
    s.retries = totals[kRetries];
    s.allowance = allowance_of(channel.options, s.first_attempts);
    s.use = s.allowance == 0 ? (s.retries > 0 ? 1.0 : 0.0)
                             : static_cast<double>(s.retries) / static_cast<double>(s.allowance);
    s.full = s.retries >= s.allowance;
    s.denied_total = channel.denied_total;
    s.denied_in_window = totals[kDenied];
    s.exhausted = s.denied_in_window > 0;
    return s;
}

std::vector<RetryBudgetChannelSnapshot> RetryBudget::snapshot() const {
    std::lock_guard lock(mutex_);
    const TimePoint at = now();
    std::vector<RetryBudgetChannelSnapshot> all;
    all.reserve(state_.size());
    for (const auto& [name, channel] : state_) all.push_back(snapshot_locked(name, *channel, at));
    return all;
}

RetryBudgetChannelSnapshot RetryBudget::snapshot(std::string_view channel) const {
    std::lock_guard lock(mutex_);
    auto it = state_.find(channel);
    if (it == state_.end()) {
        RetryBudgetChannelSnapshot s;
        s.channel = std::string(channel);
        if (const RetryBudgetOptions* options = options_for(channel)) s.allowance = options->min_retries;
        s.full = s.allowance == 0 && options_for(channel) != nullptr;
        return s;
    }
    return snapshot_locked(it->first, *it->second, now());
}

}  // namespace failpipe
