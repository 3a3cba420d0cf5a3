// Releases that count no attempt, correlation ids, the worker's log lines about a message, and the
// DeliveryEvents it reports — over the in-memory adapter with a manual clock.
#include <doctest/doctest.h>

#include <atomic>
#include <cmath>
#include <limits>

#include <failpipe/failpipe.hpp>
#include <failpipe/memory/in_memory_adapter.hpp>

#include <map>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include <failpipe/testing/adapter_conformance.hpp>
#include "test_support.hpp"

using namespace failpipe;
using failpipe::test::make;
using namespace std::chrono_literals;

namespace {

struct Rig {
    std::shared_ptr<ManualClock> clock = std::make_shared<ManualClock>();
    std::shared_ptr<InMemoryAdapter> adapter;
    Rig() {
        InMemoryAdapter::Options options;
        options.clock = clock;
        adapter = std::make_shared<InMemoryAdapter>(options);
    }
    Worker worker(FailurePipeline pipeline = {}, WorkerOptions options = {}) const {
        FailureMiddlewareDispatcher::Options dispatcher;
        dispatcher.clock = clock;
        dispatcher.default_pipeline = std::move(pipeline);
        if (options.channels.empty()) options.channels = {"orders"};
        options.wait = 0ms;
        return Worker(adapter, FailureMiddlewareDispatcher(std::move(dispatcher)), Classifier{}, options);
    }
    std::string push(nlohmann::json data = nullptr) const { return Queue(adapter, "orders").push(job(std::move(data))); }
    static Message job(nlohmann::json data = nullptr) { return Message::create("order", std::move(data)); }
};

// A copy of what an observer saw (the event's views die with the call).
struct Seen {
    std::string channel, message_type, message_id, correlation_id;
    Outcome outcome = Outcome::succeeded;
    std::uint32_t deliveries = 0;
    bool first_attempt = false, poison = false, expired = false;
    std::optional<ErrorClass> error_class;
    std::string error_type, error_message;
    std::optional<FailureAction> action;
    std::string decided_by, target, reason;
    Seconds delay{0.0};
    bool budget_exhausted = false;
    std::chrono::nanoseconds handler_time{0};
    std::optional<Seconds> lateness;
};

struct Recorder {
    std::vector<Seen> events;
    std::shared_ptr<DeliveryObserver> observer() {
        return make_delivery_observer([this](const DeliveryEvent& e) {
            events.push_back(Seen{std::string(e.channel), std::string(e.message_type), std::string(e.message_id),
                                  std::string(e.correlation_id), e.outcome, e.deliveries, e.first_attempt, e.poison,
                                  e.expired, e.error_class, std::string(e.error_type), std::string(e.error_message),
                                  e.action, std::string(e.decided_by), std::string(e.target), std::string(e.reason),
                                  e.delay, e.budget_exhausted, e.handler_time, e.lateness});
        });
    }
};

// Captures the "failpipe" logger at info level while it lives.
class InfoLog {
public:
    InfoLog() : level_(spdlog::get("failpipe")->level()) { spdlog::get("failpipe")->set_level(spdlog::level::info); }
    ~InfoLog() { spdlog::get("failpipe")->set_level(level_); }
    InfoLog(const InfoLog&) = delete;
    InfoLog& operator=(const InfoLog&) = delete;
    std::string text() const { return capture_.text(); }

private:
    failpipe::conformance::LogCapture capture_;  // first: it makes the logger when there is none
    spdlog::level::level_enum level_;
};

const std::string kCorrelation(metadata_keys::correlation_id);

std::string correlation_of(const Message& message) { return message.metadata.at(kCorrelation).get<std::string>(); }

}  // namespace

// ---------------------------------------------------------------------------------------------
// Release

