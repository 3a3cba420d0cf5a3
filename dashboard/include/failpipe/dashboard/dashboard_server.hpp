/// @file dashboard_server.hpp
/// @brief DashboardServer: the web dashboard (JSON API under /api/ and an embedded page) over any
/// adapter. See docs/dashboard.md.
///
/// Target failpipe::dashboard (folder dashboard/). Every number and action is a library call
/// (DeadLetters, channel_stats, check_health, explain); this server only parses, checks and serves.
///
/// @code
///   failpipe::dashboard::DashboardOptions options;        // 127.0.0.1:8080, token random
///   failpipe::dashboard::DashboardServer server(adapter, options);
///   std::uint16_t port = server.start();                  // serves until stop() or destruction
///   std::cout << server.url() << " token " << server.token() << '\n';
/// @endcode
///
/// Thread safety: start() and stop() from one thread; the adapter is called from the server's
/// threads, its sampler thread and its job threads at once (as a worker pool would).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "failpipe/adapter.hpp"
#include "failpipe/channel_suffixes.hpp"
#include "failpipe/circuit_breaker.hpp"
#include "failpipe/clock.hpp"
#include "failpipe/error.hpp"
#include "failpipe/failure_middleware_dispatcher.hpp"
#include "failpipe/health.hpp"
#include "failpipe/listen_address.hpp"
#include "failpipe/metrics.hpp"
#include "failpipe/retry_budget.hpp"
#include "failpipe/expiry.hpp"

namespace failpipe {
struct Config;
class WorkerPool;
}  // namespace failpipe

namespace failpipe::dashboard {

/// @brief The dashboard could not start (the port is in use, a bad token file, ...).
class DashboardError : public Error {
public:
    using Error::Error;
};

/// @brief What a DashboardServer serves and how.
struct DashboardOptions {
    ListenAddress listen{"127.0.0.1", 8080};  ///< Port 0 = any free port (tests).
    /// Required for an address other machines can reach (the server then logs a warning).
    bool allow_non_loopback = false;
    /// Besides the listen address itself and the loopback names (`127.0.0.1`, `localhost`, `[::1]`)
    /// with the port, the `Host` values a request may carry (DNS-rebinding guard): `dash.example.com`
    /// (meaning that name with the listen port) or `dash.example.com:443` (behind a proxy). Any other
    /// Host is refused with 403. Needed when listening on a wildcard address (`0.0.0.0`), which no
    /// browser sends as Host.
    std::vector<std::string> allowed_hosts;
    /// Refuse every mutating request (403) and hide the actions in the page.
    bool read_only = false;
    /// The token every mutating request must carry in the `X-Failpipe-Token` header. Empty: a random
    /// one (32 bytes from /dev/urandom, hex), see DashboardServer::token(). 16 to 512 printable
    /// ASCII characters, no spaces.
    std::string token;
    std::string dead_letter_suffix = ":dlq";
    std::string parked_suffix{kParkedSuffix};
    /// The pipelines `explain` draws (a config's `dispatcher`); null: the default (every failure
    /// dead-lettered at once).
    std::shared_ptr<const FailureMiddlewareDispatcher::Options> pipelines;
    /// The channels a replay without `to` trusts as a dead letter's origin, besides the dead letters'
    /// own channel and the channels the broker lists (DeadLetters::Options::known_channels); any
    /// other origin is refused. From a config: configured_channels(config) — its pipelines,
    /// `worker.channels` and retry targets — as `failpipe dashboard --config`, serve_dashboard() and
    /// `failpipe dlq replay --config` all take it, so they trust the same origins.
    /// Empty with `pipelines` set (a program that gives only the pipelines): the channels and retry
    /// targets of those pipelines, configured_channels(*pipelines) — the same rule without the
    /// config's `worker.channels`, which the pipelines do not hold. Given, it is the whole list:
    /// the pipelines add nothing to it. Empty without pipelines: no channel besides the two above.
    std::vector<std::string> known_channels;
    ExpiredBehavior on_expired = ExpiredBehavior::dead_letter;
    /// Breakers whose state the overview shows (a runtime's; a separate process has none to show).
    std::vector<std::shared_ptr<CircuitBreakerMiddleware>> breakers;
    /// The retry budget whose use the overview shows (a runtime's), or null.
    std::shared_ptr<RetryBudget> retry_budget;
    /// A runtime's delivery counters (the Metrics its pool observes): the charts then show messages
    /// handled and failed per second as well. Null: depths only.
    std::shared_ptr<const Metrics> metrics;
    /// What a runtime knows about itself (WorkerPool::health_facts), for health; null: broker only.
    std::function<RuntimeHealthFacts()> runtime_facts;
    /// How often the sampler reads every channel's depths for the charts, and how many samples it keeps.
    Seconds sample_interval{5.0};
    std::size_t samples = 72;
    Seconds broker_timeout{2.0};               ///< The health probe's bound.
    std::size_t max_request_bytes = 512 * 1024; ///< A larger declared body is refused with 413 before it is read (room for max_ids ids).
    std::size_t max_ids = 10'000;              ///< Ids one replay or purge may name.
    std::size_t max_jobs = 4;                  ///< Replays and purges running at once (429 beyond).
    std::size_t threads = 8;                   ///< Threads serving requests.
    std::size_t max_scans = 2;                 ///< Lists, counts, groups and replays/purges scanning at once (429 beyond).
    /// How long one request may scan a dead-letter channel (a list, count, groups, message, or the
    /// dry run of a replay or purge): past it the request answers 504 (`kind: timeout`) and frees its
    /// scan slot. Replay and purge jobs have no deadline. Above 0.
    Seconds scan_timeout{30.0};
};

/// @brief The dashboard's HTTP server. RAII: the destructor stops it and every job (a replay or
/// purge stopped half-way has moved each message atomically: nothing lost or duplicated).
class DashboardServer {
public:
    /// @brief Checks @p options (InvalidArgumentError for a non-loopback address without
    /// allow_non_loopback, a short token, ...); serves nothing until start().
    DashboardServer(std::shared_ptr<AdapterInterface> adapter, DashboardOptions options);
    ~DashboardServer();
    DashboardServer(const DashboardServer&) = delete;
    DashboardServer& operator=(const DashboardServer&) = delete;

