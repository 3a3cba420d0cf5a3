// Follow-ups across shard groups on one Redis (RedisAdapter::Options::shard_groups): a handler's
// push to another group's channel goes through the settling group's outbox and is relayed once.
// The checks themselves are in outbox_test_support.hpp (run on the test cluster as well).
#include <doctest/doctest.h>

#include "outbox_test_support.hpp"
#include "redis_test_support.hpp"

namespace {

using namespace failpipe;
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
