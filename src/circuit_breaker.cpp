// CircuitBreaker: the state machine behind one atomic word, and the consume middleware around it.
#include "failpipe/circuit_breaker.hpp"

#include <algorithm>
#include <cmath>
#include <random>
#include <sstream>
#include <utility>

#include "failpipe/config_limits.hpp"
#include "failpipe/error.hpp"
#include "logging.hpp"
#include "sliding_window.hpp"

namespace failpipe {
namespace {

constexpr std::size_t kCalls = 0;
constexpr std::size_t kFailures = 1;

std::uint64_t word_of(std::uint64_t epoch, BreakerState state) { return (epoch << 2) | static_cast<std::uint64_t>(state); }
BreakerState state_of(std::uint64_t word) { return static_cast<BreakerState>(word & 3u); }
std::uint64_t epoch_of(std::uint64_t word) { return word >> 2; }

std::string number(double value) {
    std::ostringstream out;
    out << value;
    return out.str();
}

void check_seconds(Seconds value, const char* what, bool zero_allowed) {
    const double s = value.count();
    if (!std::isfinite(s) || s < 0 || (!zero_allowed && s == 0))
        throw InvalidArgumentError(std::string("circuit breaker: ") + what + " must be a finite number of seconds " +
                                   (zero_allowed ? ">= 0" : "> 0") + ", " + number(s) + " given");
}

void check_options(const std::string& name, const CircuitBreakerOptions& o) {
    if (name.empty()) throw InvalidArgumentError("circuit breaker: the name must not be empty");
    if (!o.failure_threshold && !o.failure_ratio_percent)
        throw InvalidArgumentError("circuit breaker \"" + name + "\": set a failure threshold, a failure ratio, or both");
    if (o.failure_threshold && *o.failure_threshold < 1)
        throw InvalidArgumentError("circuit breaker \"" + name + "\": the failure threshold must be at least 1");
    if (o.failure_ratio_percent &&
        (!std::isfinite(*o.failure_ratio_percent) || !(*o.failure_ratio_percent > 0) || *o.failure_ratio_percent > 100))
        throw InvalidArgumentError("circuit breaker \"" + name + "\": the failure ratio must be a percentage > 0 and <= 100, " +
                                   number(*o.failure_ratio_percent) + " given");
    if (o.minimum_calls < 1)
        throw InvalidArgumentError("circuit breaker \"" + name + "\": the minimum number of calls must be at least 1");
    if (o.half_open_probes < 1)
        throw InvalidArgumentError("circuit breaker \"" + name + "\": the number of half-open probes must be at least 1");
    check_seconds(o.window, "the window", false);
    check_seconds(o.open_for, "the open period", false);
    check_seconds(o.release_delay, "the release delay", true);
}

}  // namespace

std::string_view to_string(BreakerState state) noexcept {
    switch (state) {
        case BreakerState::closed: return "closed";
        case BreakerState::open: return "open";
        case BreakerState::half_open: return "half-open";
    }
    return "unknown";
}

// --- Permit ------------------------------------------------------------------------------------

CircuitBreaker::Permit::Permit(Permit&& other) noexcept
    : breaker_(std::exchange(other.breaker_, nullptr)), epoch_(other.epoch_), probe_(other.probe_) {}

CircuitBreaker::Permit& CircuitBreaker::Permit::operator=(Permit&& other) noexcept {
    if (this != &other) {
        finish(kAbandoned);
        breaker_ = std::exchange(other.breaker_, nullptr);
        epoch_ = other.epoch_;
        probe_ = other.probe_;
    }
    return *this;
}

CircuitBreaker::Permit::~Permit() { finish(kAbandoned); }

void CircuitBreaker::Permit::success() { finish(kSuccess); }

void CircuitBreaker::Permit::failure(ErrorClass error_class) {
    if (!breaker_) return;
    finish(breaker_->counts(error_class) ? kFailure : kSuccess);
}

void CircuitBreaker::Permit::finish(int result) noexcept {
    if (!breaker_) return;
    CircuitBreaker* breaker = std::exchange(breaker_, nullptr);
    breaker->record(epoch_, probe_, static_cast<Result>(result));
}

// --- CircuitBreaker ----------------------------------------------------------------------------

CircuitBreaker::CircuitBreaker(std::string name, CircuitBreakerOptions options, std::shared_ptr<const Clock> clock)
    : name_(std::move(name)), options_(std::move(options)), clock_(std::move(clock)) {
    check_options(name_, options_);
    window_ = std::make_unique<detail::SlidingCounts<2>>(options_.window);
}

CircuitBreaker::~CircuitBreaker() = default;

TimePoint CircuitBreaker::now() const { return clock_ ? clock_->now() : std::chrono::system_clock::now(); }

CircuitBreaker::Permit CircuitBreaker::acquire() {
    const std::uint64_t word = word_.load(std::memory_order_acquire);
    if (state_of(word) == BreakerState::closed) return Permit(this, epoch_of(word), false);

    std::lock_guard lock(mutex_);
    const BreakerState state = advance_locked(now());
    if (state == BreakerState::closed) return Permit(this, epoch_of(word_.load(std::memory_order_relaxed)), false);
    if (state == BreakerState::half_open && probes_taken_ < options_.half_open_probes) {
        ++probes_taken_;
        return Permit(this, epoch_of(word_.load(std::memory_order_relaxed)), true);
    }
    rejected_.fetch_add(1, std::memory_order_relaxed);
    return Permit();
}

BreakerState CircuitBreaker::state() const {
    const std::uint64_t word = word_.load(std::memory_order_acquire);
    if (state_of(word) != BreakerState::open) return state_of(word);
    std::lock_guard lock(mutex_);
    return state_locked(now());
}

// The state as it reads at @p now: an open breaker whose period has passed is half-open. Reading
// does not move it; the next call (advance_locked) does.
BreakerState CircuitBreaker::state_locked(TimePoint now) const {
    const BreakerState state = state_of(word_.load(std::memory_order_relaxed));
    if (state == BreakerState::open && now >= opened_at_ + to_clock_duration(options_.open_for))
        return BreakerState::half_open;
    return state;
}

BreakerState CircuitBreaker::advance_locked(TimePoint now) {
    const BreakerState state = state_locked(now);
    if (state == BreakerState::half_open && state_of(word_.load(std::memory_order_relaxed)) == BreakerState::open) {
        enter_locked(BreakerState::half_open);
        detail::logger().info("circuit breaker \"{}\" is half-open: letting {} probe{} through", name_,
                              options_.half_open_probes, options_.half_open_probes == 1 ? "" : "s");
    }
    return state;
}

void CircuitBreaker::enter_locked(BreakerState state) {
    const std::uint64_t epoch = epoch_of(word_.load(std::memory_order_relaxed)) + 1;
    probes_taken_ = 0;
    probes_passed_ = 0;
    if (state == BreakerState::closed) window_->clear();
    word_.store(word_of(epoch, state), std::memory_order_release);
}

void CircuitBreaker::open_locked(TimePoint now, const std::string& why) {
    opened_at_ = now;
    ++openings_;
    enter_locked(BreakerState::open);
    detail::logger().warn("circuit breaker \"{}\" opened: {}; releasing its deliveries for {} s", name_, why,
                          number(options_.open_for.count()));
}

void CircuitBreaker::record(std::uint64_t epoch, bool probe, Result result) noexcept {
    try {
        std::lock_guard lock(mutex_);
        if (result == kSuccess) ++successes_;
        if (result == kFailure) ++failures_;
        const TimePoint at = now();
        const BreakerState state = advance_locked(at);
        // A result of a call let through in an earlier state (closed before it opened, a probe of
        // an earlier half-open period) moves nothing.
        if (epoch != epoch_of(word_.load(std::memory_order_relaxed))) return;

        if (state == BreakerState::half_open && probe) {
            if (result == kAbandoned) {
                --probes_taken_;
            } else if (result == kFailure) {
                open_locked(at, "a half-open probe failed");
            } else if (++probes_passed_ >= options_.half_open_probes) {
                ++closings_;
                enter_locked(BreakerState::closed);
                detail::logger().info("circuit breaker \"{}\" closed: {} probe{} succeeded", name_,
                                      options_.half_open_probes, options_.half_open_probes == 1 ? "" : "s");
            }
            return;
        }
        if (state != BreakerState::closed || probe || result == kAbandoned) return;

        window_->add(at, kCalls);
        if (result == kSuccess) return;
        window_->add(at, kFailures);
        const auto totals = window_->totals(at);
        const std::uint64_t calls = totals[kCalls];
        const std::uint64_t failures = totals[kFailures];
        const double window = options_.window.count();
        if (options_.failure_threshold && failures >= *options_.failure_threshold) {
            open_locked(at, std::to_string(failures) + " failures within " + number(window) + " s");
        } else if (options_.failure_ratio_percent && calls >= options_.minimum_calls &&
                   static_cast<double>(failures) * 100.0 >= *options_.failure_ratio_percent * static_cast<double>(calls)) {
            open_locked(at, std::to_string(failures) + " of " + std::to_string(calls) + " calls within " + number(window) +
                                " s failed (at least " + number(*options_.failure_ratio_percent) + "%)");
        }
    } catch (...) {
        // Logging or the clock threw: the result is lost, the breaker's state stays consistent.
    }
}

CircuitBreakerSnapshot CircuitBreaker::snapshot() const {
    std::lock_guard lock(mutex_);
    const TimePoint at = now();
    CircuitBreakerSnapshot s;
    s.name = name_;
    s.state = state_locked(at);
    s.openings = openings_;
    s.closings = closings_;
    s.rejected = rejected_.load(std::memory_order_relaxed);
    s.successes = successes_;
    s.failures = failures_;
    if (s.state == BreakerState::closed) {
        const auto totals = window_->totals(at);
        s.window_calls = totals[kCalls];
        s.window_failures = totals[kFailures];
    } else {
        s.opened_at = opened_at_;
    }
    return s;
}

Seconds CircuitBreaker::release_delay() const {
    thread_local std::minstd_rand random{std::random_device{}()};
    const double spread = std::uniform_real_distribution<double>(0.0, 1.0)(random);
    const Seconds base = options_.release_delay;
    std::lock_guard lock(mutex_);
    const TimePoint at = now();
    if (state_locked(at) == BreakerState::open) {
        const Seconds rest = std::chrono::duration_cast<Seconds>(opened_at_ + to_clock_duration(options_.open_for) - at);
        // The rest of the period plus the spread may pass the longest release a delivery takes
        // (HandlerContext::release refuses it: the delivery would fail instead of waiting).
        return std::min(std::max(rest, Seconds{0.0}) + base * spread, Seconds{ConfigLimits::kMaxSeconds});
    }
    return base * (0.5 + 0.5 * spread);
}

// --- CircuitBreakerMiddleware ------------------------------------------------------------------

CircuitBreakerMiddleware::CircuitBreakerMiddleware(std::shared_ptr<CircuitBreaker> breaker,
                                                   std::optional<std::set<std::string>> message_types,
                                                   Classifier classifier)
    : breaker_(std::move(breaker)), message_types_(std::move(message_types)), classifier_(std::move(classifier)) {
    if (!breaker_) throw InvalidArgumentError("circuit breaker middleware: no breaker given");
    released_by_ = "breaker:" + breaker_->name();
}

bool CircuitBreakerMiddleware::applies_to(std::string_view message_type) const {
    return !message_types_ || message_types_->find(std::string(message_type)) != message_types_->end();
}

void CircuitBreakerMiddleware::handle(const Message& message, HandlerContext& context,
                                      const ConsumeHandlerInterface& next) const {
    if (!applies_to(message.handler)) return next.handle(message, context);
    CircuitBreaker::Permit permit = breaker_->acquire();
    if (!permit) {
        context.release(breaker_->release_delay(), released_by_);
        return;
    }
    try {
        next.handle(message, context);
    } catch (const std::exception& e) {
        if (!context.released()) permit.failure(classifier_.classify(e).error_class);
        throw;
    } catch (...) {
        if (!context.released()) permit.failure(classifier_.classify_non_standard().error_class);
        throw;
    }
    // A delivery the handler gave back was not a call of the dependency: the permit is dropped unused.
    if (!context.released()) permit.success();
}

}  // namespace failpipe
