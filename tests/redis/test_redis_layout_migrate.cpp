// `failpipe layout migrate` on one Redis: a deployment of the key layout "prefix" moves to its
// shard groups' keys with every message, field, delivery count, due time and dead letter; a run
// SIGKILLed part-way and run again moves each message once; bad input is refused before anything
// changes.
#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "layout_migrate_support.hpp"
#include "test_support.hpp"
#include "script_args.hpp"
#include "write_combiner.hpp"

#ifdef FAILPIPE_CLI

namespace {

using namespace failpipe;
using namespace failpipe::migrate_test;
using failpipe::test::contains;
namespace rt = failpipe::redis_test;

using namespace std::chrono_literals;

std::string scard(const std::string& url, const std::string& tag) { return RawRedis(url).run({"SCARD", tag + ":channels"}).at(0); }

// The first @p n messages of @p channel copied to its group, their old entries left in place: the
// state a run SIGKILLed between the copy and the delete of a batch leaves.
std::size_t copy_without_delete(const std::string& url, const std::string& prefix, const Config& config,
                                const std::string& channel, std::size_t n) {
    using namespace failpipe::detail::redis;
    Counters counters;
    Router router(parse_seed_list(url), ClusterMode::automatic, ClusterSettings{Seconds{2.0}, Seconds{5.0}, 2, 2}, counters);
    const std::string group = config.shard_groups.group_of(channel);
    const ScriptHead old("{" + prefix + "}", "30000");
    const ScriptHead target(shard_hash_tag(prefix, group), "30000");
    std::vector<MigrateItem> items = router.with_slot(key_slot(old.prefix()), [&](Connection& c) {
        Reply r = run_script(c, migrate_read_call(old, channel, group, n, ""));
        REQUIRE(r->type == REDIS_REPLY_ARRAY);
        REQUIRE(std::string(text_of(*r->element[0])) == "ok");
        std::vector<MigrateItem> out;
        for (std::size_t i = 2; i + 4 < r->elements; i += 5) {
            MigrateItem item{std::string(text_of(*r->element[i])), std::string(text_of(*r->element[i + 1])),
                             std::string(text_of(*r->element[i + 2])), std::string(text_of(*r->element[i + 3])), {}};
            const redisReply& fields = *r->element[i + 4];
            for (std::size_t f = 0; f < fields.elements; ++f) item.fields.emplace_back(text_of(*fields.element[f]));
            out.push_back(std::move(item));
        }
        return out;
    });
    router.with_slot(key_slot(target.prefix()), [&](Connection& c) {
        Reply r = run_script(c, migrate_target_call(target, channel, items));
        CHECK(std::string(text_of(*r)) == std::string(items.size(), 'm'));
    });
    return items.size();
}

// WAITs the server at @p raw's URL has answered so far (INFO commandstats).
// How many times @p command (lower case) ran on @p raw's server, scripts' commands included.
long long command_calls(RawRedis& raw, const std::string& command) {
    const std::string info = raw.run({"INFO", "commandstats"}).at(0);
    const std::string field = "cmdstat_" + command + ":calls=";
    const auto at = info.find(field);
    return at == std::string::npos ? 0 : std::stoll(info.substr(at + field.size()));
}

long long wait_calls(RawRedis& raw) { return command_calls(raw, "wait"); }

// True when @p raw's server (a master) has a replica that is online (synced).
bool replica_online(RawRedis& raw) { return contains(raw.run({"INFO", "replication"}).at(0), "state=online"); }

// 30 ready messages in `orders` of the prefix layout under a new prefix at @p url, and what they are.
struct ThirtyOrders {
    explicit ThirtyOrders(const std::string& url)
        : prefix(rt::unique_prefix("migrate")), file(config_text()), config(load_config_file(file.path())),
          old(old_layout(url, prefix)), before(fill(*old)) {}
    static Snapshot fill(RedisAdapter& old) {
        for (int i = 0; i < 30; ++i) old.push("orders", message("o" + std::to_string(i)));
        return snapshot(old, {"orders"});
    }
    std::string prefix;
    ConfigFile file;
    Config config;
    std::shared_ptr<RedisAdapter> old;
    Snapshot before;
};

}  // namespace

