// The key layout switch on one Redis: `?keyLayout=groups` in the URL or `"keyLayout": "groups"` in
// the config puts each shard group's keys under {prefix:group}; the CLI given the same config sees
// what the workers wrote; without the switch, the {prefix} layout is untouched. Bad input refused
// before anything is read or written. And one connection pool for all the groups of an adapter.
#include <doctest/doctest.h>

#include <atomic>
#include <sstream>
#include <thread>
#include <vector>

#include "key_layout_support.hpp"
#include "redis_test_support.hpp"
#include "test_support.hpp"

namespace {

using namespace failpipe;
// run_cli by its full name: a unity batch may hold a file with a run_cli of its own.
using failpipe::key_layout_test::CliRun;
using failpipe::key_layout_test::ConfigFile;
using failpipe::key_layout_test::dead_letter_all;
using failpipe::key_layout_test::two_flows_config;
using failpipe::test::contains;
namespace rt = failpipe::redis_test;

std::string refusal(const RedisAdapter::Options& options) {
    try {
        RedisAdapter adapter(options);
    } catch (const InvalidArgumentError& e) {
        return e.what();
    }
    FAIL("the options were accepted");
    return {};
}

RedisAdapter::Options options_for(const std::string& url, const std::string& prefix = "fp") {
    RedisAdapter::Options options;
    options.url = url;
    options.key_prefix = prefix;
    return options;
}

// Lines of CLIENT LIST (redis-cli, full reply) of clients on database @p db.
int clients_on_db(int port, int db) {
    FILE* pipe = ::popen(("timeout 10 redis-cli -p " + std::to_string(port) + " CLIENT LIST").c_str(), "r");
    REQUIRE(pipe != nullptr);
    std::string text;
    std::array<char, 4096> buffer{};
    while (std::fgets(buffer.data(), static_cast<int>(buffer.size()), pipe) != nullptr) text += buffer.data();
    ::pclose(pipe);
    int count = 0;
    std::istringstream lines(text);
    for (std::string line; std::getline(lines, line);) {
        if (contains(line, " db=" + std::to_string(db) + " ")) ++count;
    }
    return count;
}

}  // namespace

TEST_CASE("redis key layout - the URL's keyLayout is checked before anything is sent, and never shows the password") {
    const std::string bad = refusal(options_for("redis://user:s3cret@127.0.0.1:1?keyLayout=grouped"));
    CHECK(contains(bad, "keyLayout must be \"prefix\""));
    CHECK(contains(bad, "not \"grouped\""));
    CHECK_FALSE(contains(bad, "s3cret"));
    CHECK(contains(refusal(options_for("redis://127.0.0.1:1?keyLayout=groups&keyLayout=groups")), "given twice"));
    // Groups asked, none given: it names what is missing.
    const std::string missing = refusal(options_for("redis://127.0.0.1:1?keyLayout=groups"));
    CHECK(contains(missing, "needs the shard groups, and none were given"));
    CHECK(contains(missing, "--config FILE"));
    // prefix asked while shard groups are given: refused, not silently one or the other.
    RedisAdapter::Options both = options_for("redis://127.0.0.1:1?keyLayout=prefix");
    both.shard_groups = parse_config(two_flows_config()).shard_groups;
    CHECK(contains(refusal(both), "drop one of them"));
    // Another query parameter still refused with the list of known ones.
    CHECK(contains(refusal(options_for("redis://127.0.0.1:1?layout=groups")), "known: durability, replicas, waitMs, keyLayout"));
}

TEST_CASE("redis key layout - keyLayout and durability in one URL both apply, and the URL is shown without them") {
    RedisAdapter::Options options = options_for("redis://127.0.0.1:1?durability=replicas&keyLayout=prefix&waitMs=50");
    RedisAdapter adapter(options);
    CHECK(adapter.options().key_layout == KeyLayout::prefix);
    CHECK(adapter.options().durability == RedisAdapter::Durability::replicas);
    CHECK(adapter.options().url == "redis://127.0.0.1:1");
    CHECK(RedisAdapter::url_key_layout("redis://127.0.0.1:1?keyLayout=groups") == KeyLayout::groups);
    CHECK_FALSE(RedisAdapter::url_key_layout("redis://127.0.0.1:1").has_value());
    // Without any switch: prefix, as always.
    CHECK(RedisAdapter(options_for("redis://127.0.0.1:1")).options().key_layout == KeyLayout::prefix);
}

