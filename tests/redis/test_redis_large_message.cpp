// A large message (8 MiB of payload, and binary-looking text) through push, a failing handler, a
// retry and the dead letters on a real Redis: nothing cut, nothing lost.
#include <doctest/doctest.h>

#include <memory>

#include "failpipe/failpipe.hpp"
#include "redis_test_support.hpp"

namespace rt = failpipe::redis_test;
using namespace std::chrono_literals;

TEST_CASE("an 8 MiB message is retried and dead-lettered whole on Redis") {
    failpipe::RedisAdapter::Options options;
    options.url = rt::test_redis_url();
    options.key_prefix = rt::unique_prefix("large");
    auto adapter = std::make_shared<failpipe::RedisAdapter>(options);

    std::string payload(8u << 20, 'x');
    for (std::size_t i = 0; i < payload.size(); i += 4099) payload[i] = static_cast<char>('a' + i % 26);
    payload += "\xc3\xa9\xe2\x82\xac";  // é €: text that is UTF-8 but not ASCII
    const std::string id = adapter->push("big", failpipe::Message::create("upload", {{"blob", payload}}));

    auto config = failpipe::parse_config(R"({"defaultPipeline": [{"type": "send-again", "id": "again", "maxAttempts": 1}]})");
    failpipe::Worker worker(adapter, config.make_dispatcher(), config.classifier, {.channels = {"big"}});
    int runs = 0;
    worker.on("upload", [&](const failpipe::Message& message, failpipe::HandlerContext&) {
        ++runs;
        CHECK(message.data.at("blob").get_ref<const std::string&>() == payload);
        throw failpipe::TransientError("storage unavailable");
    });
    for (int round = 0; round < 20 && runs < 2; ++round) worker.run_once();
    CHECK(runs == 2);  // the first try and one send-again
    const auto dead = adapter->browse("big:dlq", 0, 10);
    REQUIRE(dead.size() == 1);
    CHECK(dead[0].id == id);
    CHECK(dead[0].data.at("blob").get_ref<const std::string&>() == payload);
    CHECK(dead[0].metadata.at("failpipe-dead-letter").at("errorMessage") == "storage unavailable");
    CHECK(adapter->depth("big").total() == 0);
}