    /// @brief Binds, starts serving and sampling; returns the port bound (again the same when
    /// started already). Throws DashboardError when it cannot bind (the message names the address
    /// and the cause), or after stop() (a server starts once).
    std::uint16_t start();
    /// @brief Stops serving and joins every thread. Scans in progress answer 503 and running jobs
    /// end `cancelled` at their next message (or when the adapter call in flight returns, bounded by
    /// the adapter's own timeouts), so stop() does not wait for a scan or a job to finish.
    void stop();

    /// @brief The address served, with the port actually bound.
    ListenAddress address() const;
    /// @brief `http://127.0.0.1:8080/`.
    std::string url() const;
    /// @brief The token mutating requests must carry.
    const std::string& token() const noexcept;

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

/// @brief 32 random bytes from /dev/urandom as 64 hex digits. Throws DashboardError when it cannot read them.
std::string random_token();

/// @brief The token in @p path (its first line, surrounding spaces removed). Throws DashboardError,
/// naming the file, when it cannot be read, is not a regular file, is open to other users (any
/// group or other permission bit: the message says `chmod 600`), is larger than 4 KiB, or its first
/// line is not 16 to 512 printable ASCII characters without spaces.
std::string read_token_file(const std::string& path);

/// @brief Throws InvalidArgumentError unless each of @p hosts is a Host name DashboardOptions::allowed_hosts
/// accepts (a name or name:port; no spaces, commas, slashes, userinfo or wildcards).
void check_allowed_hosts(const std::vector<std::string>& hosts);

/// @brief The dashboard of a worker runtime, from config `dashboard` (started; null when
/// `dashboard.listen` is absent): @p pool's health facts, breakers and retry budget, the config's
/// pipelines for explain, and @p metrics (when given: the Metrics @p pool observes) for the rates.
/// Logs the URL, and the token unless `dashboard.tokenFile` gives it.
/// @p pool and @p adapter must outlive the returned server.
std::unique_ptr<DashboardServer> serve_dashboard(WorkerPool& pool, std::shared_ptr<AdapterInterface> adapter,
                                                 const Config& config, std::shared_ptr<const Metrics> metrics = nullptr);

}  // namespace failpipe::dashboard
