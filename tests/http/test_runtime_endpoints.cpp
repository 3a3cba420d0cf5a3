// serve_runtime(): a pool's /metrics and /health over real loopback connections.
#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <future>
#include <mutex>
#include <thread>
#include <vector>
#include <httplib.h>

#include "failpipe/failpipe.hpp"
#include "../eventually.hpp"
#include "failpipe/http/runtime_endpoints.hpp"
#include "failpipe/memory/in_memory_adapter.hpp"
#include "../prometheus_parser.hpp"
#include "../test_support.hpp"
#include "health_probe_support.hpp"

namespace {

}  // namespace

TEST_CASE("runtime endpoints: /metrics parses back with the pool's counts, depths and gauges - /health says warning then 503") {
    auto adapter = std::make_shared<failpipe::InMemoryAdapter>();
    failpipe::WorkerOptions worker;
    worker.channels = {"orders"};
    worker.wait = std::chrono::milliseconds(5);
    failpipe::WorkerPoolOptions pool_options;
    pool_options.threads = 2;
    failpipe::WorkerPool pool(adapter, failpipe::FailureMiddlewareDispatcher{}, failpipe::Classifier{}, worker,
                              pool_options);
    auto metrics = std::make_shared<failpipe::Metrics>();
    pool.observe(metrics);
    std::atomic<int> calls{0};
    pool.on("order", [&](const failpipe::Message& message, failpipe::HandlerContext&) {
        ++calls;
        if (message.data.at("bad").get<bool>()) throw failpipe::PermanentError("invalid card");
    });
    failpipe::http::RuntimeEndpointsOptions options;
    options.listen = failpipe::ListenAddress::parse("127.0.0.1:0");
    options.channels = {"orders"};
    auto server = failpipe::http::serve_runtime(pool, metrics, adapter, options);
    httplib::Client client("127.0.0.1", server->address().port);
    client.set_read_timeout(5);

    pool.start();
    for (int i = 0; i < 3; ++i) adapter->push("orders", failpipe::Message::create("order", {{"bad", false}}));
    adapter->push("orders", failpipe::Message::create("order", {{"bad", true}}));
    REQUIRE(failpipe::test::eventually([&] { return adapter->depth("orders:dlq").total() == 1 && calls.load() == 4; }));
    REQUIRE(failpipe::test::eventually([&] { return metrics->snapshot().total().received == 4; }));

    auto page = client.Get("/metrics");
    REQUIRE(page);
    CHECK(page->status == 200);
    const auto exposition = failpipe::test::PromExposition::parse(page->body);
    CHECK(exposition.problems.empty());
    CHECK(exposition.value("failpipe_messages_total", {{"channel", "orders"}, {"type", "order"}, {"outcome", "succeeded"}}) == 3.0);
    CHECK(exposition.value("failpipe_messages_total", {{"channel", "orders"}, {"type", "order"}, {"outcome", "dead-lettered"}}) == 1.0);
    CHECK(exposition.value("failpipe_channel_messages", {{"channel", "orders"}, {"state", "dead"}}) == 1.0);
    CHECK(exposition.value("failpipe_worker_threads", {{"state", "alive"}}) == 2.0);

    auto warning = client.Get("/health");
    REQUIRE(warning);
    CHECK(warning->status == 200);
    CHECK(nlohmann::json::parse(warning->body).at("status") == "warning");

    pool.request_stop();
    REQUIRE(pool.join_for(failpipe::Seconds{10.0}));
    auto unhealthy = client.Get("/health");
    REQUIRE(unhealthy);
    CHECK(unhealthy->status == 503);
}

namespace {

// A pool on "orders" that is never started: the endpoints read its gauges only.
std::unique_ptr<failpipe::WorkerPool> idle_pool(std::shared_ptr<failpipe::AdapterInterface> adapter) {
    failpipe::WorkerOptions worker;
    worker.channels = {"orders"};
    return std::make_unique<failpipe::WorkerPool>(std::move(adapter), failpipe::FailureMiddlewareDispatcher{},
                                                  failpipe::Classifier{}, worker, failpipe::WorkerPoolOptions{});
}

failpipe::http::RuntimeEndpointsOptions loopback_options() {
    failpipe::http::RuntimeEndpointsOptions options;
    options.listen = failpipe::ListenAddress::parse("127.0.0.1:0");
    options.channels = {"orders"};
    return options;
}

}  // namespace

