// Durability "replicas": a WAIT after every write round trip, on a master + replica pair of the
// test's own (redis_test_support.hpp's RedisServer, the replica started with --replicaof).
#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "failpipe/config.hpp"
#include "failpipe/redis/redis_adapter.hpp"
#include "failpipe/worker.hpp"
#include "redis_test_support.hpp"

namespace rt = failpipe::redis_test;
using namespace std::chrono_literals;
using failpipe::Delivery;
using failpipe::DurabilityError;
using failpipe::Message;
using failpipe::RedisAdapter;
using failpipe::Seconds;
using failpipe::Settlement;

namespace {

Message job(int n) { return Message::create("job", nlohmann::json{{"n", n}}); }

// A master and one replica of it, in sync when constructed.
struct ReplicatedPair {
    rt::RedisServer master;
    rt::RedisServer replica{{"--replicaof", "127.0.0.1", std::to_string(master.port())}};

    ReplicatedPair() {
        RedisAdapter probe(options(master.url()));
        REQUIRE(rt::eventually([&] {
            const std::string text = probe.info("replication");
            return text.find("connected_slaves:1") != std::string::npos && text.find("state=online") != std::string::npos;
        }));
    }

    static RedisAdapter::Options options(std::string url, std::string prefix = "failpipe") {
        RedisAdapter::Options options;
        options.url = std::move(url);
        options.key_prefix = std::move(prefix);
        options.connect_timeout = Seconds{1.0};
        options.command_timeout = Seconds{2.0};
        return options;
    }
};

// The replica's view of a channel, by an adapter of its own (depth is a read-only script, which a
// replica runs).
class ReplicaReader {
public:
    ReplicaReader(int port, const std::string& prefix)
        : adapter_(ReplicatedPair::options("redis://127.0.0.1:" + std::to_string(port), prefix)) {}
    failpipe::ChannelDepth depth(const std::string& channel) { return adapter_.depth(channel); }

private:
    RedisAdapter adapter_;
};

// Runs @p settle until no DurabilityError (at most 5 times): a WAIT a loaded machine answers late is
// sent again, as the error says it safely can be. True when one try was confirmed.
template <class Settle>
bool confirmed(Settle&& settle) {
    for (int attempt = 0; attempt < 5; ++attempt) {
        try {
            settle();
            return true;
        } catch (const DurabilityError&) {
        }
    }
    return false;
}

std::string durable_url(const rt::RedisServer& master, int wait_ms) {
    return master.url() + "?durability=replicas&replicas=1&waitMs=" + std::to_string(wait_ms);
}

}  // namespace

TEST_CASE("durability - the URL query sets it, and a bad parameter is a clear error without the password") {
    RedisAdapter adapter(ReplicatedPair::options("redis://127.0.0.1:1?durability=replicas&replicas=2&waitMs=250"));
    CHECK(adapter.options().durability == RedisAdapter::Durability::replicas);
    CHECK(adapter.options().durability_replicas == 2);
    CHECK(adapter.options().durability_timeout.count() == doctest::Approx(0.25));
    CHECK(adapter.options().url == "redis://127.0.0.1:1");
    CHECK(RedisAdapter(ReplicatedPair::options("redis://127.0.0.1:1")).options().durability == RedisAdapter::Durability::master);

    auto refused = [](const std::string& url) {
        try {
            RedisAdapter{ReplicatedPair::options(url)};
        } catch (const failpipe::InvalidArgumentError& e) {
            return std::string(e.what());
        }
        return std::string("accepted");
    };
    const std::string unknown = refused("redis://u:secret@127.0.0.1:1?durablity=replicas");
    CHECK(unknown.find("unknown query parameter \"durablity\"") != std::string::npos);
    CHECK(unknown.find("secret") == std::string::npos);
    CHECK(refused("redis://127.0.0.1:1?durability=quorum").find("durability must be") != std::string::npos);
    CHECK(refused("redis://127.0.0.1:1?durability=replicas&replicas=0").find("replicas must be a number from 1") !=
          std::string::npos);
    CHECK(refused("redis://127.0.0.1:1?durability=replicas&waitMs=soon").find("waitMs must be") != std::string::npos);
    CHECK(refused("redis://127.0.0.1:1?replicas=1").find("only with durability=replicas") != std::string::npos);
    CHECK(refused("redis://127.0.0.1:1?durability=replicas&durability=master").find("given twice") != std::string::npos);
}

