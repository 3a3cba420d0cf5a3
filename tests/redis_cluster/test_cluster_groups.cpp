// Shard groups on a Redis Cluster: the groups of a pipeline config (failpipe::ShardGroups), one
// adapter per group under the group's hash tag {prefix:group}, spread over the masters; every retry
// and dead letter stays in its group's slot and nothing is lost.
#include <doctest/doctest.h>

#include <atomic>
#include <map>
#include <set>
#include <stop_token>
#include <thread>

#include "cluster_client.hpp"
#include "cluster_test_support.hpp"
#include "failpipe/metadata_keys.hpp"
#include "failpipe/send_again_middleware.hpp"
#include "failpipe/shard_groups.hpp"
#include "failpipe/worker.hpp"

namespace {

using namespace failpipe;
using namespace failpipe::cluster_test;

}  // namespace

TEST_CASE("cluster groups - a pipeline's shard groups land on different masters, retries and dead letters stay in their group") {
    REQUIRE(cluster_ok());
    // Six flows: <name> retries once through <name>-retry, then dead-letters (<name>-retry:dlq).
    const std::vector<std::string> flows = {"orders", "emails", "invoices", "refunds", "shipping", "stock"};
    FailureMiddlewareDispatcher::Options dispatcher;
    for (const auto& flow : flows) {
        dispatcher.pipelines[flow] = {std::make_shared<SendAgainMiddleware>("to-retry", 2, flow + "-retry")};
        dispatcher.pipelines[flow + "-retry"] = {std::make_shared<SendAgainMiddleware>("again", 2)};
    }
    ShardGroupsOptions group_options;
    group_options.channels = flows;
    const ShardGroups groups = ShardGroups::derive(dispatcher, group_options);
    REQUIRE(groups.groups().size() == flows.size());

    detail::redis::Counters counters;
    detail::redis::ClusterClient client(detail::redis::parse_seed_list(cluster_seed_list()),
                                        detail::redis::ClusterSettings{Seconds{0.5}, Seconds{2.0}, 1}, counters);
    REQUIRE(client.discover());
    // A prefix under which the six groups' slots cover all three masters.
    std::string prefix;
    std::map<std::string, std::string> master_of_group;
    for (int attempt = 0; attempt < 200 && prefix.empty(); ++attempt) {
        const std::string candidate = redis_test::unique_prefix("groups");
        std::set<std::string> masters;
        master_of_group.clear();
        for (const auto& group : groups.groups()) {
            master_of_group[group.name] = client.master_of(shard_slot(candidate, group.name));
            masters.insert(master_of_group[group.name]);
        }
        if (masters.size() == 3) prefix = candidate;
    }
    REQUIRE_FALSE(prefix.empty());

    constexpr int kPerFlow = 40;  // i % 4 == 0 always fails (dead letter), i % 4 == 1 fails once
    std::atomic<int> handled{0};
    std::vector<std::shared_ptr<RedisAdapter>> adapters;
    std::vector<std::unique_ptr<Worker>> workers;
    for (const auto& flow : flows) {
        const std::string group = groups.group_of(flow);
        CHECK(groups.group_of(flow + "-retry") == group);
        CHECK(groups.group_of(flow + "-retry:dlq") == group);
        RedisAdapter::Options options;
        options.url = cluster_seed_list();
        options.key_prefix = prefix + ":" + group;  // keys under shard_hash_tag(prefix, group)
        REQUIRE("{" + options.key_prefix + "}" == shard_hash_tag(prefix, group));
        auto adapter = std::make_shared<RedisAdapter>(options);
        for (int i = 0; i < kPerFlow; ++i) adapter->push(flow, Message::create("job", {{"i", i}}));
        WorkerOptions worker_options;
        worker_options.channels = {flow, flow + "-retry"};
        auto worker = std::make_unique<Worker>(adapter, FailureMiddlewareDispatcher(dispatcher), Classifier{}, worker_options);
        worker->on("job", [&handled](const Message& message, HandlerContext&) {
            const int i = message.data["i"].get<int>();
            if (i % 4 == 0) throw TransientError("always fails");
            if (i % 4 == 1 && !message.metadata.contains(std::string(metadata_keys::failure))) {
                throw TransientError("fails once");
            }
            handled.fetch_add(1);
        });
        adapters.push_back(adapter);
        workers.push_back(std::move(worker));
    }
    {
        std::vector<std::jthread> threads;
        for (auto& worker : workers) threads.emplace_back([w = worker.get()](std::stop_token stop) { w->run(stop); });
        CHECK(eventually(
            [&] {
                std::size_t dead = 0;
                for (std::size_t k = 0; k < flows.size(); ++k) dead += adapters[k]->depth(flows[k] + "-retry:dlq").total();
                return handled.load() == static_cast<int>(flows.size()) * kPerFlow * 3 / 4 && dead == flows.size() * kPerFlow / 4;
            },
            60s));
    }
    for (std::size_t k = 0; k < flows.size(); ++k) {
        CAPTURE(flows[k]);
        CHECK(adapters[k]->depth(flows[k]).total() == 0);
        CHECK(adapters[k]->depth(flows[k] + "-retry").total() == 0);
        // Every key of the flow is on its group's master: the dead letters are read there directly.
        const int owner = port_of_name(master_of_group[groups.group_of(flows[k])]);
        const std::string tag = shard_hash_tag(prefix, groups.group_of(flows[k]));
        CHECK(cli(owner, {"EXISTS", tag + ":s:" + flows[k] + "-retry:dlq"}) == "1");
    }
}
