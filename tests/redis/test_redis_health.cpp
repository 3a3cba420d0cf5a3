// Health and depth gauges over Redis: the dead letters a probe counts, the gauges a scrape reads,
// and the verdict while a private server runs, is paused and is stopped.
#include <doctest/doctest.h>

#include <failpipe/channel_stats.hpp>
#include <failpipe/health.hpp>
#include <failpipe/metrics.hpp>

#include "prometheus_parser.hpp"
#include "redis_test_support.hpp"

using namespace failpipe;
using namespace failpipe::redis_test;

namespace {

std::string joined(const std::vector<std::string>& problems) {
    std::string out;
    for (const auto& p : problems) out += p + "\n";
    return out;
}

}  // namespace

TEST_CASE("redis health: the probe counts dead letters and a scrape reads the depths") {
    auto adapter = shared_server_adapter();
    adapter->push("orders", Message::create("order", 1));
    adapter->push("orders", Message::create("order", 2), Seconds{600});
    adapter->push("orders:dlq", Message::create("order", 3));
    adapter->push("orders:dlq", Message::create("order", 4), Seconds{600});
    adapter->push("orders:parked", Message::create("order", 5));
    adapter->push("invoices", Message::create("invoice", 6));
    REQUIRE(adapter->reserve({"invoices"}, 1, std::chrono::milliseconds(0)).size() == 1);

    const auto facts = probe_broker(adapter);
    CHECK(facts.reachable);
    CHECK(facts.dead_letters == std::map<std::string, std::size_t>{{"orders:dlq", 2}});
    const auto report = evaluate_health(&facts);
    CHECK(report.status == HealthStatus::warning);

    Metrics metrics;
    metrics.add_collector(depth_collector(adapter));
    const std::string page = metrics.to_prometheus();
    const auto e = failpipe::test::PromExposition::parse(page);
    INFO(page);
    CHECK_MESSAGE(e.problems.empty(), joined(e.problems));
    auto depth = [&](const char* channel, const char* state) {
        return e.value("failpipe_channel_messages", {{"channel", channel}, {"state", state}});
    };
    CHECK(depth("orders", "ready") == 1.0);
    CHECK(depth("orders", "delayed") == 1.0);
    CHECK(depth("orders", "dead") == 2.0);
    CHECK(depth("orders", "parked") == 1.0);
    CHECK(depth("invoices", "reserved") == 1.0);
}

TEST_CASE("redis health: healthy, warning on a dead letter, unhealthy while paused and once stopped") {
    RedisServer server;
    RedisAdapter::Options options;
    options.url = server.url();
    options.key_prefix = unique_prefix("health");
    options.connect_timeout = Seconds{0.5};
    options.command_timeout = Seconds{0.5};
    auto adapter = std::make_shared<RedisAdapter>(options);
    HealthOptions health;
    health.timeout = Seconds{1.0};
    Metrics metrics;
    metrics.add_collector(depth_collector(adapter));

    adapter->push("orders", Message::create("order", 1));
    auto report = check_health(adapter, health);
    CHECK(report.status == HealthStatus::healthy);

    adapter->push("orders:dlq", Message::create("order", 2));
    report = check_health(adapter, health, nullptr, &report);
    CHECK(report.status == HealthStatus::warning);
    CHECK(report.component("dead-letters")->reasons ==
          std::vector<std::string>{"orders:dlq holds 1 dead letter (1 more since the last check)"});

    server.pause();
    report = check_health(adapter, health, nullptr, &report);
    server.resume();
    CHECK(report.status == HealthStatus::unhealthy);
    CHECK(report.component("broker")->reasons.at(0).starts_with("unreachable: "));

    // Back: the dead letter is still there, so a warning again (and no growth: the unreachable
    // report counted nothing).
    CHECK(eventually([&] { return check_health(adapter, health).status == HealthStatus::warning; }, 10s));
    CHECK(adapter->depth("orders").ready == 1);

    server.stop();
    report = check_health(adapter, health);
    CHECK(report.status == HealthStatus::unhealthy);
    CHECK(exit_code(report.status) == 2);
    // A scrape while the broker is down still gives a valid page, without the depth gauges.
    const auto e = failpipe::test::PromExposition::parse(metrics.to_prometheus());
    CHECK(e.problems.empty());
    CHECK(e.families.count("failpipe_channel_messages") == 0);
    CHECK(e.value("failpipe_metrics_collector_errors_total") == 1.0);
}