TEST_CASE("durability - a push WAIT did not confirm is kept, and the error says a push sent again is a second copy") {
    rt::RedisServer alone;  // no replica: WAIT confirms nothing
    RedisAdapter adapter(ReplicatedPair::options(durable_url(alone, 50), rt::unique_prefix("dur-push")));
    try {
        adapter.push("jobs", job(1));
        FAIL("expected a DurabilityError");
    } catch (const DurabilityError& e) {
        const std::string what = e.what();
        CAPTURE(what);
        CHECK(what.find("WAIT confirmed it on 0 of 1 replica(s) within 50 ms") != std::string::npos);
        CHECK(what.find("a push sent again stores a second copy") != std::string::npos);
        CHECK(what.find("sending it again is safe") == std::string::npos);
    }
    CHECK(adapter.depth("jobs").ready == 1);  // on the master: a caller that pushes again makes it 2
}

TEST_CASE("durability - replicas: every push, settle and release is on the replica when the call returns") {
    ReplicatedPair pair;
    const std::string prefix = rt::unique_prefix("durable");
    RedisAdapter adapter(ReplicatedPair::options(durable_url(pair.master, 2000), prefix));
    ReplicaReader replica(pair.replica.port(), prefix);
    constexpr int kRounds = 40;
    for (int i = 0; i < kRounds; ++i) {
        adapter.push("jobs", job(i));
        CHECK(replica.depth("jobs").ready == 1);  // read right after: it is there
        auto held = adapter.reserve({"jobs"}, 1, 0ms);
        REQUIRE(held.size() == 1);
        if (i % 2 == 0) {
            adapter.settle(held[0], Settlement{});
        } else {
            adapter.release(held[0]);  // back to ready: a new entry replaces the reserved one
            CHECK(replica.depth("jobs").reserved == 0);
            CHECK(replica.depth("jobs").ready == 1);
            held = adapter.reserve({"jobs"}, 1, 0ms);
            REQUIRE(held.size() == 1);
            Settlement settlement;
            settlement.pushes.push_back(failpipe::OutgoingMessage{"done", job(i)});
            std::vector<RedisAdapter::SettleItem> items{{&held[0], &settlement}};
            auto results = adapter.settle_batch(items);
            REQUIRE(results.size() == 1);
            CHECK_FALSE(results[0]);
        }
        CHECK(replica.depth("jobs").total() == 0);
    }
    CHECK(replica.depth("done").ready == kRounds / 2);
    std::vector<failpipe::OutgoingMessage> many;
    for (int i = 0; i < 500; ++i) many.push_back(failpipe::OutgoingMessage{"bulk", job(i)});
    adapter.push_batch(std::move(many));
    CHECK(replica.depth("bulk").ready == 500);
}

