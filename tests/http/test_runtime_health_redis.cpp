// serve_runtime()'s /health over a redis-server of the test's own, paused (SIGSTOP) while a burst of
// requests comes: one probe in flight, each request a clear 503, no thread per request, and
// healthy again once the server goes on (SIGCONT).
#include <doctest/doctest.h>

#include <future>
#include <httplib.h>

#include "failpipe/failpipe.hpp"
#include "failpipe/http/runtime_endpoints.hpp"
#include "health_probe_support.hpp"
#include "redis/redis_test_support.hpp"

using namespace failpipe;
using namespace failpipe::redis_test;

using failpipe::test::broker_reason;
using failpipe::test::threads_of_this_process;

TEST_CASE("runtime health over a paused redis-server: 32 concurrent /health - one probe, 503 each, no thread left behind, healthy after SIGCONT") {
    RedisServer server;
    RedisAdapter::Options redis;
    redis.url = server.url();
    redis.key_prefix = unique_prefix("http-health");
    redis.connect_timeout = Seconds{1.0};
    redis.command_timeout = Seconds{3.0};  // longer than /health waits: the probe outlives the requests
    auto adapter = std::make_shared<RedisAdapter>(redis);
    WorkerOptions worker;
    worker.channels = {"orders"};
    WorkerPool pool(adapter, FailureMiddlewareDispatcher{}, Classifier{}, worker, WorkerPoolOptions{});
    auto metrics = std::make_shared<Metrics>();
    http::RuntimeEndpointsOptions options;
    options.listen = ListenAddress::parse("127.0.0.1:0");
    options.channels = {"orders"};
    options.health_timeout = Seconds{0.3};
    auto endpoints = http::serve_runtime(pool, metrics, adapter, options);
    const auto port = endpoints->address().port;
    auto health = [port] { return failpipe::test::get_health(port); };
    // Eventually: on a loaded machine the first probe of a fresh server may take longer than 0.3 s.
    REQUIRE(eventually([&] { return broker_reason(health().second) == "healthy"; }, 10s));
    const std::size_t threads_before = threads_of_this_process();

    server.pause();
    std::vector<std::future<std::pair<int, std::string>>> replies;
    for (int i = 0; i < 32; ++i) replies.push_back(std::async(std::launch::async, health));
    for (auto& reply : replies) {
        const auto [status, body] = reply.get();
        CHECK(status == 503);
        CHECK(broker_reason(body).rfind("unreachable: no answer within 0.3 s", 0) == 0);
    }
    CHECK(eventually([&] { return threads_of_this_process() <= threads_before; }, 10s));
    server.resume();

    CHECK(eventually([&] { return broker_reason(health().second) == "healthy"; }, 10s));
}
