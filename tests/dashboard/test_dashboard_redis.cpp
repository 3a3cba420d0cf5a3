// The dashboard's API on Redis (the shared test server of scripts/redis-test-server.sh), and a
// broker that goes away while the dashboard runs (a private redis-server, stopped by its PID).
#include <doctest/doctest.h>

#include "dashboard_cases.hpp"
#include "redis/redis_test_support.hpp"

namespace {

using namespace failpipe;
namespace rt = failpipe::redis_test;
using nlohmann::json;

struct RedisFixture {
    std::shared_ptr<AdapterInterface> make() { return rt::shared_server_adapter(Seconds{30.0}, rt::unique_prefix("dash")); }
    void push_raw(AdapterInterface& adapter, const std::string& channel, std::string bytes) {
        dynamic_cast<RedisAdapter&>(adapter).push_raw(channel, std::move(bytes));
    }
};

// 100,000 dead letters (tens of megabytes) on a server of their own, gone with it at the end.
struct PrivateRedisFixture {
    rt::RedisServer server;
    std::shared_ptr<AdapterInterface> make() {
        RedisAdapter::Options options;
        options.url = server.url();
        options.key_prefix = rt::unique_prefix("dash-big");
        return std::make_shared<RedisAdapter>(options);
    }
};

}  // namespace

FAILPIPE_DASHBOARD_CASES(RedisFixture, "redis", PrivateRedisFixture)

TEST_CASE("dashboard redis: broker stopped then restarted - 503 with the reason, then 200, nothing lost") {
    rt::RedisServer redis;
    RedisAdapter::Options options;
    options.url = redis.url();
    options.key_prefix = rt::unique_prefix("dash-down");
    options.connect_timeout = Seconds{0.5};
    options.command_timeout = Seconds{1.0};
    auto adapter = std::make_shared<RedisAdapter>(options);
    dead_letter_cases::seed(*adapter, dead_letter_cases::mixed_seeds());
    dashboard_cases::Running dash(adapter);
    REQUIRE(dash.get("/api/overview").status == 200);

    redis.stop(SIGKILL);
    for (const char* path : {"/api/overview", "/api/dead"}) {
        const auto down = dash.get(path, {{"channel", "orders"}});
        CHECK(down.status == 503);
        CHECK(down.body["kind"] == "broker");
        CHECK(down.body["error"].get<std::string>().find("broker unreachable") != std::string::npos);
    }
    const auto action = dash.post("/api/replay", {{"channel", "orders"}, {"dryRun", true}});
    CHECK(action.status == 503);
    // Not a job that fails later: 503 at once, saying nothing was done.
    const auto replay = dash.post("/api/replay", {{"channel", "orders"}});
    CHECK(replay.status == 503);
    CHECK(replay.body["kind"] == "broker");
    CHECK(replay.body["error"].get<std::string>().find("; nothing was replayed") != std::string::npos);
    const auto purge = dash.post("/api/purge", {{"channel", "orders"}, {"confirm", "orders"}});
    CHECK(purge.status == 503);
    CHECK(purge.body["error"].get<std::string>().find("; nothing was deleted") != std::string::npos);
    CHECK(dash.get("/api/info").status == 200);  // the page itself still loads and says so
    CHECK(dash.get("/api/broker").status == 503);

    redis.restart();  // same port, its AOF reloaded
    json overview;
    CHECK(rt::eventually([&] {
        const auto up = dash.get("/api/overview");
        overview = up.body;
        return up.status == 200;
    }));
    CHECK(dash.get("/api/broker").status == 200);
    REQUIRE(overview["channels"].size() == 1);
    CHECK(overview["channels"][0]["dead"] == 6);
    CHECK(dash.get("/api/dead", {{"channel", "orders"}}).body["items"].size() == 6);
}

// With shard groups, a replay to another group's channel goes through the outbox of the dead
// letters' group (one script cannot write two groups' slots) and arrives once a worker's relay
// publishes it: the dry run says so before anything moves, as `failpipe dlq replay --dry-run --to`
// does, and so does the job's result.
TEST_CASE("dashboard redis: a dry-run replay to another shard group's channel names the outbox it would go through") {
    RedisAdapter::Options options;
    options.url = rt::test_redis_url();
    options.key_prefix = rt::unique_prefix("dash-outbox");
    ShardGroupsOptions groups;
    groups.channels = {"orders", "payments"};
    options.shard_groups = ShardGroups::derive({}, groups);
    options.outbox_relay = false;  // relayed below, by hand
    auto adapter = std::make_shared<RedisAdapter>(options);
    dead_letter_cases::seed(*adapter, dead_letter_cases::mixed_seeds());
    dashboard_cases::Running dash(adapter);

    const json to_payments = {{"channel", "orders"}, {"ids", {"t1", "t2"}}, {"to", "payments"}};
    json dry = to_payments;
    dry["dryRun"] = true;
    const auto preview = dash.post("/api/replay", dry);
    REQUIRE(preview.status == 200);
    CHECK(preview.body["replayed"] == 2);
    CHECK(preview.body["throughOutbox"] == "orders");
    CHECK(dashboard_cases::keys_of(dead_letter_cases::census(*adapter, "orders:dlq")).size() == 6);  // nothing moved
    CHECK(adapter->depth("payments").total() == 0);
    // Within the group, or to their origin: straight there.
    const auto within = dash.post("/api/replay", {{"channel", "orders"}, {"ids", {"t1"}}, {"to", "orders"}, {"dryRun", true}});
    REQUIRE(within.status == 200);
    CHECK(within.body["replayed"] == 1);
    CHECK(within.body["throughOutbox"].is_null());
    const auto home = dash.post("/api/replay", {{"channel", "orders"}, {"ids", {"t1"}}, {"dryRun", true}});
    REQUIRE(home.status == 200);
    CHECK(home.body["throughOutbox"].is_null());

    const auto started = dash.post("/api/replay", to_payments);
    REQUIRE(started.status == 202);
    const json job = dash.wait_job(started.body["job"].get<std::string>());
    CHECK(job["result"]["replayed"] == 2);
    CHECK(job["result"]["throughOutbox"] == "orders");
    CHECK(adapter->depth("payments").total() == 0);  // in the outbox until a relay publishes them
    CHECK(adapter->relay_outbox() == 2);
    CHECK(dashboard_cases::keys_of(dead_letter_cases::census(*adapter, "payments")) == std::vector<std::string>{"t1", "t2"});
}
