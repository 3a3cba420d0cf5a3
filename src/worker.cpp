#include "failpipe/worker.hpp"

#include <algorithm>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <thread>

#include "failpipe/dead_letter_middleware.hpp"
#include "failpipe/error.hpp"
#include "failpipe/failure_record.hpp"
#include "failpipe/metadata_keys.hpp"
#include "bytes.hpp"
#include "correlation.hpp"
#include "logging.hpp"
#include "failure_record.hpp"
#include "metadata.hpp"

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
            return;
        }
        // A consume middleware may swallow the handler's exception; the follow-ups of a handler
        // that threw must not be published all the same (outbox).
        const std::size_t mark = context.staged().size();
        try {
            handler_(message, context);
        } catch (...) {
            context.discard_staged_from(mark);
            throw;
        }
    }

private:
    const std::vector<ConsumeMiddlewarePtr>& middlewares_;
    std::size_t position_;
    const Handler& handler_;
};

void bump(std::atomic<std::uint64_t>& counter) { counter.fetch_add(1, std::memory_order_relaxed); }

// A release shorter than this brings the message straight back; a round of nothing else is paced,
// from the first pause doubling up to the longest (Worker::pace).
constexpr Seconds kQuickRelease{0.1};
constexpr std::chrono::milliseconds kFirstPause{10};
constexpr std::chrono::milliseconds kLongestPause{1000};

const std::string kFailuresKey(metadata_keys::failures);
const std::string kDueAtKey(metadata_keys::due_at);

// Stamps, on the push that carries message @p id on, when it is due (metadata `failpipe-due-at`,
// from the dispatcher's clock), so the worker that takes it can tell how late it ran. A push
// without a delay (a retry now, a dead letter) loses an earlier stamp: it would mean nothing there.
void stamp_due_time(std::vector<OutgoingMessage>& pushes, const std::string& id, TimePoint now) {
    for (auto& push : pushes) {
        Message& message = push.message;
        if (message.id != id || !message.metadata.is_object()) continue;
        if (push.delay.count() > 0) {
            message.metadata[kDueAtKey] =
                detail::epoch_ms(now + std::chrono::duration_cast<TimePoint::duration>(push.delay));
        } else if (auto it = message.metadata.find(kDueAtKey); it != message.metadata.end()) {
            message.metadata.erase(it);
        }
    }
}

// An error message as a log line shows it: a handler's exception text may be megabytes (a
// response body), and every failure is logged. The dead-letter record keeps it whole.
std::string shown(const std::string& text) {
    if (text.size() <= kHistoryMessageBytes) return text;
    return detail::cut_utf8(text, kHistoryMessageBytes) + "… (" + std::to_string(text.size()) + " bytes)";
}

// Sleeps up to @p duration, waking early when @p stop is requested.
void interruptible_sleep(std::stop_token stop, std::chrono::milliseconds duration) {
    std::mutex mutex;
    std::condition_variable_any wakeup;
    std::unique_lock lock(mutex);
    wakeup.wait_for(lock, stop, duration, [] { return false; });
}

}  // namespace

