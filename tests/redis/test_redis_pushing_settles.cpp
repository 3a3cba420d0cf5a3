// Settles with pushes (a failed message's retry, a dead letter), many in one call of the apply
// script. These tests pin what each settle answers on its own (done, stale, an error that changed
// nothing), that a repeat after a lost reply pushes nothing twice, and that the pushes reach their
// channel in the order of the batch.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "redis_test_support.hpp"

namespace rt = failpipe::redis_test;
using namespace std::chrono_literals;
using failpipe::Delivery;
using failpipe::MessageState;
using failpipe::RedisAdapter;
using failpipe::Settlement;

namespace {

std::vector<Delivery> push_and_reserve(RedisAdapter& adapter, int count) {
    std::vector<failpipe::OutgoingMessage> batch;
    for (int i = 0; i < count; ++i) batch.push_back({"in", failpipe::Message::create("job", {{"i", i}}), failpipe::Seconds{0.0}});
    adapter.push_batch(std::move(batch));
    auto held = adapter.reserve({"in"}, static_cast<std::size_t>(count), 0ms);
    REQUIRE(held.size() == static_cast<std::size_t>(count));
    return held;
}

/// settle_batch of @p held, delivery i ending in @p settlements[i].
std::vector<std::exception_ptr> settle_all(RedisAdapter& adapter, const std::vector<Delivery>& held,
                                           std::vector<Settlement>& settlements) {
    std::vector<RedisAdapter::SettleItem> items;
    for (std::size_t i = 0; i < held.size(); ++i) items.push_back({&held[i], &settlements[i]});
    return adapter.settle_batch(items);
}

/// Each delivery's message pushed again to @p channel: a retry when it is the channel it came from.
std::vector<Settlement> each_pushed_to(const std::vector<Delivery>& held, const std::string& channel) {
    std::vector<Settlement> settlements(held.size());
    for (std::size_t i = 0; i < held.size(); ++i) settlements[i].pushes.push_back({channel, held[i].message, failpipe::Seconds{0.0}});
    return settlements;
}

std::string error_of(const std::exception_ptr& outcome) {
    try {
        std::rethrow_exception(outcome);
    } catch (const failpipe::StaleDeliveryError&) {
        return "stale";
    } catch (const std::exception& e) {
        return e.what();
    }
}

}  // namespace

TEST_CASE("in a batch of settles with pushes a stale one is stale, one whose push cannot be written fails alone and stays reserved") {
    rt::RedisServer server;
    const std::string prefix = rt::unique_prefix("psettle");
    RedisAdapter adapter(rt::options_on(server.url(), prefix));
    const auto held = push_and_reserve(adapter, 10);
    std::vector<Settlement> plain(1);
    std::vector<Delivery> first{held[1]};
    REQUIRE_FALSE(settle_all(adapter, first, plain)[0]);  // settled already: stale in the batch below
    REQUIRE(rt::raw_command(server.port(), {"SET", "{" + prefix + "}:s:broken", "not a stream"}) == "+OK");
    auto settlements = each_pushed_to(held, "out");
    settlements[3].pushes[0].channel = "broken";
    const auto outcomes = settle_all(adapter, held, settlements);
    REQUIRE(outcomes.size() == 10);
    for (std::size_t i = 0; i < held.size(); ++i) {
        INFO("delivery " << i);
        if (i == 1) {
            CHECK(error_of(outcomes[i]) == "stale");
        } else if (i == 3) {
            REQUIRE(outcomes[i]);
            CHECK(error_of(outcomes[i]).find("nothing was changed") != std::string::npos);
            CHECK(adapter.status(held[i].message.id).state == MessageState::reserved);
        } else {
            CHECK_FALSE(outcomes[i]);
            CHECK(adapter.status(held[i].message.id).state == MessageState::ready);
        }
    }
    CHECK(adapter.depth("out").ready == 8);
    CHECK(adapter.depth("in").reserved == 1);
}

TEST_CASE("a batch of settles with pushes whose reply is lost is applied once: every push written once, all done") {
    rt::RedisServer server;
    rt::LosingProxy proxy(server.port());
    RedisAdapter adapter(rt::options_on(proxy.url()));
    const auto held = push_and_reserve(adapter, 5);
    auto settlements = each_pushed_to(held, "out");
    proxy.lose_reply_to(held[2].message.id);
    const auto outcomes = settle_all(adapter, held, settlements);
    CHECK(proxy.lost());
    for (const auto& outcome : outcomes) CHECK_FALSE(outcome);
    CHECK(adapter.depth("in").total() == 0);
    CHECK(adapter.depth("out").ready == 5);
}

TEST_CASE("settles with pushes around another settle that pushes the same message keep the order the batch pushed in") {
    RedisAdapter adapter(rt::options_on(rt::test_redis_url()));
    const auto held = push_and_reserve(adapter, 4);
    auto settlements = each_pushed_to(held, "out");
    settlements[1].pushes[0].message = held[3].message;  // ties settles 1 and 3 to one message id
    for (const auto& outcome : settle_all(adapter, held, settlements)) CHECK_FALSE(outcome);
    const auto out = adapter.reserve({"out"}, 10, 0ms);
    REQUIRE(out.size() == 4);
    CHECK(out[0].message.id == held[0].message.id);
    CHECK(out[1].message.id == held[3].message.id);
    CHECK(out[2].message.id == held[2].message.id);
    CHECK(out[3].message.id == held[3].message.id);
}
