// Follow-ups across shard groups on the test Redis Cluster: "orders" and "payments" are groups on
// different masters, so a settle cannot write both; a handler's push to "payments" goes through the
// outbox of "orders" and is relayed once (the checks of tests/redis/outbox_test_support.hpp).
#include <doctest/doctest.h>

#include "cluster_client.hpp"
#include "cluster_test_support.hpp"
#include "outbox_test_support.hpp"

namespace {

using namespace failpipe;
using namespace failpipe::cluster_test;
namespace ot = failpipe::outbox_test;

struct ClusterPlace {
    ot::Place place;
    int payments_port = 0;  // the master of the "payments" group's slot
};

// A prefix under which the groups "orders" and "payments" live on different masters.
ClusterPlace on_two_masters(const std::string& what) {
    detail::redis::Counters counters;
    detail::redis::ClusterClient client(detail::redis::parse_seed_list(cluster_seed_list()),
                                        detail::redis::ClusterSettings{Seconds{0.5}, Seconds{2.0}, 1}, counters);
    REQUIRE(client.discover());
    for (int attempt = 0; attempt < 200; ++attempt) {
        const std::string prefix = redis_test::unique_prefix(what);
        const std::string orders = client.master_of(shard_slot(prefix, "orders"));
        const std::string payments = client.master_of(shard_slot(prefix, "payments"));
        if (orders != payments) return ClusterPlace{ot::Place{cluster_url(), prefix}, port_of_name(payments)};
    }
    FAIL("no prefix puts the two groups on different masters");
    return {};
}

}  // namespace

TEST_CASE("cluster outbox - a follow-up to a group on another master waits in the outbox, then is delivered exactly once") {
    REQUIRE(cluster_ok());
    ot::check_follow_up_once(on_two_masters("coutbox-once").place);
}

TEST_CASE("cluster outbox - 200 follow-ups relayed by the worker's own relay thread all arrive once") {
    REQUIRE(cluster_ok());
    ot::check_many_follow_ups(on_two_masters("coutbox-many").place, 200);
}

TEST_CASE("cluster outbox - a worker process SIGKILLed between settle and relay - another relay publishes each follow-up once") {
    REQUIRE(cluster_ok());
    ot::check_killed_between_settle_and_relay(on_two_masters("coutbox-kill-settle").place, FAILPIPE_REDIS_OUTBOX_WORKER);
}

TEST_CASE("cluster outbox - a relay process SIGKILLed between its push and its ack - each follow-up still arrives once") {
    REQUIRE(cluster_ok());
    ot::check_killed_between_push_and_ack(on_two_masters("coutbox-kill-ack").place, FAILPIPE_REDIS_OUTBOX_WORKER);
}

TEST_CASE("cluster outbox - the relay lag grows while no relay runs and falls to 0 after") {
    REQUIRE(cluster_ok());
    ot::check_lag_figure(on_two_masters("coutbox-lag").place);
}

TEST_CASE("cluster outbox - bad targets - an empty name is refused with the delivery held, a blocked target keeps its follow-up") {
    REQUIRE(cluster_ok());
    const ClusterPlace where = on_two_masters("coutbox-bad");
    ot::check_bad_targets(where.place, where.payments_port);
}
