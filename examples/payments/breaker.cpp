#include "breaker.hpp"

#include "simulation.hpp"

#include <failpipe/handler_context.hpp>

#include <functional>

namespace payments {

const char* to_string(GatewayBreaker::State state) noexcept {
    switch (state) {
        case GatewayBreaker::State::closed: return "closed";
        case GatewayBreaker::State::open: return "open";
        case GatewayBreaker::State::half_open: return "half-open";
    }
    return "closed";
}

GatewayBreaker::State GatewayBreaker::state() const {
    std::lock_guard lock(mutex_);
    return state_;
}

void GatewayBreaker::open(Clock::time_point now) const {
    state_ = State::open;
    opened_at_ = now;
    probing_ = false;
    calls_.clear();
    failures_ = 0;
    openings_.fetch_add(1, std::memory_order_relaxed);
}

bool GatewayBreaker::admit(Clock::time_point now, Clock::duration& wait, bool& probe) const {
    std::lock_guard lock(mutex_);
    probe = false;
    if (state_ == State::closed) return true;
    if (state_ == State::open && now - opened_at_ >= settings_.open_for) state_ = State::half_open;
    if (state_ == State::half_open && !probing_) {
        probing_ = true;
        probe = true;
        return true;
    }
    // Open: until the open period ends. Half-open with a probe out: a quarter of it, to hear the verdict.
    wait = state_ == State::open ? settings_.open_for - (now - opened_at_) : settings_.open_for / 4;
    return false;
}

void GatewayBreaker::record(Clock::time_point now, bool ok, bool probe) const {
    std::lock_guard lock(mutex_);
    if (probe) {
        probing_ = false;
        if (ok) {
            state_ = State::closed;
            calls_.clear();
            failures_ = 0;
        } else {
            open(now);
        }
        return;
    }
    if (state_ != State::closed) return;  // a call admitted before it opened
    calls_.emplace_back(now, ok);
    failures_ += ok ? 0 : 1;
    while (!calls_.empty() && now - calls_.front().first > settings_.window) {
        failures_ -= calls_.front().second ? 0 : 1;
        calls_.pop_front();
    }
    if (calls_.size() >= settings_.min_calls &&
        static_cast<double>(failures_) > settings_.failure_ratio * static_cast<double>(calls_.size())) {
        open(now);
    }
}

void GatewayBreaker::handle(const failpipe::Message& message, failpipe::HandlerContext& context,
                            const failpipe::ConsumeHandlerInterface& next) const {
    const auto now = Clock::now();
    Clock::duration wait{};
    bool probe = false;
    if (!admit(now, wait, probe)) {
        // Spread the comebacks over half an open period, so they do not all return at once.
        const auto spread = settings_.open_for / 2 * static_cast<double>(std::hash<std::string>{}(message.id) % 1000) / 1000.0;
        // Given back, due after the delay, without counting an attempt (Outcome::released).
        context.release(std::chrono::duration_cast<failpipe::Seconds>(wait + spread), "breaker:gateway");
        released_.fetch_add(1, std::memory_order_relaxed);
        if (on_release_) on_release_(message);
        return;
    }
    try {
        next.handle(message, context);
    } catch (const GatewayTimeout&) {
        record(Clock::now(), false, probe);
        throw;
    } catch (const GatewayUnavailable&) {
        record(Clock::now(), false, probe);
        throw;
    } catch (...) {
        // The gateway answered (a declined card), or the failure is not the gateway's.
        if (probe) record(Clock::now(), true, probe);
        throw;
    }
    record(Clock::now(), true, probe);
}

}  // namespace payments
