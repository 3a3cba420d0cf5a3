// The live line on a terminal, and the wait for the end of the run.
#pragma once

#include <failpipe/adapter.hpp>
#include <failpipe/circuit_breaker.hpp>
#include <failpipe/shutdown_signals.hpp>
#include <failpipe/worker_pool.hpp>

#include <chrono>
#include <string>
#include <vector>

#include "simulation.hpp"

namespace payments {

/// What the live line reads.
struct Live {
    std::size_t produced;
    const std::vector<std::string>& levels;
    failpipe::AdapterInterface& broker;
    const failpipe::WorkerPool& pool;
    const Gateway& gateway;
    const failpipe::CircuitBreaker& breaker;
};

enum class Ending { finished, timed_out, interrupted };

/// Waits until every level is empty (nothing ready, delayed or held by a worker), @p timeout has
/// passed since @p start, or a SIGINT/SIGTERM came; with @p draw, redraws the live line every 100 ms.
Ending watch(const Live& live, bool draw, std::chrono::steady_clock::time_point start, std::chrono::seconds timeout,
             const failpipe::ShutdownSignals& signals);

}  // namespace payments
