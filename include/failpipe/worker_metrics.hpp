/// @file worker_metrics.hpp
/// @brief Counters a worker keeps: what it received and what became of it.
#pragma once

#include <atomic>
#include <cstdint>

namespace failpipe {

/// @brief A snapshot of WorkerMetrics.
struct WorkerMetricsSnapshot {
    std::uint64_t received = 0;       ///< deliveries taken from the adapter
    std::uint64_t succeeded = 0;      ///< handler returned; acknowledged
    std::uint64_t failed = 0;         ///< handler (or a consume middleware, or routing) threw
    std::uint64_t retried = 0;        ///< failures settled with a send-again or a delay
    std::uint64_t dead_lettered = 0;  ///< moved to a dead-letter channel (failures, poison, max-deliveries, expired, ...)
    std::uint64_t dropped = 0;        ///< discarded by the `drop` final behaviour or `onExpired: drop`
    std::uint64_t poison = 0;         ///< undecodable or redelivered too often (also counted in dead_lettered)
    std::uint64_t rethrown = 0;       ///< left unsettled under the `rethrow` final behaviour
    std::uint64_t settle_errors = 0;  ///< settles the adapter refused or could not do (the delivery comes back)
    std::uint64_t pipeline_errors = 0;  ///< failure pipelines that threw (the message is dead-lettered with reason pipeline-error)
    std::uint64_t expired = 0;  ///< reserved after their time to live; never handled (also counted in dead_lettered or dropped)
    std::uint64_t released = 0;  ///< given back without counting an attempt (HandlerContext::release)
};

/// @brief Thread-safe counters, updated by a worker as it goes. Each counter has its own cache line,
/// so workers sharing one instance do not slow each other down.
class WorkerMetrics {
public:
    using Counter = std::atomic<std::uint64_t>;
    alignas(64) Counter received{0};
    alignas(64) Counter succeeded{0};
    alignas(64) Counter failed{0};
    alignas(64) Counter retried{0};
    alignas(64) Counter dead_lettered{0};
    alignas(64) Counter dropped{0};
    alignas(64) Counter poison{0};
    alignas(64) Counter rethrown{0};
    alignas(64) Counter settle_errors{0};
    alignas(64) Counter pipeline_errors{0};
    alignas(64) Counter expired{0};
    alignas(64) Counter released{0};

    WorkerMetricsSnapshot snapshot() const noexcept {
        auto r = [](const Counter& a) { return a.load(std::memory_order_relaxed); };
        return {r(received), r(succeeded), r(failed), r(retried), r(dead_lettered), r(dropped), r(poison), r(rethrown),
                r(settle_errors), r(pipeline_errors), r(expired), r(released)};
    }
};

}  // namespace failpipe