TEST_CASE("redis layout migrate - every kind of message moves to its group's keys with its fields, counts and due times") {
    const Deployment d(rt::test_redis_url(), rt::unique_prefix("migrate"));

    const auto run = key_layout_test::run_cli(migrate_args(d.url, d.prefix, d.file));
    INFO(run.output);
    REQUIRE(run.status == 0);
    const std::string n = std::to_string(d.filled.messages);
    CHECK(contains(run.output, "total: found " + n + " = moved " + n + " + already there 0"));
    CHECK(contains(run.output, "removed the keys of 3 of 3 channel(s) under {" + d.prefix + "}"));
    check_moved(d.url, d.prefix, d.config, d.filled);

    // Run again: nothing left, nothing changed.
    const auto again = key_layout_test::run_cli(migrate_args(d.url, d.prefix, d.file));
    INFO(again.output);
    CHECK(again.status == 0);
    CHECK(contains(again.output, "nothing left to move under {" + d.prefix + "}"));
    CHECK(total(*new_layout(d.url, d.prefix, d.config), kChannels) == d.filled.messages);
}

TEST_CASE("redis layout migrate - a channel that held messages and is empty now is still listed after the move") {
    const std::string url = rt::test_redis_url();
    const std::string prefix = rt::unique_prefix("migrate");
    const ConfigFile file(config_text(1));
    const Config config = load_config_file(file.path());
    auto old = old_layout(url, prefix);
    old->push("orders", message("o1"));
    old->push("emails", message("e1"));
    REQUIRE(old->remove("emails", {"e1"}) == 1);
    std::vector<std::string> before = old->channels();
    std::sort(before.begin(), before.end());
    REQUIRE(std::find(before.begin(), before.end(), "emails") != before.end());

    const auto run = key_layout_test::run_cli(migrate_args(url, prefix, file));
    INFO(run.output);
    REQUIRE(run.status == 0);
    std::vector<std::string> after = new_layout(url, prefix, config)->channels();
    std::sort(after.begin(), after.end());
    CHECK(after == before);
    const auto stats = key_layout_test::run_cli("stats --channel emails --redis '" + url + "?keyLayout=groups' --config '" +
                                                file.path() + "' --prefix '" + prefix + "'");
    INFO(stats.output);
    CHECK(stats.status == 0);
}

TEST_CASE("redis layout migrate - --dry-run prints what would move per channel and group and changes nothing") {
    const Deployment d(rt::test_redis_url(), rt::unique_prefix("migrate"));

    const auto run = key_layout_test::run_cli(migrate_args(d.url, d.prefix, d.file, "--dry-run"));
    INFO(run.output);
    REQUIRE(run.status == 0);
    CHECK(contains(run.output, "dry run: nothing was changed"));
    CHECK(contains(run.output, "{" + d.prefix + ":orders}"));
    CHECK(contains(run.output, "group emails: 27 message(s) of 1 channel(s)"));
    CHECK(contains(run.output, "group orders: 48 message(s) of 2 channel(s)"));
    CHECK(contains(run.output, "would move " + std::to_string(d.filled.messages) + " message(s) of 3 channel(s) to 2 group(s)"));
    auto old = old_layout(d.url, d.prefix);
    CHECK(snapshot(*old, kChannels) == d.filled.waiting);
    CHECK(scard(d.url, "{" + d.prefix + ":orders}") == "0");
    CHECK(scard(d.url, "{" + d.prefix + ":emails}") == "0");
}

TEST_CASE("redis layout migrate - SIGKILLed part-way and run again: every message once, none lost") {
    check_killed_and_resumed(rt::test_redis_url(), [] { return rt::unique_prefix("migrate"); });
}

TEST_CASE("redis layout migrate - a copy whose old entry was not deleted yet is recognised: already there, not doubled") {
    const std::string url = rt::test_redis_url();
    const std::string prefix = rt::unique_prefix("migrate");
    const ConfigFile file(config_text());
    const Config config = load_config_file(file.path());
    auto old = old_layout(url, prefix);
    for (int i = 0; i < 30; ++i) old->push("orders", message("o" + std::to_string(i)));
    const Snapshot before = snapshot(*old, {"orders"});
    REQUIRE(copy_without_delete(url, prefix, config, "orders", 12) == 12);

    const auto run = key_layout_test::run_cli(migrate_args(url, prefix, file, "--batch 5"));
    INFO(run.output);
    REQUIRE(run.status == 0);
    CHECK(contains(run.output, "total: found 30 = moved 18 + already there 12"));
    CHECK(snapshot(*new_layout(url, prefix, config), {"orders"}) == before);
}

