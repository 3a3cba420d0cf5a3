// The message index (id -> where the message is) is written with a few HSETs per script call,
// not one per message: for pushes, for a settle's pushes and for delayed messages coming due.
// These tests pin what a user sees through status() (every message found where it is, the later
// of two pushes of one id winning) and that the writes are gathered (a server of their own, so
// INFO commandstats counts only them).
#include <doctest/doctest.h>

#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "redis_test_support.hpp"

using namespace std::chrono_literals;
using failpipe::Message;
using failpipe::MessageState;
using failpipe::RedisAdapter;
namespace rt = failpipe::redis_test;

namespace {

RedisAdapter::Options batched_index_options(const std::string& url) {
    RedisAdapter::Options options;
    options.url = url;
    options.key_prefix = rt::unique_prefix("bix");
    return options;
}

}  // namespace

TEST_CASE("a batch of 2,500 pushes, ready and delayed, indexes every message with a few HSETs") {
    rt::RedisServer server;
    RedisAdapter adapter(batched_index_options(server.url()));
    std::vector<failpipe::OutgoingMessage> batch;
    for (int i = 0; i < 2500; ++i) {
        batch.push_back({"in", Message::create("job", {{"i", i}}), failpipe::Seconds{i % 5 == 0 ? 600.0 : 0.0}});
    }
    const auto hset = rt::command_calls(adapter, "hset");
    const auto xadd = rt::command_calls(adapter, "xadd");
    const auto ids = adapter.push_batch(std::move(batch));
    REQUIRE(ids.size() == 2500);
    CHECK(rt::command_calls(adapter, "xadd") - xadd == 2000);
    // 500 delayed bodies (one HSET each) and the index: one HSET per script call of 512 pushes.
    CHECK(rt::command_calls(adapter, "hset") - hset == 500 + 5);
    for (std::size_t i = 0; i < ids.size(); ++i) {
        INFO("message " << i);
        CHECK(adapter.status(ids[i]).state == (i % 5 == 0 ? MessageState::delayed : MessageState::ready));
    }
}

TEST_CASE("one id pushed twice in one batch: status follows the later push, and both are delivered") {
    rt::RedisServer server;
    RedisAdapter adapter(batched_index_options(server.url()));
    auto message = Message::create("job", {{"twice", true}});
    message.id = "the-same-id";
    std::vector<failpipe::OutgoingMessage> batch{{"in", message, failpipe::Seconds{0.0}},
                                                 {"in", message, failpipe::Seconds{600.0}}};
    adapter.push_batch(std::move(batch));
    CHECK(adapter.status(message.id).state == MessageState::delayed);

    std::vector<failpipe::OutgoingMessage> again{{"in", message, failpipe::Seconds{600.0}},
                                                 {"in", message, failpipe::Seconds{0.0}}};
    adapter.push_batch(std::move(again));
    CHECK(adapter.status(message.id).state == MessageState::ready);
    CHECK(adapter.depth("in").total() == 4);
}

TEST_CASE("1,200 delayed messages coming due move into the stream with the index following each") {
    rt::RedisServer server;
    RedisAdapter adapter(batched_index_options(server.url()));
    std::vector<failpipe::OutgoingMessage> batch;
    for (int i = 0; i < 1200; ++i) batch.push_back({"in", Message::create("job", {{"i", i}}), failpipe::Seconds{0.05}});
    const auto ids = adapter.push_batch(std::move(batch));
    std::this_thread::sleep_for(100ms);
    const auto hget = rt::command_calls(adapter, "hget");
    std::vector<failpipe::Delivery> held;
    for (int round = 0; round < 10 && held.size() < ids.size(); ++round) {
        auto got = adapter.reserve({"in"}, 2000, 0ms);
        for (auto& d : got) held.push_back(std::move(d));
    }
    REQUIRE(held.size() == ids.size());
    CHECK(rt::command_calls(adapter, "hget") - hget == 0);  // one HMGET per 1,000 due, not a HGET each
    for (const auto& id : ids) {
        INFO(id);
        CHECK(adapter.status(id).state == MessageState::reserved);
    }
}
