// Breakers and the retry budget end to end: a worker over the in-memory adapter with a manual
// clock, built from a config document as a runtime would.
#include <doctest/doctest.h>

#include <failpipe/failpipe.hpp>
#include <failpipe/memory/in_memory_adapter.hpp>

#include <atomic>
#include <set>

#include "test_support.hpp"

using namespace failpipe;
using nlohmann::json;

namespace {

struct Rig {
    std::shared_ptr<ManualClock> clock = std::make_shared<ManualClock>();
    std::shared_ptr<InMemoryAdapter> adapter;
    Config config;

    explicit Rig(const char* document)
        : config(load_config(json::parse(document), MiddlewareRegistry::with_builtins(), clock)) {
        InMemoryAdapter::Options options;
        options.clock = clock;
        adapter = std::make_shared<InMemoryAdapter>(options);
    }

    Worker worker(std::vector<std::string> channels) {
        WorkerOptions options = config.worker;
        options.channels = std::move(channels);
        Worker worker(adapter, config.make_dispatcher(), config.classifier, options);
        for (const auto& breaker : config.breakers) worker.use(breaker);
        if (config.retry_budget) worker.observe(config.retry_budget);
        return worker;
    }
};

}  // namespace

TEST_CASE("resilience: during an outage the breaker releases payments, none is dead-lettered or burns an attempt, all succeed after") {
    Rig rig(R"({
        "defaultPipeline": [{"type": "exponential-delay", "id": "backoff", "maxAttempts": 2,
                             "delayInitial": 1, "delayMaximum": 5, "exponent": 2}],
        "breakers": {"gateway": {"messageTypes": ["payment"], "failureThreshold": 3, "openFor": 10, "releaseDelay": 2}}
    })");
    auto worker = rig.worker({"payments"});
    bool outage = true;
    std::set<std::string> succeeded;
    std::map<std::string, long long> failures_before_success;
    worker.on("payment", [&](const Message& m, HandlerContext&) {
        if (outage) throw TransientError("gateway timeout");
        succeeded.insert(m.id);
        const auto& meta = m.metadata;
        auto failure = meta.find("failpipe-failure");
        failures_before_success[m.id] =
            failure != meta.end() && failure->contains("failures") ? failure->at("failures").get<long long>() : 0;
    });
    Queue queue(rig.adapter, "payments");
    std::set<std::string> pushed;
    for (int i = 0; i < 10; ++i) pushed.insert(queue.push(Message::create("payment", {{"n", i}})));

    CHECK(worker.run_until_idle() == 10);
    auto gateway = rig.config.breaker("gateway");
    CHECK(gateway->state() == BreakerState::open);
    const auto metrics = worker.metrics().snapshot();
    CHECK(metrics.failed == 3);    // the three that opened it
    CHECK(metrics.released == 7);  // the rest were given back, not failed
    CHECK(gateway->snapshot().rejected == 7);

    // The outage lasts 6 s more; released payments come back and are released again meanwhile.
    for (int second = 0; second < 6; ++second) {
        rig.clock->advance(Seconds{1});
        worker.run_until_idle();
    }
    CHECK(succeeded.empty());
    outage = false;
    for (int second = 0; second < 30 && succeeded.size() < pushed.size(); ++second) {
        rig.clock->advance(Seconds{1});
        worker.run_until_idle();
    }
    CHECK(succeeded == pushed);
    CHECK(gateway->state() == BreakerState::closed);
    CHECK(gateway->snapshot().closings == 1);
    CHECK(rig.adapter->depth("payments:dlq").total() == 0);
    CHECK(rig.adapter->depth("payments").total() == 0);
    int never_failed = 0;
    for (const auto& [id, failures] : failures_before_success) never_failed += failures == 0 ? 1 : 0;
    CHECK(never_failed == 7);  // a release recorded no failure on the message
    CHECK(worker.metrics().snapshot().dead_lettered == 0);
}

TEST_CASE("resilience: past the retry budget a storm's retries wait delayMaximum, every message still gets all its attempts and none is lost") {
    Rig rig(R"({
        "defaultPipeline": [{"type": "exponential-delay", "id": "backoff", "maxAttempts": 3,
                             "delayInitial": 1, "delayMaximum": 100, "exponent": 2}],
        "retryBudget": {"default": {"ratio": 10, "minRetries": 1}}
    })");
    auto worker = rig.worker({"orders"});
    int budget_events = 0;  // run_until_idle runs on this thread
    worker.observe(make_delivery_observer([&](const DeliveryEvent& event) {
        if (event.budget_exhausted) {
            CHECK(event.outcome == Outcome::retried);
            CHECK(event.delay.count() == doctest::Approx(100.0));
            ++budget_events;
        }
    }));
    std::map<std::string, int> attempts;
    worker.on("order", [&](const Message& m, HandlerContext&) {
        ++attempts[m.id];
        throw TransientError("downstream overloaded");
    });
    Queue queue(rig.adapter, "orders");
    std::set<std::string> pushed;
    for (int i = 0; i < 20; ++i) pushed.insert(queue.push(Message::create("order", {{"n", i}})));

    CHECK(worker.run_until_idle() == 20);
    // The allowance grows with the first attempts seen in the window: the floor let the first
    // failure retry early, 10% of the first attempts at most two; the others wait delayMaximum.
    const auto budget = rig.config.retry_budget->snapshot("orders");
    CHECK(budget.first_attempts == 20);
    const auto early = budget.retries;
    CHECK(early >= 1);
    CHECK(early <= 2);
    CHECK(budget.denied_total == 20 - early);
    CHECK(budget.exhausted);
    rig.clock->advance(Seconds{1});
    CHECK(worker.run_until_idle() == early);
    rig.clock->advance(Seconds{98});  // 99 s: the deferred ones are still waiting
    worker.run_until_idle();
    CHECK(rig.adapter->depth("orders").delayed >= 20 - early);
    for (const auto& [id, n] : attempts) CHECK(n <= 4);

    for (int step = 0; step < 10 && rig.adapter->depth("orders").total() > 0; ++step) {
        rig.clock->advance(Seconds{100});
        worker.run_until_idle();
    }
    CHECK(rig.adapter->depth("orders").total() == 0);
    CHECK(rig.adapter->depth("orders:dlq").total() == 20);  // each after its 3 retries, by maxAttempts
    for (const auto& id : pushed) CHECK(attempts[id] == 4);
    CHECK(worker.metrics().snapshot().dropped == 0);
    CHECK(budget_events > 0);
    CHECK(static_cast<std::uint64_t>(budget_events) == rig.config.retry_budget->snapshot("orders").denied_total);
}