// A rerun finds copies of an earlier run already there: those write nothing, so the batch also
// writes P:confirm, and the WAIT of durability "replicas" after it covers the earlier run's copies
// before their old entries are deleted. A batch with none of them writes nothing extra.
TEST_CASE("redis layout migrate - a batch with copies already there writes one small marker, a batch without writes none") {
    rt::RedisServer server;  // of its own: every SET counted is this run's
    const ThirtyOrders d(server.url());
    const auto& [prefix, file, config, old, before] = d;
    REQUIRE(copy_without_delete(server.url(), prefix, config, "orders", 12) == 12);
    RawRedis raw(server.url());
    const long long sets = command_calls(raw, "set");

    const auto run = key_layout_test::run_cli(migrate_args(server.url(), prefix, file, "--batch 5"));
    INFO(run.output);
    REQUIRE(run.status == 0);
    CHECK(contains(run.output, "total: found 30 = moved 18 + already there 12"));
    // 18 tokens of new copies, and one marker for each of the 3 batches that met the 12 copies.
    CHECK(command_calls(raw, "set") == sets + 18 + 3);
    CHECK(snapshot(*new_layout(server.url(), prefix, config), {"orders"}) == before);
}

TEST_CASE("redis layout migrate - live reservations make it refuse, listing them, and nothing is changed") {
    const std::string url = rt::test_redis_url();
    const std::string prefix = rt::unique_prefix("migrate");
    const ConfigFile file(config_text(30));
    const Config config = load_config_file(file.path());
    auto old = old_layout(url, prefix);
    for (int i = 0; i < 5; ++i) old->push("orders", message("o" + std::to_string(i)));
    const auto held = old->reserve({"orders"}, 1, 0ms);
    REQUIRE(held.size() == 1);

    const auto run = key_layout_test::run_cli(migrate_args(url, prefix, file));
    INFO(run.output);
    CHECK(run.status == 1);
    CHECK(contains(run.output, "1 message(s) under {" + prefix + "} are reserved by workers right now"));
    CHECK(contains(run.output, "orders: message o0"));
    CHECK(contains(run.output, "nothing was changed"));
    CHECK(old->depth("orders").ready == 4);
    CHECK(old->depth("orders").reserved == 1);
    CHECK(scard(url, "{" + prefix + ":orders}") == "0");

    // Once the worker gave it back, the migration goes through.
    old->release(held.front());
    const auto after = key_layout_test::run_cli(migrate_args(url, prefix, file));
    INFO(after.output);
    CHECK(after.status == 0);
    CHECK(contains(after.output, "total: found 5 = moved 5 + already there 0"));
}

TEST_CASE("redis layout migrate - a config whose groups differ from an earlier run's is refused and nothing is changed") {
    const std::string url = rt::test_redis_url();
    const std::string prefix = rt::unique_prefix("migrate");
    const ConfigFile file(config_text());
    const ConfigFile other(config_text(30, R"({"billing": ["orders"]})"));
    const Config config = load_config_file(file.path());
    auto old = old_layout(url, prefix);
    for (int i = 0; i < 10; ++i) old->push("orders", message("o" + std::to_string(i)));
    copy_without_delete(url, prefix, config, "orders", 4);  // an earlier run, killed, moved "orders" to group "orders"

    const auto run = key_layout_test::run_cli(migrate_args(url, prefix, other));
    INFO(run.output);
    CHECK(run.status == 1);
    CHECK(contains(run.output, "do not match the ones an earlier run of the migration used"));
    CHECK(contains(run.output, "\"orders\": an earlier run moved it to group \"orders\", this config puts it in group \"billing\""));
    CHECK(old->depth("orders").ready == 10);
    CHECK(scard(url, "{" + prefix + ":billing}") == "0");

    const auto right = key_layout_test::run_cli(migrate_args(url, prefix, file));
    INFO(right.output);
    CHECK(right.status == 0);
    CHECK(contains(right.output, "total: found 10 = moved 6 + already there 4"));
}

TEST_CASE("redis layout migrate - a deployment already in the grouped layout, or a wrong prefix, is refused and nothing is changed") {
    const std::string url = rt::test_redis_url();
    const std::string prefix = rt::unique_prefix("migrate");
    const ConfigFile file(config_text());
    const Config config = load_config_file(file.path());
    new_layout(url, prefix, config)->push("orders", message("g1"));

    const auto grouped = key_layout_test::run_cli(migrate_args(url, prefix, file));
    INFO(grouped.output);
    CHECK(grouped.status == 1);
    CHECK(contains(grouped.output, "this deployment already uses the layout \"groups\"; nothing was changed"));
    CHECK(new_layout(url, prefix, config)->depth("orders").ready == 1);

    const auto wrong = key_layout_test::run_cli(migrate_args(url, prefix + "-typo", file));
    INFO(wrong.output);
    CHECK(wrong.status == 1);
    CHECK(contains(wrong.output, "is --prefix right"));
    CHECK(scard(url, "{" + prefix + "-typo:orders}") == "0");
}

