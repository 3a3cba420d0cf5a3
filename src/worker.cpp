#include "failpipe/worker.hpp"

#include <algorithm>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <thread>

#include "failpipe/dead_letter_middleware.hpp"
#include "failpipe/error.hpp"
#include "failpipe/metadata_keys.hpp"
#include "logging.hpp"

namespace failpipe {
namespace {

// The "next" of a consume middleware: a position in the consume pipeline, ending in the handler.
class ConsumeCursor final : public ConsumeHandlerInterface {
public:
    ConsumeCursor(const std::vector<ConsumeMiddlewarePtr>& middlewares, std::size_t position, const Handler& handler)
        : middlewares_(middlewares), position_(position), handler_(handler) {}
    void handle(const Message& message, HandlerContext& context) const override {
        if (position_ < middlewares_.size()) {
            middlewares_[position_]->handle(message, context, ConsumeCursor(middlewares_, position_ + 1, handler_));
        } else {
            handler_(message, context);
        }
    }

private:
    const std::vector<ConsumeMiddlewarePtr>& middlewares_;
    std::size_t position_;
    const Handler& handler_;
};

void bump(std::atomic<std::uint64_t>& counter) { counter.fetch_add(1, std::memory_order_relaxed); }

// Sleeps up to @p duration, waking early when @p stop is requested.
void interruptible_sleep(std::stop_token stop, std::chrono::milliseconds duration) {
    std::mutex mutex;
    std::condition_variable_any wakeup;
    std::unique_lock lock(mutex);
    wakeup.wait_for(lock, stop, duration, [] { return false; });
}

}  // namespace

Worker::Worker(std::shared_ptr<AdapterInterface> adapter, FailureMiddlewareDispatcher dispatcher, Classifier classifier,
               WorkerOptions options)
    : adapter_(std::move(adapter)),
      dispatcher_(std::move(dispatcher)),
      classifier_(std::move(classifier)),
      options_(std::move(options)),
      metrics_(std::make_shared<WorkerMetrics>()) {
    if (!adapter_) throw InvalidArgumentError("Worker: the adapter must not be null");
    if (options_.channels.empty()) throw InvalidArgumentError("Worker: name at least one channel to consume");
    for (const auto& channel : options_.channels) {
        if (channel.empty()) throw InvalidArgumentError("Worker: channel names must not be empty");
    }
    if (options_.batch_size == 0) throw InvalidArgumentError("Worker: batch_size must be at least 1");
}

Worker& Worker::on(std::string name, Handler handler) {
    if (!handler) throw InvalidArgumentError("Worker::on: the handler for \"" + name + "\" is empty");
    handlers_[std::move(name)] = std::move(handler);
    return *this;
}

Worker& Worker::use(ConsumeMiddlewarePtr middleware) {
    if (!middleware) throw InvalidArgumentError("Worker::use: the consume middleware is null");
    consume_.push_back(std::move(middleware));
    return *this;
}

Worker& Worker::share_metrics(std::shared_ptr<WorkerMetrics> metrics) {
    if (!metrics) throw InvalidArgumentError("Worker::share_metrics: metrics must not be null");
    metrics_ = std::move(metrics);
    return *this;
}

Outcome Worker::process(Delivery delivery) {
    bump(metrics_->received);
    if (delivery.poisoned()) return dead_letter_poison(delivery, "poison", "undecodable message: " + delivery.decode_error);
    if (options_.max_deliveries != 0 && delivery.deliveries > options_.max_deliveries) {
        return dead_letter_poison(delivery, "max-deliveries",
                                  "delivered " + std::to_string(delivery.deliveries) + " times (maxDeliveries " +
                                      std::to_string(options_.max_deliveries) + "): it never got settled");
    }

    HandlerContext context(delivery.channel, delivery.deliveries);
    std::optional<Failure> failure;
    // The failure is handled outside the catch blocks: the pipeline may throw (rethrow) itself.
    try {
        auto handler = handlers_.find(delivery.message.handler);
        if (handler == handlers_.end()) {
            throw NoHandlerError("no handler is registered for message type \"" + delivery.message.handler + "\"");
        }
        if (consume_.empty()) {
            handler->second(delivery.message, context);
        } else {
            ConsumeCursor(consume_, 0, handler->second).handle(delivery.message, context);
        }
    } catch (const std::exception& e) {
        failure = classifier_.classify(e);
    } catch (...) {
        failure = classifier_.classify_non_standard();
    }
    if (failure) return handle_failure(delivery, std::move(*failure));

    Outcome outcome = settle(delivery, Settlement{context.take_staged()});
    if (outcome == Outcome::succeeded) bump(metrics_->succeeded);
    return outcome;
}

Outcome Worker::handle_failure(Delivery& delivery, Failure failure) {
    bump(metrics_->failed);
    std::string message_id = delivery.message.id;
    std::optional<FailureHandlingRequest> result;
    try {
        result.emplace(dispatcher_.dispatch(FailureHandlingRequest(std::move(delivery.message), delivery.channel), failure));
    } catch (const std::exception& e) {
        // A middleware threw. The broker still holds the delivery: leaving it unsettled hands it back
        // after the visibility timeout, and max_deliveries dead-letters it if this keeps happening.
        detail::logger().error("failure pipeline of channel \"{}\" threw on message {}: {}; the delivery is left "
                               "unsettled and comes back after the visibility timeout",
                               delivery.channel, message_id, e.what());
        bump(metrics_->settle_errors);
        return Outcome::settle_failed;
    }
    const Decision& decision = *result->decision();
    Outcome outcome = Outcome::retried;
    switch (decision.action) {
        case FailureAction::rethrow:
            bump(metrics_->rethrown);
            detail::logger().error("message {} failed on channel \"{}\" and no middleware handled it: {}", message_id,
                                   delivery.channel, failure.what);
            throw MessageFailureError(message_id, delivery.channel, failure.exception, failure.what);
        case FailureAction::send_again:
        case FailureAction::delay: outcome = Outcome::retried; break;
        case FailureAction::dead_letter: outcome = Outcome::dead_lettered; break;
        case FailureAction::drop: outcome = Outcome::dropped; break;
    }
    if (outcome == Outcome::dead_lettered) {
        detail::logger().warn("message {} dead-lettered from \"{}\" to \"{}\" by {}: {} ({})", message_id,
                              delivery.channel, decision.to, decision.middleware, failure.what, failure.type);
    } else if (outcome == Outcome::dropped) {
        detail::logger().warn("message {} dropped on \"{}\": {}", message_id, delivery.channel, failure.what);
    } else {
        detail::logger().debug("message {} failed on \"{}\" ({}); {} by {} to \"{}\" after {} s", message_id,
                               delivery.channel, failure.what, to_string(decision.action), decision.middleware,
                               decision.to, decision.delay.count());
    }
    Outcome settled = settle(delivery, Settlement{result->take_pushes()});
    if (settled != Outcome::settle_failed) {
        if (outcome == Outcome::retried) bump(metrics_->retried);
        if (outcome == Outcome::dead_lettered) bump(metrics_->dead_lettered);
        if (outcome == Outcome::dropped) bump(metrics_->dropped);
        return outcome;
    }
    return settled;
}

Outcome Worker::dead_letter_poison(Delivery& delivery, std::string_view reason, std::string what) {
    const std::string message_id = delivery.message.id;
    Message message;
    if (delivery.poisoned()) {
        // Keep the bytes as they were, so an operator can see (and mend) what came in.
        message.id = delivery.message.id;
        message.data = delivery.raw;
    } else {
        message = std::move(delivery.message);
    }
    Failure failure{nullptr, delivery.poisoned() ? "failpipe::DecodeError" : "failpipe::MaxDeliveriesExceeded",
                    std::move(what), ErrorClass::permanent};
    std::string target = dispatcher_.dead_letter_channel(delivery.channel);
    TimePoint now = dispatcher_.options().clock ? dispatcher_.options().clock->now() : std::chrono::system_clock::now();
    FailureHandlingRequest request = DeadLetterMiddleware::dead_letter(
        FailureHandlingRequest(std::move(message), delivery.channel), failure, "worker", target, reason, now);
    auto pushes = request.take_pushes();
    pushes.front().message.metadata[std::string(metadata_keys::dead_letter)]["deliveries"] = delivery.deliveries;
    detail::logger().warn("{} on \"{}\" (message {}): {}; moved to \"{}\"", reason, delivery.channel, message_id,
                          failure.what, target);
    Outcome settled = settle(delivery, Settlement{std::move(pushes)});
    if (settled != Outcome::settle_failed) {
        bump(metrics_->poison);
        bump(metrics_->dead_lettered);
        return Outcome::dead_lettered;
    }
    return settled;
}

Outcome Worker::settle(const Delivery& delivery, Settlement&& settlement) {
    auto deadline = std::chrono::steady_clock::now() + options_.settle_retry_for;
    auto backoff = std::chrono::milliseconds(20);
    for (;;) {
        try {
            adapter_->settle(delivery, std::move(settlement));
            return Outcome::succeeded;
        } catch (const StaleDeliveryError& e) {
            // Another worker holds it now (our visibility timeout ran out): its outcome wins.
            bump(metrics_->settle_errors);
            detail::logger().warn("settle of message {} on \"{}\" refused: {}", delivery.message.id, delivery.channel,
                                  e.what());
            return Outcome::settle_failed;
        } catch (const ConnectionError& e) {
            // Settles are idempotent, so sending it again after a lost reply is safe.
            if (std::chrono::steady_clock::now() + backoff > deadline) {
                bump(metrics_->settle_errors);
                detail::logger().error("settle on \"{}\" failed, giving up (the broker hands the delivery back after "
                                       "its visibility timeout): {}",
                                       delivery.channel, e.what());
                throw;
            }
            detail::logger().warn("settle on \"{}\" failed, retrying in {} ms: {}", delivery.channel, backoff.count(),
                                  e.what());
            std::this_thread::sleep_for(backoff);
            backoff = std::min(backoff * 2, std::chrono::milliseconds(1000));
        }
    }
}

void Worker::release_rest(std::vector<Delivery>& deliveries, std::size_t from) noexcept {
    for (std::size_t i = from; i < deliveries.size(); ++i) {
        try {
            adapter_->release(deliveries[i]);
        } catch (const std::exception& e) {
            detail::logger().warn("could not release a delivery of \"{}\" (it comes back after its visibility "
                                  "timeout): {}",
                                  deliveries[i].channel, e.what());
        }
    }
}

std::size_t Worker::run_once() {
    auto deliveries = adapter_->reserve(options_.channels, options_.batch_size, options_.wait);
    for (std::size_t i = 0; i < deliveries.size(); ++i) {
        try {
            process(std::move(deliveries[i]));
        } catch (...) {
            // Whatever stops this worker, the rest of the batch goes back at once rather than
            // after the visibility timeout.
            release_rest(deliveries, i + 1);
            throw;
        }
    }
    return deliveries.size();
}

std::size_t Worker::run_until_idle(std::size_t max_deliveries) {
    std::size_t processed = 0;
    for (;;) {
        std::size_t want = options_.batch_size;
        if (max_deliveries != 0) {
            if (processed >= max_deliveries) break;
            want = std::min(want, max_deliveries - processed);
        }
        auto deliveries = adapter_->reserve(options_.channels, want, std::chrono::milliseconds(0));
        if (deliveries.empty()) break;
        for (std::size_t i = 0; i < deliveries.size(); ++i) {
            try {
                process(std::move(deliveries[i]));
            } catch (...) {
                release_rest(deliveries, i + 1);
                throw;
            }
            ++processed;
        }
    }
    return processed;
}

void Worker::run(std::stop_token stop) {
    auto backoff = std::chrono::milliseconds(50);
    while (!stop.stop_requested()) {
        try {
            run_once();
            backoff = std::chrono::milliseconds(50);
        } catch (const MessageFailureError&) {
            throw;
        } catch (const AdapterError& e) {
            // The broker went away (or answered nonsense): nothing was acknowledged that was not
            // handled, so wait and try again; adapters reconnect on their own.
            detail::logger().warn("broker error, retrying in {} ms: {}", backoff.count(), e.what());
            interruptible_sleep(stop, backoff);
            backoff = std::min(backoff * 2, options_.max_backoff);
        }
    }
}

}  // namespace failpipe
