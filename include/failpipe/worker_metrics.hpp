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
    std::uint64_t dead_lettered = 0;  ///< moved to a dead-letter channel (failures, poison, max-deliveries)
    std::uint64_t dropped = 0;        ///< discarded by the `drop` final behaviour
    std::uint64_t poison = 0;         ///< undecodable or redelivered too often (also counted in dead_lettered)
    std::uint64_t rethrown = 0;       ///< left unsettled under the `rethrow` final behaviour
    std::uint64_t settle_errors = 0;  ///< settles the adapter refused or could not do (the delivery comes back)
};

/// @brief Thread-safe counters, updated by a worker as it goes.
class WorkerMetrics {
public:
    std::atomic<std::uint64_t> received{0}, succeeded{0}, failed{0}, retried{0}, dead_lettered{0}, dropped{0},
        poison{0}, rethrown{0}, settle_errors{0};

    WorkerMetricsSnapshot snapshot() const noexcept {
        auto r = [](const std::atomic<std::uint64_t>& a) { return a.load(std::memory_order_relaxed); };
        return {r(received), r(succeeded), r(failed), r(retried), r(dead_lettered), r(dropped), r(poison), r(rethrown),
                r(settle_errors)};
    }
};

}  // namespace failpipe
