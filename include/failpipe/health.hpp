/// @file health.hpp
/// @brief Health: `healthy`, `warning` or `unhealthy`, with its reasons per component, from the
/// broker's answers and the facts a runtime gives (docs/health.md).
///
/// The evaluation (evaluate_health) is a pure function of its inputs; probe_broker is the one call
/// that talks to the broker, bounded by a timeout.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "failpipe/adapter.hpp"
#include "failpipe/clock.hpp"

namespace failpipe {

/// @brief Ordered: a report's status is the worst of its components'.
enum class HealthStatus { healthy = 0, warning = 1, unhealthy = 2 };

/// @brief `healthy`, `warning`, `unhealthy`.
std::string_view to_string(HealthStatus status) noexcept;

/// @brief The exit code a probe or a cron job reads: 0 healthy, 1 warning, 2 unhealthy.
int exit_code(HealthStatus status) noexcept;

/// @brief One part of the system and what is wrong with it (no reasons when healthy).
struct HealthComponent {
    std::string name;  ///< `broker`, `dead-letters`, `workers`, `breakers`, `retry-budget`, `retry-lateness`, `degradation`.
    HealthStatus status = HealthStatus::healthy;
    std::vector<std::string> reasons;
};

/// @brief A health verdict.
struct HealthReport {
    HealthStatus status = HealthStatus::healthy;
    std::vector<HealthComponent> components;
    /// Waiting dead letters per dead-letter channel, as counted by this check (empty when the broker
    /// was not reached); the next check compares against it to see growth.
    std::map<std::string, std::size_t> dead_letters;
    std::chrono::system_clock::time_point checked_at{};

    /// @brief One line of JSON: `status`, `checkedAt` (ISO 8601 UTC), `components` [{`name`,
    /// `status`, `reasons`}], `deadLetters` {channel: count}.
    std::string to_json() const;
    /// @brief The status on the first line, then one line per component and one per reason.
    std::string to_text() const;
    /// @brief The component named @p name, or nullptr.
    const HealthComponent* component(std::string_view name) const noexcept;
    /// @brief Reads back what to_json wrote (the fields a next check needs: status, checkedAt,
    /// deadLetters, components). Throws InvalidArgumentError for anything else.
    static HealthReport from_json(std::string_view json);
};

/// @brief What the broker said.
struct BrokerHealthFacts {
    bool reachable = false;
    std::string error;  ///< Why not, when not reachable.
    std::chrono::milliseconds answered_in{0};
    std::map<std::string, std::size_t> dead_letters;  ///< Waiting dead letters per dead-letter channel.
};

/// @brief A channel the runtime runs below its full concurrency (degradation under errors).
struct DegradedChannel {
    std::string channel;
    std::size_t concurrency = 0;      ///< Now.
    std::size_t max_concurrency = 0;  ///< When healthy.
};

/// @brief What a worker runtime knows about itself, given to the evaluator by the runtime.
struct RuntimeHealthFacts {
    std::size_t threads_alive = 0;
    std::size_t threads_total = 0;
    std::vector<std::string> open_breakers;              ///< Names of breakers open now.
    std::vector<std::string> budget_exhausted_channels;  ///< Channels whose retry budget is spent now.
    std::optional<Seconds> retry_lateness_p99;           ///< From Metrics (none when no retry was late-measured).
    Seconds retry_lateness_threshold{30.0};              ///< Above it: warning.
    std::vector<DegradedChannel> degraded_channels;
};

/// @brief What probe_broker looks at.
struct HealthOptions {
    /// Channels whose dead letters are counted (their dead-letter channel: channel + suffix; a name
    /// that already ends with the suffix is taken as it is). Empty: every dead-letter channel the
    /// broker lists.
    std::vector<std::string> channels;
    std::string dead_letter_suffix = ":dlq";
    /// The probe's bound: a broker that has not answered by then is unreachable. Above 0, at most 1e9 s.
    Seconds timeout{2.0};
};

/// @brief Asks the broker for its channels (unless HealthOptions::channels names them) and the depth
/// of each dead-letter channel, on a thread of its own so that a hung broker costs at most
/// HealthOptions::timeout (the thread, holding @p adapter, ends when the adapter's own timeout
/// does). Never throws for a broker failure: that is `reachable = false` with the error's text. Throws
/// UnsupportedCapabilityError, before asking anything, when the adapter lacks `depth`, or `channels`
/// with HealthOptions::channels empty (a broker that cannot be inspected is not an unreachable one).
///
/// For a one-shot check (a command-line tool): each call starts a thread that may outlive it while
/// the broker hangs. A server that probes on every request uses BrokerProbe.
BrokerHealthFacts probe_broker(std::shared_ptr<InspectionAdapter> adapter, const HealthOptions& options = {});

/// @brief probe_broker for a server asked often (a /health endpoint, a dashboard's heartbeat): at
/// most one probe in flight, on the one thread this object owns. Requests that come while a probe
/// is in flight share its answer instead of starting another, so a hung broker and a liveness
/// probe every second cost one thread, not one per request.
class BrokerProbe {
public:
    /// @brief Checks @p adapter and @p options as probe_broker does (same exceptions) and starts the thread.
    BrokerProbe(std::shared_ptr<InspectionAdapter> adapter, HealthOptions options = {});
    /// @brief Joins the thread: waits for a probe in flight, which the adapter's own timeouts bound.
    ~BrokerProbe();
    BrokerProbe(const BrokerProbe&) = delete;
    BrokerProbe& operator=(const BrokerProbe&) = delete;

    /// @brief The answer of the probe in flight, or of a new one when none is, waiting at most
    /// HealthOptions::timeout. Past it: `reachable = false`, error `no answer within T s` (and, when
    /// that probe started before this call, how long it has been waiting). Never throws for a broker
    /// failure.
    BrokerHealthFacts probe();

private:
    struct State;
    std::unique_ptr<State> state_;
};

/// @brief The verdict. Unhealthy: the broker is unreachable, or a runtime has no worker thread alive.
/// Warning: dead letters waiting or growing since @p previous, fewer threads alive than started, a
/// breaker open, a retry budget exhausted, retry lateness p99 above its threshold, a channel
/// degraded. Components are present for the inputs given (no broker facts: no `broker` and no
/// `dead-letters`; no runtime: none of the runtime's).
HealthReport evaluate_health(const BrokerHealthFacts* broker, const RuntimeHealthFacts* runtime = nullptr,
                             const HealthReport* previous = nullptr,
                             std::chrono::system_clock::time_point now = std::chrono::system_clock::now());

/// @brief probe_broker, then evaluate_health (one-shot, as probe_broker).
HealthReport check_health(std::shared_ptr<InspectionAdapter> adapter, const HealthOptions& options = {},
                          const RuntimeHealthFacts* runtime = nullptr, const HealthReport* previous = nullptr);

}  // namespace failpipe