TEST_CASE("durability - a stopped replica: settles fail with DurabilityError within the wait, and are settled once it is back") {
    ReplicatedPair pair;
    const std::string prefix = rt::unique_prefix("durable-stop");
    RedisAdapter adapter(ReplicatedPair::options(durable_url(pair.master, 200), prefix));
    RedisAdapter fast(ReplicatedPair::options(pair.master.url(), prefix));  // durability "master"
    ReplicaReader replica(pair.replica.port(), prefix);
    // Pushed without waiting, then seen on the replica: a loaded machine may take longer than the
    // 200 ms wait to confirm a write, which is not what this test is about.
    for (int i = 0; i < 3; ++i) fast.push("jobs", job(i));
    REQUIRE(rt::eventually([&] { return replica.depth("jobs").ready == 3; }));
    auto held = adapter.reserve({"jobs"}, 3, 0ms);
    REQUIRE(held.size() == 3);

    pair.replica.pause();
    // Durability "master" is unchanged: nothing waits for the replica.
    CHECK_NOTHROW(fast.push("other", job(9)));
    const auto started = std::chrono::steady_clock::now();
    CHECK_THROWS_AS(adapter.settle(held[0], Settlement{}), DurabilityError);
    CHECK(std::chrono::steady_clock::now() - started < 2s);  // the wait (200 ms) plus a round trip, not the command timeout
    std::vector<RedisAdapter::SettleItem> items{{&held[1], nullptr}};
    Settlement plain;
    items[0].settlement = &plain;
    CHECK_THROWS_AS(adapter.settle_batch(items), DurabilityError);
    CHECK_THROWS_AS(adapter.push("jobs", job(3)), DurabilityError);  // applied on the master all the same
    try {
        adapter.settle(held[2], Settlement{});
        FAIL("a settle confirmed by a stopped replica");
    } catch (const DurabilityError& e) {
        CHECK(std::string(e.what()).find("confirmed it on 0 of 1 replica(s)") != std::string::npos);
    }
    pair.replica.resume();
    // The replica catches up (on the master: the three settled, job 3 pushed) before they are sent again.
    REQUIRE(rt::eventually([&] {
        const auto depth = replica.depth("jobs");
        return depth.reserved == 0 && depth.ready == 1;
    }));

    // Sent again: recognised as done by the earlier try (not stale), confirmed this time.
    CHECK(confirmed([&] { adapter.settle(held[0], Settlement{}); }));
    CHECK(confirmed([&] { adapter.settle_batch(items); }));
    CHECK(confirmed([&] { adapter.settle(held[2], Settlement{}); }));
    // Nothing lost: the push that reported DurabilityError is there, once, and the settles are done.
    CHECK(adapter.depth("jobs").total() == 1);
    CHECK(adapter.depth("jobs").ready == 1);
    CHECK(replica.depth("jobs").total() == 1);
    CHECK(replica.depth("jobs").ready == 1);
}

// A call whose reply was lost is sent again on a new connection, and finds its work done by the first
// try (status 2): that connection wrote nothing of its own, yet its WAIT must still cover the first
// try's writes, which a stopped replica does not have. (Redis 7.0 moves a connection's WAIT offset on
// any script, so there the DurabilityError comes either way; the SET count shows the script's own
// small write, which makes it so on servers that move the offset only on a write.)
TEST_CASE("durability - a settle sent again after its reply was lost is not confirmed until the replica has the first try") {
    ReplicatedPair pair;
    const std::string prefix = rt::unique_prefix("durable-lost");
    rt::LosingProxy proxy(pair.master.port());
    RedisAdapter adapter(ReplicatedPair::options(proxy.url() + "?durability=replicas&replicas=1&waitMs=200", prefix));
    RedisAdapter fast(ReplicatedPair::options(pair.master.url(), prefix));  // durability "master", no proxy
    ReplicaReader replica(pair.replica.port(), prefix);
    fast.push("jobs", job(0));
    fast.push("jobs", job(1));
    auto held = adapter.reserve({"jobs"}, 2, 0ms);
    REQUIRE(held.size() == 2);
    // A settle first: the script is loaded, and the write connection has answered, so a cut is tried again.
    REQUIRE(confirmed([&] { adapter.settle(held[1], Settlement{}); }));
    REQUIRE(rt::eventually([&] { return replica.depth("jobs").reserved == 1; }));
    const auto sets = rt::command_calls(fast, "set");

    pair.replica.pause();
    proxy.lose_reply_to(held[0].message.id);
    // The first try is applied on the master only; the adapter sends it again by itself on a new
    // connection, where it answers "done by an earlier try".
    CHECK_THROWS_AS(adapter.settle(held[0], Settlement{}), DurabilityError);
    CHECK(proxy.lost());
    CHECK(fast.depth("jobs").total() == 0);  // settled on the master all the same
    CHECK(rt::command_calls(fast, "set") == sets + 1);  // the one small write that WAIT then covers
    pair.replica.resume();

    // Once the replica is back the same settle is confirmed, and the replica has it.
    CHECK(confirmed([&] { adapter.settle(held[0], Settlement{}); }));
    CHECK(replica.depth("jobs").total() == 0);
}

