#include "tally.hpp"

#include <algorithm>

namespace payments {

Tally::Tally(std::size_t payments) : charges_(payments), levels_(payments) {}

bool Tally::arrived(std::size_t n, std::size_t level, std::optional<double> lateness_ms) {
    const auto bit = static_cast<std::uint8_t>(1u << level);
    if ((levels_[n - 1].fetch_or(bit, std::memory_order_relaxed) & bit) != 0) return false;
    entered_[level].fetch_add(1, std::memory_order_relaxed);
    if (lateness_ms) {
        std::lock_guard lock(samples_mutex_);
        lateness_ms_.push_back(static_cast<float>(*lateness_ms));
    }
    return true;
}

void Tally::succeeded(std::size_t n) {
    successes_.fetch_add(1, std::memory_order_relaxed);
    if (charges_[n - 1].fetch_add(1, std::memory_order_relaxed) == 0) distinct_.fetch_add(1, std::memory_order_relaxed);
}

void Tally::released(std::string id) {
    std::lock_guard lock(released_mutex_);
    released_.insert(std::move(id));
}

std::size_t Tally::released_payments() const {
    std::lock_guard lock(released_mutex_);
    return released_.size();
}

void Tally::handler_time(std::chrono::nanoseconds time) {
    std::lock_guard lock(samples_mutex_);
    latency_ms_.push_back(static_cast<float>(static_cast<double>(time.count()) / 1e6));
}

namespace {

Tally::Percentiles percentiles(std::vector<float> samples) {
    Tally::Percentiles result;
    result.samples = samples.size();
    if (samples.empty()) return result;
    std::sort(samples.begin(), samples.end());
    auto at = [&](double q) {
        const auto index = static_cast<std::size_t>(q * static_cast<double>(samples.size() - 1) + 0.5);
        return static_cast<double>(samples[std::min(index, samples.size() - 1)]);
    };
    result.p50 = at(0.50);
    result.p99 = at(0.99);
    return result;
}

}  // namespace

Tally::Percentiles Tally::latency_ms() const {
    std::lock_guard lock(samples_mutex_);
    return percentiles(latency_ms_);
}

Tally::Percentiles Tally::lateness_ms() const {
    std::lock_guard lock(samples_mutex_);
    return percentiles(lateness_ms_);
}

failpipe::ConsumeMiddlewarePtr Tally::timing_middleware() {
    return failpipe::make_consume_middleware(
        [this](const failpipe::Message& message, failpipe::HandlerContext& context,
               const failpipe::ConsumeHandlerInterface& next) {
            const auto start = std::chrono::steady_clock::now();
            try {
                next.handle(message, context);
            } catch (...) {
                handler_time(std::chrono::steady_clock::now() - start);
                throw;
            }
            handler_time(std::chrono::steady_clock::now() - start);
        });
}

}  // namespace payments
