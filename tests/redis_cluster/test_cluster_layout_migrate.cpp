// `failpipe layout migrate` on the 3+3 cluster: the old keys ({prefix}) and each group's
// ({prefix:group}) are on different masters, so every message crosses slots: every kind of message
// arrives with its fields, counts and due times, and a run SIGKILLed part-way, run again, moves
// each message once.
#include <doctest/doctest.h>

#include <set>
#include <string>
#include <vector>

#include "cluster_test_support.hpp"
#include "layout_migrate_support.hpp"

#ifdef FAILPIPE_CLI

namespace {

using namespace failpipe;
using namespace failpipe::cluster_test;
using namespace failpipe::migrate_test;
using key_layout_test::run_cli;

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

// A prefix whose old tag and the tags of groups `orders` and `emails` are on three different masters.
std::string prefix_over_three_masters() {
    detail::redis::Counters counters;
    detail::redis::ClusterClient client(detail::redis::parse_seed_list(cluster_seed_list()),
                                        detail::redis::ClusterSettings{Seconds{0.5}, Seconds{2.0}, 1}, counters);
    REQUIRE(client.discover());
    for (int attempt = 0; attempt < 2000; ++attempt) {
        const std::string prefix = redis_test::unique_prefix("migrate");
        const std::set<std::string> masters{client.master_of(cluster_hash_slot("{" + prefix + "}")),
                                            client.master_of(shard_slot(prefix, "orders")),
                                            client.master_of(shard_slot(prefix, "emails"))};
        if (masters.size() == 3) return prefix;
    }
    FAIL("no prefix puts the old layout and both groups on three masters");
    return {};
}

}  // namespace

TEST_CASE("cluster layout migrate - every kind of message crosses from the {prefix} master to its group's master, confirmed on replicas") {
    REQUIRE(cluster_ok());
    const Deployment d(cluster_url(), prefix_over_three_masters());

    const auto dry = run_cli(migrate_args(d.url, d.prefix, d.file, "--dry-run"));
    INFO(dry.output);
    REQUIRE(dry.status == 0);
    CHECK(contains(dry.output, "would move " + std::to_string(d.filled.messages) + " message(s) of 3 channel(s) to 2 group(s)"));

    // Each batch's copies confirmed on a replica before the old entries go (a failover loses none).
    const auto run = run_cli(migrate_args(d.url + "?durability=replicas", d.prefix, d.file, "--batch 7"));
    INFO(run.output);
    REQUIRE(run.status == 0);
    const std::string n = std::to_string(d.filled.messages);
    CHECK(contains(run.output, "total: found " + n + " = moved " + n + " + already there 0"));
    check_moved(d.url, d.prefix, d.config, d.filled);
}

TEST_CASE("cluster layout migrate - SIGKILLed part-way and run again: every message once, none lost") {
    REQUIRE(cluster_ok());
    check_killed_and_resumed(cluster_url(), prefix_over_three_masters);
}

#endif