TEST_CASE("durability - a push_batch sent again after its reply was lost is not confirmed while the replica is stopped") {
    ReplicatedPair pair;
    const std::string prefix = rt::unique_prefix("durable-lost-push");
    rt::LosingProxy proxy(pair.master.port());
    RedisAdapter adapter(ReplicatedPair::options(proxy.url() + "?durability=replicas&replicas=1&waitMs=200", prefix));
    RedisAdapter fast(ReplicatedPair::options(pair.master.url(), prefix));
    ReplicaReader replica(pair.replica.port(), prefix);
    // The script is loaded, and the pooled connection has answered once: a cut is worth one more try.
    REQUIRE(confirmed([&] { adapter.push_batch({{"warm", job(0), Seconds{0.0}}}); }));
    const auto sets = rt::command_calls(fast, "set");

    pair.replica.pause();
    proxy.lose_reply_to("marker-durable-push-lost");
    std::vector<failpipe::OutgoingMessage> batch{
        {"jobs", Message::create("job", nlohmann::json{{"n", 1}, {"marker", "marker-durable-push-lost"}}), Seconds{0.0}}};
    CHECK_THROWS_AS(adapter.push_batch(batch), DurabilityError);
    CHECK(proxy.lost());
    CHECK(fast.depth("jobs").ready == 1);  // stored once on the master
    // The first try's token, then the small write of the try that found it: the WAIT covers both.
    CHECK(rt::command_calls(fast, "set") == sets + 2);
    pair.replica.resume();
    CHECK(rt::eventually([&] { return replica.depth("jobs").ready == 1; }));
}

TEST_CASE("durability - settles that nothing answered as done by an earlier try write nothing extra") {
    ReplicatedPair pair;
    const std::string prefix = rt::unique_prefix("durable-no-extra");
    RedisAdapter adapter(ReplicatedPair::options(durable_url(pair.master, 1000), prefix));
    RedisAdapter fast(ReplicatedPair::options(pair.master.url(), prefix));
    for (int i = 0; i < 4; ++i) fast.push("jobs", job(i));
    auto held = adapter.reserve({"jobs"}, 4, 0ms);
    REQUIRE(held.size() == 4);
    const auto sets = rt::command_calls(fast, "set");
    const auto waits = rt::command_calls(fast, "wait");
    REQUIRE(confirmed([&] { adapter.settle(held[0], Settlement{}); }));
    std::vector<RedisAdapter::SettleItem> items;
    Settlement plain;
    for (std::size_t k = 1; k < held.size(); ++k) items.push_back({&held[k], &plain});
    REQUIRE(confirmed([&] { adapter.settle_batch(items); }));
    CHECK(adapter.depth("jobs").total() == 0);
    CHECK(rt::command_calls(fast, "wait") >= waits + 2);  // they did wait
    CHECK(rt::command_calls(fast, "set") == sets);        // and wrote nothing beyond the settles
}

