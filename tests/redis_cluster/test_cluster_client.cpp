// The cluster client (adapters/redis/src/cluster_client.hpp) on a real Redis Cluster: slot map,
// routing, MOVED, ASK, a master killed, seed lists, an uncovered slot.
#include <doctest/doctest.h>

#include <set>

#include "cluster_client.hpp"
#include "cluster_slots.hpp"
#include "cluster_test_support.hpp"
#include "router.hpp"

namespace {

using namespace failpipe;
using namespace failpipe::detail::redis;
using namespace failpipe::cluster_test;

struct Client {
    explicit Client(const std::string& url, Seconds command_timeout = Seconds{5.0})
        : client(parse_seed_list(url), ClusterSettings{Seconds{0.5}, command_timeout, 4}, counters) {}
    Counters counters;
    ClusterClient client;
};

/// The reply to a command sent through the cluster client, as text ("" for nil).
std::string run(ClusterClient& client, const std::vector<std::string>& parts, AskPolicy ask = AskPolicy::follow) {
    Args command;
    for (const auto& part : parts) command.add(part);
    const std::uint16_t slot = parts.size() > 1 ? key_slot(parts[1]) : 0;
    Reply reply = client.command(slot, command, ask);
    throw_if_error_reply(*reply, "test", parts.front());
    if (reply->type == REDIS_REPLY_INTEGER) return std::to_string(reply->integer);
    return std::string(text_of(*reply));
}

std::vector<int> master_ports(ClusterClient& client) {
    std::vector<int> ports;
    for (const auto& name : client.masters()) ports.push_back(port_of_name(name));
    return ports;
}

int owner_port(ClusterClient& client, const std::string& key) { return port_of_name(client.master_of(key_slot(key))); }

}  // namespace

TEST_CASE("cluster client - the slot of a key matches CLUSTER KEYSLOT, hash tags included") {
    const int port = port_of_name(cluster_url().substr(8));
    CHECK(crc16("123456789") == 0x31C3);  // the CRC16/XMODEM check value
    const std::vector<std::string> keys = {"",          "a",          "foo",         "{user1000}.following",
                                           "{user1000}.followers", "foo{}{bar}", "foo{{bar}}zap", "foo{bar}{zap}",
                                           "{",         "}",          "{}",          "x{y",
                                           "{failpipe}:s:orders", "{shop:payments}:d:retry", "\xff\x01 binary"};
    for (const auto& key : keys) {
        CAPTURE(key);
        CHECK(std::to_string(key_slot(key)) == cli(port, {"CLUSTER", "KEYSLOT", key}));
    }
    for (int i = 0; i < 200; ++i) {
        const std::string key = "k" + std::to_string(i * 7919);
        CHECK(std::to_string(key_slot(key)) == cli(port, {"CLUSTER", "KEYSLOT", key}));
    }
}

TEST_CASE("cluster client - discovers the cluster from one node and sends each key to the master that owns its slot") {
    REQUIRE(cluster_ok());
    Client c(cluster_url());
    REQUIRE(c.client.discover());
    const std::vector<int> masters = master_ports(c.client);
    REQUIRE(masters.size() == 3);

    std::set<int> used;
    for (int master : masters) {
        const std::string key = key_on("route", master, [&](const std::string& k) { return owner_port(c.client, k); });
        CHECK(run(c.client, {"SET", key, "v-" + key}) == "OK");
        // The value sits on that master itself: asked directly (no redirection), it has it.
        CHECK(cli(master, {"GET", key}) == "v-" + key);
        used.insert(master);
    }
    CHECK(used.size() == 3);
    CHECK(c.client.stats().moved == 0);
}

TEST_CASE("cluster client - a plain Redis is told apart from a cluster") {
    redis_test::RedisServer plain;
    Client c(plain.url());
    CHECK_FALSE(c.client.discover());
}

TEST_CASE("cluster client - MOVED after a slot was migrated: followed, and the map updated") {
    REQUIRE(cluster_ok());
    Client c(cluster_url());
    REQUIRE(c.client.discover());
    const std::vector<int> masters = master_ports(c.client);
    REQUIRE(masters.size() == 3);
    const std::string key = key_on("moved", masters[0], [&](const std::string& k) { return owner_port(c.client, k); });
    const int slot = key_slot(key);
    REQUIRE(run(c.client, {"SET", key, "before"}) == "OK");

    migrate_slot(slot, masters[0], masters[1], masters);
    // The client still believes masters[0] owns the slot: the node answers MOVED, the client follows.
    CHECK(port_of_name(c.client.master_of(static_cast<std::uint16_t>(slot))) == masters[0]);
    CHECK(run(c.client, {"GET", key}) == "before");
    CHECK(c.client.stats().moved >= 1);
    CHECK(port_of_name(c.client.master_of(static_cast<std::uint16_t>(slot))) == masters[1]);
    CHECK(run(c.client, {"SET", key, "after"}) == "OK");
    CHECK(cli(masters[1], {"GET", key}) == "after");
}