TEST_CASE("release: a message released 15 times with maxDeliveries 10 is neither poison nor a failure, then succeeds") {
    Rig rig;
    WorkerOptions options;
    options.max_deliveries = 10;
    auto worker = rig.worker({make<SendAgainMiddleware>("again", 1)}, options);
    int runs = 0;
    worker.on("order", [&](const Message& message, HandlerContext& context) {
        ++runs;
        context.push("receipts", Message::create("receipt", 1));  // staged, then discarded by the release
        if (runs <= 15) {
            CHECK(context.deliveries() == 1);
            context.release(Seconds{0.0}, "test-breaker");
            return;
        }
        CHECK_FALSE(message.metadata.contains(std::string(metadata_keys::failure)));
    });
    const std::string id = rig.push();
    for (int round = 0; round < 20 && rig.adapter->depth("orders").total() != 0; ++round) worker.run_until_idle(1);
    CHECK(runs == 16);
    CHECK(rig.adapter->depth("orders").total() == 0);
    CHECK(rig.adapter->depth("orders:dlq").total() == 0);
    CHECK(rig.adapter->depth("receipts").total() == 1);  // only the successful run's follow-up
    const auto metrics = worker.metrics().snapshot();
    CHECK(metrics.released == 15);
    CHECK(metrics.succeeded == 1);
    CHECK(metrics.failed == 0);
    CHECK(metrics.retried == 0);
    CHECK(metrics.poison == 0);
    CHECK(metrics.dead_lettered == 0);
}

TEST_CASE("release: a release with a delay is due only after the delay, untouched") {
    Rig rig;
    auto worker = rig.worker();
    int runs = 0;
    worker.on("order", [&](const Message&, HandlerContext& context) {
        if (++runs == 1) context.release(Seconds{30.0}, "rate-limit");
    });
    const std::string id = rig.push(7);
    const Message before = rig.adapter->browse("orders", 0, 1).at(0);
    CHECK(worker.run_until_idle() == 1);
    CHECK(rig.adapter->status(id).state == MessageState::delayed);
    const Message after = rig.adapter->browse("orders", 0, 1).at(0);
    CHECK(after.metadata == before.metadata);  // no counter, history or stamp written
    CHECK(after.data == before.data);
    rig.clock->advance(Seconds{29.0});
    CHECK(worker.run_until_idle() == 0);
    CHECK(runs == 1);
    rig.clock->advance(Seconds{1.5});
    CHECK(worker.run_until_idle() == 1);
    CHECK(runs == 2);
    CHECK(rig.adapter->depth("orders").total() == 0);
}

TEST_CASE("release: a consume middleware that releases keeps the handler from running, and the log line says who") {
    class Gate final : public ConsumeMiddlewareInterface {
    public:
        void handle(const Message&, HandlerContext& context, const ConsumeHandlerInterface&) const override {
            context.release(Seconds{5.0}, "gateway-breaker");
        }
    };
    Rig rig;
    auto worker = rig.worker();
    worker.use(std::make_shared<Gate>());
    int runs = 0;
    worker.on("order", [&](const Message&, HandlerContext&) { ++runs; });
    Message message = Rig::job();
    message.metadata[kCorrelation] = "corr-7";
    const std::string id = Queue(rig.adapter, "orders").push(std::move(message));
    InfoLog log;
    CHECK(worker.run_until_idle() == 1);
    CHECK(runs == 0);
    CHECK(rig.adapter->status(id).state == MessageState::delayed);
    CHECK(worker.metrics().snapshot().released == 1);
    CHECK(log.text().find("message " + id + " [channel=orders correlation=corr-7] released by gateway-breaker, due again after 5 s") !=
          std::string::npos);
}

TEST_CASE("release: a handler that always releases with no delay is paced, not looped as fast as the broker answers") {
    Rig rig;
    auto worker = rig.worker({make<SendAgainMiddleware>("again", 3)});
    std::atomic<int> runs{0};
    std::atomic<int> handled{0};
    worker.on("order", [&](const Message& message, HandlerContext& context) {
        if (message.data == 2) {
            ++handled;
            return;
        }
        ++runs;
        context.release(Seconds{0.0}, "not-now");
    });
    const std::string id = rig.push(1);
    {
        std::jthread running([&](std::stop_token stop) { worker.run(stop); });
        std::this_thread::sleep_for(300ms);
        rig.push(2);  // another message still flows (after at most one pause)
        for (int i = 0; i < 300 && handled == 0; ++i) std::this_thread::sleep_for(10ms);
    }
    // Unpaced, one thread releases the same message tens of thousands of times in 300 ms.
    CHECK(runs.load() > 0);
    CHECK(runs.load() < 100);
    CHECK(handled.load() == 1);
    CHECK(rig.adapter->status(id).state == MessageState::ready);  // nothing lost
    CHECK(worker.metrics().snapshot().failed == 0);
}

