// Health: the verdict from broker and runtime facts, its JSON, and the broker probe's timeout.
#include <doctest/doctest.h>

#include <failpipe/error.hpp>
#include <failpipe/health.hpp>
#include <failpipe/memory/in_memory_adapter.hpp>

#include <nlohmann/json.hpp>

#include <atomic>
#include <cmath>
#include <limits>
#include <condition_variable>
#include <mutex>

#include "eventually.hpp"
#include "test_support.hpp"

using namespace failpipe;

namespace {

BrokerHealthFacts reachable(std::map<std::string, std::size_t> dead = {}) {
    BrokerHealthFacts b;
    b.reachable = true;
    b.dead_letters = std::move(dead);
    return b;
}

RuntimeHealthFacts running(std::size_t alive = 4, std::size_t total = 4) {
    RuntimeHealthFacts r;
    r.threads_alive = alive;
    r.threads_total = total;
    return r;
}

std::vector<std::string> reasons(const HealthReport& report, std::string_view component) {
    const HealthComponent* c = report.component(component);
    REQUIRE(c != nullptr);
    return c->reasons;
}

// An adapter whose channels() blocks until the test lets it go: a broker that does not answer.
class HangingAdapter final : public failpipe::test::ForwardingAdapter {
public:
    using ForwardingAdapter::ForwardingAdapter;
    std::vector<std::string> channels() override {
        std::unique_lock lock(mutex_);
        cv_.wait_for(lock, std::chrono::seconds(10), [&] { return released_; });
        return ForwardingAdapter::channels();
    }
    void let_go() {
        std::lock_guard lock(mutex_);
        released_ = true;
        cv_.notify_all();
    }

private:
    std::mutex mutex_;
    std::condition_variable cv_;
    bool released_ = false;
};

class BrokenAdapter final : public failpipe::test::ForwardingAdapter {
public:
    using ForwardingAdapter::ForwardingAdapter;
    std::vector<std::string> channels() override { throw ConnectionError("Redis at 127.0.0.1:1: Connection refused"); }
};

}  // namespace

TEST_CASE("health: a reachable broker without dead letters and a running runtime is healthy") {
    const auto broker = reachable({{"orders:dlq", 0}});
    const auto runtime = running();
    const auto report = evaluate_health(&broker, &runtime);
    CHECK(report.status == HealthStatus::healthy);
    CHECK(exit_code(report.status) == 0);
    std::vector<std::string> names;
    for (const auto& c : report.components) names.push_back(c.name);
    CHECK(names == std::vector<std::string>{"broker", "dead-letters", "workers", "breakers", "retry-budget",
                                            "retry-lateness", "degradation"});
}

TEST_CASE("health: an unreachable broker is unhealthy, and dead letters are not claimed") {
    BrokerHealthFacts broker;
    broker.error = "connection refused";
    const auto report = evaluate_health(&broker);
    CHECK(report.status == HealthStatus::unhealthy);
    CHECK(exit_code(report.status) == 2);
    CHECK(reasons(report, "broker") == std::vector<std::string>{"unreachable: connection refused"});
    CHECK(report.component("dead-letters") == nullptr);
    CHECK(report.dead_letters.empty());
}

TEST_CASE("health: dead letters waiting are a warning, and growth since the previous check is said") {
    const auto first_broker = reachable({{"orders:dlq", 1}, {"invoices:dlq", 0}});
    const auto first = evaluate_health(&first_broker);
    CHECK(first.status == HealthStatus::warning);
    CHECK(exit_code(first.status) == 1);
    CHECK(reasons(first, "dead-letters") == std::vector<std::string>{"orders:dlq holds 1 dead letter"});

    const auto second_broker = reachable({{"orders:dlq", 3}, {"invoices:dlq", 2}});
    const auto second = evaluate_health(&second_broker, nullptr, &first);
    CHECK(reasons(second, "dead-letters") ==
          std::vector<std::string>{"invoices:dlq holds 2 dead letters (2 more since the last check)",
                                   "orders:dlq holds 3 dead letters (2 more since the last check)"});
    const auto third = evaluate_health(&second_broker, nullptr, &second);
    CHECK(reasons(third, "dead-letters") ==
          std::vector<std::string>{"invoices:dlq holds 2 dead letters", "orders:dlq holds 3 dead letters"});
}