TEST_CASE("cluster client - ASK during a migration: the moved key is read on the importing node, the map stays") {
    REQUIRE(cluster_ok());
    Client c(cluster_url());
    REQUIRE(c.client.discover());
    const std::vector<int> masters = master_ports(c.client);
    REQUIRE(masters.size() == 3);
    const int from = masters[2], to = masters[0];
    const std::string tag = key_on("ask", from, [&](const std::string& k) { return owner_port(c.client, "{" + k + "}"); });
    const std::string moved_key = "{" + tag + "}:moved", staying_key = "{" + tag + "}:staying";
    const std::string slot = std::to_string(key_slot(moved_key));
    REQUIRE(run(c.client, {"SET", moved_key, "m"}) == "OK");
    REQUIRE(run(c.client, {"SET", staying_key, "s"}) == "OK");

    REQUIRE(cli(to, {"CLUSTER", "SETSLOT", slot, "IMPORTING", node_id(from)}) == "OK");
    REQUIRE(cli(from, {"CLUSTER", "SETSLOT", slot, "MIGRATING", node_id(to)}) == "OK");
    REQUIRE(cli(from, {"MIGRATE", "127.0.0.1", std::to_string(to), "", "0", "5000", "KEYS", moved_key}) == "OK");

    CHECK(run(c.client, {"GET", moved_key}) == "m");  // ASK → ASKING + GET on `to`
    CHECK(c.client.stats().asked >= 1);
    CHECK(run(c.client, {"GET", staying_key}) == "s");  // still on `from`
    CHECK(port_of_name(c.client.master_of(key_slot(moved_key))) == from);  // ASK changes no map

    SUBCASE("a caller that must not follow ASK waits, then gets a clear retryable error") {
        Client waiting(cluster_url(), Seconds{0.4});
        REQUIRE(waiting.client.discover());
        try {
            run(waiting.client, {"GET", moved_key}, AskPolicy::wait);
            FAIL("expected a ConnectionError");
        } catch (const ConnectionError& e) {
            CHECK(std::string(e.what()).find("is being migrated") != std::string::npos);
            CHECK(std::string(e.what()).find("ASK") != std::string::npos);
        }
    }

    // Finish the migration: the rest of the slot follows, and the client moves on by MOVED.
    REQUIRE(cli(from, {"MIGRATE", "127.0.0.1", std::to_string(to), "", "0", "5000", "KEYS", staying_key}) == "OK");
    const std::string owner = node_id(to);
    for (int master : masters) cli(master, {"CLUSTER", "SETSLOT", slot, "NODE", owner});
    CHECK(run(c.client, {"GET", staying_key}) == "s");
    CHECK(port_of_name(c.client.master_of(key_slot(staying_key))) == to);
}

TEST_CASE("cluster client - a seed list with an unreachable node works, and names every node when none answers") {
    REQUIRE(cluster_ok());
    const int dead = redis_test::free_port();
    const std::string live = cluster_url().substr(8);
    Client c("redis://127.0.0.1:" + std::to_string(dead) + "," + live);
    REQUIRE(c.client.discover());
    CHECK(run(c.client, {"SET", "seedlist", "ok"}) == "OK");

    const int dead2 = redis_test::free_port();
    Client none("redis://127.0.0.1:" + std::to_string(dead) + ",127.0.0.1:" + std::to_string(dead2));
    try {
        none.client.discover();
        FAIL("expected a ConnectionError");
    } catch (const ConnectionError& e) {
        const std::string what = e.what();
        CHECK(what.find("none of the 2") != std::string::npos);
        CHECK(what.find(std::to_string(dead)) != std::string::npos);
        CHECK(what.find(std::to_string(dead2)) != std::string::npos);
    }
    CHECK_THROWS_AS(parse_seed_list("redis://127.0.0.1:1,,127.0.0.1:2"), InvalidArgumentError);
    const auto seeds = parse_seed_list("redis://u:p%40ss@h1:7000,[::1]:7001/0");
    REQUIRE(seeds.size() == 2);
    CHECK(seeds[0].host == "h1");
    CHECK(seeds[1].host == "::1");
    CHECK(seeds[1].port == 7001);
    CHECK(seeds[1].password == "p@ss");
}