TEST_CASE("release: a handler that throws after releasing is released, the exception logged and not counted as a failure") {
    Rig rig;
    auto worker = rig.worker({make<SendAgainMiddleware>("again", 3)});
    Recorder recorder;
    worker.observe(recorder.observer());
    worker.on("order", [&](const Message&, HandlerContext& context) {
        context.release(Seconds{1.0}, "handler");
        throw std::runtime_error("gateway said no");
    });
    const std::string id = rig.push();
    InfoLog log;
    CHECK(worker.run_until_idle() == 1);
    const auto metrics = worker.metrics().snapshot();
    CHECK(metrics.released == 1);
    CHECK(metrics.failed == 0);
    CHECK(metrics.retried == 0);
    CHECK(rig.adapter->status(id).state == MessageState::delayed);
    CHECK(log.text().find("threw after it was released by handler (std::runtime_error: gateway said no); the release wins") !=
          std::string::npos);
    REQUIRE(recorder.events.size() == 1);
    CHECK(recorder.events[0].outcome == Outcome::released);
    CHECK_FALSE(recorder.events[0].error_class.has_value());
}

TEST_CASE("release: in settle_per_batch mode releases go on their own and the batch's other settles are untouched") {
    Rig rig;
    WorkerOptions options;
    options.settle_per_batch = true;
    options.batch_size = 16;
    auto worker = rig.worker({make<SendAgainMiddleware>("again", 1, "orders:retry")}, options);
    worker.on("order", [&](const Message& message, HandlerContext& context) {
        const int n = message.data.get<int>();
        context.push("receipts", Message::create("receipt", n));
        if (n % 3 == 0) context.release(Seconds{10.0}, "batch-test");
        if (n % 3 == 1) throw TransientError("flaky");
    });
    for (int i = 0; i < 12; ++i) rig.push(i);
    CHECK(worker.run_once() == 12);
    const auto metrics = worker.metrics().snapshot();
    CHECK(metrics.released == 4);
    CHECK(metrics.retried == 4);
    CHECK(metrics.succeeded == 4);
    CHECK(rig.adapter->depth("orders").delayed == 4);
    CHECK(rig.adapter->depth("orders").reserved == 0);
    CHECK(rig.adapter->depth("orders:retry").ready == 4);
    CHECK(rig.adapter->depth("receipts").ready == 4);  // follow-ups of the successes only
}

TEST_CASE("release: a negative or non-finite delay is refused in the handler, which then fails (nothing lost)") {
    for (const double bad : {-1.0, std::numeric_limits<double>::infinity(), std::nan(""), 1e300, 1e9 + 1}) {
        CAPTURE(bad);
        Rig rig;
        auto worker = rig.worker();
        worker.on("order", [&](const Message&, HandlerContext& context) { context.release(Seconds{bad}); });
        rig.push();
        CHECK(worker.run_until_idle() == 1);
        auto dead = rig.adapter->browse("orders:dlq", 0, 10);
        REQUIRE(dead.size() == 1);
        CHECK(dead[0].metadata.at("failpipe-dead-letter").at("errorMessage").get<std::string>().find(
                  "HandlerContext::release: the delay must be a number of seconds from 0 to 1e9") != std::string::npos);
        CHECK(worker.metrics().snapshot().released == 0);
    }
}

