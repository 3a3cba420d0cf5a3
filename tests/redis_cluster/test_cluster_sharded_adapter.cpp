// One RedisAdapter for several shard groups (Options::shard_groups) on a Redis Cluster: each
// group's keys under its own hash tag {prefix:group}, groups on different masters, one worker
// consuming channels of both groups; a settle that pushes across groups, and a move across groups,
// go through the outbox.
#include <doctest/doctest.h>

#include <atomic>
#include <fstream>
#include <set>
#include <stop_token>
#include <thread>

#include <failpipe/testing/adapter_conformance.hpp>

#include "cluster_client.hpp"
#include "cluster_test_support.hpp"
#include "move_outbox_test_support.hpp"
#include "failpipe/config.hpp"
#include "failpipe/metadata_keys.hpp"
#include "failpipe/send_again_middleware.hpp"
#include "failpipe/worker.hpp"

namespace {

using namespace failpipe;
using namespace failpipe::cluster_test;

// config/payments.json with short retry delays, plus an unrelated "orders" flow (its own group).
Config payments_and_orders() {
    std::ifstream file(std::string(FAILPIPE_SOURCE_DIR) + "/config/payments.json");
    nlohmann::json document = nlohmann::json::parse(file);
    for (auto& [channel, pipeline] : document["pipelines"].items()) {
        for (auto& middleware : pipeline) {
            if (middleware["type"] != "exponential-delay") continue;
            middleware["delayInitial"] = 0.05;
            middleware["delayMaximum"] = 0.05;
        }
    }
    document["pipelines"]["orders"] = nlohmann::json::parse(R"([
        {"type": "dead-letter", "id": "invalid", "on": ["permanent"], "queue": "orders:dlq"},
        {"type": "exponential-delay", "id": "retry", "maxAttempts": 1, "delayInitial": 0.05,
         "delayMaximum": 0.05, "exponent": 1, "queue": "orders-retry"}])");
    document["pipelines"]["orders-retry"] =
        nlohmann::json::parse(R"([{"type": "dead-letter", "id": "exhausted", "queue": "orders:dlq"}])");
    document["worker"]["channels"].push_back("orders-retry");
    document["worker"]["channels"].push_back("orders");
    return load_config(document);
}

// A prefix under which groups @p a and @p b hash to slots of different masters; their masters' names.
struct Placement {
    std::string prefix, master_a, master_b;
};

Placement on_different_masters(const std::string& a, const std::string& b) {
    detail::redis::Counters counters;
    detail::redis::ClusterClient client(detail::redis::parse_seed_list(cluster_seed_list()),
                                        detail::redis::ClusterSettings{Seconds{0.5}, Seconds{2.0}, 1}, counters);
    REQUIRE(client.discover());
    for (int attempt = 0; attempt < 200; ++attempt) {
        Placement placement{redis_test::unique_prefix("sharded"), {}, {}};
        placement.master_a = client.master_of(shard_slot(placement.prefix, a));
        placement.master_b = client.master_of(shard_slot(placement.prefix, b));
        if (placement.master_a != placement.master_b) return placement;
    }
    FAIL("no prefix puts the two groups on different masters");
    return {};
}

std::shared_ptr<RedisAdapter> sharded_adapter(const std::string& prefix, const ShardGroups& groups) {
    RedisAdapter::Options options;
    options.url = cluster_url();
    options.key_prefix = prefix;
    options.visibility_timeout = Seconds{5.0};
    options.shard_groups = groups;
    return std::make_shared<RedisAdapter>(options);
}

}  // namespace

TEST_CASE("cluster sharded - one adapter for the payments config and an unrelated group - keys on different masters, "
          "one worker handles both, retries and dead letters stay in their group") {
    REQUIRE(cluster_ok());
    const Config config = payments_and_orders();
    const std::string payments = config.shard_groups.group_of("payments");
    const std::string orders = config.shard_groups.group_of("orders");
    REQUIRE(payments != orders);
    CHECK(config.shard_groups.group_of("payments-retry-60s") == payments);
    CHECK(config.shard_groups.group_of("orders:dlq") == orders);
    const Placement placement = on_different_masters(payments, orders);
    auto adapter = sharded_adapter(placement.prefix, config.shard_groups);

    constexpr int kPerFlow = 30;  // i % 3 == 0 fails for good (dead letter), i % 3 == 1 fails once (retry)
    std::vector<std::string> ids;
    for (int i = 0; i < kPerFlow; ++i) {
        ids.push_back(adapter->push("payments", Message::create("job", {{"i", i}})));
        ids.push_back(adapter->push("orders", Message::create("job", {{"i", i}})));
    }
    std::atomic<int> handled{0};
    WorkerOptions worker_options = config.worker;
    worker_options.channels = config.worker.channels;
    Worker worker(adapter, config.make_dispatcher(), config.classifier, worker_options);
    worker.on("job", [&handled](const Message& message, HandlerContext&) {
        const int i = message.data["i"].get<int>();
        if (i % 3 == 0) throw PermanentError("invalid");
        if (i % 3 == 1 && !message.metadata.contains(std::string(metadata_keys::failure))) throw TransientError("unavailable");
        handled.fetch_add(1);
    });
    {
        std::jthread thread([&worker](std::stop_token stop) { worker.run(stop); });
        CHECK(eventually(
            [&] {
                return handled.load() == 2 * (kPerFlow - kPerFlow / 3) &&
                       adapter->depth("payments:dlq").total() == kPerFlow / 3 &&
                       adapter->depth("orders:dlq").total() == kPerFlow / 3;
            },
            60s));
    }
    CHECK(handled.load() == 2 * (kPerFlow - kPerFlow / 3));
    for (const auto& channel : config.worker.channels) {
        CAPTURE(channel);
        CHECK(adapter->depth(channel).total() == 0);
    }
    // Each group's keys, dead letters included, live on its own master under its own tag.
    const std::string payments_tag = shard_hash_tag(placement.prefix, payments);
    const std::string orders_tag = shard_hash_tag(placement.prefix, orders);
    CHECK(cli(port_of_name(placement.master_a), {"EXISTS", payments_tag + ":s:payments:dlq"}) == "1");
    CHECK(cli(port_of_name(placement.master_b), {"EXISTS", orders_tag + ":s:orders:dlq"}) == "1");
    CHECK(cli(port_of_name(placement.master_a), {"EXISTS", payments_tag + ":s:payments-retry-5s"}) == "1");
    CHECK(cli(port_of_name(placement.master_b), {"EXISTS", orders_tag + ":s:orders-retry"}) == "1");
    // channels() is the union over the groups: the consumed, retry and dead-letter channels in use.
    CHECK(adapter->channels() == std::vector<std::string>{"orders", "orders-retry", "orders:dlq", "payments",
                                                           "payments-retry-5s", "payments:dlq"});
    // status() finds every message in whichever group holds it: all handled or dead-lettered.
    std::size_t dead = 0;
    for (const auto& id : ids) {
        const MessageStatus status = adapter->status(id);
        if (status.state == MessageState::not_found) continue;  // handled and acknowledged
        CAPTURE(id);
        CHECK((status.channel == "payments:dlq" || status.channel == "orders:dlq"));
        ++dead;
    }
    CHECK(dead == 2 * (kPerFlow / 3));
}