TEST_CASE("cluster client - an uncovered slot is a clear error after bounded retries, covered ones still work") {
    ScratchClusterNode node;
    REQUIRE(cli(node.port(), {"CLUSTER", "ADDSLOTSRANGE", "0", "8191"}) == "OK");
    REQUIRE(eventually([&] { return cli(node.port(), {"CLUSTER", "INFO"}).find("cluster_state:ok") != std::string::npos; }, 10s));
    Client c(node.url(), Seconds{0.5});
    REQUIRE(c.client.discover());
    std::string low, high;
    for (int i = 0; low.empty() || high.empty(); ++i) {
        const std::string key = "scratch:" + std::to_string(i);
        (key_slot(key) < 8192 ? low : high) = key;
    }
    CHECK(run(c.client, {"SET", low, "1"}) == "OK");
    auto expect_uncovered = [&](const std::string& key) {
        const auto started = std::chrono::steady_clock::now();
        try {
            run(c.client, {"SET", key, "1"});
            FAIL("expected a ConnectionError");
        } catch (const ConnectionError& e) {
            const std::string what = e.what();
            CAPTURE(what);
            CHECK(what.find("hash slot " + std::to_string(key_slot(key))) != std::string::npos);
            CHECK(what.find("CLUSTERDOWN") != std::string::npos);
        }
        CHECK(std::chrono::steady_clock::now() - started < 5s);
    };
    expect_uncovered(high);
    // A slot the client's map still gives to the node, taken away: the node answers CLUSTERDOWN.
    REQUIRE(cli(node.port(), {"CLUSTER", "DELSLOTS", std::to_string(key_slot(low))}) == "OK");
    expect_uncovered(low);
    // Nothing else was touched: the key is where it was, and the slot works again once assigned.
    REQUIRE(cli(node.port(), {"CLUSTER", "ADDSLOTS", std::to_string(key_slot(low))}) == "OK");
    CHECK(eventually([&] {
        try {
            return run(c.client, {"GET", low}) == "1";
        } catch (const ConnectionError&) {
            return false;
        }
    }, 10s));
}

TEST_CASE("cluster client - a master killed: its replica is promoted and the client carries on, nothing lost") {
    REQUIRE(cluster_ok());
    Client c(cluster_url(), Seconds{2.0});
    REQUIRE(c.client.discover());
    const std::vector<int> masters = master_ports(c.client);
    REQUIRE(masters.size() == 3);
    // A master that still has a replica (another test may have killed one before).
    int victim = 0;
    for (int master : masters) {
        if (cli(master, {"INFO", "replication"}).find("connected_slaves:1") != std::string::npos) victim = master;
    }
    REQUIRE(victim != 0);
    const std::string key = key_on("failover", victim, [&](const std::string& k) { return owner_port(c.client, k); });
    // The replica has it: WAIT counts the writes of its own connection, so it goes on the SET's.
    const long long confirmed = c.client.with_slot(key_slot(key), [&](Connection& connection) {
        Reply set = connection.command(Args{"SET", key, "kept"});
        throw_if_error_reply(*set, connection.endpoint(), "SET");
        Reply wait = connection.command(Args{"WAIT", "1", "5000"});
        throw_if_error_reply(*wait, connection.endpoint(), "WAIT");
        return wait->integer;
    });
    REQUIRE(confirmed == 1);

    kill_node(victim);
    // The client keeps calling; calls fail (ConnectionError) until the replica takes over.
    std::string got;
    const bool recovered = eventually(
        [&] {
            try {
                got = run(c.client, {"GET", key});
                return true;
            } catch (const ConnectionError&) {
                return false;
            }
        },
        30s);
    REQUIRE(recovered);
    CHECK(got == "kept");
    CHECK(port_of_name(c.client.master_of(key_slot(key))) != victim);
    CHECK(run(c.client, {"SET", key, "later"}) == "OK");
    // Back as a replica of its successor: later tests find every master replicated again.
    restart_node(victim);
    CHECK(cluster_ok());
}

TEST_CASE("cluster client - the router decides once: a plain Redis, a cluster, or the mode it was told") {
    Counters counters;
    const ClusterSettings settings{Seconds{0.5}, Seconds{2.0}, 2};
    redis_test::RedisServer plain;
    {
        Router router(parse_seed_list(plain.url()), ClusterMode::automatic, settings, counters);
        CHECK_FALSE(router.cluster());
        CHECK(router.nodes().size() == 1);
    }
    {
        Router router(parse_seed_list(cluster_url()), ClusterMode::automatic, settings, counters);
        CHECK(router.cluster());
        CHECK(router.nodes().size() == 3);
        const std::uint16_t slot = key_slot("{failpipe}");
        // The node it names for the slot serves it (a key of the slot read there is not redirected).
        const int owner = router.endpoint_of(slot).port;
        CHECK(cli(owner, {"GET", "{failpipe}"}).rfind("MOVED", 0) == std::string::npos);
    }
    {
        Router router(parse_seed_list(plain.url()), ClusterMode::on, settings, counters);
        CHECK_THROWS_AS(router.cluster(), ProtocolError);
    }
    CHECK_THROWS_AS(Router(parse_seed_list(plain.url() + ",127.0.0.1:1"), ClusterMode::off, settings, counters),
                    InvalidArgumentError);
    {
        Router router(parse_seed_list("redis://127.0.0.1:1," + plain.url().substr(8)), ClusterMode::automatic, settings, counters);
        CHECK_THROWS_AS(router.cluster(), InvalidArgumentError);
    }
    {
        // Not decided while nobody answers: decided at a later call that gets an answer.
        const int port = redis_test::free_port();
        Router router(parse_seed_list("redis://127.0.0.1:" + std::to_string(port)), ClusterMode::automatic, settings, counters);
        CHECK_THROWS_AS(router.cluster(), ConnectionError);
    }
}
