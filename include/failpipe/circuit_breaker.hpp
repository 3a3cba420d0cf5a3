/// @file circuit_breaker.hpp
/// @brief CircuitBreaker: stops calling a dependency that is down, and gives deliveries back
/// (released, no attempt counted) until it recovers. See docs/breakers.md.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "failpipe/classifier.hpp"
#include "failpipe/clock.hpp"
#include "failpipe/consume_middleware.hpp"
#include "failpipe/error_class.hpp"

namespace failpipe {

namespace detail {
template <std::size_t N>
class SlidingCounts;
}  // namespace detail

/// @brief Where a breaker stands.
enum class BreakerState : std::uint8_t {
    closed,     ///< Calls pass; failures are counted over the window.
    open,       ///< Calls are refused until openFor has passed.
    half_open,  ///< Up to halfOpenProbes calls pass; their results decide.
};

/// @brief `closed`, `open`, `half-open`.
std::string_view to_string(BreakerState state) noexcept;

/// @brief The settings of a breaker (JSON: an entry of `breakers`, see docs/breakers.md).
struct CircuitBreakerOptions {
    /// Opens after this many counted failures within the window (≥ 1). Unset: only the ratio rule.
    std::optional<std::uint32_t> failure_threshold = 5;
    /// The sliding window failures and calls are counted over (> 0 s).
    Seconds window{60.0};
    /// Opens when counted failures reach this percentage of the calls in the window (0 < R ≤ 100),
    /// once the window holds at least minimum_calls calls. Unset: only the count rule.
    std::optional<double> failure_ratio_percent;
    /// The calls the window must hold before the ratio rule applies (≥ 1).
    std::uint32_t minimum_calls = 10;
    /// How long it stays open before letting probes through (> 0 s).
    Seconds open_for{30.0};
    /// Calls let through while half-open (≥ 1): all must succeed to close it; one failure reopens it.
    std::uint32_t half_open_probes = 1;
    /// How long CircuitBreakerMiddleware gives a refused delivery back for (≥ 0 s): while open, the
    /// rest of the open period plus up to this much; half-open, between half of it and all of it
    /// (see CircuitBreaker::release_delay()).
    Seconds release_delay{5.0};
    /// The failure classes that count; a failure of another class is the dependency answering
    /// (an invalid card is not an outage) and counts as a success. Empty: every class.
    ErrorClassSet on{ErrorClass::transient, ErrorClass::unknown};
};

/// @brief What a breaker has done, for logs, metrics and health.
struct CircuitBreakerSnapshot {
    std::string name;
    BreakerState state = BreakerState::closed;
    std::uint64_t openings = 0;   ///< closed → open and half-open → open, since it was built.
    std::uint64_t closings = 0;   ///< half-open → closed.
    std::uint64_t rejected = 0;   ///< Calls refused (open, or half-open with every probe taken).
    std::uint64_t successes = 0;  ///< Calls recorded as successes (including failures it does not count).
    std::uint64_t failures = 0;   ///< Calls recorded as counted failures.
    std::uint64_t window_calls = 0;     ///< Calls in the current window (closed state).
    std::uint64_t window_failures = 0;  ///< Counted failures in the current window (closed state).
    std::optional<TimePoint> opened_at; ///< When it last opened, while open or half-open.
};

/// @brief A circuit breaker around one dependency, shared by every worker thread.
///
/// closed → open after failure_threshold counted failures within the window, or when counted
/// failures reach failure_ratio_percent of at least minimum_calls calls in the window; open →
/// half-open once open_for has passed (on the next call or state read); half-open → closed when
/// half_open_probes probes have succeeded, → open again on a probe's counted failure.
///
/// Thread safety: every member is safe to call concurrently. While closed, acquire() is one atomic
/// load; recording a result takes a short lock.
class CircuitBreaker {
public:
    /// @brief Permission for one call, from acquire(). Empty (false) when the breaker refused it.
    /// Record the call's result with success() or failure(); a permit dropped without a result
    /// (the call was released, not tried) counts as neither and frees its probe slot.
    class Permit {
    public:
        Permit() = default;
        Permit(Permit&& other) noexcept;
        Permit& operator=(Permit&& other) noexcept;
        Permit(const Permit&) = delete;
        Permit& operator=(const Permit&) = delete;
        ~Permit();

        explicit operator bool() const noexcept { return breaker_ != nullptr; }
        /// @brief True for a half-open probe.
        bool probe() const noexcept { return probe_; }
        /// @brief The call succeeded.
        void success();
        /// @brief The call failed with @p error_class; a class outside the breaker's `on` counts as success.
        void failure(ErrorClass error_class = ErrorClass::transient);