TEST_CASE("redis key layout - with_key_layout follows the config or the URL, refuses a contradiction or no groups") {
    const Config grouped = parse_config(two_flows_config("groups"));
    const Config plain = parse_config(two_flows_config());
    const Config prefixed = parse_config(two_flows_config("prefix"));
    auto made = RedisAdapter::with_key_layout(options_for("redis://127.0.0.1:1"), grouped.key_layout, &grouped.shard_groups);
    CHECK(made.key_layout == KeyLayout::groups);
    REQUIRE(made.shard_groups.has_value());
    CHECK(made.shard_groups->group_of("emails:dlq") == "emails");
    made = RedisAdapter::with_key_layout(options_for("redis://127.0.0.1:1?keyLayout=groups"), plain.key_layout, &plain.shard_groups);
    CHECK(made.key_layout == KeyLayout::groups);
    CHECK(made.shard_groups.has_value());
    made = RedisAdapter::with_key_layout(options_for("redis://127.0.0.1:1"), plain.key_layout, &plain.shard_groups);
    CHECK(made.key_layout == KeyLayout::prefix);
    CHECK_FALSE(made.shard_groups.has_value());
    try {
        (void)RedisAdapter::with_key_layout(options_for("redis://127.0.0.1:1?keyLayout=groups"), prefixed.key_layout,
                                            &prefixed.shard_groups);
        FAIL("a contradiction was accepted");
    } catch (const InvalidArgumentError& e) {
        CHECK(contains(e.what(), "the Redis URL says keyLayout=groups but the config says \"keyLayout\": \"prefix\""));
    }
    try {
        (void)RedisAdapter::with_key_layout(options_for("redis://127.0.0.1:1?keyLayout=groups"), std::nullopt, nullptr);
        FAIL("groups without a config were accepted");
    } catch (const InvalidArgumentError& e) {
        CHECK(contains(e.what(), "no config to derive the shard groups from"));
    }
}

TEST_CASE("redis key layout - a worker with keyLayout=groups writes dead letters under {prefix:group}, failpipe dlq list "
          "--config shows them, the {prefix} layout is untouched") {
    const std::string url = rt::test_redis_url();
    const int port = rt::port_of(url);
    const std::string prefix = rt::unique_prefix("layout");
    const Config config = parse_config(two_flows_config());
    // An older deployment's dead letter, under {prefix}.
    RedisAdapter old_layout(options_for(url, prefix));
    Message old = Message::create("job", {{"old", true}});
    old.id = "old-1";
    old_layout.push("orders:dlq", old);

    auto adapter = std::make_shared<RedisAdapter>(
        RedisAdapter::with_key_layout(options_for(url + "?keyLayout=groups", prefix), config.key_layout, &config.shard_groups));
    std::vector<std::string> ids;
    for (int i = 0; i < 4; ++i) ids.push_back(adapter->push(i % 2 == 0 ? "orders" : "emails", Message::create("job", {{"i", i}})));
    CHECK(dead_letter_all(adapter, config, [&] {
        return adapter->depth("orders:dlq").total() == 2 && adapter->depth("emails:dlq").total() == 2;
    }));
    // Where they are: each group's tag; the old key still holds exactly the old dead letter.
    CHECK(rt::raw_command(port, {"XLEN", shard_hash_tag(prefix, "orders") + ":s:orders:dlq"}) == ":2");
    CHECK(rt::raw_command(port, {"XLEN", shard_hash_tag(prefix, "emails") + ":s:emails:dlq"}) == ":2");
    CHECK(rt::raw_command(port, {"XLEN", "{" + prefix + "}:s:orders:dlq"}) == ":1");
    CHECK(old_layout.depth("orders:dlq").total() == 1);
    CHECK(old_layout.depth("emails:dlq").total() == 0);

#ifdef FAILPIPE_CLI
    const ConfigFile file(two_flows_config());
    const std::string list = "dlq list --channel orders --format json --prefix '" + prefix + "' ";
    // With the switch and the workers' config: what the workers wrote.
    CliRun run = key_layout_test::run_cli(list + "--config " + file.path() + " --redis '" + url + "?keyLayout=groups'");
    CHECK(run.status == 0);
    CHECK(contains(run.output, "\"id\":\"" + ids[0] + "\""));
    CHECK(contains(run.output, "\"id\":\"" + ids[2] + "\""));
    CHECK_FALSE(contains(run.output, "old-1"));
    // The switch in the config instead of the URL: the same.
    const ConfigFile switched(two_flows_config("groups"));
    run = key_layout_test::run_cli("dlq list --channel emails --format json --prefix '" + prefix + "' --config " +
                                   switched.path() + " --redis " + url);
    CHECK(run.status == 0);
    CHECK(contains(run.output, "\"id\":\"" + ids[1] + "\""));
    // Without the switch: the {prefix} layout, as before (the old dead letter only).
    run = key_layout_test::run_cli(list + "--config " + file.path() + " --redis " + url);
    CHECK(run.status == 0);
    CHECK(contains(run.output, "\"id\":\"old-1\""));
    CHECK_FALSE(contains(run.output, ids[0]));
    // The switch without a config: a usage error, nothing read or changed.
    run = key_layout_test::run_cli("dlq replay --channel orders --prefix '" + prefix + "' --redis '" + url + "?keyLayout=groups'");
    CHECK(run.status == 2);
    CHECK(contains(run.output, "--redis asks for keyLayout=groups"));
    CHECK(contains(run.output, "add --config FILE; nothing was read or written"));
    CHECK(adapter->depth("orders:dlq").total() == 2);
    CHECK(adapter->depth("orders").total() == 0);
#endif
}

