#include "failpipe/worker_pool.hpp"

#include <algorithm>
#include <cmath>
#include <cstdlib>

#include "failpipe/config.hpp"
#include "failpipe/error.hpp"
#include "failpipe/shutdown_signals.hpp"
#include "logging.hpp"

namespace failpipe {

// One thread of the pool: its worker, and the handler it is running (for the grace-period report).
struct WorkerPool::Slot {
    std::size_t index = 0;
    std::unique_ptr<Worker> worker;
    std::thread thread;
    mutable std::mutex mutex;
    std::optional<RunningHandler> current;
    std::chrono::steady_clock::time_point since{};
};

namespace {

// Sleeps up to @p duration, waking early when @p stop is requested.
void interruptible_sleep(const std::stop_token& stop, std::chrono::milliseconds duration) {
    std::mutex mutex;
    std::condition_variable_any wakeup;
    std::unique_lock lock(mutex);
    wakeup.wait_for(lock, stop, duration, [] { return false; });
}

// Permits of one round, given back whatever happens.
class Permits {
public:
    Permits(Degradation& degradation, std::vector<std::string> channels)
        : degradation_(degradation), channels_(std::move(channels)) {}
    ~Permits() { degradation_.release(channels_); }
    Permits(const Permits&) = delete;
    Permits& operator=(const Permits&) = delete;
    const std::vector<std::string>& channels() const noexcept { return channels_; }

private:
    Degradation& degradation_;
    std::vector<std::string> channels_;
};

constexpr auto kMinimumIdleWait = std::chrono::milliseconds(10);

}  // namespace

void WorkerPoolOptions::validate() const {
    if (threads < 1 || threads > kMaxThreads)
        throw InvalidArgumentError("WorkerPool: threads must be between 1 and " + std::to_string(kMaxThreads) + ", found " +
                                   std::to_string(threads));
    if (!(shutdown_grace.count() >= 0.0) || !std::isfinite(shutdown_grace.count()))
        throw InvalidArgumentError("WorkerPool: shutdown_grace must be a finite number of seconds >= 0");
    degradation.validate();
}

WorkerPool::WorkerPool(std::shared_ptr<BrokerAdapter> adapter, FailureMiddlewareDispatcher dispatcher,
                       Classifier classifier, WorkerOptions worker, WorkerPoolOptions options,
                       std::shared_ptr<const Clock> clock)
    : adapter_(std::move(adapter)),
      dispatcher_(std::move(dispatcher)),
      classifier_(std::move(classifier)),
      worker_(std::move(worker)),
      options_(std::move(options)),
      metrics_(std::make_shared<WorkerMetrics>()) {
    options_.validate();
    degradation_ = std::make_shared<Degradation>(worker_.channels, options_.threads, options_.degradation, std::move(clock));
    for (std::size_t i = 0; i < options_.threads; ++i) {
        auto slot = std::make_unique<Slot>();
        slot->index = i;
        slot->worker = std::make_unique<Worker>(adapter_, dispatcher_, classifier_, worker_);  // checks the options
        slot->worker->share_metrics(metrics_);
        slot->worker->observe(degradation_);
        slots_.push_back(std::move(slot));
    }
}

WorkerPool::WorkerPool(std::shared_ptr<BrokerAdapter> adapter, const Config& config, std::shared_ptr<const Clock> clock)
    : WorkerPool(std::move(adapter), config.make_dispatcher(), config.classifier, config.worker, config.pool,
                 std::move(clock)) {
    for (const auto& breaker : config.breakers) use(breaker);
    if (config.retry_budget) observe(config.retry_budget);
}

WorkerPool::~WorkerPool() {
    request_stop();
    join();
}

WorkerPool& WorkerPool::on(std::string name, Handler handler) {
    if (started_) throw InvalidArgumentError("WorkerPool::on: register handlers before start()");
    if (!handler) throw InvalidArgumentError("WorkerPool::on: the handler for \"" + name + "\" is empty");
    for (auto& slot : slots_) slot->worker->on(name, wrap(*slot, handler));
    return *this;
}

WorkerPool& WorkerPool::use(ConsumeMiddlewarePtr middleware) {
    if (started_) throw InvalidArgumentError("WorkerPool::use: add consume middlewares before start()");
    for (auto& slot : slots_) slot->worker->use(middleware);
    if (auto breaker = std::dynamic_pointer_cast<const CircuitBreakerMiddleware>(middleware)) breakers_.push_back(breaker);
    return *this;
}

WorkerPool& WorkerPool::observe(std::shared_ptr<DeliveryObserver> observer) {
    if (started_) throw InvalidArgumentError("WorkerPool::observe: add observers before start()");
    for (auto& slot : slots_) slot->worker->observe(observer);
    if (auto budget = std::dynamic_pointer_cast<RetryBudget>(observer)) budgets_.push_back(budget);
    return *this;
}

Handler WorkerPool::wrap(Slot& slot, const Handler& handler) {
    return [this, &slot, handler](const Message& message, HandlerContext& context) {
        {
            std::lock_guard lock(slot.mutex);
            slot.current = RunningHandler{slot.index, context.channel(), message.id, message.handler, Seconds{0.0}};
            slot.since = std::chrono::steady_clock::now();
        }
        running_.fetch_add(1);
        struct Done {
            WorkerPool& pool;
            Slot& slot;
            ~Done() {
                pool.running_.fetch_sub(1);
                std::lock_guard lock(slot.mutex);
                slot.current.reset();
            }
        } done{*this, slot};
        handler(message, context);
    };
}

void WorkerPool::start() {
    if (started_.exchange(true)) throw InvalidArgumentError("WorkerPool::start: already started");
    alive_ = slots_.size();
    detail::logger().info("worker pool: starting {} threads on {} channels", slots_.size(), worker_.channels.size());
    for (auto& slot : slots_) {
        Slot& s = *slot;
        s.thread = std::thread([this, &s, stop = stop_.get_token()] { loop(s, stop); });
    }
}

void WorkerPool::request_stop() noexcept { stop_.request_stop(); }

void WorkerPool::loop(Slot& slot, std::stop_token stop) noexcept {
    auto backoff = std::chrono::milliseconds(50);
    while (!stop.stop_requested()) {
        try {
            run_round(slot, stop);
            backoff = std::chrono::milliseconds(50);
            continue;
        } catch (const MessageFailureError& e) {
            // `rethrow`: the message stays with the broker and comes back; maxDeliveries ends that.
            // Nothing is wrong with the broker or the thread, so no backoff: it holds the failed
            // delivery until its visibility timeout, and the rest of its batch went back already.
            detail::logger().error("worker pool thread {}: {}", slot.index, e.what());
            backoff = std::chrono::milliseconds(50);
            continue;
        } catch (const AdapterError& e) {
            detail::logger().warn("worker pool thread {}: broker error, retrying in {} ms: {}", slot.index,
                                  backoff.count(), e.what());
        } catch (const std::exception& e) {
            detail::logger().error("worker pool thread {}: unexpected error, retrying in {} ms: {}", slot.index,
                                   backoff.count(), e.what());
        } catch (...) {
            detail::logger().error("worker pool thread {}: unexpected non-standard exception, retrying in {} ms",
                                   slot.index, backoff.count());
        }
        interruptible_sleep(stop, backoff);
        backoff = std::min(backoff * 2, worker_.max_backoff);
    }
    {
        std::lock_guard lock(ended_mutex_);
        alive_.fetch_sub(1);
    }
    ended_.notify_all();
}

void WorkerPool::run_round(Slot& slot, const std::stop_token& stop) {
    degradation_->tick();
    Permits permits(*degradation_, degradation_->acquire(worker_.channels, std::max(worker_.wait, kMinimumIdleWait), stop));
    if (permits.channels().empty() || stop.stop_requested()) return;
    const std::size_t processed = slot.worker->run_once(permits.channels(), stop);
    // A reserve that does not wait would spin on an empty channel.
    if (processed == 0 && worker_.wait < kMinimumIdleWait) interruptible_sleep(stop, kMinimumIdleWait);
}

bool WorkerPool::join_for(Seconds grace) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration_cast<std::chrono::nanoseconds>(grace);
    {
        std::unique_lock lock(ended_mutex_);
        if (!ended_.wait_until(lock, deadline, [&] { return alive_.load() == 0; })) return false;
    }
    join();
    return true;
}

