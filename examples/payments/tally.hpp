// What the handler saw, recorded independently of the worker's counters: the payments it charged
// (for the audit by id), the retry levels each payment reached, handler latency and retry lateness.
#pragma once

#include <failpipe/consume_middleware.hpp>
#include <failpipe/message.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_set>
#include <vector>

namespace payments {

inline constexpr std::size_t kLevels = 4;  // payments, -retry-5s, -retry-15s, -retry-60s

class Tally {
public:
    explicit Tally(std::size_t payments);

    /// Payment @p n (1-based) reached level @p level (its first delivery there is the retry into it).
    /// Returns true the first time. @p lateness: how late it ran after its due time, when known.
    bool arrived(std::size_t n, std::size_t level, std::optional<double> lateness_ms);
    /// Payment @p n was charged: its handler is about to return.
    void succeeded(std::size_t n);
    /// A message not produced by this run (e.g. `failpipe inject`) was handled successfully.
    void foreign_succeeded() { foreign_succeeded_.fetch_add(1, std::memory_order_relaxed); }
    void handler_time(std::chrono::nanoseconds time);
    /// The message @p id was given back (released) by the breaker.
    void released(std::string id);
    /// How many different messages were released at least once.
    std::size_t released_payments() const;

    /// How often payment @p n (1-based) was charged (0 = never).
    std::uint32_t charges(std::size_t n) const { return charges_[n - 1].load(std::memory_order_relaxed); }
    std::uint64_t successes() const noexcept { return successes_.load(std::memory_order_relaxed); }
    std::uint64_t distinct_successes() const noexcept { return distinct_.load(std::memory_order_relaxed); }
    std::uint64_t entered(std::size_t level) const { return entered_[level].load(std::memory_order_relaxed); }
    std::uint64_t foreign() const noexcept { return foreign_succeeded_.load(std::memory_order_relaxed); }
    std::size_t size() const noexcept { return charges_.size(); }

    struct Percentiles {
        double p50 = 0, p99 = 0;
        std::size_t samples = 0;
    };
    Percentiles latency_ms() const;
    Percentiles lateness_ms() const;

    /// The outermost consume middleware: times every handler call.
    failpipe::ConsumeMiddlewarePtr timing_middleware();

private:
    std::vector<std::atomic<std::uint32_t>> charges_;
    std::vector<std::atomic<std::uint8_t>> levels_;  // bit per level reached
    std::atomic<std::uint64_t> entered_[kLevels]{};
    std::atomic<std::uint64_t> successes_{0};
    std::atomic<std::uint64_t> distinct_{0};
    std::atomic<std::uint64_t> foreign_succeeded_{0};
    mutable std::mutex samples_mutex_;
    std::vector<float> latency_ms_;
    std::vector<float> lateness_ms_;
    mutable std::mutex released_mutex_;
    std::unordered_set<std::string> released_;
};

}  // namespace payments
