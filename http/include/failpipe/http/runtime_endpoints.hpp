/// @file runtime_endpoints.hpp
/// @brief serve_runtime(): a WorkerPool's /metrics and /health on one EndpointServer.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "failpipe/adapter.hpp"
#include "failpipe/health.hpp"
#include "failpipe/http/endpoint_server.hpp"
#include "failpipe/metrics.hpp"
#include "failpipe/worker_pool.hpp"

namespace failpipe::http {

/// @brief What serve_runtime() exposes.
struct RuntimeEndpointsOptions {
    ListenAddress listen{};           ///< Config `http.listen` (127.0.0.1:9464 by default; port 0 = any free port).
    bool allow_non_loopback = false;  ///< Config `http.allowNonLoopback`.
    /// Channels whose depths /metrics shows and whose dead letters /health counts (empty: every
    /// channel the broker lists).
    std::vector<std::string> channels;
    std::string dead_letter_suffix = ":dlq";
    Seconds health_timeout{2.0};  ///< How long /health waits for the broker before calling it unreachable.
};

/// @brief Serves, from construction to destruction:
/// - `GET /metrics`: @p metrics (observing @p pool's deliveries: the caller calls pool.observe(metrics)),
///   the pool's gauges (threads, concurrency levels, breakers, retry budget) and the broker's depths;
/// - `GET /health`: evaluate_health() over the broker and the pool's facts, 200 for healthy and
///   warning, 503 for unhealthy; dead letters "growing" compares with the previous request's report.
///   The broker is asked through one BrokerProbe: however often /health is requested, at most one
///   probe is in flight; requests during it share its answer, or get 503 after health_timeout.
///
/// @p pool, @p metrics and @p adapter must outlive the returned server. Adds two collectors to
/// @p metrics that write only while the returned server lives (one server per Metrics at a time;
/// a new one after the old is destroyed is fine). Destroying the server waits for a probe in flight
/// (bounded by the adapter's own timeouts). Throws EndpointServerError when the address cannot be
/// bound, UnsupportedCapabilityError when the adapter cannot report depths (or list channels, with
/// no channels named), InvalidArgumentError for a health_timeout not above 0 or above 1e9 s (before
/// anything is served).
std::unique_ptr<EndpointServer> serve_runtime(WorkerPool& pool, std::shared_ptr<Metrics> metrics,
                                              std::shared_ptr<AdapterInterface> adapter,
                                              RuntimeEndpointsOptions options = {});

}  // namespace failpipe::http
