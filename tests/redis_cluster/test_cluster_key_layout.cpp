// The key layout switch on a Redis Cluster: a worker given `?keyLayout=groups` writes each group's
// dead letters on that group's master, `failpipe dlq list --config F` with the same switch shows
// them, and without the switch the {prefix} layout is what the CLI reads. And the groups of one
// adapter share one connection pool per master.
#include <doctest/doctest.h>

#include <atomic>
#include <map>
#include <sstream>
#include <thread>
#include <vector>

#include "cluster_client.hpp"
#include "cluster_test_support.hpp"
#include "key_layout_support.hpp"

namespace {

using namespace failpipe;
using namespace failpipe::cluster_test;
using namespace failpipe::key_layout_test;

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

// A prefix under which every group of @p groups whose index is below @p spread hashes to a
// different master (so at least min(spread, 3) masters are used); the masters of all groups.
struct Placement {
    std::string prefix;
    std::map<std::string, std::string> master_of;  // group → host:port
};

Placement spread_over_masters(const std::vector<std::string>& groups, std::size_t spread) {
    detail::redis::Counters counters;
    detail::redis::ClusterClient client(detail::redis::parse_seed_list(cluster_seed_list()),
                                        detail::redis::ClusterSettings{Seconds{0.5}, Seconds{2.0}, 1}, counters);
    REQUIRE(client.discover());
    for (int attempt = 0; attempt < 2000; ++attempt) {
        Placement placement{redis_test::unique_prefix("layout"), {}};
        std::vector<std::string> seen;
        for (std::size_t i = 0; i < groups.size(); ++i) {
            const std::string master = client.master_of(shard_slot(placement.prefix, groups[i]));
            placement.master_of[groups[i]] = master;
            if (i < spread && std::find(seen.begin(), seen.end(), master) == seen.end()) seen.push_back(master);
        }
        if (seen.size() == std::min<std::size_t>(spread, 3)) return placement;
    }
    FAIL("no prefix spreads the groups over the masters");
    return {};
}

// Clients of a master in CLIENT LIST, not counting its replicas and redis-cli itself.
int clients_of(int port) {
    std::istringstream lines(cli(port, {"CLIENT", "LIST"}));
    int count = 0;
    for (std::string line; std::getline(lines, line);) {
        if (line.empty() || contains(line, "flags=S") || contains(line, "cmd=client|list")) continue;
        ++count;
    }
    return count;
}

}  // namespace

TEST_CASE("cluster key layout - a worker with keyLayout=groups dead-letters on each group's master, failpipe dlq list "
          "--config shows them, without the switch the CLI reads the {prefix} layout") {
    REQUIRE(cluster_ok());
    const Config config = parse_config(two_flows_config());
    const Placement placement = spread_over_masters({"orders", "emails"}, 2);
    const std::string url = cluster_url();
    auto adapter = std::make_shared<RedisAdapter>(RedisAdapter::with_key_layout(
        [&] {
            RedisAdapter::Options options;
            options.url = url + "?keyLayout=groups";
            options.key_prefix = placement.prefix;
            return options;
        }(),
        config.key_layout, &config.shard_groups));
    CHECK(adapter->options().key_layout == KeyLayout::groups);
    std::vector<std::string> ids;
    for (int i = 0; i < 6; ++i) ids.push_back(adapter->push(i % 2 == 0 ? "orders" : "emails", Message::create("job", {{"i", i}})));
    CHECK(dead_letter_all(adapter, config, [&] {
        return adapter->depth("orders:dlq").total() == 3 && adapter->depth("emails:dlq").total() == 3;
    }));
    CHECK(cli(port_of_name(placement.master_of.at("orders")), {"XLEN", shard_hash_tag(placement.prefix, "orders") + ":s:orders:dlq"}) == "3");
    CHECK(cli(port_of_name(placement.master_of.at("emails")), {"XLEN", shard_hash_tag(placement.prefix, "emails") + ":s:emails:dlq"}) == "3");

#ifdef FAILPIPE_CLI
    const ConfigFile file(two_flows_config());
    const std::string broker = " --prefix '" + placement.prefix + "' --config " + file.path();
    CliRun run = run_cli("dlq list --channel orders --format json" + broker + " --redis '" + url + "?keyLayout=groups'");
    CHECK(run.status == 0);
    for (int i = 0; i < 6; i += 2) CHECK(contains(run.output, "\"id\":\"" + ids[static_cast<std::size_t>(i)] + "\""));
    run = run_cli("dlq list --channel emails --format json" + broker + " --redis '" + url + "?keyLayout=groups'");
    CHECK(run.status == 0);
    for (int i = 1; i < 6; i += 2) CHECK(contains(run.output, "\"id\":\"" + ids[static_cast<std::size_t>(i)] + "\""));
    // Without the switch the CLI reads {prefix}, where this deployment wrote nothing.
    run = run_cli("dlq list --channel orders" + broker + " --redis " + url);
    CHECK(run.status == 1);
    CHECK(contains(run.output, "no dead-letter channel \"orders:dlq\""));
    // The switch without a config: a usage error before any connection.
    run = run_cli("dlq list --channel orders --prefix '" + placement.prefix + "' --redis '" + url + "?keyLayout=groups'");
    CHECK(run.status == 2);
    CHECK(contains(run.output, "add --config FILE"));
#endif
    CHECK(adapter->depth("orders:dlq").total() == 3);
}

