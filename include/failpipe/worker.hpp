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
#include <optional>
#include <stop_token>
#include <string>
#include <unordered_map>
#include <vector>

#include "failpipe/adapter.hpp"
#include "failpipe/classifier.hpp"
#include "failpipe/consume_middleware.hpp"
#include "failpipe/dead_letters.hpp"
#include "failpipe/delivery_event.hpp"
#include "failpipe/expiry.hpp"
#include "failpipe/failure_middleware_dispatcher.hpp"
#include "failpipe/handler_context.hpp"
#include "failpipe/outcome.hpp"
#include "failpipe/worker_metrics.hpp"

namespace failpipe {

/// @brief A message handler: returns to succeed, throws to fail.
using Handler = std::function<void(const Message&, HandlerContext&)>;

namespace detail {
// What a Worker keeps about a delivery for its DeliveryEvent, only when someone observes. Outside
// the class: clang 14 cannot default-construct a nested struct with member initializers in an
// optional member of the enclosing class.
struct WorkerEventFacts {
    bool first_attempt = true;
    std::optional<ErrorClass> error_class;
    std::string error_type;
    std::string error_message;
    std::optional<FailureAction> action;
    std::string decided_by;
    std::string reason;
    Seconds delay{0.0};
    bool budget_exhausted = false;
    std::chrono::nanoseconds handler_time{0};
    std::optional<Seconds> lateness;
};
}  // namespace detail

/// @brief Worker settings (JSON config: `worker`).
struct WorkerOptions {
    /// Channels to consume. Each reserve starts at the next channel in turn (round-robin) and takes
    /// from the following ones while its batch has room, so a busy channel never starves the others.
    std::vector<std::string> channels;
    std::size_t batch_size = 64;                        ///< Deliveries reserved per round trip.
    std::chrono::milliseconds wait{100};                ///< How long one reserve waits for a message.
    std::uint32_t max_deliveries = 10;                  ///< A message reserved more often (it crashes its worker) is poison; 0 = no limit.
    Seconds visibility_timeout{30.0};                   ///< The adapter's: a batch stops starting handlers past 80% of it.
    /// Settle a reserved batch in one call (BrokerAdapter::settle_batch) after its handlers ran,
    /// instead of one call per delivery. Each delivery is still settled atomically on its own; a
    /// handler's follow-ups are published when its batch is settled; a crash mid-batch hands the
    /// batch's deliveries back (at least once). On Redis this is several times faster.
    bool settle_per_batch = true;
    std::chrono::milliseconds settle_retry_for{10000};  ///< How long a settle is retried while the broker is unreachable.
    std::chrono::milliseconds max_backoff{5000};        ///< Cap of run()'s backoff after broker errors.
    /// What becomes of a message reserved after its time to live (see expiry.hpp); its handler never
    /// runs either way. JSON config: `onExpired` (`"dead-letter"` | `"drop"`).
    ExpiredBehavior on_expired = ExpiredBehavior::dead_letter;
    /// Caps on the dead-letter channels this worker writes to (config `deadLetters.maxCount`,
    /// `deadLetters.maxAge`); see DeadLetters::enforce_retention. Unset = keep every dead letter.
    RetentionPolicy dead_letter_retention{};
    /// At most one retention pass per dead-letter channel this often while dead letters keep
    /// coming; a channel that got dead letters since its last pass gets one more when the worker
    /// finds nothing to reserve (so a burst ends within the caps).
    std::chrono::milliseconds retention_interval{1000};
};


/// @brief Consumes channels: decode → consume middlewares → handler → settle; on failure the
/// dispatcher decides and the worker settles the delivery with the pipeline's pushes.
class Worker {
public:
    /// @param adapter    the broker (required): the broker core is enough. With dead-letter retention
    ///                   (WorkerOptions::dead_letter_retention) it must also be an InspectionAdapter
    ///                   offering `depth`, `browse` and `evict` (UnsupportedCapabilityError otherwise).
    ///                   An adapter without `atomic-settle` is accepted with a warning (logger "failpipe").
    /// @param dispatcher the failure pipelines.
    /// @param classifier how exceptions are classified.
    /// @param options    channels and batching.
    Worker(std::shared_ptr<BrokerAdapter> adapter, FailureMiddlewareDispatcher dispatcher, Classifier classifier,
           WorkerOptions options);

    /// @brief Registers @p handler for messages whose handler name is @p name (replacing any earlier one).
    Worker& on(std::string name, Handler handler);
    /// @brief Appends a consume middleware (the first added runs outermost).
    Worker& use(ConsumeMiddlewarePtr middleware);
    /// @brief Shares @p metrics (e.g. between the workers of one process).
    Worker& share_metrics(std::shared_ptr<WorkerMetrics> metrics);
    /// @brief Adds an observer that receives one DeliveryEvent per delivery (metrics, event shipping),
    /// after it is settled or given up on (settle_failed, left_with_broker). Add observers before
    /// running the worker; see docs/events.md.
    Worker& observe(std::shared_ptr<DeliveryObserver> observer);

    /// @brief Handles and settles one delivery.
    ///
    /// Throws MessageFailureError under `rethrow` (the delivery stays with the broker, which gives it
    /// back after its visibility timeout), and ConnectionError when the broker stayed unreachable for
    /// settle_retry_for (the same then happens). A settle the adapter refuses for what it holds (any
    /// error but StaleDeliveryError and ConnectionError) moves the message to the dead letters with
    /// reason `settle-error`, in a settle of its own. Never throws because of what a handler or a
    /// middleware threw.
    Outcome process(Delivery delivery);