TEST_CASE("redis key layout - one adapter with 6 shard groups opens at most pool_size connections plus one write "
          "connection per group and one for the relay, not a pool per group") {
    const std::string url = rt::test_redis_url();
    const int port = rt::port_of(url);
    constexpr int kDb = 11;  // this test's clients are told apart in CLIENT LIST by their database
    constexpr std::size_t kPool = 3;
    constexpr int kGroups = 6;
    const Config config = parse_config(R"({"worker": {"channels": ["g0", "g1", "g2", "g3", "g4", "g5"]}})");
    REQUIRE(config.shard_groups.groups().size() == kGroups);
    const int before = clients_on_db(port, kDb);
    REQUIRE(before == 0);
    RedisAdapter::Options options = options_for(url + "/" + std::to_string(kDb) + "?keyLayout=groups", rt::unique_prefix("pool"));
    options.pool_size = kPool;
    auto adapter = std::make_shared<RedisAdapter>(RedisAdapter::with_key_layout(options, std::nullopt, &config.shard_groups));
    // 12 threads, 2 per group: blocking reserves (each holds a shared connection while it waits)
    // and pushes and settles (the groups' write combiners), all at once, for a bounded time.
    std::atomic<int> settled{0};
    {
        std::vector<std::jthread> threads;
        for (int t = 0; t < 2 * kGroups; ++t) {
            threads.emplace_back([&, t] {
                const std::string mine = "g" + std::to_string(t % kGroups);
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
    for (const auto& group : config.shard_groups.groups()) {
        for (auto& delivery : adapter->reserve({group.channels.front()}, 100, std::chrono::milliseconds(0))) {
            adapter->settle(delivery, Settlement{});
            settled.fetch_add(1);
        }
    }
    CHECK(settled.load() == 2 * kGroups * 6);
    const int connections = clients_on_db(port, kDb);
    INFO("connections on db ", kDb, ": ", connections);
    CHECK(connections >= 1);
    // pool_size, one write connection per group, one for the outbox relay (its thread started with the first reserve).
    CHECK(connections <= static_cast<int>(kPool) + kGroups + 1);
    // Opened ever: those, and the one that asked INFO cluster (closed once it said "a plain Redis").
    CHECK(adapter->stats().connects <= kPool + kGroups + 2);
}
