#include "simulation.hpp"

#include <failpipe/fault_injection.hpp>

#include <thread>

namespace payments {
namespace {

// splitmix64: a well-mixed 64-bit hash, so each (seed, payment, level) gets an independent draw.
std::uint64_t mix(std::uint64_t x) noexcept {
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

double unit(std::uint64_t x) noexcept { return static_cast<double>(mix(x) >> 11) * 0x1.0p-53; }

}  // namespace

Scenario::Scenario(std::size_t count, std::uint64_t seed, double invalid_rate, double poison_rate, double crash_rate)
    : seed_(seed), kinds_(count, Kind::normal) {
    for (std::size_t n = 0; n < count; ++n) {
        const double u = unit(mix(seed) ^ (n * 0x2545f4914f6cdd1dULL));
        if (u < poison_rate) {
            kinds_[n] = Kind::poison;
        } else if (u < poison_rate + crash_rate) {
            kinds_[n] = Kind::crash;
        } else if (u < poison_rate + crash_rate + invalid_rate) {
            kinds_[n] = Kind::invalid;
        }
    }
}

std::size_t Scenario::count(Kind kind) const {
    std::size_t total = 0;
    for (Kind k : kinds_) total += k == kind ? 1 : 0;
    return total;
}

double Scenario::draw(std::size_t n, std::size_t level) const noexcept {
    return unit(mix(seed_ ^ 0x5bd1e995ULL) ^ (n * 0x9e3779b97f4a7c15ULL) ^ (level + 1) * 0xc2b2ae3d27d4eb4fULL);
}

Gateway::Gateway(const Scenario& scenario, double fail_rate, std::chrono::nanoseconds latency,
                 Clock::time_point outage_from, Clock::time_point outage_until)
    : scenario_(scenario),
      fail_rate_(fail_rate),
      latency_(latency),
      outage_from_(outage_from),
      outage_until_(outage_until) {}

void Gateway::charge(std::size_t n, std::size_t level) const {
    calls_.fetch_add(1, std::memory_order_relaxed);
    std::this_thread::sleep_for(latency_);
    if (down()) throw GatewayUnavailable("payment gateway unavailable: connection refused");
    const double u = scenario_.draw(n, level);
    if (u < fail_rate_) {
        // A varying figure in the text, as a real gateway's; the fingerprint masks it, so every
        // timeout lands in one dead-letter group.
        throw GatewayTimeout("payment gateway timed out after " + std::to_string(3000 + static_cast<int>(u * 1e6) % 997) +
                             " ms");
    }
    if (scenario_.kind(n) == Kind::invalid) {
        throw CardDeclined("card declined: invalid card number for payment " + std::to_string(n + 1));
    }
}

long long payment_number(const nlohmann::json& data) {
    if (!data.is_object()) return -1;
    const auto found = data.find("payment");
    if (found == data.end() || !found->is_number_integer()) return -1;
    return found->get<long long>();
}

CrashingThreads::CrashingThreads(std::shared_ptr<failpipe::AdapterInterface> inner, const Scenario& scenario,
                                 std::uint32_t max_deliveries)
    : inner_(std::move(inner)), scenario_(scenario), max_deliveries_(max_deliveries) {}

bool CrashingThreads::crashes_on(const failpipe::Delivery& delivery) const {
    if (delivery.poisoned() || delivery.deliveries > max_deliveries_) return false;
    try {
        // `failpipe inject --kind crash` asks for the same.
        const auto injected = failpipe::injected_fault(delivery.message);
        if (injected) return injected->kind == failpipe::InjectedFault::crash;
    } catch (const failpipe::Error&) {
        return false;  // a malformed header: the handler dead-letters it
    }
    const long long n = payment_number(delivery.message.data);
    return n >= 1 && static_cast<std::size_t>(n) <= scenario_.size() &&
           scenario_.kind(static_cast<std::size_t>(n - 1)) == Kind::crash;
}

std::vector<failpipe::Delivery> CrashingThreads::reserve(const std::vector<std::string>& c, std::size_t n,
                                                         std::chrono::milliseconds w) {
    auto deliveries = inner_->reserve(c, n, w);
    std::erase_if(deliveries, [&](const failpipe::Delivery& d) {
        if (!crashes_on(d)) return false;
        crashes_.fetch_add(1, std::memory_order_relaxed);
        return true;  // the thread "died" holding it: never settled, never released
    });
    return deliveries;
}

std::string CrashingThreads::push(const std::string& c, failpipe::Message m, failpipe::Seconds d) {
    return inner_->push(c, std::move(m), d);
}
std::vector<std::string> CrashingThreads::push_batch(std::vector<failpipe::OutgoingMessage> m) {
    return inner_->push_batch(std::move(m));
}
void CrashingThreads::settle(const failpipe::Delivery& d, failpipe::Settlement&& s) { inner_->settle(d, std::move(s)); }
std::vector<std::exception_ptr> CrashingThreads::settle_batch(std::vector<failpipe::SettleItem> items) {
    return inner_->settle_batch(std::move(items));
}
void CrashingThreads::release(const failpipe::Delivery& d, failpipe::Seconds delay) { inner_->release(d, delay); }
std::size_t CrashingThreads::reclaim() { return inner_->reclaim(); }
failpipe::MessageStatus CrashingThreads::status(const std::string& id) { return inner_->status(id); }
failpipe::ChannelDepth CrashingThreads::depth(const std::string& c) { return inner_->depth(c); }
std::vector<failpipe::Message> CrashingThreads::browse(const std::string& c, std::size_t o, std::size_t l) {
    return inner_->browse(c, o, l);
}
failpipe::BrowsePage CrashingThreads::browse_after(const std::string& c, const failpipe::BrowseCursor& a, std::size_t l) {
    return inner_->browse_after(c, a, l);
}
std::size_t CrashingThreads::remove(const std::string& c, const std::vector<std::string>& ids) {
    return inner_->remove(c, ids);
}
std::size_t CrashingThreads::evict(const std::string& c, const std::vector<std::string>& ids) {
    return inner_->evict(c, ids);
}
std::uint64_t CrashingThreads::evicted(const std::string& c) { return inner_->evicted(c); }
failpipe::MoveResult CrashingThreads::move(const std::string& f, const std::string& t,
                                           const std::vector<std::string>& ids, const failpipe::MessageRewrite& r,
                                           failpipe::Seconds d) {
    return inner_->move(f, t, ids, r, d);
}
std::vector<std::string> CrashingThreads::channels() { return inner_->channels(); }

}  // namespace payments