TEST_CASE("runtime endpoints: with a dead_letter_suffix other than :dlq, /metrics counts the dead letters /health sees") {
    auto adapter = std::make_shared<failpipe::InMemoryAdapter>();
    auto pool = idle_pool(adapter);
    adapter->push("orders", failpipe::Message::create("order", {{"n", 1}}));
    adapter->push("orders:dead", failpipe::Message::create("order", {{"n", 2}}));
    adapter->push("orders:dead", failpipe::Message::create("order", {{"n", 3}}));
    auto options = loopback_options();
    options.dead_letter_suffix = ":dead";
    auto server = failpipe::http::serve_runtime(*pool, std::make_shared<failpipe::Metrics>(), adapter, options);
    httplib::Client client("127.0.0.1", server->address().port);
    client.set_read_timeout(5);

    auto health = client.Get("/health");
    REQUIRE(health);
    CHECK(nlohmann::json::parse(health->body).at("deadLetters").at("orders:dead") == 2);
    auto page = client.Get("/metrics");
    REQUIRE(page);
    const auto exposition = failpipe::test::PromExposition::parse(page->body);
    CHECK(exposition.problems.empty());
    CHECK(exposition.value("failpipe_channel_messages", {{"channel", "orders"}, {"state", "ready"}}) == 1.0);
    CHECK(exposition.value("failpipe_channel_messages", {{"channel", "orders"}, {"state", "dead"}}) == 2.0);
}

TEST_CASE("runtime endpoints: served again on the same Metrics after a restart, /metrics has each gauge once - the old server's collectors are gone") {
    auto adapter = std::make_shared<failpipe::InMemoryAdapter>();
    auto pool_owner = idle_pool(adapter);
    failpipe::WorkerPool& pool = *pool_owner;
    auto metrics = std::make_shared<failpipe::Metrics>();
    auto options = loopback_options();
    failpipe::http::serve_runtime(pool, metrics, adapter, options).reset();  // served, then stopped
    auto server = failpipe::http::serve_runtime(pool, metrics, adapter, options);
    httplib::Client client("127.0.0.1", server->address().port);
    client.set_read_timeout(5);
    auto page = client.Get("/metrics");
    REQUIRE(page);
    const std::string sample = "failpipe_worker_threads{state=\"total\"} 1\n";
    std::size_t count = 0;
    for (auto at = page->body.find(sample); at != std::string::npos; at = page->body.find(sample, at + 1)) ++count;
    CHECK(count == 1);
    const std::string depth = "failpipe_channel_messages{channel=\"orders\",state=\"ready\"} 0\n";
    count = 0;
    for (auto at = page->body.find(depth); at != std::string::npos; at = page->body.find(depth, at + 1)) ++count;
    CHECK(count == 1);
    // Once the server is gone the Metrics no longer reaches into the pool.
    server.reset();
    CHECK(metrics->to_prometheus().find("failpipe_worker_threads") == std::string::npos);
}

namespace {

using failpipe::test::broker_reason;
using failpipe::test::get_health;

// A never-started pool's endpoints over a broker that hangs until the test opens it.
struct HungBroker {
    std::shared_ptr<failpipe::InMemoryAdapter> memory = std::make_shared<failpipe::InMemoryAdapter>();
    std::shared_ptr<failpipe::test::GatedDepth> adapter = std::make_shared<failpipe::test::GatedDepth>(memory);
    std::unique_ptr<failpipe::WorkerPool> pool = idle_pool(memory);
    std::unique_ptr<failpipe::http::EndpointServer> server;
    std::uint16_t port = 0;

    explicit HungBroker(failpipe::Seconds health_timeout) {
        auto options = loopback_options();
        options.health_timeout = health_timeout;
        server = failpipe::http::serve_runtime(*pool, std::make_shared<failpipe::Metrics>(), adapter, options);
        port = server->address().port;
    }
};

}  // namespace

