/// @file worker_pool.hpp
/// @brief WorkerPool: the worker runtime a service runs — N threads over one adapter, with graceful
/// shutdown and per-channel degradation.
///
/// Typical main (see docs/runtime.md):
/// @code
///   failpipe::ShutdownSignals signals;              // first: before any thread exists
///   auto config = failpipe::load_config_file("failpipe.json");
///   auto adapter = std::make_shared<failpipe::RedisAdapter>(...);
///   failpipe::WorkerPool pool(adapter, config);
///   pool.on("payment", handle_payment);
///   return pool.run_until_signalled(signals);       // 0 after a clean shutdown
/// @endcode
///
/// Every thread has its own Worker; they share the adapter, the failure pipelines (the same
/// middleware instances), the metrics, the consume middlewares (circuit breakers) and the observers
/// registered here. A thread loops on Worker::run_once over the channels it holds a permit for (see
/// degradation.hpp) and backs off after broker errors as Worker::run does; a message waiting for its
/// delay is never handed out, so it holds up nothing.
///
/// Thread safety: register (on, use, observe) before start(); status(), request_stop() and the
/// accessors may be called from any thread.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <memory>
#include <mutex>
#include <optional>
#include <stop_token>
#include <string>
#include <thread>
#include <vector>

#include "failpipe/adapter.hpp"
#include "failpipe/circuit_breaker.hpp"
#include "failpipe/classifier.hpp"
#include "failpipe/clock.hpp"
#include "failpipe/degradation.hpp"
#include "failpipe/failure_middleware_dispatcher.hpp"
#include "failpipe/health.hpp"
#include "failpipe/prometheus.hpp"
#include "failpipe/retry_budget.hpp"
#include "failpipe/worker.hpp"

namespace failpipe {

class ShutdownSignals;
struct Config;

/// @brief Pool settings (JSON config: `worker.threads`, `worker.shutdownGrace`, `degradation`).
struct WorkerPoolOptions {
    /// Worker threads (>= 1, at most kMaxThreads).
    std::size_t threads = 1;
    /// After a stop request, how long handlers in flight may take to finish before the pool gives
    /// up on them (run_until_signalled then exits with kExitGraceExpired).
    Seconds shutdown_grace{30.0};
    DegradationOptions degradation;

    static constexpr std::size_t kMaxThreads = 1024;
    /// @brief Throws InvalidArgumentError naming the first setting out of its domain.
    void validate() const;
};

/// @brief A handler that was still running when the grace period ended.
struct RunningHandler {
    std::size_t thread = 0;       ///< The pool thread's index.
    std::string channel;
    std::string message_id;
    std::string message_type;
    Seconds running_for{0.0};
};

/// @brief What the pool is doing, for health checks.
struct WorkerPoolStatus {
    std::size_t threads_total = 0;
    std::size_t threads_alive = 0;       ///< Threads whose loop is running (0 before start and after the stop).
    bool stopping = false;               ///< A stop was requested.
    std::size_t handlers_running = 0;    ///< Handlers in flight right now.
    std::vector<ChannelConcurrency> channels;  ///< Degradation levels (the thread count when disabled).
};

/// @brief The worker runtime. RAII: the destructor requests a stop and joins every thread (waiting
/// for handlers in flight however long they take; use join_for or run_until_signalled to bound that).
class WorkerPool {
public:
    /// Exit code of run_until_signalled when a handler was still running at the end of the grace period.
    static constexpr int kExitGraceExpired = 124;

    /// @param adapter    the broker (required), shared by every thread.
    /// @param dispatcher the failure pipelines (copied per thread; the middleware instances are shared).
    /// @param classifier how exceptions are classified.
    /// @param worker     channels, batching, visibility timeout: as for a Worker.
    /// @param options    threads, grace, degradation.
    /// @param clock      degradation's time (null = SystemClock; a ManualClock in tests).
    WorkerPool(std::shared_ptr<BrokerAdapter> adapter, FailureMiddlewareDispatcher dispatcher, Classifier classifier,
               WorkerOptions worker, WorkerPoolOptions options = {}, std::shared_ptr<const Clock> clock = nullptr);
    /// @brief From a loaded config: its pipelines, classifier, `worker` and the pool settings; its
    /// `breakers` are use()d (in name order, before any middleware added later) and its
    /// `retryBudget` observe()d.
    WorkerPool(std::shared_ptr<BrokerAdapter> adapter, const Config& config,
               std::shared_ptr<const Clock> clock = nullptr);
    ~WorkerPool();
    WorkerPool(const WorkerPool&) = delete;
    WorkerPool& operator=(const WorkerPool&) = delete;