TEST_CASE("health: a runtime without a live worker thread is unhealthy, fewer than started a warning") {
    const auto broker = reachable();
    auto none = running(0, 4);
    CHECK(evaluate_health(&broker, &none).status == HealthStatus::unhealthy);
    CHECK(reasons(evaluate_health(&broker, &none), "workers") ==
          std::vector<std::string>{"no worker thread alive (0 of 4)"});
    auto some = running(3, 4);
    const auto report = evaluate_health(&broker, &some);
    CHECK(report.status == HealthStatus::warning);
    CHECK(reasons(report, "workers") == std::vector<std::string>{"3 of 4 worker threads alive"});
}

TEST_CASE("health: an open breaker, an exhausted budget, late retries and a degraded channel are warnings") {
    const auto broker = reachable();
    auto rt = running();
    rt.open_breakers = {"payment-gateway"};
    rt.budget_exhausted_channels = {"payments"};
    rt.retry_lateness_p99 = Seconds{12.5};
    rt.retry_lateness_threshold = Seconds{5.0};
    rt.degraded_channels = {{"payments", 2, 8}};
    const auto report = evaluate_health(&broker, &rt);
    CHECK(report.status == HealthStatus::warning);
    CHECK(reasons(report, "breakers") == std::vector<std::string>{"breaker payment-gateway is open"});
    CHECK(reasons(report, "retry-budget") ==
          std::vector<std::string>{"retry budget of channel payments is exhausted: failures wait their maximum delay"});
    CHECK(reasons(report, "retry-lateness") == std::vector<std::string>{"retry lateness p99 12.5 s is above 5 s"});
    CHECK(reasons(report, "degradation") == std::vector<std::string>{"channel payments runs at concurrency 2 of 8"});
    CHECK(report.component("broker")->status == HealthStatus::healthy);

    rt.retry_lateness_p99 = Seconds{4.0};
    CHECK(evaluate_health(&broker, &rt).component("retry-lateness")->status == HealthStatus::healthy);
}

TEST_CASE("health: unhealthy wins over warning") {
    BrokerHealthFacts broker;
    broker.error = "down";
    auto rt = running();
    rt.open_breakers = {"b"};
    CHECK(evaluate_health(&broker, &rt).status == HealthStatus::unhealthy);
}

TEST_CASE("health: the JSON has the documented keys and reads back") {
    const auto broker = reachable({{"orders:dlq", 2}});
    const auto at = std::chrono::system_clock::time_point(std::chrono::milliseconds(1764639600123));
    const auto report = evaluate_health(&broker, nullptr, nullptr, at);
    const std::string text = report.to_json();
    CHECK(text ==
          R"({"status":"warning","checkedAt":"2025-12-02T01:40:00.123Z","components":[{"name":"broker","status":"healthy","reasons":[]},)"
          R"({"name":"dead-letters","status":"warning","reasons":["orders:dlq holds 2 dead letters"]}],"deadLetters":{"orders:dlq":2}})");
    const auto back = HealthReport::from_json(text);
    CHECK(back.status == HealthStatus::warning);
    CHECK(back.checked_at == at);
    CHECK(back.dead_letters == report.dead_letters);
    CHECK(back.components.size() == 2);
    CHECK_THROWS_AS(HealthReport::from_json("{\"status\":\"fine\"}"), InvalidArgumentError);
    CHECK_THROWS_AS(HealthReport::from_json("not json"), InvalidArgumentError);
    // In plain words, without the JSON library's exception tag.
    CHECK_THROWS_WITH_AS(HealthReport::from_json(R"({"checkedAt": "x"})"), "not a health report: key 'status' not found",
                         InvalidArgumentError);
}