TEST_CASE("cluster key layout - 6 shard groups of one adapter share one pool per master: CLIENT LIST shows at most "
          "pool_size plus one write connection per group on that master and one for the relay") {
    REQUIRE(cluster_ok());
    constexpr std::size_t kPool = 3;
    const std::vector<std::string> groups{"g0", "g1", "g2", "g3", "g4", "g5"};
    const Config config = parse_config(R"({"worker": {"channels": ["g0", "g1", "g2", "g3", "g4", "g5"]}})");
    REQUIRE(config.shard_groups.groups().size() == groups.size());
    const Placement placement = spread_over_masters(groups, groups.size());
    std::map<std::string, int> before, groups_on;
    for (const auto& [group, master] : placement.master_of) {
        ++groups_on[master];
        before[master] = clients_of(port_of_name(master));
    }
    RedisAdapter::Options options;
    options.url = cluster_url() + "?keyLayout=groups";
    options.key_prefix = placement.prefix;
    options.pool_size = kPool;
    auto adapter = std::make_shared<RedisAdapter>(RedisAdapter::with_key_layout(options, std::nullopt, &config.shard_groups));
    std::atomic<int> settled{0};
    {
        std::vector<std::jthread> threads;
        for (std::size_t t = 0; t < 2 * groups.size(); ++t) {
            threads.emplace_back([&, t] {
                const std::string& mine = groups[t % groups.size()];
                for (int round = 0; round < 6; ++round) {
                    adapter->push(mine, Message::create("job", {{"t", t}}));
                    for (auto& delivery : adapter->reserve({mine}, 1, std::chrono::milliseconds(150))) {
                        adapter->settle(delivery, Settlement{});
                        settled.fetch_add(1);
                    }
                    // Blocks while nothing is left (the other thread of the group may have taken it).
                    for (auto& delivery : adapter->reserve({mine}, 1, std::chrono::milliseconds(150))) {
                        adapter->settle(delivery, Settlement{});
                        settled.fetch_add(1);
                    }
                }
            });
        }
    }
    for (const auto& group : groups) {
        for (auto& delivery : adapter->reserve({group}, 100, std::chrono::milliseconds(0))) {
            adapter->settle(delivery, Settlement{});
            settled.fetch_add(1);
        }
    }
    CHECK(settled.load() == static_cast<int>(2 * groups.size() * 6));
    for (const auto& [master, count] : groups_on) {
        const int added = clients_of(port_of_name(master)) - before[master];
        CAPTURE(master);
        CAPTURE(count);
        CAPTURE(added);
        CHECK(added >= 1);
        CHECK(added <= static_cast<int>(kPool) + count + 1);  // + the outbox relay's write connection
    }
}