TEST_CASE("redis layout migrate - a URL naming keyLayout=prefix and a config with contradicting groups are usage errors") {
    const std::string url = rt::test_redis_url();
    const std::string prefix = rt::unique_prefix("migrate");
    const ConfigFile file(config_text());
    auto old = old_layout(url, prefix);
    old->push("orders", message("o1"));

    const auto layout = key_layout_test::run_cli(migrate_args(url + "?keyLayout=prefix", prefix, file));
    INFO(layout.output);
    CHECK(layout.status == 2);
    CHECK(contains(layout.output, "the Redis URL says keyLayout=prefix, but this command moves the keys to the layout \"groups\""));

    // orders dead-letters to orders:dlq, which a named group may not split off.
    const ConfigFile contradicting(config_text(30, R"({"a": ["orders"], "b": ["orders:dlq"]})"));
    const auto bad = key_layout_test::run_cli(migrate_args(url, prefix, contradicting));
    INFO(bad.output);
    CHECK(bad.status == 2);
    CHECK(contains(bad.output, "is not a valid config; nothing was read or written"));
    CHECK(old->depth("orders").ready == 1);
}

TEST_CASE("redis layout migrate - durability replicas: a replica that falls behind is waited for, then the run finishes") {
    rt::RedisServer master({"--repl-diskless-sync-delay", "0"});  // the replica syncs at once
    rt::RedisServer replica({"--replicaof", "127.0.0.1", std::to_string(master.port())});
    RawRedis raw(master.url());
    REQUIRE(rt::eventually([&] { return replica_online(raw); }, 20s));
    const ThirtyOrders d(master.url());
    const auto& [prefix, file, config, old, before] = d;
    const long long waits_before = wait_calls(raw);

    replica.pause();  // confirms nothing until it goes on, as a replica that lags or resyncs
    key_layout_test::CliRun run;
    std::atomic<bool> ended{false};
    std::thread cli([&] {
        run = key_layout_test::run_cli(migrate_args(master.url() + "?durability=replicas&waitMs=500", prefix, file));
        ended = true;
    });
    // The batch's first WAIT came back short, and a second one was answered: the run waits on.
    rt::eventually([&] { return ended || wait_calls(raw) >= waits_before + 2; }, 20s);
    const bool waited_again = wait_calls(raw) >= waits_before + 2;
    replica.resume();
    cli.join();
    CHECK(waited_again);
    INFO(run.output);
    REQUIRE(run.status == 0);
    CHECK(contains(run.output, "total: found 30 = moved 30 + already there 0"));
    CHECK(snapshot(*new_layout(master.url(), prefix, config), {"orders"}) == before);
    CHECK(total(*old, {"orders"}) == 0);
}

TEST_CASE("redis layout migrate - durability replicas never confirmed: status 1 naming the batch, its old entries kept, a later run finishes") {
    rt::RedisServer server;  // no replica: WAIT confirms nothing
    const ThirtyOrders d(server.url());
    const auto& [prefix, file, config, old, before] = d;

    const auto run = key_layout_test::run_cli(migrate_args(server.url() + "?durability=replicas&waitMs=20", prefix, file, "--batch 10"));
    INFO(run.output);
    CHECK(run.status == 1);
    CHECK(contains(run.output, "a batch of 10 entries of \"orders\" was copied to group \"orders\", but WAIT confirmed it on only 0 "
                               "of 1 replica(s) in 10 tries of 20 ms (durability \"replicas\"): its old entries were not "
                               "deleted, so nothing is lost"));
    CHECK(contains(run.output, "run the command again to finish (nothing is lost or duplicated)"));
    CHECK(snapshot(*old, {"orders"}) == before);  // nothing deleted

    const auto again = key_layout_test::run_cli(migrate_args(server.url(), prefix, file, "--batch 10"));
    INFO(again.output);
    REQUIRE(again.status == 0);
    CHECK(contains(again.output, "total: found 30 = moved 20 + already there 10"));
    CHECK(snapshot(*new_layout(server.url(), prefix, config), {"orders"}) == before);
}

#endif