TEST_CASE("health: the text form has the status first and one line per reason") {
    const auto broker = reachable({{"orders:dlq", 1}});
    CHECK(evaluate_health(&broker).to_text() ==
          "warning\n  broker        healthy\n  dead-letters  warning\n    - orders:dlq holds 1 dead letter\n");
}

TEST_CASE("health: the probe counts dead letters of every dead-letter channel, or of the channels named") {
    auto adapter = std::make_shared<InMemoryAdapter>();
    adapter->push("orders", Message::create("order", 1));
    adapter->push("orders:dlq", Message::create("order", 2));
    adapter->push("orders:dlq", Message::create("order", 3), Seconds{60});
    adapter->push("invoices:dlq", Message::create("invoice", 4));
    const auto all = probe_broker(adapter);
    CHECK(all.reachable);
    CHECK(all.dead_letters == std::map<std::string, std::size_t>{{"invoices:dlq", 1}, {"orders:dlq", 2}});
    HealthOptions named;
    named.channels = {"orders", "payments", "invoices:dlq"};
    CHECK(probe_broker(adapter, named).dead_letters ==
          std::map<std::string, std::size_t>{{"invoices:dlq", 1}, {"orders:dlq", 2}, {"payments:dlq", 0}});
}

TEST_CASE("health: a broker that fails or does not answer within the timeout is unreachable") {
    auto inner = std::make_shared<InMemoryAdapter>();
    const auto broken = probe_broker(std::make_shared<BrokenAdapter>(inner));
    CHECK_FALSE(broken.reachable);
    CHECK(broken.error == "Redis at 127.0.0.1:1: Connection refused");

    auto hanging = std::make_shared<HangingAdapter>(inner);
    HealthOptions options;
    options.timeout = Seconds{0.2};
    const auto start = std::chrono::steady_clock::now();
    const auto late = probe_broker(hanging, options);
    const auto took = std::chrono::steady_clock::now() - start;
    hanging->let_go();  // the probe's thread ends now
    CHECK_FALSE(late.reachable);
    CHECK(late.error == "no answer within 0.2 s");
    CHECK(took < std::chrono::seconds(5));
    CHECK(evaluate_health(&late).status == HealthStatus::unhealthy);

    options.timeout = Seconds{0.0};
    CHECK_THROWS_AS(probe_broker(inner, options), InvalidArgumentError);
}

TEST_CASE("health: a probe timeout of 0, NaN, infinity or above 1e9 s is refused before anything is asked - a wait never overflows the clock") {
    auto inner = std::make_shared<InMemoryAdapter>();
    for (const double timeout : {0.0, -1.0, std::nan(""), std::numeric_limits<double>::infinity(), 1e12}) {
        CAPTURE(timeout);
        HealthOptions options;
        options.timeout = Seconds{timeout};
        CHECK_THROWS_WITH_AS(probe_broker(inner, options), doctest::Contains("the timeout must be > 0 and at most 1e9 s"),
                             InvalidArgumentError);
        CHECK_THROWS_AS(BrokerProbe(inner, options), InvalidArgumentError);
    }
    HealthOptions longest;
    longest.timeout = Seconds{1e9};
    BrokerProbe probe(inner, longest);
    CHECK(probe.probe().reachable);
}

TEST_CASE("health: BrokerProbe - calls during a hung probe start no other, say how long it has waited, and the next call after it answers probes afresh") {
    auto inner = std::make_shared<InMemoryAdapter>();
    auto hanging = std::make_shared<HangingAdapter>(inner);
    HealthOptions options;
    options.timeout = Seconds{0.1};
    auto probe = std::make_unique<BrokerProbe>(hanging, options);
    const auto first = probe->probe();
    CHECK_FALSE(first.reachable);
    CHECK(first.error == "no answer within 0.1 s");
    const auto second = probe->probe();  // the first probe still hangs: this one waits for it
    CHECK_FALSE(second.reachable);
    CHECK(second.error.rfind("no answer within 0.1 s (a probe has been waiting ", 0) == 0);
    hanging->let_go();
    CHECK(failpipe::test::eventually([&] { return probe->probe().reachable; }, std::chrono::seconds(5)));
    probe.reset();  // joins its thread, which is idle now
}