TEST_CASE("worker: a handler throwing a non-std::exception is retried, then dead-lettered with its type - events say so") {
    Rig rig;
    auto worker = rig.worker({make<SendAgainMiddleware>("again", 2)});
    Recorder recorder;
    worker.observe(recorder.observer());
    worker.on("order", [](const Message&, HandlerContext&) { throw 42; });
    const std::string id = rig.push();
    for (int round = 0; round < 5; ++round) worker.run_until_idle();
    const auto metrics = worker.metrics().snapshot();
    CHECK(metrics.failed == 3);
    CHECK(metrics.retried == 2);
    CHECK(metrics.dead_lettered == 1);
    auto dead = rig.adapter->browse("orders:dlq", 0, 10);
    REQUIRE(dead.size() == 1);
    CHECK(dead[0].id == id);
    CHECK(dead[0].metadata.at("failpipe-dead-letter").at("errorType") == "int");
    CHECK(dead[0].metadata.at("failpipe-dead-letter").at("errorMessage") == "exception of type int (not a std::exception)");
    REQUIRE(recorder.events.size() == 3);
    CHECK(recorder.events[0].outcome == Outcome::retried);
    CHECK(recorder.events[0].error_type == "int");
    CHECK(recorder.events[2].outcome == Outcome::dead_lettered);
    CHECK(recorder.events[2].reason == "failure");
}

// ---------------------------------------------------------------------------------------------
// Correlation ids

TEST_CASE("correlation: Queue::push gives a message without one a fresh id, and keeps one it has") {
    Rig rig;
    const Queue queue(rig.adapter, "orders");
    queue.push(Rig::job(1));
    queue.push(Rig::job(2));
    Message own = Rig::job(3);
    own.metadata[kCorrelation] = "checkout-42";
    queue.push(std::move(own));
    Message number = Rig::job(4);
    number.metadata[kCorrelation] = 1234;
    queue.push(std::move(number));
    Message empty = Rig::job(5);
    empty.metadata[kCorrelation] = "";
    queue.push(std::move(empty));
    const auto messages = rig.adapter->browse("orders", 0, 10);
    REQUIRE(messages.size() == 5);
    const std::regex hex("[0-9a-f]{32}");
    CHECK(std::regex_match(correlation_of(messages[0]), hex));
    CHECK(std::regex_match(correlation_of(messages[1]), hex));
    CHECK(correlation_of(messages[0]) != correlation_of(messages[1]));
    CHECK(correlation_of(messages[2]) == "checkout-42");
    CHECK(correlation_of(messages[3]) == "1234");
    CHECK(std::regex_match(correlation_of(messages[4]), hex));
}

TEST_CASE("correlation: follow-ups inherit it, a follow-up's own is kept, and a message without one lends its id") {
    Rig rig;
    auto worker = rig.worker();
    worker.on("order", [](const Message& message, HandlerContext& context) {
        context.push("receipts", Message::create("receipt", message.data));
        Message own = Message::create("audit", message.data);
        own.metadata[kCorrelation] = "audit-trail";
        context.push("audit", std::move(own));
    });
    Message tagged = Rig::job(1);
    tagged.metadata[kCorrelation] = "checkout-42";
    Queue(rig.adapter, "orders").push(std::move(tagged));
    const std::string plain = rig.adapter->push("orders", Rig::job(2));  // a plain adapter push: none
    CHECK(worker.run_until_idle() == 2);
    const auto receipts = rig.adapter->browse("receipts", 0, 10);
    REQUIRE(receipts.size() == 2);
    CHECK(correlation_of(receipts[0]) == "checkout-42");
    CHECK(correlation_of(receipts[1]) == plain);
    const auto audit = rig.adapter->browse("audit", 0, 10);
    REQUIRE(audit.size() == 2);
    CHECK(correlation_of(audit[0]) == "audit-trail");
    CHECK(correlation_of(audit[1]) == "audit-trail");
}

