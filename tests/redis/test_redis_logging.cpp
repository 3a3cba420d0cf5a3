// The adapter logs through failpipe's public logger (include/failpipe/logging.hpp): a logger an
// application sets with failpipe::set_logger gets the adapter's lines, like the core's.
#include <doctest/doctest.h>

#include <memory>
#include <string>

#include <spdlog/sinks/ringbuffer_sink.h>
#include <spdlog/spdlog.h>

#include "failpipe/logging.hpp"
#include "redis_test_support.hpp"

namespace rt = failpipe::redis_test;
using failpipe::RedisAdapter;

namespace {

/// Sets a logger of the test's own for its lifetime, then goes back to the default.
struct CapturedLog {
    std::shared_ptr<spdlog::sinks::ringbuffer_sink_mt> sink = std::make_shared<spdlog::sinks::ringbuffer_sink_mt>(64);
    CapturedLog() {
        auto captured = std::make_shared<spdlog::logger>("failpipe-test-capture", sink);
        captured->set_level(spdlog::level::info);
        failpipe::set_logger(captured);
    }
    ~CapturedLog() { failpipe::set_logger(nullptr); }
    bool has(const std::string& text) const {
        for (const auto& line : sink->last_formatted()) {
            if (line.find(text) != std::string::npos) return true;
        }
        return false;
    }
};

}  // namespace

TEST_CASE("logging: the Redis adapter's lines go to the logger set with failpipe::set_logger") {
    rt::RedisServer server;
    RedisAdapter::Options options;
    options.url = server.url();
    options.key_prefix = rt::unique_prefix("log");
    RedisAdapter adapter(options);
    adapter.push("c", failpipe::Message::create("job", 1));
    CHECK(adapter.depth("c").ready == 1);  // a pooled connection that has answered

    CapturedLog log;
    // The server drops the adapter's connections: the next call says so (info) and tries once more.
    REQUIRE(rt::raw_command(server.port(), {"CLIENT", "KILL", "TYPE", "normal"}).rfind(":", 0) == 0);
    CHECK(adapter.depth("c").ready == 1);
    CHECK(log.has("RedisAdapter: connection to"));
    CHECK(log.has("trying once more"));
}

TEST_CASE("logging: set_logger(nullptr) goes back to the default \"failpipe\" logger") {
    {
        CapturedLog log;
        CHECK(failpipe::logger().name() == "failpipe-test-capture");
        failpipe::logger().warn("a line for the test's logger");
        CHECK(log.has("a line for the test's logger"));
    }
    CHECK(failpipe::logger().name() == "failpipe");
}
