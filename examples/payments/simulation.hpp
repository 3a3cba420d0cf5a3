// The simulated world of the payments run: which payment does what, the payment gateway (timeouts,
// declined cards, an outage) and worker threads that crash on a message.
#pragma once

#include <failpipe/adapter.hpp>
#include <failpipe/error.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace payments {

/// What a payment is, decided by the seed before the run.
enum class Kind : std::uint8_t {
    normal,   ///< the gateway accepts it, unless a call times out (fail rate) or the gateway is down
    invalid,  ///< invalid card: declined, permanent
    poison,   ///< its bytes arrive malformed: never a message
    crash,    ///< it crashes the worker thread that handles it, every time
};

/// The payments of one run: kind of payment n (0-based) and its deterministic draws.
class Scenario {
public:
    Scenario(std::size_t count, std::uint64_t seed, double invalid_rate, double poison_rate, double crash_rate);
    Kind kind(std::size_t n) const { return kinds_.at(n); }
    std::size_t size() const noexcept { return kinds_.size(); }
    std::size_t count(Kind kind) const;
    /// A number in [0, 1) fixed by (seed, payment, level): whether that call times out.
    double draw(std::size_t n, std::size_t level) const noexcept;
    std::uint64_t seed() const noexcept { return seed_; }

private:
    std::uint64_t seed_;
    std::vector<Kind> kinds_;
};

/// The gateway times out (transient: worth retrying later).
class GatewayTimeout : public failpipe::TransientError {
public:
    using TransientError::TransientError;
};
/// The gateway is down (transient; the breaker counts these and the timeouts).
class GatewayUnavailable : public failpipe::TransientError {
public:
    using TransientError::TransientError;
};
/// The card is invalid (permanent: straight to the dead letters).
class CardDeclined : public failpipe::PermanentError {
public:
    using PermanentError::PermanentError;
};

/// The payment gateway: a latency per call, timeouts at the fail rate, declined invalid cards, and
/// one outage window during which every call fails.
class Gateway {
public:
    using Clock = std::chrono::steady_clock;
    Gateway(const Scenario& scenario, double fail_rate, std::chrono::nanoseconds latency, Clock::time_point outage_from,
            Clock::time_point outage_until);
    /// Charges payment @p n on retry level @p level; throws as the gateway answers.
    void charge(std::size_t n, std::size_t level) const;
    bool down(Clock::time_point now = Clock::now()) const noexcept { return now >= outage_from_ && now < outage_until_; }
    std::uint64_t calls() const noexcept { return calls_.load(std::memory_order_relaxed); }

private:
    const Scenario& scenario_;
    double fail_rate_;
    std::chrono::nanoseconds latency_;
    Clock::time_point outage_from_;
    Clock::time_point outage_until_;
    mutable std::atomic<std::uint64_t> calls_{0};
};

/// An adapter in front of the real one that simulates worker threads crashing on a message: a
/// delivery of a crashing payment is taken from the broker and never settled nor released, exactly
/// what a thread that died holding it leaves behind. The broker hands it out again after the
/// visibility timeout, counted as a delivery; past the worker's maxDeliveries it reaches the worker,
/// which dead-letters it with reason `max-deliveries` before any handler runs.
class CrashingThreads final : public failpipe::AdapterInterface {
public:
    CrashingThreads(std::shared_ptr<failpipe::AdapterInterface> inner, const Scenario& scenario,
                    std::uint32_t max_deliveries);
    std::uint64_t crashes() const noexcept { return crashes_.load(std::memory_order_relaxed); }

    failpipe::AdapterCapabilities capabilities() const override { return inner_->capabilities(); }

    std::string push(const std::string& c, failpipe::Message m, failpipe::Seconds d) override;
    std::vector<std::string> push_batch(std::vector<failpipe::OutgoingMessage> m) override;
    std::vector<failpipe::Delivery> reserve(const std::vector<std::string>& c, std::size_t n,
                                            std::chrono::milliseconds w) override;
    void settle(const failpipe::Delivery& d, failpipe::Settlement&& s) override;
    std::vector<std::exception_ptr> settle_batch(std::vector<failpipe::SettleItem> items) override;
    void release(const failpipe::Delivery& d, failpipe::Seconds delay) override;
    std::size_t reclaim() override;
    void write_metrics(failpipe::PrometheusWriter& w) override { inner_->write_metrics(w); }
    failpipe::MessageStatus status(const std::string& id) override;
    failpipe::ChannelDepth depth(const std::string& c) override;
    std::vector<failpipe::Message> browse(const std::string& c, std::size_t o, std::size_t l) override;
    failpipe::BrowsePage browse_after(const std::string& c, const failpipe::BrowseCursor& a, std::size_t l) override;
    std::size_t remove(const std::string& c, const std::vector<std::string>& ids) override;
    std::size_t evict(const std::string& c, const std::vector<std::string>& ids) override;
    std::uint64_t evicted(const std::string& c) override;
    failpipe::MoveResult move(const std::string& f, const std::string& t, const std::vector<std::string>& ids,
                              const failpipe::MessageRewrite& r, failpipe::Seconds d) override;
    std::vector<std::string> channels() override;

private:
    bool crashes_on(const failpipe::Delivery& delivery) const;

    std::shared_ptr<failpipe::AdapterInterface> inner_;
    const Scenario& scenario_;
    std::uint32_t max_deliveries_;
    std::atomic<std::uint64_t> crashes_{0};
};

/// The payment number in a message's data (`payment`), or -1.
long long payment_number(const nlohmann::json& data);

}  // namespace payments