    /// @brief Registers @p handler for messages whose handler name is @p name (on every thread).
    WorkerPool& on(std::string name, Handler handler);
    /// @brief Appends a consume middleware shared by every thread (must be thread-safe). A
    /// CircuitBreakerMiddleware is also reported by health_facts() and write_gauges().
    WorkerPool& use(ConsumeMiddlewarePtr middleware);
    /// @brief Adds an observer shared by every thread (must be thread-safe). A RetryBudget is also
    /// reported by health_facts() and write_gauges().
    WorkerPool& observe(std::shared_ptr<DeliveryObserver> observer);

    /// @brief Starts the threads. Throws InvalidArgumentError when called twice.
    void start();
    /// @brief Asks every thread to stop: no handler starts any more; each thread settles what it
    /// handled, hands back what it reserved and did not start, and ends.
    void request_stop() noexcept;
    /// @brief Waits up to @p grace for every thread to end (and joins them). False when some thread
    /// is still running then: running_handlers() says which handlers; the destructor joins them.
    bool join_for(Seconds grace);
    /// @brief The handlers in flight right now, with how long each has been running.
    std::vector<RunningHandler> running_handlers() const;
    /// @brief Waits without a time limit for every thread to end.
    void join();

    /// @brief For main: starts, waits for the first SIGINT/SIGTERM, stops, and returns 0 once every
    /// handler in flight finished and was settled within the grace period. When a handler is still
    /// running at its end, logs which and exits the process at once with kExitGraceExpired (its
    /// delivery comes back after the visibility timeout). A second signal exits at once (see
    /// ShutdownSignals). A signal received before this call (during start-up) returns 0 without
    /// starting anything.
    int run_until_signalled(ShutdownSignals& signals);

    WorkerPoolStatus status() const;
    /// @brief What the pool knows for evaluate_health(): threads alive and total, channels below
    /// their full concurrency, breakers not closed, channels whose retry budget is exhausted. The
    /// caller adds retry_lateness_p99 (from Metrics).
    RuntimeHealthFacts health_facts() const;
    /// @brief The runtime's gauges, for Metrics::add_collector (names in docs/runtime.md):
    /// `failpipe_worker_threads{state="alive"|"total"}`, `failpipe_handlers_in_flight`,
    /// `failpipe_channel_concurrency{channel}`, `failpipe_channel_concurrency_max{channel}`,
    /// `failpipe_breaker_state{breaker,state}` (1 for the current state), `failpipe_breaker_openings_total{breaker}`,
    /// `failpipe_retry_budget_use{channel}`.
    void write_gauges(PrometheusWriter& writer) const;
    const WorkerMetrics& metrics() const noexcept { return *metrics_; }
    std::shared_ptr<WorkerMetrics> metrics_ptr() const noexcept { return metrics_; }
    const Degradation& degradation() const noexcept { return *degradation_; }
    Degradation& degradation() noexcept { return *degradation_; }
    const WorkerPoolOptions& options() const noexcept { return options_; }
    const WorkerOptions& worker_options() const noexcept { return worker_; }

private:
    struct Slot;  // one thread: its worker and what it is handling
    void loop(Slot& slot, std::stop_token stop) noexcept;
    void run_round(Slot& slot, const std::stop_token& stop);
    Handler wrap(Slot& slot, const Handler& handler);

    std::shared_ptr<BrokerAdapter> adapter_;
    FailureMiddlewareDispatcher dispatcher_;
    Classifier classifier_;
    WorkerOptions worker_;
    WorkerPoolOptions options_;
    std::shared_ptr<WorkerMetrics> metrics_;
    std::shared_ptr<Degradation> degradation_;
    std::vector<std::pair<std::string, Handler>> handlers_;
    std::vector<std::shared_ptr<const CircuitBreakerMiddleware>> breakers_;
    std::vector<std::shared_ptr<RetryBudget>> budgets_;
    std::vector<std::unique_ptr<Slot>> slots_;
    std::stop_source stop_;
    std::atomic<bool> started_{false};
    std::atomic<std::size_t> alive_{0};
    std::atomic<std::size_t> running_{0};
    mutable std::mutex ended_mutex_;
    std::condition_variable ended_;
};

}  // namespace failpipe