TEST_CASE("correlation: carried across retries, the dead letter and a replay - every log line names it") {
    Rig rig;
    WorkerOptions options;
    options.channels = {"orders", "orders:retry"};
    auto worker = rig.worker({make<SendAgainMiddleware>("again", 1, "orders:retry")}, options);
    Recorder recorder;
    worker.observe(recorder.observer());
    bool fail = true;
    worker.on("order", [&](const Message&, HandlerContext&) {
        if (fail) throw TransientError("gateway timeout");
    });
    const std::string id = rig.push();
    const std::string correlation = correlation_of(rig.adapter->browse("orders", 0, 1).at(0));
    InfoLog log;
    for (int round = 0; round < 4; ++round) worker.run_until_idle();
    const auto dead = rig.adapter->browse("orders:retry:dlq", 0, 10);
    REQUIRE(dead.size() == 1);
    CHECK(correlation_of(dead[0]) == correlation);
    const std::string subject = "message " + id + " [channel=orders correlation=" + correlation + "]";
    const std::string retried = "message " + id + " [channel=orders:retry correlation=" + correlation + "]";
    CHECK(log.text().find(subject + " failed (failpipe::TransientError: gateway timeout); send-again by again to \"orders:retry\" after 0 s") !=
          std::string::npos);
    CHECK(log.text().find(retried + " failed (failpipe::TransientError: gateway timeout); dead-letter by final to \"orders:retry:dlq\"") !=
          std::string::npos);

    DeadLetterFilter filter;
    filter.channel = "orders:retry";
    ReplayOptions replay;
    replay.to = "orders";
    const ReplayResult replayed = DeadLetters(rig.adapter).replay(filter, replay);
    CHECK(replayed.replayed.size() == 1);
    fail = false;
    CHECK(worker.run_until_idle() == 1);
    REQUIRE(recorder.events.size() == 3);
    for (const auto& event : recorder.events) CHECK(event.correlation_id == correlation);
    CHECK(recorder.events.back().outcome == Outcome::succeeded);
}

// ---------------------------------------------------------------------------------------------
// Delivery events

TEST_CASE("events: one per delivery, with the decision, the first attempt and how late a delayed retry ran") {
    Rig rig;
    auto worker = rig.worker({make<ExponentialDelayMiddleware>("backoff", 2, 5.0, 60.0, 2.0)});
    Recorder recorder;
    worker.observe(recorder.observer());
    int runs = 0;
    worker.on("order", [&](const Message&, HandlerContext&) {
        std::this_thread::sleep_for(2ms);
        if (++runs == 1) throw TransientError("gateway timeout");
    });
    const std::string id = rig.push();
    CHECK(worker.run_until_idle() == 1);
    REQUIRE(recorder.events.size() == 1);
    const Seen first = recorder.events[0];
    CHECK(first.outcome == Outcome::retried);
    CHECK(first.channel == "orders");
    CHECK(first.message_type == "order");
    CHECK(first.message_id == id);
    CHECK(first.first_attempt);
    CHECK(first.deliveries == 1);
    CHECK(first.error_class == ErrorClass::transient);
    CHECK(first.error_type == "failpipe::TransientError");
    CHECK(first.error_message == "gateway timeout");
    CHECK(first.action == FailureAction::delay);
    CHECK(first.decided_by == "backoff");
    CHECK(first.target == "orders");
    CHECK(first.delay.count() > 0);
    CHECK(first.handler_time >= 2ms);
    CHECK_FALSE(first.lateness.has_value());

    // The retry runs 7 s after it was due.
    rig.clock->advance(first.delay + Seconds{7.0});
    CHECK(worker.run_until_idle() == 1);
    REQUIRE(recorder.events.size() == 2);
    const Seen second = recorder.events[1];
    CHECK(second.outcome == Outcome::succeeded);
    CHECK_FALSE(second.first_attempt);
    REQUIRE(second.lateness.has_value());
    CHECK(second.lateness->count() == doctest::Approx(7.0).epsilon(0.01));
    CHECK_FALSE(second.error_class.has_value());
    CHECK_FALSE(second.action.has_value());
}

