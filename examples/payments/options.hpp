// The payments run's command line.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace payments {

struct Options {
    std::size_t messages = 10000;  ///< payments produced
    std::size_t threads = 0;       ///< worker threads (0: the config's worker.threads)
    double fail_rate = 0.10;       ///< share of gateway calls that time out (transient)
    double invalid_rate = 0.01;    ///< share of payments with an invalid card (permanent)
    double poison_rate = 0.001;    ///< share of payments whose bytes arrive malformed (poison)
    double crash_rate = 0.001;     ///< share of payments that crash the worker thread holding them
    std::uint64_t seed = 1;
    /// Every simulated duration (retry delays, outage, breaker, visibility timeout, gateway latency)
    /// is multiplied by this: 1 = real time.
    double time_scale = 0.02;
    double outage_at = 20.0;       ///< simulated seconds after the start when the gateway goes down (times time_scale)
    double outage_for = 100.0;     ///< simulated seconds it stays down, times time_scale (0 = no outage)
    std::string config;            ///< the pipeline config (config/payments.json)
    bool redis = false;            ///< --redis given
    std::string redis_url;         ///< empty with --redis: start a private redis-server
    std::string prefix;            ///< Redis key prefix (default: a new one per run)
    bool json = false;             ///< the report as one JSON object on stdout
    bool quiet = false;            ///< no live progress line
    std::size_t timeout = 0;       ///< give up after this many wall seconds (0 = derived from the run)
    std::string listen;            ///< serve /metrics and /health here while it runs (empty: config http.listen)
    std::string dashboard;         ///< serve the web dashboard here while it runs (empty: config dashboard.listen)
};

/// Parses argv. Prints the usage and exits 0 for --help; prints the problem and exits 2 for a bad
/// command line.
Options parse_options(int argc, char** argv);

}  // namespace payments