Worker::Worker(std::shared_ptr<BrokerAdapter> adapter, FailureMiddlewareDispatcher dispatcher, Classifier classifier,
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
    if (!(options_.visibility_timeout.count() > 0)) throw InvalidArgumentError("Worker: visibility_timeout must be > 0");
    if (!adapter_->capabilities().has(Capability::atomic_settle)) {
        detail::logger().warn("Worker: the adapter does not declare \"atomic-settle\": a worker that dies during a "
                              "settle may leave a retry or dead letter pushed twice, or pushed without its "
                              "acknowledgement (docs/adapters.md)");
    }
    if (options_.dead_letter_retention.enabled()) {
        constexpr std::string_view who = "Worker: dead-letter retention (deadLetters.maxCount/maxAge)";
        inspection_ = std::dynamic_pointer_cast<InspectionAdapter>(adapter_);
        if (!inspection_) throw UnsupportedCapabilityError(Capability::evict, who);
        DeadLetters::require_retention_capabilities(*inspection_, who);
    }
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

Worker& Worker::observe(std::shared_ptr<DeliveryObserver> observer) {
    if (!observer) throw InvalidArgumentError("Worker::observe: the observer must not be null");
    observers_.push_back(std::move(observer));
    return *this;
}

Worker& Worker::share_metrics(std::shared_ptr<WorkerMetrics> metrics) {
    if (!metrics) throw InvalidArgumentError("Worker::share_metrics: metrics must not be null");
    metrics_ = std::move(metrics);
    return *this;
}

Outcome Worker::process(Delivery delivery) {
    Pending pending = prepare(std::move(delivery));
    if (pending.outcome == Outcome::left_with_broker) return Outcome::left_with_broker;
    return settle_one(pending);
}

const std::string& Worker::correlation(Pending& pending) {
    // Read while the delivery still holds the message; every path that moves the message on asks first.
    if (pending.correlation.empty()) pending.correlation = detail::correlation_id_of(pending.delivery.message);
    return pending.correlation;
}

std::string Worker::about(Pending& pending) {
    return detail::about_message(pending.delivery.message.id, pending.delivery.channel, correlation(pending));
}

void Worker::note_arrival(EventFacts& facts, const Message& message) const {
    const nlohmann::json* failures = detail::failure_value(message, kFailuresKey);
    facts.first_attempt = failures == nullptr || detail::to_count(failures) == 0;
    if (!message.metadata.is_object()) return;
    const auto due = message.metadata.find(kDueAtKey);
    if (due == message.metadata.end() || !due->is_number()) return;
    const auto late = dispatcher_.now() - detail::from_epoch_ms(detail::to_int(&*due));
    facts.lateness = std::max(Seconds{0.0}, std::chrono::duration_cast<Seconds>(late));
}

Worker::Pending Worker::prepare(Delivery delivery) {
    bump(metrics_->received);
    const bool observed = !observers_.empty();
    Pending pending;
    pending.delivery = std::move(delivery);
    Delivery& d = pending.delivery;
    if (observed) pending.facts.emplace();
    if (d.poisoned()) {
        // Keep the bytes as they came; bytes that are not UTF-8 would be mangled by JSON, so they
        // are kept in base64 (the dead-letter record says which).
        const bool text = detail::is_valid_utf8(d.raw);
        Message kept;
        kept.id = d.message.id;
        kept.data = text ? d.raw : detail::base64_encode(d.raw);
        Failure failure{nullptr, "failpipe::DecodeError", "undecodable message: " + d.decode_error, ErrorClass::permanent};
        prepare_dead_letter(pending, std::move(kept), failure, dead_letter_reasons::poison);
        pending.poison = true;
        return pending;
    }
    if (observed) note_arrival(*pending.facts, d.message);
    if (options_.max_deliveries != 0 && d.deliveries > options_.max_deliveries) {
        Failure failure{nullptr, "failpipe::MaxDeliveriesExceeded",
                        "delivered " + std::to_string(d.deliveries) + " times (maxDeliveries " +
                            std::to_string(options_.max_deliveries) + ") without being settled: it stops its workers",
                        ErrorClass::permanent};
        correlation(pending);
        Message message = std::move(d.message);
        d.message.id = message.id;
        d.message.handler = message.handler;
        prepare_dead_letter(pending, std::move(message), failure, dead_letter_reasons::max_deliveries);
        pending.poison = true;
        return pending;
    }
    if (auto expiry = expires_at(d.message); expiry && *expiry <= dispatcher_.now()) {
        prepare_expired(pending, *expiry);
        return pending;
    }

    HandlerContext context(d.channel, d.deliveries, d.message);
    std::optional<Failure> failure;
    std::chrono::steady_clock::time_point started{};
    if (observed) started = std::chrono::steady_clock::now();
    // The failure is handled outside the catch blocks: the pipeline may throw (rethrow) itself.
    try {
        auto handler = handlers_.find(d.message.handler);
        if (handler == handlers_.end()) {
            throw NoHandlerError("no handler is registered for message type \"" + d.message.handler + "\"");
        }
        if (consume_.empty()) {
            handler->second(d.message, context);
        } else {
            ConsumeCursor(consume_, 0, handler->second).handle(d.message, context);
        }
    } catch (const std::exception& e) {
        failure = classifier_.classify(e);
    } catch (...) {
        failure = classifier_.classify_non_standard();
    }
    if (pending.facts) pending.facts->handler_time = std::chrono::steady_clock::now() - started;
    if (context.released()) {
        prepare_release(pending, *context.released(), failure);
    } else if (failure) {
        prepare_failure(pending, std::move(*failure));
    } else {
        pending.settlement.pushes = context.take_staged();
    }
    return pending;
}

void Worker::prepare_release(Pending& pending, HandlerContext::Release release, const std::optional<Failure>& failure) {
    // Not a failure: nothing is counted or written into the message, and the staged pushes go
    // with the context.
    pending.outcome = Outcome::released;
    pending.target = pending.delivery.channel;
    note_decision(pending, std::nullopt, release.by, {}, release.delay);
    pending.release = std::move(release);
    if (failure && detail::logger().should_log(spdlog::level::warn)) {
        detail::logger().warn("{} threw after it was released by {} ({}: {}); the release wins, not counted as a failure",
                              about(pending), pending.release->by, failure->type, shown(failure->what));
    }
}

void Worker::note_failure(Pending& pending, const Failure& failure) {
    if (!pending.facts) return;
    pending.facts->error_class = failure.error_class;
    pending.facts->error_type = failure.type;
    pending.facts->error_message = failure.what;
}

void Worker::note_decision(Pending& pending, std::optional<FailureAction> action, std::string_view by,
                           std::string_view reason, Seconds delay) {
    if (!pending.facts) return;
    pending.facts->action = action;
    pending.facts->decided_by = by;
    pending.facts->reason = reason;
    pending.facts->delay = delay;
}

void Worker::prepare_failure(Pending& pending, Failure failure) {
    Delivery& delivery = pending.delivery;
    bump(metrics_->failed);
    note_failure(pending, failure);
    correlation(pending);
    // Built-in middlewares do not throw; for a pipeline with the user's own, keep a copy so the
    // message can still be dead-lettered if one of them does.
    std::optional<Message> kept;
    if (dispatcher_.runs_custom_middleware(delivery.channel)) kept = delivery.message;
    Message message = std::move(delivery.message);
    delivery.message.id = message.id;  // for logs, errors and events from here on
    delivery.message.handler = message.handler;

    std::optional<FailureHandlingRequest> result;
    std::string pipeline_error;
    try {
        result.emplace(dispatcher_.dispatch(FailureHandlingRequest(std::move(message), delivery.channel), failure));
    } catch (const std::exception& e) {
        pipeline_error = e.what() != nullptr ? e.what() : "";
    } catch (...) {
        pipeline_error = "a failure middleware threw something that is not a std::exception";
    }
    if (!result) {
        bump(metrics_->pipeline_errors);
        detail::logger().error("{}: the failure pipeline threw: {}", about(pending), shown(pipeline_error));
        if (!kept) {
            pending.outcome = Outcome::left_with_broker;  // the broker still holds it: it comes back
            report(pending, Outcome::left_with_broker);
            return;
        }
        detail::note_failure(*kept, delivery.channel, dispatcher_.now());
        Failure both{failure.exception, failure.type,
                     failure.what + " (then the failure pipeline failed: " + pipeline_error + ")", failure.error_class};
        prepare_dead_letter(pending, std::move(*kept), both, dead_letter_reasons::pipeline_error);
        return;
    }

    const Decision& decision = *result->decision();
    pending.target = decision.to;
    note_decision(pending, decision.action, decision.middleware,
                  decision.action == FailureAction::dead_letter ? dead_letter_reasons::failure : std::string_view{},
                  decision.delay);
    if (pending.facts) pending.facts->budget_exhausted = decision.budget_exhausted;
    switch (decision.action) {
        case FailureAction::rethrow:
            bump(metrics_->rethrown);
            detail::logger().error("{} failed and no middleware handled it ({}: {}); rethrown, it stays with the broker",
                                   about(pending), failure.type, shown(failure.what));
            report(pending, Outcome::left_with_broker);
            throw MessageFailureError(delivery.message.id, delivery.channel, failure.exception, failure.what);
        case FailureAction::send_again:
        case FailureAction::delay:
            pending.outcome = Outcome::retried;
            if (detail::logger().should_log(spdlog::level::info)) {
                pending.note = fmt::format("{} failed ({}: {}); {} by {} to \"{}\" after {} s{}", about(pending),
                                           failure.type, shown(failure.what), to_string(decision.action),
                                           decision.middleware, decision.to, decision.delay.count(),
                                           decision.budget_exhausted ? " (retry budget exhausted: its maximum delay)" : "");
            }
            break;
        case FailureAction::dead_letter:
            pending.outcome = Outcome::dead_lettered;
            if (detail::logger().should_log(spdlog::level::warn)) {
                pending.note = fmt::format("{} failed ({}: {}); dead-letter by {} to \"{}\"", about(pending),
                                           failure.type, shown(failure.what), decision.middleware, decision.to);
            }
            break;
        case FailureAction::drop:
            pending.outcome = Outcome::dropped;
            if (detail::logger().should_log(spdlog::level::warn)) {
                pending.note = fmt::format("{} failed ({}: {}); drop by {}", about(pending), failure.type,
                                           shown(failure.what), decision.middleware);
            }
            break;
    }
    pending.settlement.pushes = result->take_pushes();
    stamp_due_time(pending.settlement.pushes, delivery.message.id, dispatcher_.now());
}

void Worker::prepare_dead_letter(Pending& pending, Message message, const Failure& failure, std::string_view reason) {
    Delivery& delivery = pending.delivery;
    note_failure(pending, failure);
    if (pending.correlation.empty()) pending.correlation = detail::correlation_id_of(message);
    std::string target = dispatcher_.dead_letter_channel(delivery.channel);
    FailureHandlingRequest request = dispatcher_.dead_letter(FailureHandlingRequest(std::move(message), delivery.channel),
                                                             failure, reason, "worker", dispatcher_.now());
    auto pushes = request.take_pushes();
    auto& record = pushes.front().message.metadata[std::string(metadata_keys::dead_letter)];
    record["deliveries"] = delivery.deliveries;
    if (delivery.poisoned()) record["encoding"] = detail::is_valid_utf8(delivery.raw) ? "utf-8" : "base64";
    stamp_due_time(pushes, delivery.message.id, dispatcher_.now());
    pending.outcome = Outcome::dead_lettered;
    note_decision(pending, FailureAction::dead_letter, "worker", reason, Seconds{0.0});
    pending.target = target;
    if (detail::logger().should_log(spdlog::level::warn)) {
        pending.note = fmt::format("{} {} ({}); dead-letter by worker to \"{}\"", about(pending), reason, shown(failure.what),
                                   target);
    }
    pending.settlement.pushes = std::move(pushes);
}

void Worker::prepare_expired(Pending& pending, TimePoint expired_at) {
    Delivery& delivery = pending.delivery;
    pending.expired = true;
    correlation(pending);
    if (options_.on_expired == ExpiredBehavior::drop) {
        pending.outcome = Outcome::dropped;
        note_decision(pending, FailureAction::drop, "worker", dead_letter_reasons::expired, Seconds{0.0});
        if (detail::logger().should_log(spdlog::level::warn)) {
            pending.note = fmt::format("{} expired at {} before a worker handled it; dropped", about(pending),
                                       detail::iso8601_utc(expired_at));
        }
        return;
    }
    Failure failure{nullptr, "failpipe::MessageExpired",
                    "its time to live ended at " + detail::iso8601_utc(expired_at) + ", before a worker handled it",
                    ErrorClass::permanent};
    Message message = std::move(delivery.message);
    delivery.message.id = message.id;
    delivery.message.handler = message.handler;
    prepare_dead_letter(pending, std::move(message), failure, dead_letter_reasons::expired);
    pending.settlement.pushes.front().message.metadata[std::string(metadata_keys::dead_letter)]["expiresAt"] =
        detail::iso8601_utc(expired_at);
}

template <class Attempt>
void Worker::retry_while_unreachable(std::size_t deliveries, Attempt&& attempt) {
    std::optional<std::chrono::steady_clock::time_point> deadline;
    auto backoff = std::chrono::milliseconds(20);
    for (;;) {
        try {
            attempt();
            return;
        } catch (const ConnectionError& e) {
            // Settles are idempotent and the adapter leaves settlements intact when it throws, so
            // sending them again after a lost reply is safe.
            if (!deadline) deadline = std::chrono::steady_clock::now() + options_.settle_retry_for;
            if (stop_.stop_requested() || std::chrono::steady_clock::now() + backoff > *deadline) {
                metrics_->settle_errors.fetch_add(deliveries, std::memory_order_relaxed);
                detail::logger().error("settle of {} deliveries failed, giving up (the broker hands them back after "
                                       "the visibility timeout): {}",
                                       deliveries, e.what());
                throw;
            }
            detail::logger().warn("settle failed, retrying in {} ms: {}", backoff.count(), e.what());
            interruptible_sleep(stop_, backoff);
            backoff = std::min(backoff * 2, std::chrono::milliseconds(1000));
        }
    }
}

namespace {

// Why an adapter refused one settle.
enum class Refusal {
    stale,        // another worker holds the delivery now (our visibility timeout ran out): its outcome wins
    unreachable,  // not applied; the delivery comes back after the visibility timeout
    content,      // this settle itself is refused (a message the broker cannot store, ...): it would be refused forever
};

Refusal refusal_of(const std::exception_ptr& error) {
    try {
        std::rethrow_exception(error);
    } catch (const StaleDeliveryError&) {
        return Refusal::stale;
    } catch (const ConnectionError&) {
        return Refusal::unreachable;
    } catch (...) {
        return Refusal::content;
    }
}

std::string text_of(const std::exception_ptr& error) {
    try {
        std::rethrow_exception(error);
    } catch (const std::exception& e) {
        return e.what() != nullptr ? e.what() : "";
    } catch (...) {
        return "an exception that is not a std::exception";
    }
}

std::string_view settle_kind(Outcome outcome) {
    switch (outcome) {
        case Outcome::succeeded: return "handled";
        case Outcome::retried: return "a retry";
        case Outcome::dead_lettered: return "a dead letter";
        case Outcome::dropped: return "a drop";
        case Outcome::released: return "a release";
        default: return "a settle";
    }
}

}  // namespace

Outcome Worker::settle_one(Pending& pending) {
    if (pending.outcome == Outcome::released) return settle_release(pending);
    try {
        retry_while_unreachable(1, [&] { adapter_->settle(pending.delivery, std::move(pending.settlement)); });
    } catch (const ConnectionError&) {
        report(pending, Outcome::settle_failed);
        throw;  // given up after settle_retry_for: the broker gives the delivery back
    } catch (...) {
        return settle_refused(pending, std::current_exception());
    }
    return finish(pending);
}

Outcome Worker::settle_release(Pending& pending) {
    try {
        retry_while_unreachable(1, [&] { adapter_->release(pending.delivery, pending.release->delay); });
    } catch (const ConnectionError&) {
        // Counted and logged already; the visibility timeout gives it back (as a delivery, then).
        return report(pending, Outcome::settle_failed);
    } catch (...) {
        return settle_refused(pending, std::current_exception());
    }
    return finish(pending);
}

Outcome Worker::settle_refused(Pending& pending, const std::exception_ptr& error) {
    bump(metrics_->settle_errors);
    switch (refusal_of(error)) {
        case Refusal::stale:
            detail::logger().warn("{}: settle ({}) refused: {}", about(pending), settle_kind(pending.outcome),
                                  text_of(error));
            return report(pending, Outcome::settle_failed);
        case Refusal::unreachable:
            detail::logger().error("{}: settle ({}) failed (it comes back after the visibility timeout): {}",
                                   about(pending), settle_kind(pending.outcome), text_of(error));
            return report(pending, Outcome::settle_failed);
        case Refusal::content: break;
    }
    if (pending.outcome == Outcome::released) {
        // A release changes nothing the broker could refuse to store: the broker keeps the delivery.
        detail::logger().error("{}: release refused (it comes back after the visibility timeout): {}", about(pending),
                               text_of(error));
        return report(pending, Outcome::settle_failed);
    }
    return dead_letter_refused(pending, error);
}

std::optional<Message> Worker::message_to_keep(Pending& pending) {
    Delivery& delivery = pending.delivery;
    if (pending.outcome == Outcome::succeeded) {
        // The handler only read it: the delivery still holds the whole message.
        Message message = std::move(delivery.message);
        delivery.message.id = message.id;
        delivery.message.handler = message.handler;
        return message;
    }
    // A retry or a dead letter carries the message on (with its updated history); the refused
    // settlement is intact (BrokerAdapter::settle's contract).
    for (auto& push : pending.settlement.pushes) {
        if (push.message.id == delivery.message.id) return std::move(push.message);
    }
    return std::nullopt;  // dropped, or a custom middleware renamed it: only the broker's copy is left
}

Outcome Worker::dead_letter_refused(Pending& pending, const std::exception_ptr& error) {
    const std::string text = text_of(error);
    const std::string_view kind = settle_kind(pending.outcome);
    correlation(pending);
    std::optional<Message> message = message_to_keep(pending);
    if (!message) {
        detail::logger().error("{}: settle ({}) refused: {}; no copy is left to dead-letter, so it stays with the "
                               "broker and comes back after the visibility timeout",
                               about(pending), kind, text);
        return report(pending, Outcome::settle_failed);
    }
    detail::logger().error("{}: settle ({}) refused: {}; moving it to the dead letters", about(pending), kind, text);
    // A dead letter refused as such keeps its own record (poison bytes, max-deliveries...) beside the new one.
    nlohmann::json earlier;
    const std::string record_key(metadata_keys::dead_letter);
    if (pending.outcome == Outcome::dead_lettered && message->metadata.is_object()) {
        if (auto it = message->metadata.find(record_key); it != message->metadata.end()) earlier = std::move(*it);
    }
    const Failure classified = classifier_.classify(error);
    const Failure failure{error, classified.type, "the adapter refused to settle it (" + std::string(kind) + "): " + text,
                          ErrorClass::permanent};
    pending.settlement = Settlement{};
    prepare_dead_letter(pending, std::move(*message), failure, dead_letter_reasons::settle_error);
    if (!earlier.is_null()) pending.settlement.pushes.front().message.metadata[record_key]["refused"] = std::move(earlier);
    try {
        retry_while_unreachable(1, [&] { adapter_->settle(pending.delivery, std::move(pending.settlement)); });
    } catch (...) {
        // Nothing was applied: the broker still holds the delivery. It comes back, and maxDeliveries
        // ends the round trips (or the cause goes away).
        detail::logger().error("{}: its dead letter was refused too: {}; it stays with the broker and comes back "
                               "after the visibility timeout (maxDeliveries {} ends its redeliveries)",
                               about(pending), text_of(std::current_exception()), options_.max_deliveries);
        return report(pending, Outcome::settle_failed);
    }
    return finish(pending);
}

void Worker::settle_all(std::vector<Pending>& pending) {
    if (pending.empty()) return;
    // Releases go on their own (the adapter's release), first, so a broker error in the batch's
    // settle cannot hold them up; the batch settles everything else as before.
    std::vector<Pending*> batch;
    batch.reserve(pending.size());
    for (auto& p : pending) {
        if (p.outcome == Outcome::released) {
            settle_release(p);
        } else {
            batch.push_back(&p);
        }
    }
    settle_together(batch);
}

void Worker::settle_together(const std::vector<Pending*>& batch) {
    if (batch.empty()) return;
    if (batch.size() == 1) {
        settle_one(*batch.front());
        return;
    }
    std::vector<SettleItem> items;
    items.reserve(batch.size());
    for (Pending* p : batch) items.push_back(SettleItem{&p->delivery, &p->settlement});
    std::vector<std::exception_ptr> results;
    try {
        retry_while_unreachable(batch.size(), [&] { results = adapter_->settle_batch(items); });
    } catch (const ConnectionError&) {
        for (Pending* p : batch) report(*p, Outcome::settle_failed);
        throw;
    } catch (...) {
        // Refused as a whole, by an adapter that cannot say which item is at fault: one by one, so
        // that one bad message only ever affects itself. Items already applied are refused as stale.
        detail::logger().warn("settle of a batch of {} deliveries refused ({}); settling them one by one",
                              batch.size(), text_of(std::current_exception()));
        for (Pending* p : batch) settle_one(*p);
        return;
    }
    for (std::size_t i = 0; i < batch.size(); ++i) {
        if (i < results.size() && results[i]) {
            settle_refused(*batch[i], results[i]);
            continue;
        }
        finish(*batch[i]);
    }
}

Outcome Worker::finish(Pending& pending) {
    if (pending.outcome != Outcome::released) ++progress_;
    switch (pending.outcome) {
        case Outcome::succeeded: bump(metrics_->succeeded); break;
        case Outcome::retried:
            bump(metrics_->retried);
            if (!pending.note.empty()) detail::logger().info("{}", pending.note);
            break;
        case Outcome::dead_lettered:
            bump(metrics_->dead_lettered);
            if (pending.poison) bump(metrics_->poison);
            if (pending.expired) bump(metrics_->expired);
            if (!pending.note.empty()) detail::logger().warn("{}", pending.note);
            dead_lettered_to(pending.target);
            break;
        case Outcome::dropped:
            bump(metrics_->dropped);
            if (pending.expired) bump(metrics_->expired);
            if (!pending.note.empty()) detail::logger().warn("{}", pending.note);
            break;
        case Outcome::released:
            bump(metrics_->released);
            if (pending.release->delay >= kQuickRelease) ++progress_;  // out of the way for a while
            if (detail::logger().should_log(spdlog::level::info)) {
                detail::logger().info("{} released by {}, due again after {} s (not counted as an attempt)",
                                      about(pending), pending.release->by, pending.release->delay.count());
            }
            break;
        default: break;
    }
    return report(pending, pending.outcome);
}

Outcome Worker::report(Pending& pending, Outcome outcome) {
    if (observers_.empty() || !pending.facts) return outcome;
    const Delivery& delivery = pending.delivery;
    const EventFacts& facts = *pending.facts;
    DeliveryEvent event;
    event.channel = delivery.channel;
    event.message_type = delivery.message.handler;
    event.message_id = delivery.message.id;
    event.correlation_id = correlation(pending);
    event.outcome = outcome;
    event.deliveries = delivery.deliveries;
    event.first_attempt = facts.first_attempt;
    event.poison = pending.poison;
    event.expired = pending.expired;
    event.error_class = facts.error_class;
    event.error_type = facts.error_type;
    event.error_message = facts.error_message;
    event.action = facts.action;
    event.decided_by = facts.decided_by;
    event.target = pending.target;
    event.reason = facts.reason;
    event.delay = facts.delay;
    event.budget_exhausted = facts.budget_exhausted;
    event.handler_time = facts.handler_time;
    event.lateness = facts.lateness;
    for (const auto& observer : observers_) {
        try {
            observer->on_delivery(event);
        } catch (...) {
            // The delivery is settled already; an observer's trouble must not undo or stop anything.
            if (observer_errors_++ % 1000 == 0) {
                detail::logger().error("a delivery observer threw ({} times so far; logged every 1000th): {}",
                                       observer_errors_, text_of(std::current_exception()));
            }
        }
    }
    return outcome;
}

void Worker::release_rest(std::vector<Delivery>& deliveries, std::size_t from) noexcept {
    for (std::size_t i = from; i < deliveries.size(); ++i) {
        const Delivery& delivery = deliveries[i];
        try {
            adapter_->release(delivery);
        } catch (const std::exception& e) {
            try {
                detail::logger().warn("{}: could not release it (it comes back after its visibility timeout): {}",
                                      detail::about_message(delivery.message.id, delivery.channel,
                                                            detail::correlation_id_of(delivery.message)),
                                      e.what());
            } catch (...) {
                // Logging failed too (out of memory): the visibility timeout still gives it back.
            }
        }
    }
}

std::size_t Worker::process_batch(std::vector<Delivery>& deliveries, const std::stop_token& stop) {
    // Past this, the broker may give the rest of the batch to another worker: do not start them.
    const auto reserved_at = std::chrono::steady_clock::now();
    const auto budget = std::chrono::duration_cast<std::chrono::steady_clock::duration>(options_.visibility_timeout * 0.8);
    std::vector<Pending> pending;
    pending.reserve(options_.settle_per_batch ? deliveries.size() : 1);
    std::size_t started = 0;
    bool settling = false;
    try {
        for (; started < deliveries.size(); ++started) {
            if (stop.stop_requested()) {
                detail::logger().info("stopping: handing back {} reserved deliveries that were not started",
                                      deliveries.size() - started);
                break;
            }
            if (started > 0 && std::chrono::steady_clock::now() - reserved_at > budget) {
                detail::logger().warn("a batch outlived 80% of the visibility timeout; releasing its last {} deliveries",
                                      deliveries.size() - started);
                break;
            }
            Pending p = prepare(std::move(deliveries[started]));
            if (p.outcome == Outcome::left_with_broker) continue;
            pending.push_back(std::move(p));
            if (!options_.settle_per_batch) {
                settling = true;
                settle_all(pending);
                settling = false;
                pending.clear();
            }
        }
        settling = true;
        settle_all(pending);
    } catch (...) {
        // Whatever stops this worker (a rethrow): what was handled is settled if the broker allows,
        // and the rest of the batch goes back at once rather than after the visibility timeout.
        if (!settling && !pending.empty()) {
            try {
                settle_all(pending);
            } catch (const std::exception& e) {
                detail::logger().error("could not settle the handled part of a batch: {}", e.what());
            }
        }
        release_rest(deliveries, started + 1);
        throw;
    }
    release_rest(deliveries, started);
    return started;
}

void Worker::dead_lettered_to(const std::string& channel) {
    if (!options_.dead_letter_retention.enabled() || channel.empty()) return;
    RetentionState& state = retention_[channel];
    state.pending = true;
    if (std::chrono::steady_clock::now() - state.last >= options_.retention_interval) enforce_retention(channel);
}

void Worker::enforce_pending_retention() noexcept {
    for (auto& [channel, state] : retention_)
        if (state.pending) enforce_retention(channel);
}

void Worker::enforce_retention(const std::string& channel) noexcept {
    RetentionState& state = retention_[channel];
    state.last = std::chrono::steady_clock::now();
    state.pending = false;
    try {
        // No suffix: the channel is the dead-letter channel itself, whatever its name.
        DeadLetters::Options options;
        options.dead_letter_suffix.clear();
        options.clock = dispatcher_.options().clock;
        const DeadLetters dead_letters(inspection_, std::move(options));
        dead_letters.enforce_retention(channel, options_.dead_letter_retention);
    } catch (const std::exception& e) {
        // Nothing was evicted uncounted (evict counts atomically); the next pass tries again.
        state.pending = true;
        detail::logger().warn("retention of dead letters in \"{}\" failed, trying again later: {}", channel, e.what());
    } catch (...) {
        state.pending = true;
        detail::logger().warn("retention of dead letters in \"{}\" failed, trying again later", channel);
    }
}

std::vector<std::string> Worker::in_turn(const std::vector<std::string>& channels) {
    // Adapters take from the channels in the order given; starting each reserve one channel further
    // keeps a channel that always has a full batch waiting from starving the ones after it.
    if (channels.size() < 2) return channels;
    const std::size_t first = next_first_++ % channels.size();
    std::vector<std::string> order;
    order.reserve(channels.size());
    for (std::size_t i = 0; i < channels.size(); ++i) order.push_back(channels[(first + i) % channels.size()]);
    return order;
}

void Worker::pace(std::size_t reserved, std::uint64_t progress_before, const std::stop_token& stop) {
    // A round whose every delivery was released at once ("not now", delay 0) made no progress: the
    // next reserve would hand the same messages straight back, a loop as fast as the broker answers.
    if (reserved == 0 || progress_ != progress_before) {
        pause_ = std::chrono::milliseconds(0);
        return;
    }
    pause_ = std::clamp(pause_ * 2, kFirstPause, kLongestPause);
    interruptible_sleep(stop, pause_);
}

std::size_t Worker::run_once() {
    auto deliveries = adapter_->reserve(in_turn(options_.channels), options_.batch_size, options_.wait);
    if (deliveries.empty()) enforce_pending_retention();
    const std::uint64_t before = progress_;
    const std::size_t processed = process_batch(deliveries, stop_);
    pace(processed, before, stop_);
    return processed;
}

std::size_t Worker::run_once(const std::vector<std::string>& channels, std::stop_token stop) {
    if (channels.empty()) return 0;
    stop_ = stop;  // so a settle retried while the broker is unreachable gives up at shutdown
    auto deliveries = adapter_->reserve(in_turn(channels), options_.batch_size, options_.wait);
    if (deliveries.empty()) enforce_pending_retention();
    const std::uint64_t before = progress_;
    const std::size_t processed = process_batch(deliveries, stop);
    pace(processed, before, stop);
    return processed;
}

std::size_t Worker::run_until_idle(std::size_t max_deliveries) {
    std::size_t processed = 0;
    for (;;) {
        std::size_t want = options_.batch_size;
        if (max_deliveries != 0) {
            if (processed >= max_deliveries) break;
            want = std::min(want, max_deliveries - processed);
        }
        auto deliveries = adapter_->reserve(in_turn(options_.channels), want, std::chrono::milliseconds(0));
        if (deliveries.empty()) {
            enforce_pending_retention();
            break;
        }
        processed += process_batch(deliveries);
    }
    return processed;
}

void Worker::run(std::stop_token stop) {
    stop_ = stop;
    auto backoff = std::chrono::milliseconds(50);
    while (!stop.stop_requested()) {
        try {
            run_once();
            backoff = std::chrono::milliseconds(50);
            continue;
        } catch (const MessageFailureError&) {
            throw;
        } catch (const AdapterError& e) {
            // The broker went away (or answered nonsense): nothing was acknowledged that was not
            // handled, so wait and try again; adapters reconnect on their own.
            detail::logger().warn("broker error, retrying in {} ms: {}", backoff.count(), e.what());
        } catch (const std::exception& e) {
            detail::logger().error("unexpected error in the worker loop, retrying in {} ms: {}", backoff.count(), e.what());
        } catch (...) {
            detail::logger().error("unexpected non-standard exception in the worker loop, retrying in {} ms",
                                   backoff.count());
        }
        interruptible_sleep(stop, backoff);
        backoff = std::min(backoff * 2, options_.max_backoff);
    }
}

}  // namespace failpipe