TEST_CASE("events: dead letters, poison, releases and rethrows are reported - a throwing observer breaks nothing") {
    Rig rig;
    FailureMiddlewareDispatcher::Options dispatcher;
    dispatcher.clock = rig.clock;
    dispatcher.final_behavior = FinalBehavior::rethrow;
    WorkerOptions strict_options;
    strict_options.channels = {"strict"};
    strict_options.wait = 0ms;
    Worker rethrowing(rig.adapter, FailureMiddlewareDispatcher(dispatcher), Classifier{}, strict_options);
    auto worker = rig.worker();
    Recorder recorder;
    int thrown = 0;
    worker.observe(make_delivery_observer([&](const DeliveryEvent&) {
        ++thrown;
        throw std::runtime_error("observer bug");
    }));
    worker.observe(recorder.observer());
    rethrowing.observe(recorder.observer());
    worker.on("order", [](const Message& message, HandlerContext& context) {
        if (message.data == 1) throw PermanentError("bad card");
        if (message.data == 2) context.release(Seconds{3.0}, "breaker:gateway");
    });
    rethrowing.on("order", [](const Message&, HandlerContext&) { throw std::runtime_error("nope"); });
    const std::string bad = rig.push(1);
    const std::string released = rig.push(2);
    const std::string good = rig.push(3);
    rig.adapter->push_raw("orders", "{not json");
    Queue(rig.adapter, "strict").push(Rig::job(4));
    CHECK(worker.run_until_idle() == 4);
    CHECK_THROWS_AS(rethrowing.run_until_idle(), MessageFailureError);
    CHECK(thrown == 4);
    REQUIRE(recorder.events.size() == 5);
    std::map<std::string, Seen> by_id;
    for (const auto& e : recorder.events) by_id[e.message_id] = e;
    CHECK(by_id[bad].outcome == Outcome::dead_lettered);
    CHECK(by_id[bad].action == FailureAction::dead_letter);
    CHECK(by_id[bad].decided_by == "final");
    CHECK(by_id[bad].target == "orders:dlq");
    CHECK(by_id[bad].reason == "failure");
    CHECK(by_id[bad].error_class == ErrorClass::permanent);
    CHECK(by_id[released].outcome == Outcome::released);
    CHECK(by_id[released].decided_by == "breaker:gateway");
    CHECK(by_id[released].delay.count() == doctest::Approx(3.0));
    CHECK(by_id[released].target == "orders");
    CHECK(by_id[good].outcome == Outcome::succeeded);
    CHECK(by_id[good].correlation_id.size() == 32);
    const Seen& poison = recorder.events[3];
    CHECK(poison.outcome == Outcome::dead_lettered);
    CHECK(poison.poison);
    CHECK(poison.reason == "poison");
    CHECK(poison.decided_by == "worker");
    CHECK(poison.correlation_id == poison.message_id);
    const Seen& strict = recorder.events[4];
    CHECK(strict.channel == "strict");
    CHECK(strict.outcome == Outcome::left_with_broker);
    CHECK(strict.action == FailureAction::rethrow);
    CHECK(rig.adapter->depth("strict").reserved == 1);  // still the broker's: it comes back
    CHECK(worker.metrics().snapshot().succeeded == 1);
}

TEST_CASE("events: a retry the budget pushed to its maximum delay says so, in its event and its log line") {
    Rig rig;
    RetryBudgetOptions budget;
    budget.ratio_percent = 10;
    budget.min_retries = 0;
    budget.fallback_delay = Seconds{45.0};
    FailureMiddlewareDispatcher::Options dispatcher;
    dispatcher.clock = rig.clock;
    dispatcher.default_pipeline = {make<SendAgainMiddleware>("again", 5)};
    dispatcher.retry_budget = std::make_shared<RetryBudget>(budget, std::map<std::string, RetryBudgetOptions>{}, rig.clock);
    WorkerOptions options;
    options.channels = {"orders"};
    options.wait = 0ms;
    Worker worker(rig.adapter, FailureMiddlewareDispatcher(dispatcher), Classifier{}, options);
    Recorder recorder;
    worker.observe(recorder.observer());
    worker.on("order", [](const Message&, HandlerContext&) { throw TransientError("gateway timeout"); });
    const std::string id = rig.push();
    InfoLog log;
    CHECK(worker.run_until_idle() == 1);
    REQUIRE(recorder.events.size() == 1);
    CHECK(recorder.events[0].outcome == Outcome::retried);
    CHECK(recorder.events[0].budget_exhausted);
    CHECK(recorder.events[0].delay.count() == doctest::Approx(45.0));
    CHECK(rig.adapter->status(id).state == MessageState::delayed);
    CHECK(log.text().find("delay by again to \"orders\" after 45 s (retry budget exhausted: its maximum delay)") !=
          std::string::npos);
}