std::vector<RunningHandler> WorkerPool::running_handlers() const {
    std::vector<RunningHandler> running;
    const auto now = std::chrono::steady_clock::now();
    for (const auto& slot : slots_) {
        std::lock_guard lock(slot->mutex);
        if (!slot->current) continue;
        RunningHandler handler = *slot->current;
        handler.running_for = std::chrono::duration_cast<Seconds>(now - slot->since);
        running.push_back(std::move(handler));
    }
    return running;
}

void WorkerPool::join() {
    for (auto& slot : slots_)
        if (slot->thread.joinable()) slot->thread.join();
}

int WorkerPool::run_until_signalled(ShutdownSignals& signals) {
    if (signals.count() > 0) {
        detail::logger().warn("worker pool: a shutdown signal came during start-up; stopping before reserving anything");
        return 0;
    }
    start();
    signals.wait(1);
    detail::logger().info("worker pool: stopping; {} handlers in flight get up to {} s to finish", running_.load(),
                          options_.shutdown_grace.count());
    request_stop();
    if (join_for(options_.shutdown_grace)) {
        detail::logger().info("worker pool: stopped cleanly; handled deliveries settled, the others handed back");
        return 0;
    }
    const auto still = running_handlers();
    if (still.empty()) {
        detail::logger().error("worker pool: the grace period of {} s ended with a thread still settling (the broker "
                               "is unreachable?); exiting with code {}: what it holds comes back after the visibility "
                               "timeout",
                               options_.shutdown_grace.count(), kExitGraceExpired);
    }
    for (const auto& running : still) {
        detail::logger().error("worker pool: the grace period of {} s ended with the handler of message {} (type \"{}\") "
                               "on channel \"{}\" still running for {:.1f} s on thread {}; exiting with code {}: its "
                               "delivery comes back after the visibility timeout",
                               options_.shutdown_grace.count(), running.message_id, running.message_type,
                               running.channel, running.running_for.count(), running.thread, kExitGraceExpired);
    }
    detail::logger().flush();
    std::_Exit(kExitGraceExpired);
}