    /// @brief Reserves once (waiting up to the configured wait) and processes what came. Returns how
    /// many deliveries were processed. Stops starting handlers once 80% of the visibility timeout has
    /// passed since the reserve, and releases the rest of the batch, so that no handler starts on a
    /// delivery that the broker is about to give to another worker.
    std::size_t run_once();

    /// @brief Like run_once(), on @p channels only (a subset chosen per round, e.g. by a pool that
    /// limits a channel's concurrency). Once @p stop is requested no further handler starts: the
    /// handled part of the batch is settled and the rest is released at once (not counted as an attempt).
    std::size_t run_once(const std::vector<std::string>& channels, std::stop_token stop);

    /// @brief Runs until nothing is due: returns when a reserve comes back empty. Bounded by
    /// @p max_deliveries processed (0 = no bound). Returns how many were processed.
    std::size_t run_until_idle(std::size_t max_deliveries = 0);

    /// @brief Runs until @p stop is requested. Adapter errors (a broker going away) and any other
    /// unexpected error are logged and retried with a capped exponential backoff; nothing is lost
    /// meanwhile. Under the `rethrow` final behaviour it ends with the MessageFailureError (Yii's
    /// consumer does the same).
    void run(std::stop_token stop);

    const WorkerMetrics& metrics() const noexcept { return *metrics_; }
    std::shared_ptr<WorkerMetrics> metrics_ptr() const noexcept { return metrics_; }
    const WorkerOptions& options() const noexcept { return options_; }
    const FailureMiddlewareDispatcher& dispatcher() const noexcept { return dispatcher_; }

private:
    // What a DeliveryEvent says beyond the delivery and its outcome; gathered only when someone observes.
    using EventFacts = detail::WorkerEventFacts;
    // A delivery whose handler (and pipeline) has run, waiting to be settled.
    struct Pending {
        Delivery delivery;
        Settlement settlement;
        Outcome outcome = Outcome::succeeded;
        bool poison = false;
        bool expired = false;
        std::string note;         // logged once settled (failure decisions)
        std::string target;       // where it goes: the retry or dead-letter channel (or its own, released)
        std::string correlation;  // filled when a log line or an event needs it, before the message moves on
        std::optional<HandlerContext::Release> release;
        std::optional<EventFacts> facts;  // only when the worker has observers
    };
    // Retention of one dead-letter channel: when it was last enforced, and whether dead letters
    // arrived since.
    struct RetentionState {
        std::chrono::steady_clock::time_point last{};
        bool pending = false;
    };
    Pending prepare(Delivery delivery);
    void note_arrival(EventFacts& facts, const Message& message) const;
    void prepare_release(Pending& pending, HandlerContext::Release release, const std::optional<Failure>& failure);
    void prepare_failure(Pending& pending, Failure failure);
    static void note_failure(Pending& pending, const Failure& failure);
    static void note_decision(Pending& pending, std::optional<FailureAction> action, std::string_view by,
                              std::string_view reason, Seconds delay);
    void prepare_dead_letter(Pending& pending, Message message, const Failure& failure, std::string_view reason);
    void prepare_expired(Pending& pending, TimePoint expired_at);
    void settle_all(std::vector<Pending>& pending);
    void settle_together(const std::vector<Pending*>& batch);
    Outcome settle_one(Pending& pending);
    Outcome settle_release(Pending& pending);
    Outcome settle_refused(Pending& pending, const std::exception_ptr& error);
    Outcome dead_letter_refused(Pending& pending, const std::exception_ptr& error);
    static std::optional<Message> message_to_keep(Pending& pending);
    template <class Attempt>
    void retry_while_unreachable(std::size_t deliveries, Attempt&& attempt);
    Outcome finish(Pending& pending);
    Outcome report(Pending& pending, Outcome outcome);
    static const std::string& correlation(Pending& pending);
    static std::string about(Pending& pending);
    void dead_lettered_to(const std::string& channel);
    void enforce_pending_retention() noexcept;
    void enforce_retention(const std::string& channel) noexcept;
    std::size_t process_batch(std::vector<Delivery>& deliveries, const std::stop_token& stop = {});
    void release_rest(std::vector<Delivery>& deliveries, std::size_t from) noexcept;
    std::vector<std::string> in_turn(const std::vector<std::string>& channels);
    void pace(std::size_t reserved, std::uint64_t progress_before, const std::stop_token& stop);

    std::shared_ptr<BrokerAdapter> adapter_;
    std::shared_ptr<InspectionAdapter> inspection_;  // for dead-letter retention only (null without it)
    FailureMiddlewareDispatcher dispatcher_;
    Classifier classifier_;
    WorkerOptions options_;
    std::unordered_map<std::string, Handler> handlers_;
    std::vector<ConsumeMiddlewarePtr> consume_;
    std::vector<std::shared_ptr<DeliveryObserver>> observers_;
    std::shared_ptr<WorkerMetrics> metrics_;
    std::stop_token stop_;  // run()'s, so waits inside a settle end at shutdown
    std::unordered_map<std::string, RetentionState> retention_;
    std::uint64_t observer_errors_ = 0;  // exceptions observers threw (logged sparingly)
    std::size_t next_first_ = 0;         // the channel the next reserve starts at (round-robin)
    std::uint64_t progress_ = 0;         // deliveries settled other than by a quick release
    std::chrono::milliseconds pause_{0};  // the pause after the last round that made no progress
};

}  // namespace failpipe
