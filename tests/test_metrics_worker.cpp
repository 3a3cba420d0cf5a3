// Metrics fed by a real Worker over the in-memory adapter: a known run — successes, transient
// failures retried then dead-lettered, a permanent failure, an unknown one sent again, a release,
// a message without a handler and poison bytes — gives exact counts, equal to the worker's own counters, and
// a page the strict parser accepts.
#include <doctest/doctest.h>

#include <failpipe/failpipe.hpp>
#include <failpipe/memory/in_memory_adapter.hpp>
#include <failpipe/metrics.hpp>

#include "prometheus_parser.hpp"

using namespace failpipe;

namespace {

constexpr std::string_view kConfig = R"({
  "defaultPipeline": [
    {"type": "dead-letter", "id": "permanent", "on": ["permanent"]},
    {"type": "exponential-delay", "id": "backoff", "on": ["transient"], "maxAttempts": 2,
     "delayInitial": 1, "delayMaximum": 10, "exponent": 2},
    {"type": "send-again", "id": "again", "on": ["unknown"], "maxAttempts": 1}
  ],
  "final": "dead-letter"
})";

std::string lines_of(const std::vector<std::string>& problems) {
    std::string out;
    for (const auto& p : problems) out += p + "\n";
    return out;
}

}  // namespace

TEST_CASE("metrics: a known run through a real worker gives exact counts, equal to the worker's own") {
    auto clock = std::make_shared<ManualClock>();
    InMemoryAdapter::Options adapter_options;
    adapter_options.clock = clock;
    auto adapter = std::make_shared<InMemoryAdapter>(adapter_options);
    const Config config = parse_config(kConfig, MiddlewareRegistry::with_builtins(), clock);
    auto dispatcher_options = config.dispatcher;
    dispatcher_options.clock = clock;
    WorkerOptions options;
    options.channels = {"orders"};
    options.wait = std::chrono::milliseconds(0);
    Worker worker(adapter, FailureMiddlewareDispatcher(dispatcher_options), config.classifier, options);
    auto metrics = std::make_shared<Metrics>();
    worker.observe(metrics);
    bool released_once = false;
    worker.on("order", [&](const Message& m, HandlerContext& context) {
        const std::string kind = m.data.at("kind").get<std::string>();
        if (kind == "later" && !released_once) {
            released_once = true;
            context.release(Seconds{5}, "breaker:gateway");  // the gateway is down: not now, not a failure
            return;
        }
        if (kind == "transient") throw TransientError("gateway timed out");
        if (kind == "permanent") throw PermanentError("card invalid");
        if (kind == "unknown") throw std::runtime_error("something odd");
    });

    for (int i = 0; i < 3; ++i) adapter->push("orders", Message::create("order", {{"kind", "ok"}}));
    for (const char* kind : {"transient", "permanent", "unknown", "later"})
        adapter->push("orders", Message::create("order", {{"kind", kind}}));
    adapter->push("orders", Message::create("nope", {{"kind", "ok"}}));
    adapter->push_raw("orders", "\x01 not a message");

    for (int round = 0; round < 5; ++round) {
        worker.run_until_idle(1000);
        clock->advance(Seconds{20});
    }
    REQUIRE(adapter->depth("orders").total() == 0);
    REQUIRE(adapter->depth("orders:dlq").ready == 5);

    const auto snap = metrics->snapshot();
    const auto all = snap.total();
    const auto own = worker.metrics().snapshot();
    CHECK(all.received == 13);
    CHECK(all.received == own.received);
    CHECK(all.outcome(Outcome::succeeded) == 4);
    CHECK(all.outcome(Outcome::succeeded) == own.succeeded);
    CHECK(all.outcome(Outcome::retried) == 3);
    CHECK(all.outcome(Outcome::retried) == own.retried);
    CHECK(all.outcome(Outcome::dead_lettered) == 5);
    CHECK(all.outcome(Outcome::dead_lettered) == own.dead_lettered);
    CHECK(all.outcome(Outcome::released) == 1);
    CHECK(all.outcome(Outcome::released) == own.released);
    CHECK(all.released_by == std::map<std::string, std::uint64_t>{{"breaker:gateway", 1}});
    CHECK(all.poison == 1);
    CHECK(all.poison == own.poison);
    CHECK(all.failures(ErrorClass::transient) == 3);
    CHECK(all.failures(ErrorClass::permanent) == 2);
    CHECK(all.failures(ErrorClass::unknown) == 2);
    CHECK(all.failures() == own.failed);
    CHECK(all.retried_by == std::map<std::string, std::uint64_t>{{"again", 1}, {"backoff", 2}});
    CHECK(all.dead_lettered_by.at("poison") == 1);
    // The two delayed retries (due 1 s and 2 s after their failure) ran when the clock had moved 20 s.
    REQUIRE(all.retry_lateness_seconds.count() == 2);
    CHECK(all.retry_lateness_seconds.quantile(1.0) > 10.0);
    CHECK(all.retry_lateness_seconds.quantile(1.0) <= 30.0);

    const auto order = snap.channel("orders");
    CHECK(order.received == 13);
    const std::string page = metrics->to_prometheus();
    const auto e = failpipe::test::PromExposition::parse(page);
    INFO(page);
    CHECK_MESSAGE(e.problems.empty(), lines_of(e.problems));
    CHECK(e.value("failpipe_received_total", {{"channel", "orders"}, {"type", "order"}}) == 11.0);
    CHECK(e.value("failpipe_received_total", {{"channel", "orders"}, {"type", "nope"}}) == 1.0);
    CHECK(e.value("failpipe_poison_total", {{"channel", "orders"}, {"type", "(none)"}}) == 1.0);
    CHECK(e.value("failpipe_retries_total", {{"channel", "orders"}, {"type", "order"}, {"middleware", "backoff"}}) == 2.0);
    CHECK(e.value("failpipe_messages_total", {{"channel", "orders"}, {"type", "order"}, {"outcome", "dead-lettered"}}) == 3.0);
    CHECK(e.value("failpipe_released_total", {{"channel", "orders"}, {"type", "order"}, {"by", "breaker:gateway"}}) == 1.0);
    CHECK(e.value("failpipe_handler_duration_seconds_count", {{"channel", "orders"}, {"type", "order"}}) == 10.0);  // the release never reached the handler
}
