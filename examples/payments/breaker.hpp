// The gateway's circuit breaker, as a consume middleware: closed → open when the share of failed
// gateway calls over a sliding window passes a ratio (with at least min_calls in it); while open,
// payments are given back to the broker with a delay — not failed: no attempt is counted, no retry
// level is used, nothing is dead-lettered; after the open period one half-open probe decides.
#pragma once

#include <failpipe/consume_middleware.hpp>

#include <atomic>
#include <chrono>
#include <deque>
#include <functional>
#include <mutex>
#include <string>

namespace payments {

class GatewayBreaker final : public failpipe::ConsumeMiddlewareInterface {
public:
    using Clock = std::chrono::steady_clock;
    struct Settings {
        Clock::duration window = std::chrono::seconds(10);   ///< the sliding window of calls
        std::size_t min_calls = 20;                          ///< calls in the window before it may open
        double failure_ratio = 0.5;                          ///< opens above this share of failures
        Clock::duration open_for = std::chrono::seconds(30); ///< open period before a probe
    };
    enum class State { closed, open, half_open };

    /// @p on_release is called with each message it gives back (for the report).
    GatewayBreaker(Settings settings, std::function<void(const failpipe::Message&)> on_release)
        : settings_(settings), on_release_(std::move(on_release)) {}

    void handle(const failpipe::Message& message, failpipe::HandlerContext& context,
                const failpipe::ConsumeHandlerInterface& next) const override;

    State state() const;
    std::uint64_t openings() const noexcept { return openings_.load(std::memory_order_relaxed); }
    std::uint64_t released() const noexcept { return released_.load(std::memory_order_relaxed); }

private:
    // Whether a call may go to the gateway now; if not, how long to wait.
    bool admit(Clock::time_point now, Clock::duration& wait, bool& probe) const;
    void record(Clock::time_point now, bool ok, bool probe) const;
    void open(Clock::time_point now) const;

    Settings settings_;
    std::function<void(const failpipe::Message&)> on_release_;
    mutable std::mutex mutex_;
    mutable State state_ = State::closed;
    mutable Clock::time_point opened_at_{};
    mutable bool probing_ = false;
    mutable std::deque<std::pair<Clock::time_point, bool>> calls_;
    mutable std::size_t failures_ = 0;
    mutable std::atomic<std::uint64_t> openings_{0};
    mutable std::atomic<std::uint64_t> released_{0};
};

const char* to_string(GatewayBreaker::State state) noexcept;

}  // namespace payments