TEST_CASE("events: a settle refused as stale and a release refused as stale are reported as settle-failed, once each") {
    Rig rig;
    auto worker = rig.worker();
    Recorder recorder;
    worker.observe(recorder.observer());
    int runs = 0;
    worker.on("order", [&](const Message& message, HandlerContext& context) {
        if (++runs > 2) return;
        if (message.data == 2) context.release(Seconds{1.0}, "late");
        rig.clock->advance(Seconds{31});  // slower than the visibility timeout (30 s)
        rig.adapter->reclaim();
    });
    const std::string handled = rig.push(1);
    const std::string released = rig.push(2);
    for (int round = 0; round < 3; ++round) worker.run_until_idle();
    CHECK(runs == 4);  // both come back and are handled: at least once
    CHECK(rig.adapter->depth("orders").total() == 0);
    std::map<std::string, std::vector<Outcome>> outcomes;
    for (const auto& e : recorder.events) outcomes[e.message_id].push_back(e.outcome);
    CHECK(outcomes[handled] == std::vector<Outcome>{Outcome::settle_failed, Outcome::succeeded});
    CHECK(outcomes[released] == std::vector<Outcome>{Outcome::settle_failed, Outcome::succeeded});
    CHECK(worker.metrics().snapshot().settle_errors == 2);
    CHECK(worker.metrics().snapshot().released == 0);
}

TEST_CASE("logs: a handler's megabyte error message is cut in every log line - the dead letter keeps it whole") {
    Rig rig;
    auto worker = rig.worker({make<SendAgainMiddleware>("again", 1)});
    const std::string huge = "upstream said: " + std::string(1 << 20, 'x');
    worker.on("order", [&](const Message&, HandlerContext&) { throw std::runtime_error(huge); });
    const std::string id = rig.push();
    InfoLog log;
    CHECK(worker.run_until_idle() == 2);  // retried once, then dead-lettered
    const std::string text = log.text();
    CHECK(text.find("upstream said: xxx") != std::string::npos);
    CHECK(text.find("(1048591 bytes)") != std::string::npos);
    std::size_t longest = 0;
    for (std::size_t start = 0; start < text.size();) {
        const std::size_t end = std::min(text.find('\n', start), text.size());
        longest = std::max(longest, end - start);
        start = end + 1;
    }
    CHECK(longest < 2000);
    auto dead = rig.adapter->browse("orders:dlq", 0, 10);
    REQUIRE(dead.size() == 1);
    CHECK(dead[0].metadata.at("failpipe-dead-letter").at("errorMessage") == huge);
}

TEST_CASE("logs: a producer's id and correlation id cannot forge or flood log lines - control bytes escaped, long values cut") {
    Rig rig;
    auto worker = rig.worker({make<SendAgainMiddleware>("again", 1)});
    worker.on("order", [&](const Message&, HandlerContext&) { throw std::runtime_error("no"); });
    Message message = Rig::job();
    message.id = "evil\n[failpipe] [error] forged line";
    message.metadata[kCorrelation] = std::string(100000, 'c');
    rig.adapter->push("orders", message);
    InfoLog log;
    CHECK(worker.run_until_idle() == 2);
    const std::string text = log.text();
    CHECK(text.find("evil\\n[failpipe] [error] forged line") != std::string::npos);
    CHECK(text.find("\n[failpipe] [error] forged line") == std::string::npos);
    std::size_t longest = 0;
    for (std::size_t start = 0; start < text.size();) {
        const std::size_t end = std::min(text.find('\n', start), text.size());
        longest = std::max(longest, end - start);
        start = end + 1;
    }
    CHECK(longest < 2000);
    auto dead = rig.adapter->browse("orders:dlq", 0, 10);
    REQUIRE(dead.size() == 1);
    CHECK(dead[0].id == message.id);  // the message itself keeps both as they were
    CHECK(correlation_of(dead[0]) == std::string(100000, 'c'));
}
