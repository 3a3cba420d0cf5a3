// depth() after an AOF rewrite and a restart: Redis replays deliveries as XCLAIM ... LASTID, which
// moves a group's last delivered id but not its 'entries-read', so the lag XINFO reports stays high.
#include <doctest/doctest.h>

#include "redis_test_support.hpp"

namespace rt = failpipe::redis_test;
using namespace std::chrono_literals;
using failpipe::Message;
using failpipe::RedisAdapter;
using failpipe::Settlement;

namespace {

void handle_all(RedisAdapter& adapter, const std::string& channel, std::size_t count) {
    std::size_t handled = 0;
    for (int round = 0; round < 50 && handled < count; ++round) {
        for (auto& delivery : adapter.reserve({channel}, count - handled, 100ms)) {
            adapter.settle(delivery, Settlement{});
            ++handled;
        }
    }
    REQUIRE(handled == count);
}

}  // namespace

TEST_CASE("depth after an AOF rewrite and a restart counts no ready messages in a drained channel") {
    rt::RedisServer server;
    RedisAdapter::Options options;
    options.url = server.url();
    options.key_prefix = rt::unique_prefix("depth");
    {
        RedisAdapter adapter(options);
        for (int i = 0; i < 10; ++i) adapter.push("c", Message::create("job", i));
        handle_all(adapter, "c", 10);
        REQUIRE(rt::raw_command(server.port(), {"BGREWRITEAOF"}).rfind("+", 0) == 0);
        // Wait for the rewrite to end, so the restart replays the rewritten file.
        for (int i = 0; i < 500; ++i) {
            const auto reply = rt::raw_command(server.port(), {"EVAL",
                "#!lua flags=no-writes\nreturn tonumber(string.match(redis.call('INFO', 'persistence'), "
                "'aof_rewrite_in_progress:(%d)'))", "0"});
            if (reply == ":0") break;
            std::this_thread::sleep_for(10ms);
        }
        for (int i = 10; i < 20; ++i) adapter.push("c", Message::create("job", i));
        handle_all(adapter, "c", 10);
    }
    server.restart();
    RedisAdapter adapter(options);
    for (int attempt = 0; attempt < 100; ++attempt) {
        try {
            const auto depth = adapter.depth("c");
            CHECK(depth.ready == 0);
            CHECK(depth.reserved == 0);
            break;
        } catch (const failpipe::ConnectionError&) {
            std::this_thread::sleep_for(50ms);  // still loading its AOF
        }
    }
    CHECK(adapter.browse("c", 0, 10).empty());
}