TEST_CASE("durability - a worker whose replica stops for a while keeps going and handles every message once") {
    ReplicatedPair pair;
    const std::string prefix = rt::unique_prefix("durable-worker");
    auto adapter = std::make_shared<RedisAdapter>(ReplicatedPair::options(durable_url(pair.master, 100), prefix));
    constexpr int kMessages = 30;
    {
        // Pushed without waiting, then seen on the replica: on a loaded machine a push may take
        // longer than the 100 ms wait to be confirmed, which is not what this test is about.
        RedisAdapter fast(ReplicatedPair::options(pair.master.url(), prefix));
        for (int i = 0; i < kMessages; ++i) fast.push("jobs", job(i));
        ReplicaReader replica(pair.replica.port(), prefix);
        REQUIRE(rt::eventually([&] { return replica.depth("jobs").ready == kMessages; }));
    }
    failpipe::WorkerOptions options;
    options.channels = {"jobs"};
    options.batch_size = 5;
    options.settle_retry_for = 10000ms;
    failpipe::Worker worker(adapter, failpipe::FailureMiddlewareDispatcher{}, failpipe::Classifier{}, options);
    std::atomic<int> runs{0};
    worker.on("job", [&](const Message&, failpipe::HandlerContext&) { ++runs; });

    pair.replica.pause();
    std::thread resumer([&] {
        std::this_thread::sleep_for(700ms);  // a few settles fail meanwhile and are retried
        pair.replica.resume();
    });
    const std::size_t handled = worker.run_until_idle(200);
    resumer.join();
    CHECK(handled == kMessages);
    CHECK(runs.load() == kMessages);  // none handled twice: the retried settles were recognised as done
    CHECK(adapter->depth("jobs").total() == 0);
    ReplicaReader replica(pair.replica.port(), prefix);
    CHECK(replica.depth("jobs").total() == 0);
}

TEST_CASE("durability - from the config: with_config sets it, the URL may say the same, and a different one is refused") {
    const failpipe::Config replicas = failpipe::parse_config(R"({"durability": {"mode": "replicas", "replicas": 2, "waitMs": 250}})");
    auto options = RedisAdapter::with_config(ReplicatedPair::options("redis://127.0.0.1:1"), replicas);
    CHECK(options.durability == RedisAdapter::Durability::replicas);
    CHECK(options.durability_replicas == 2);
    CHECK(options.durability_timeout.count() == doctest::Approx(0.25));
    // Unset in the config: the options stay as they were.
    options = RedisAdapter::with_config(ReplicatedPair::options("redis://127.0.0.1:1"), failpipe::parse_config("{}"));
    CHECK(options.durability == RedisAdapter::Durability::master);
    // Said in both places, the same: accepted (with a key layout in the query too).
    CHECK_NOTHROW(RedisAdapter::with_config(
        ReplicatedPair::options("redis://127.0.0.1:1?keyLayout=prefix&durability=replicas&replicas=2&waitMs=250"), replicas));
    try {
        (void)RedisAdapter::with_config(ReplicatedPair::options("redis://u:secret@127.0.0.1:1?durability=replicas"),
                                        failpipe::parse_config(R"({"durability": "master"})"));
        FAIL("a URL and a config that disagree were accepted");
    } catch (const failpipe::InvalidArgumentError& e) {
        const std::string what = e.what();
        CHECK(what.find("the Redis URL says durability replicas") != std::string::npos);
        CHECK(what.find("the config says \"durability\": master") != std::string::npos);
        CHECK(what.find("secret") == std::string::npos);
    }
}

TEST_CASE("durability - \"replicas\" from the config: a stopped replica makes a settle fail, and it is done once it is back") {
    ReplicatedPair pair;
    const std::string prefix = rt::unique_prefix("durable-config");
    const failpipe::Config config = failpipe::parse_config(R"({"durability": {"mode": "replicas", "waitMs": 200}})");
    RedisAdapter adapter(RedisAdapter::with_config(ReplicatedPair::options(pair.master.url(), prefix), config));
    RedisAdapter fast(ReplicatedPair::options(pair.master.url(), prefix));
    ReplicaReader replica(pair.replica.port(), prefix);
    fast.push("jobs", job(1));
    REQUIRE(rt::eventually([&] { return replica.depth("jobs").ready == 1; }));
    auto held = adapter.reserve({"jobs"}, 1, 0ms);
    REQUIRE(held.size() == 1);
    pair.replica.pause();
    CHECK_THROWS_AS(adapter.settle(held[0], Settlement{}), DurabilityError);
    pair.replica.resume();
    REQUIRE(rt::eventually([&] { return replica.depth("jobs").total() == 0; }));  // applied on the master all along
    CHECK(confirmed([&] { adapter.settle(held[0], Settlement{}); }));  // recognised as done by the earlier try
    CHECK(adapter.depth("jobs").total() == 0);
}
