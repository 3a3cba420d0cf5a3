// A Redis Cluster that loses the majority of its masters: the master left in the minority answers
// CLUSTERDOWN for its own slots. Calls fail with a clear error, nothing is applied half-way, the
// worker waits, and once the majority is back every message is handled once. The cluster is the
// test's own (three masters, node timeout 1 s), so stopping two of them disturbs no other test.
#include <doctest/doctest.h>

#include <signal.h>

#include <map>
#include <mutex>
#include <stop_token>
#include <thread>

#include "cluster_slots.hpp"
#include "cluster_test_support.hpp"
#include "failpipe/worker.hpp"

namespace {

using namespace failpipe;
using namespace failpipe::cluster_test;
using detail::redis::key_slot;

/// Three masters of the test's own, slots split in three, each node timeout 1 s.
class ThreeMasters {
public:
    ThreeMasters() {
        const std::array<std::pair<int, int>, 3> ranges{{{0, 5460}, {5461, 10922}, {10923, 16383}}};
        for (std::size_t i = 0; i < nodes_.size(); ++i) {
            const auto [first, last] = ranges[i];
            REQUIRE(cli(nodes_[i].port(), {"CLUSTER", "ADDSLOTSRANGE", std::to_string(first), std::to_string(last)}) == "OK");
            if (i != 0) REQUIRE(cli(nodes_[0].port(), {"CLUSTER", "MEET", "127.0.0.1", std::to_string(nodes_[i].port())}) == "OK");
        }
        REQUIRE(eventually([&] { return all_ok(); }, 20s));
    }
    /// The node that serves the slots 10923-16383.
    ScratchClusterNode& last() { return nodes_[2]; }
    /// SIGSTOPs (true) or SIGCONTs (false) the other two: the last one is left in the minority.
    void stop_majority(bool stop) {
        for (std::size_t i = 0; i < 2; ++i) REQUIRE(::kill(nodes_[i].pid(), stop ? SIGSTOP : SIGCONT) == 0);
    }
    bool state_is(ScratchClusterNode& node, const std::string& state) {
        return cli(node.port(), {"CLUSTER", "INFO"}).find("cluster_state:" + state) != std::string::npos;
    }
    bool all_ok() {
        for (auto& node : nodes_) {
            if (!state_is(node, "ok")) return false;
        }
        return true;
    }
private:
    std::array<ScratchClusterNode, 3> nodes_{ScratchClusterNode({"--cluster-node-timeout", "1000"}),
                                             ScratchClusterNode({"--cluster-node-timeout", "1000"}),
                                             ScratchClusterNode({"--cluster-node-timeout", "1000"})};
};

/// A key prefix whose hash tag is in the slots 10923-16383.
std::string prefix_on_last_node() {
    for (int i = 0; i < 1000; ++i) {
        std::string prefix = redis_test::unique_prefix("majority") + "-" + std::to_string(i);
        if (key_slot("{" + prefix + "}") >= 10923) return prefix;
    }
    FAIL("no prefix found in the slots 10923-16383");
    return {};
}

bool names_clusterdown(const std::exception& e) { return std::string(e.what()).find("CLUSTERDOWN") != std::string::npos; }

}  // namespace

TEST_CASE("cluster adapter - a master left in the minority answers CLUSTERDOWN: clear errors, the worker waits, and every message is handled once when the majority is back") {
    ThreeMasters cluster;
    RedisAdapter::Options options;
    options.url = cluster.last().url();
    options.key_prefix = prefix_on_last_node();
    options.connect_timeout = Seconds{0.5};
    options.command_timeout = Seconds{2.0};
    options.visibility_timeout = Seconds{60.0};  // no redelivery while the cluster is down
    auto adapter = std::make_shared<RedisAdapter>(options);
    constexpr int kMessages = 400;
    std::vector<OutgoingMessage> batch;
    for (int i = 0; i < kMessages; ++i) batch.push_back({"jobs", Message::create("job", {{"i", i}}), Seconds{0.0}});
    adapter->push_batch(std::move(batch));

    std::mutex mutex;
    std::map<int, int> runs;
    WorkerOptions worker_options;
    worker_options.channels = {"jobs"};
    worker_options.batch_size = 10;
    worker_options.max_backoff = std::chrono::milliseconds(200);
    worker_options.settle_retry_for = std::chrono::milliseconds(30000);
    Worker worker(adapter, FailureMiddlewareDispatcher{}, Classifier{}, worker_options);
    worker.on("job", [&](const Message& message, HandlerContext&) {
        std::this_thread::sleep_for(10ms);  // 4 s in all: still running when the majority goes
        std::lock_guard lock(mutex);
        ++runs[message.data["i"].get<int>()];
    });
    auto handled = [&] {
        std::lock_guard lock(mutex);
        return runs.size();
    };
    {
        std::jthread consumer([&](std::stop_token stop) { worker.run(stop); });
        REQUIRE(eventually([&] { return handled() >= 40; }, 20s));
        cluster.stop_majority(true);
        REQUIRE(eventually([&] { return cluster.state_is(cluster.last(), "fail"); }, 15s));
        // Calls now: a clear error naming CLUSTERDOWN within the retries' bound, and nothing applied.
        const auto started = std::chrono::steady_clock::now();
        try {
            adapter->push("jobs", Message::create("job", {{"i", kMessages}}));
            FAIL("a push to a cluster that is down succeeded");
        } catch (const ConnectionError& e) {
            CAPTURE(e.what());
            CHECK(names_clusterdown(e));
        }
        CHECK(std::chrono::steady_clock::now() - started < 10s);
        const std::size_t before_outage_ends = handled();
        std::this_thread::sleep_for(1500ms);  // the worker meets CLUSTERDOWN on reserve and settle meanwhile
        CHECK(handled() < static_cast<std::size_t>(kMessages));
        cluster.stop_majority(false);
        REQUIRE(eventually([&] { return cluster.all_ok(); }, 30s));
        CHECK(eventually([&] { return handled() == static_cast<std::size_t>(kMessages); }, 60s));
        CHECK(handled() >= before_outage_ends);
    }
    std::lock_guard lock(mutex);
    CHECK(runs.size() == static_cast<std::size_t>(kMessages));
    for (const auto& [i, times] : runs) {
        if (times != 1) CHECK_MESSAGE(times == 1, "message " << i << " ran " << times << " times");
    }
    // The push refused while the cluster was down was not applied: only the first 400 were ever there.
    CHECK(runs.count(kMessages) == 0);
    CHECK(adapter->depth("jobs").total() == 0);
}