    private:
        friend class CircuitBreaker;
        Permit(CircuitBreaker* breaker, std::uint64_t epoch, bool probe) noexcept
            : breaker_(breaker), epoch_(epoch), probe_(probe) {}
        void finish(int result) noexcept;
        CircuitBreaker* breaker_ = nullptr;
        std::uint64_t epoch_ = 0;
        bool probe_ = false;
    };

    /// Throws InvalidArgumentError for an empty name or a setting out of range (see the options).
    CircuitBreaker(std::string name, CircuitBreakerOptions options = {}, std::shared_ptr<const Clock> clock = nullptr);
    ~CircuitBreaker();
    CircuitBreaker(const CircuitBreaker&) = delete;
    CircuitBreaker& operator=(const CircuitBreaker&) = delete;

    /// @brief Asks to make one call: a permit, or an empty one (counted as rejected) while open.
    Permit acquire();
    /// @brief The state now (an open breaker past open_for reads as half-open).
    BreakerState state() const;
    /// @brief Counters and state, consistent with each other.
    CircuitBreakerSnapshot snapshot() const;
    /// @brief How long to give back a delivery this breaker refused: while open, the rest of the
    /// open period plus a random share of release_delay; otherwise (half-open, probes taken) a
    /// random delay in [release_delay/2, release_delay]. The spread keeps the released deliveries
    /// from all coming back at the same instant and bouncing off the breaker again together.
    Seconds release_delay() const;

    const std::string& name() const noexcept { return name_; }
    const CircuitBreakerOptions& options() const noexcept { return options_; }
    /// @brief True when a failure of @p error_class counts against the dependency.
    bool counts(ErrorClass error_class) const noexcept { return options_.on.matches(error_class); }

private:
    enum Result { kSuccess, kFailure, kAbandoned };
    void record(std::uint64_t epoch, bool probe, Result result) noexcept;
    BreakerState state_locked(TimePoint now) const;
    BreakerState advance_locked(TimePoint now);
    void open_locked(TimePoint now, const std::string& why);
    void enter_locked(BreakerState state);
    TimePoint now() const;

    std::string name_;
    CircuitBreakerOptions options_;
    std::shared_ptr<const Clock> clock_;
    // (epoch << 2) | state: a permit remembers the epoch, so a result of a call made in an earlier
    // state (closed before an opening) cannot move the state of a later one.
    std::atomic<std::uint64_t> word_{0};
    mutable std::mutex mutex_;
    std::unique_ptr<detail::SlidingCounts<2>> window_;
    TimePoint opened_at_{};
    std::uint32_t probes_taken_ = 0;
    std::uint32_t probes_passed_ = 0;
    std::uint64_t openings_ = 0;
    std::uint64_t closings_ = 0;
    std::atomic<std::uint64_t> rejected_{0};
    std::uint64_t successes_ = 0;
    std::uint64_t failures_ = 0;
};

/// @brief A consume middleware that puts a CircuitBreaker around the handler of some message types.
///
/// For a message of one of its types (or of any type when it has no set) it asks the breaker;
/// refused, it releases the delivery with the breaker's release_delay, by `breaker:<name>`, without
/// calling the handler — no attempt counted, nothing dead-lettered. Allowed, it calls the handler
/// and records the result: returning is a success, a throw is classified with @p classifier and
/// rethrown unchanged, and a handler that released the delivery itself records nothing.
class CircuitBreakerMiddleware final : public ConsumeMiddlewareInterface {
public:
    /// @param message_types the message types (Message::handler) it applies to; none = every type,
    ///        an empty set = no type (a breaker that handlers use by name only).
    CircuitBreakerMiddleware(std::shared_ptr<CircuitBreaker> breaker,
                             std::optional<std::set<std::string>> message_types = std::nullopt,
                             Classifier classifier = Classifier());

    void handle(const Message& message, HandlerContext& context, const ConsumeHandlerInterface& next) const override;

    /// @brief True when it applies to messages of @p message_type.
    bool applies_to(std::string_view message_type) const;
    const std::shared_ptr<CircuitBreaker>& breaker() const noexcept { return breaker_; }
    /// @brief The types it applies to; none = every type.
    const std::optional<std::set<std::string>>& message_types() const noexcept { return message_types_; }

private:
    std::shared_ptr<CircuitBreaker> breaker_;
    std::optional<std::set<std::string>> message_types_;
    Classifier classifier_;
    std::string released_by_;
};

}  // namespace failpipe