TEST_CASE("runtime endpoints: /health requests during a slow probe share it - one probe in flight, each answered when the broker answers") {
    HungBroker broker(failpipe::Seconds{30.0});
    std::vector<std::future<std::pair<int, std::string>>> replies;
    for (int i = 0; i < 3; ++i) replies.push_back(std::async(std::launch::async, get_health, broker.port));
    REQUIRE(failpipe::test::eventually([&] { return broker.adapter->most() == 1; }, std::chrono::seconds(5)));
    std::this_thread::sleep_for(std::chrono::milliseconds(300));  // the other requests arrive meanwhile
    CHECK(broker.adapter->most() == 1);  // they wait for the probe in flight, none starts its own
    const auto opened = std::chrono::steady_clock::now();
    broker.adapter->open();
    for (auto& reply : replies) CHECK(reply.get().first == 503);  // answered (unhealthy: the pool was never started)
    // Together: none queued behind another probe.
    CHECK(std::chrono::steady_clock::now() - opened < std::chrono::seconds(5));
}

TEST_CASE("runtime endpoints: 24 /health requests against a hung broker - one probe, no thread left behind, 503 naming the wait, then recovery") {
    HungBroker broker(failpipe::Seconds{0.2});
    // The server's request threads start once it listens, a moment after it says it runs: a request
    // it answers (404, without the broker) shows they are there before they are counted.
    httplib::Client first("127.0.0.1", broker.port);
    REQUIRE(first.Get("/no-such-page"));
    const std::size_t threads_before = failpipe::test::threads_of_this_process();
    std::vector<std::future<std::pair<int, std::string>>> replies;
    for (int i = 0; i < 24; ++i) replies.push_back(std::async(std::launch::async, get_health, broker.port));
    for (auto& future : replies) {
        const auto [status, body] = future.get();
        CHECK(status == 503);
        CHECK(broker_reason(body).rfind("unreachable: no answer within 0.2 s", 0) == 0);
    }
    CHECK(broker.adapter->most() == 1);
    // One probe thread, still waiting on the broker; no thread per request.
    CHECK(failpipe::test::eventually(
        [&] { return failpipe::test::threads_of_this_process() <= threads_before; }, std::chrono::seconds(5)));
    // A request made now says how long that probe has been waiting.
    CHECK(broker_reason(get_health(broker.port).second).find("(a probe has been waiting ") != std::string::npos);

    broker.adapter->open();  // the broker answers again
    CHECK(failpipe::test::eventually([&] { return broker_reason(get_health(broker.port).second) == "healthy"; },
                                     std::chrono::seconds(5)));
}

TEST_CASE("runtime endpoints: a health_timeout of 0 or above 1e9 s is refused at start, naming it") {
    auto adapter = std::make_shared<failpipe::InMemoryAdapter>();
    auto pool = idle_pool(adapter);
    for (const double timeout : {0.0, 1e12}) {
        auto options = loopback_options();
        options.health_timeout = failpipe::Seconds{timeout};
        CHECK_THROWS_WITH_AS(failpipe::http::serve_runtime(*pool, std::make_shared<failpipe::Metrics>(), adapter, options),
                             "serve_runtime: health_timeout must be above 0 and at most 1e9 s",
                             failpipe::InvalidArgumentError);
    }
}

namespace {

// An adapter with figures of its own, as the Redis adapter has its outbox relay's.
class AdapterWithFigures final : public failpipe::test::ForwardingAdapter {
public:
    AdapterWithFigures() : ForwardingAdapter(std::make_shared<failpipe::InMemoryAdapter>()) {}
    void write_metrics(failpipe::PrometheusWriter& writer) override {
        writer.gauge("failpipe_outbox_relay_lag_seconds", "test figure", {{"group", "orders"}}, 2.5);
    }
};

}  // namespace

TEST_CASE("runtime endpoints: /metrics carries the adapter's own figures (BrokerAdapter::write_metrics)") {
    auto adapter = std::make_shared<AdapterWithFigures>();
    auto pool_owner = idle_pool(adapter);
    failpipe::WorkerPool& pool = *pool_owner;
    auto metrics = std::make_shared<failpipe::Metrics>();
    auto options = loopback_options();
    auto server = failpipe::http::serve_runtime(pool, metrics, adapter, options);
    httplib::Client client("127.0.0.1", server->address().port);
    client.set_read_timeout(5);

    auto page = client.Get("/metrics");
    REQUIRE(page);
    const auto exposition = failpipe::test::PromExposition::parse(page->body);
    CHECK(exposition.problems.empty());
    CHECK(exposition.value("failpipe_outbox_relay_lag_seconds", {{"group", "orders"}}) == 2.5);
}