TEST_CASE("cluster sharded - a settle pushing to another shard group goes through the outbox, so does a move across "
          "groups, and nothing is lost") {
    REQUIRE(cluster_ok());
    const Config config = payments_and_orders();
    const std::string payments = config.shard_groups.group_of("payments");
    const std::string orders = config.shard_groups.group_of("orders");
    auto adapter = sharded_adapter(on_different_masters(payments, orders).prefix, config.shard_groups);
    const std::string first = adapter->push("orders", Message::create("job", {{"i", 1}}));
    const std::string second = adapter->push("orders", Message::create("job", {{"i", 2}}));
    auto deliveries = adapter->reserve({"payments", "orders"}, 10, 2000ms);
    REQUIRE(deliveries.size() == 2);
    CHECK(deliveries[0].channel == "orders");

    // A move across groups: out of "orders" at once, into "payments" by the adapter's relay.
    const std::string third = adapter->push("orders", Message::create("job", {{"from", 3}}));
    CHECK(adapter->move("orders", "payments", {third}).moved == std::vector<std::string>{third});
    CHECK(adapter->depth("orders").ready == 0);

    // A settle and a settle_batch item that push to the other group: settled, the follow-ups relayed.
    Settlement across;
    across.pushes.push_back(OutgoingMessage{"payments", Message::create("follow-up", {{"from", 1}}), Seconds{0.0}});
    adapter->settle(deliveries[0], Settlement(across));
    Settlement batched;
    batched.pushes.push_back(OutgoingMessage{"payments", Message::create("follow-up", {{"from", 2}}), Seconds{0.0}});
    std::vector<SettleItem> items{SettleItem{&deliveries[1], &batched}};
    auto outcomes = adapter->settle_batch(items);
    REQUIRE(outcomes.size() == 1);
    CHECK_FALSE(outcomes[0]);
    CHECK(adapter->status(first).state == MessageState::not_found);
    CHECK(adapter->status(second).state == MessageState::not_found);
    CHECK(eventually([&] { return adapter->depth("payments").ready == 3; }, 10s));  // the adapter's relay
    auto follow_ups = adapter->reserve({"payments"}, 10, 0ms);
    REQUIRE(follow_ups.size() == 3);
    std::multiset<int> from;
    for (const auto& delivery : follow_ups) from.insert(delivery.message.data["from"].get<int>());
    CHECK(from == std::multiset<int>{1, 2, 3});
    CHECK(adapter->status(third).state == MessageState::reserved);
}

TEST_CASE("cluster sharded - dead letters moved to a group on another master go through the outbox: after one relay "
          "each is in the target once, none in the dead letters, the outbox empty") {
    REQUIRE(cluster_ok());
    const Placement placement = on_different_masters("orders", "payments");
    move_outbox_test::check_move_across_groups(outbox_test::Place{cluster_url(), placement.prefix});
}

namespace {

// The conformance suite on a sharded adapter: a default pipeline that pushes to one fixed channel
// puts every channel the suite uses in that channel's group, so its settles stay in one group.
struct ShardedFixture {
    std::shared_ptr<AdapterInterface> make() {
        FailureMiddlewareDispatcher::Options dispatcher;
        dispatcher.default_pipeline = {std::make_shared<SendAgainMiddleware>("all", 2, "conformance-all")};
        RedisAdapter::Options options;
        options.url = cluster_url();
        options.key_prefix = redis_test::unique_prefix("csharded");
        options.visibility_timeout = visibility();
        options.shard_groups = ShardGroups::derive(dispatcher);
        return std::make_shared<RedisAdapter>(options);
    }
    Seconds visibility() const { return Seconds{0.5}; }
    Seconds delay() const { return Seconds{0.3}; }
    void pass(Seconds by) {
        std::this_thread::sleep_for(std::chrono::duration_cast<std::chrono::milliseconds>(by) + std::chrono::milliseconds(30));
    }
    void push_raw(AdapterInterface& adapter, const std::string& channel, std::string bytes) {
        dynamic_cast<RedisAdapter&>(adapter).push_raw(channel, std::move(bytes));
    }
};

}  // namespace

FAILPIPE_ADAPTER_CONFORMANCE(ShardedFixture, "cluster sharded")
