/// @file worker.hpp
/// @brief Worker: reserves deliveries, runs their handlers, and settles each one atomically.
///
/// Thread safety: configure a worker (on, use) before running it; one worker runs on one thread.
/// For concurrency run several workers (they may share the adapter, the dispatcher and the metrics).
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <stop_token>
#include <string>
#include <unordered_map>
#include <vector>

#include "failpipe/adapter.hpp"
#include "failpipe/classifier.hpp"
#include "failpipe/consume_middleware.hpp"
#include "failpipe/failure_middleware_dispatcher.hpp"
#include "failpipe/handler_context.hpp"
#include "failpipe/worker_metrics.hpp"

namespace failpipe {

/// @brief A message handler: returns to succeed, throws to fail.
using Handler = std::function<void(const Message&, HandlerContext&)>;

/// @brief Worker settings (JSON config: `worker`).
struct WorkerOptions {
    std::vector<std::string> channels;                  ///< Channels to consume, earlier ones first.
    std::size_t batch_size = 64;                        ///< Deliveries reserved per round trip.
    std::chrono::milliseconds wait{100};                ///< How long one reserve waits for a message.
    std::uint32_t max_deliveries = 10;                  ///< A message reserved more often (it crashes its worker) is poison; 0 = no limit.
    std::chrono::milliseconds settle_retry_for{10000};  ///< How long a settle is retried while the broker is unreachable.
    std::chrono::milliseconds max_backoff{5000};        ///< Cap of run()'s backoff after broker errors.
};

/// @brief What became of one delivery (returned by Worker::process, for tests and tools).
enum class Outcome { succeeded, retried, dead_lettered, dropped, rethrown, settle_failed };

/// @brief Consumes channels: decode → consume middlewares → handler → settle; on failure the
/// dispatcher decides and the worker settles the delivery with the pipeline's pushes.
class Worker {
public:
    /// @param adapter    the broker (required).
    /// @param dispatcher the failure pipelines.
    /// @param classifier how exceptions are classified.
    /// @param options    channels and batching.
    Worker(std::shared_ptr<AdapterInterface> adapter, FailureMiddlewareDispatcher dispatcher, Classifier classifier,
           WorkerOptions options);

    /// @brief Registers @p handler for messages whose handler name is @p name (replacing any earlier one).
    Worker& on(std::string name, Handler handler);
    /// @brief Appends a consume middleware (the first added runs outermost).
    Worker& use(ConsumeMiddlewarePtr middleware);
    /// @brief Shares @p metrics (e.g. between the workers of one process).
    Worker& share_metrics(std::shared_ptr<WorkerMetrics> metrics);

    /// @brief Handles and settles one delivery. Throws MessageFailureError under `rethrow`.
    Outcome process(Delivery delivery);

    /// @brief Reserves once (waiting up to the configured wait) and processes what came.
    /// Returns how many deliveries were processed.
    std::size_t run_once();

    /// @brief Runs until nothing is due: returns when a reserve comes back empty. Bounded by
    /// @p max_deliveries processed (0 = no bound). Returns how many were processed.
    std::size_t run_until_idle(std::size_t max_deliveries = 0);

    /// @brief Runs until @p stop is requested. Adapter errors (a broker going away) are logged and
    /// retried with a capped exponential backoff; nothing is lost meanwhile.
    void run(std::stop_token stop);

    const WorkerMetrics& metrics() const noexcept { return *metrics_; }
    std::shared_ptr<WorkerMetrics> metrics_ptr() const noexcept { return metrics_; }
    const WorkerOptions& options() const noexcept { return options_; }
    const FailureMiddlewareDispatcher& dispatcher() const noexcept { return dispatcher_; }

private:
    Outcome settle(const Delivery& delivery, Settlement&& settlement);
    Outcome handle_failure(Delivery& delivery, Failure failure);
    Outcome dead_letter_poison(Delivery& delivery, std::string_view reason, std::string what);
    void release_rest(std::vector<Delivery>& deliveries, std::size_t from) noexcept;

    std::shared_ptr<AdapterInterface> adapter_;
    FailureMiddlewareDispatcher dispatcher_;
    Classifier classifier_;
    WorkerOptions options_;
    std::unordered_map<std::string, Handler> handlers_;
    std::vector<ConsumeMiddlewarePtr> consume_;
    std::shared_ptr<WorkerMetrics> metrics_;
};

}  // namespace failpipe