WorkerPoolStatus WorkerPool::status() const {
    WorkerPoolStatus status;
    status.threads_total = slots_.size();
    status.threads_alive = started_ ? alive_.load() : 0;
    status.stopping = stop_.stop_requested();
    status.handlers_running = running_.load();
    status.channels = degradation_->snapshot();
    return status;
}

RuntimeHealthFacts WorkerPool::health_facts() const {
    RuntimeHealthFacts facts;
    const WorkerPoolStatus now = status();
    facts.threads_alive = now.threads_alive;
    facts.threads_total = now.threads_total;
    for (const auto& channel : now.channels)
        if (channel.level < channel.maximum)
            facts.degraded_channels.push_back(DegradedChannel{channel.channel, channel.level, channel.maximum});
    for (const auto& middleware : breakers_)
        if (middleware->breaker()->state() != BreakerState::closed)
            facts.open_breakers.push_back(middleware->breaker()->name());
    for (const auto& budget : budgets_)
        for (const auto& channel : budget->snapshot())
            if (channel.exhausted) facts.budget_exhausted_channels.push_back(channel.channel);
    return facts;
}

void WorkerPool::write_gauges(PrometheusWriter& writer) const {
    const WorkerPoolStatus now = status();
    constexpr std::string_view threads_help = "Worker threads of the runtime: alive now, and started";
    writer.gauge("failpipe_worker_threads", threads_help, {{"state", "alive"}}, static_cast<double>(now.threads_alive));
    writer.gauge("failpipe_worker_threads", threads_help, {{"state", "total"}}, static_cast<double>(now.threads_total));
    writer.gauge("failpipe_handlers_in_flight", "Handlers running now", {}, static_cast<double>(now.handlers_running));
    for (const auto& channel : now.channels) {
        writer.gauge("failpipe_channel_concurrency", "Threads allowed to process the channel at once (degradation)",
                     {{"channel", channel.channel}}, static_cast<double>(channel.level));
        writer.gauge("failpipe_channel_concurrency_max", "The channel's full concurrency: the thread count",
                     {{"channel", channel.channel}}, static_cast<double>(channel.maximum));
    }
    for (const auto& middleware : breakers_) {
        const auto& breaker = *middleware->breaker();
        const CircuitBreakerSnapshot snapshot = breaker.snapshot();
        for (BreakerState state : {BreakerState::closed, BreakerState::open, BreakerState::half_open}) {
            writer.gauge("failpipe_breaker_state", "1 for the breaker's current state, 0 for the others",
                         {{"breaker", breaker.name()}, {"state", to_string(state)}}, snapshot.state == state ? 1.0 : 0.0);
        }
        writer.counter("failpipe_breaker_openings_total", "Times the breaker opened", {{"breaker", breaker.name()}},
                       static_cast<double>(snapshot.openings));
    }
    for (const auto& budget : budgets_)
        for (const auto& channel : budget->snapshot())
            writer.gauge("failpipe_retry_budget_use", "Early retries in the window / the retries the budget allows",
                         {{"channel", channel.channel}}, channel.use);
}

}  // namespace failpipe
