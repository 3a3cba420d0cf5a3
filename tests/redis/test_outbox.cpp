// Follow-ups across shard groups on one Redis (RedisAdapter::Options::shard_groups): a handler's
// push to another group's channel goes through the settling group's outbox and is relayed once.
// The checks themselves are in outbox_test_support.hpp (run on the test cluster as well).
#include <doctest/doctest.h>

#include <atomic>
#include <thread>

#include "outbox_test_support.hpp"
#include "redis_test_support.hpp"

namespace {

using namespace failpipe;
using namespace std::chrono_literals;
using redis_test::eventually;
namespace ot = failpipe::outbox_test;
namespace rt = failpipe::redis_test;

ot::Place place(const std::string& what) { return ot::Place{rt::test_redis_url(), rt::unique_prefix(what)}; }

}  // namespace

TEST_CASE("outbox - a follow-up to another group's channel waits in the outbox, then is delivered exactly once") {
    ot::check_follow_up_once(place("outbox-once"));
}

TEST_CASE("outbox - 200 follow-ups relayed by the worker's own relay thread all arrive once") {
    ot::check_many_follow_ups(place("outbox-many"), 200);
}

TEST_CASE("outbox - a worker process SIGKILLed between settle and relay - another relay publishes each follow-up once") {
    ot::check_killed_between_settle_and_relay(place("outbox-kill-settle"), FAILPIPE_REDIS_OUTBOX_WORKER);
}

TEST_CASE("outbox - a relay process SIGKILLed between its push and its ack - each follow-up still arrives once") {
    ot::check_killed_between_push_and_ack(place("outbox-kill-ack"), FAILPIPE_REDIS_OUTBOX_WORKER);
}

TEST_CASE("outbox - the relay lag grows while no relay runs and falls to 0 after, also as Prometheus figures") {
    ot::check_lag_figure(place("outbox-lag"));
}

TEST_CASE("outbox - bad targets - an empty name is refused with the delivery held, a blocked target keeps its follow-up") {
    ot::check_bad_targets(place("outbox-bad"), rt::port_of(rt::test_redis_url()));
}

TEST_CASE("outbox - without shard groups there is no outbox - relay_outbox and outbox_lag do nothing") {
    auto adapter = rt::shared_server_adapter();
    CHECK(adapter->relay_outbox() == 0);
    CHECK(adapter->outbox_lag().empty());
    PrometheusWriter writer;
    adapter->write_metrics(writer);
    CHECK(writer.str().empty());
}

TEST_CASE("outbox - options - a non-positive poll interval is refused") {
    RedisAdapter::Options options;
    options.outbox_poll = Seconds{0.0};
    CHECK_THROWS_WITH_AS(RedisAdapter{options}, doctest::Contains("outbox_poll"), InvalidArgumentError);
}

TEST_CASE("outbox - the relay does not wait for a connection that a worker's blocking reserve holds") {
    const ot::Place where = place("outbox-pool");
    RedisAdapter::Options options;
    options.url = where.url;
    options.key_prefix = where.prefix;
    options.shard_groups = ot::two_groups();
    options.outbox_poll = Seconds{0.05};
    options.pool_size = 1;  // the blocking reserve below holds the only shared connection (the groups share it)
    auto adapter = std::make_shared<RedisAdapter>(options);
    options.outbox_relay = false;
    RedisAdapter observer(options);  // reads the target with a connection of its own
    adapter->push("orders", Message::create("job", {{"i", 1}}));
    auto deliveries = adapter->reserve({"orders"}, 1, 2000ms);
    REQUIRE(deliveries.size() == 1);
    std::atomic<bool> blocked_returned{false};
    std::jthread blocker([&] {
        adapter->reserve({"orders"}, 1, 6000ms);  // nothing comes: it holds its connection 6 s
        blocked_returned = true;
    });
    std::this_thread::sleep_for(200ms);  // let it block
    Settlement settlement;
    settlement.pushes.push_back(ot::follow_up(1));
    adapter->settle(deliveries[0], std::move(settlement));
    CHECK(eventually([&] { return observer.depth("payments").ready == 1; }, 5s));
    CHECK_FALSE(blocked_returned.load());  // relayed while every shared connection was held
}

TEST_CASE("outbox - an entry written into the outbox by hand is left alone, named and counted, never published") {
    const ot::Place where = place("outbox-hand");
    auto adapter = ot::make_adapter(where, /*relay=*/false, Seconds{0.2});
    const std::string outbox = shard_hash_tag(where.prefix, "orders") + ":outbox";
    REQUIRE(rt::raw_command(rt::port_of(where.url), {"XADD", outbox, "*", "t", "payments", "note", "by hand"}).front() == '$');
    CHECK(adapter->relay_outbox() == 0);
    const RedisAdapter::OutboxLag lag = ot::lag_of(*adapter, "orders");
    CHECK(lag.entries == 1);  // still there
    CHECK(lag.failed == 1);
    CHECK(lag.last_error.find("lacks a field") != std::string::npos);
    CHECK(adapter->depth("payments").total() == 0);
    // A real follow-up behind it still goes through.
    adapter->push("orders", Message::create("job", {{"i", 1}}));
    ot::settle_one_with(*adapter, {ot::follow_up(1)});
    CHECK(adapter->relay_outbox() == 1);
    CHECK(ot::drain(*adapter, "payments") == std::map<int, int>{{1, 1}});
    CHECK(ot::lag_of(*adapter, "orders").entries == 1);
}

TEST_CASE("outbox - lost replies - a settle sent again writes its follow-up once, a relay push sent again publishes it once") {
    rt::LosingProxy proxy(rt::port_of(rt::test_redis_url()));
    const ot::Place where{proxy.url(), rt::unique_prefix("outbox-lost")};
    auto adapter = ot::make_adapter(where, /*relay=*/false, Seconds{0.5});
    adapter->push("orders", Message::create("job", {{"i", 1}}));
    auto held = adapter->reserve({"orders"}, 1, 2000ms);
    REQUIRE(held.size() == 1);
    Settlement settlement;
    Message next = Message::create("follow-up", {{"i", 1}, {"marker", "marker-settle-lost"}});
    settlement.pushes.push_back(OutgoingMessage{"payments", std::move(next), Seconds{0.0}});
    proxy.lose_reply_to("marker-settle-lost");
    try {
        adapter->settle(held[0], Settlement(settlement));  // the first try is applied, its reply lost
    } catch (const ConnectionError&) {
        adapter->settle(held[0], Settlement(settlement));  // as the Worker does: the same settle again
    }
    CHECK(proxy.lost());
    CHECK(adapter->status(held[0].message.id).state == MessageState::not_found);
    CHECK(ot::lag_of(*adapter, "orders").entries == 1);  // written once

    proxy.lose_reply_to("marker-settle-lost");  // the relay's push carries the same bytes
    std::size_t relayed = 0;
    REQUIRE(eventually([&] {
        try {
            relayed += adapter->relay_outbox();
        } catch (const ConnectionError&) {
            // the round trip whose reply was lost: the entry stays, taken over after the visibility timeout
        }
        return relayed == 1;
    }, 20s));
    CHECK(proxy.lost());
    CHECK(ot::lag_of(*adapter, "orders").entries == 0);
    CHECK(ot::drain(*adapter, "payments") == std::map<int, int>{{1, 1}});
}
