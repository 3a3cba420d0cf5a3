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

TEST_CASE("cluster layout migrate - every kind of message crosses from the {prefix} master to its group's master") {
    REQUIRE(cluster_ok());
    const std::string url = cluster_url();
    const std::string prefix = prefix_over_three_masters();
    const ConfigFile file(config_text(1));
    const Config config = load_config_file(file.path());
    const Filled filled = fill(url, prefix, config);

    const auto dry = run_cli(migrate_args(url, prefix, file, "--dry-run"));
    INFO(dry.output);
    REQUIRE(dry.status == 0);
    CHECK(contains(dry.output, "would move " + std::to_string(filled.messages) + " message(s) of 3 channel(s) to 2 group(s)"));

    const auto run = run_cli(migrate_args(url, prefix, file, "--batch 7"));
    INFO(run.output);
    REQUIRE(run.status == 0);
    const std::string n = std::to_string(filled.messages);
    CHECK(contains(run.output, "total: found " + n + " = moved " + n + " + already there 0"));
    check_moved(url, prefix, config, filled);
}

TEST_CASE("cluster layout migrate - SIGKILLed part-way and run again: every message once, none lost") {
    REQUIRE(cluster_ok());
    const std::string url = cluster_url();
    const std::string prefix = prefix_over_three_masters();
    const ConfigFile file(config_text());
    const Config config = load_config_file(file.path());
    auto old = old_layout(url, prefix);
    std::vector<OutgoingMessage> batch;
    for (int i = 0; i < 3000; ++i) {
        const std::string channel = i % 3 == 0 ? "orders" : i % 3 == 1 ? "emails" : "orders:dlq";
        batch.push_back(OutgoingMessage{channel, message("m" + std::to_string(i)), Seconds{i % 10 == 0 ? 600.0 : 0.0}});
    }
    old->push_batch(batch);
    const Snapshot before = snapshot(*old, kChannels);

    int kills = 0;
    for (const auto after : {150ms, 300ms, 600ms, 1200ms}) {
        if (kill_migration_after(migrate_args(url, prefix, file, "--batch 20"), after)) ++kills;
    }
    const auto finish = run_cli(migrate_args(url, prefix, file, "--batch 20"));
    INFO(finish.output);
    INFO("killed ", kills, " times");
    CHECK(kills > 0);
    REQUIRE(finish.status == 0);
    const auto moved = new_layout(url, prefix, config);
    CHECK(snapshot(*moved, kChannels) == before);
    CHECK(total(*moved, kChannels) == 3000);
    CHECK(total(*old, kChannels) == 0);
}

#endif
