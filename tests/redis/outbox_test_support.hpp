// The outbox checks (follow-ups to another shard group's channel), written once and run both on one
// Redis (tests/redis/test_outbox.cpp, label redis) and on the test Redis Cluster
// (tests/redis_cluster/test_cluster_outbox.cpp, label cluster). Two shard groups, "orders" and
// "payments" (each channel a group of its own); a handler of "orders" pushes follow-ups to
// "payments". What is checked is what a user sees: each follow-up arrives in "payments" exactly once,
// with its data and metadata, whatever process dies when.
#pragma once

#include <doctest/doctest.h>

#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <stop_token>
#include <string>
#include <thread>
#include <vector>

#include "failpipe/redis/redis_adapter.hpp"
#include "failpipe/worker.hpp"
#include "redis_test_support.hpp"

namespace failpipe::outbox_test {

using namespace std::chrono_literals;
using redis_test::eventually;

/// Where the checks run: a Redis URL and a key prefix of the test's own.
struct Place {
    std::string url;
    std::string prefix;
};

inline ShardGroups two_groups() {
    ShardGroupsOptions options;
    options.channels = {"orders", "payments"};
    return ShardGroups::derive({}, options);
}

inline std::shared_ptr<RedisAdapter> make_adapter(const Place& place, bool relay, Seconds visibility = Seconds{30.0}) {
    RedisAdapter::Options options;
    options.url = place.url;
    options.key_prefix = place.prefix;
    options.visibility_timeout = visibility;
    options.shard_groups = two_groups();
    options.outbox_relay = relay;
    options.outbox_poll = Seconds{0.05};
    return std::make_shared<RedisAdapter>(options);
}

/// The outbox figures of group @p group.
inline RedisAdapter::OutboxLag lag_of(RedisAdapter& adapter, const std::string& group) {
    for (auto& lag : adapter.outbox_lag()) {
        if (lag.group == group) return lag;
    }
    FAIL("no outbox figures for group " << group);
    return {};
}

/// Every message of @p channel, taken and acknowledged: data "i" → how many times it came.
inline std::map<int, int> drain(RedisAdapter& adapter, const std::string& channel, std::chrono::milliseconds wait = 200ms) {
    std::map<int, int> seen;
    for (int round = 0; round < 1000; ++round) {
        auto deliveries = adapter.reserve({channel}, 64, wait);
        if (deliveries.empty()) break;
        for (auto& delivery : deliveries) {
            ++seen[delivery.message.data.value("i", -1)];
            adapter.settle(delivery, Settlement{});
        }
    }
    return seen;
}

/// Reserves the one message of "orders" and settles it with @p pushes.
inline void settle_one_with(RedisAdapter& adapter, std::vector<OutgoingMessage> pushes) {
    auto deliveries = adapter.reserve({"orders"}, 1, 2000ms);
    REQUIRE(deliveries.size() == 1);
    Settlement settlement;
    settlement.pushes = std::move(pushes);
    adapter.settle(deliveries[0], std::move(settlement));
}

inline OutgoingMessage follow_up(int i, Seconds delay = Seconds{0.0}) {
    Message message = Message::create("follow-up", {{"i", i}});
    message.metadata["tenant"] = "acme";
    return OutgoingMessage{"payments", std::move(message), delay};
}

/// A handler's context.push to another group's channel: in the outbox after the settle (not in the
/// channel, not a channel itself), in the channel exactly once after the relay, data and metadata
/// kept. Through a Worker (settle_batch) and a plain settle.
inline void check_follow_up_once(const Place& place) {
    auto adapter = make_adapter(place, /*relay=*/false);
    adapter->push("orders", Message::create("job", {{"i", 1}}));
    WorkerOptions options;
    options.channels = {"orders"};
    Worker worker(adapter, FailureMiddlewareDispatcher{}, Classifier{}, options);
    worker.on("job", [](const Message& message, HandlerContext& context) {
        Message next = Message::create("follow-up", {{"i", message.data["i"]}});
        next.metadata["tenant"] = "acme";
        context.push("payments", std::move(next));
    });
    REQUIRE(eventually([&] { return worker.run_once() == 1; }, 10s));
    // Settled atomically with its follow-up, which waits in the outbox of "orders".
    CHECK(adapter->depth("orders").total() == 0);
    CHECK(adapter->depth("payments").total() == 0);
    CHECK(lag_of(*adapter, "orders").entries == 1);
    CHECK(lag_of(*adapter, "payments").entries == 0);
    CHECK(adapter->channels() == std::vector<std::string>{"orders"});  // the outbox is not a channel

    // A plain settle of another message, with a delayed follow-up as well.
    adapter->push("orders", Message::create("job", {{"i", 2}}));
    settle_one_with(*adapter, {follow_up(2), follow_up(3, Seconds{0.3})});
    CHECK(lag_of(*adapter, "orders").entries == 3);

    CHECK(adapter->relay_outbox() == 3);
    CHECK(adapter->relay_outbox() == 0);  // nothing twice
    CHECK(lag_of(*adapter, "orders").entries == 0);
    CHECK(lag_of(*adapter, "orders").relayed == 3);
    const ChannelDepth payments = adapter->depth("payments");
    CHECK(payments.ready + payments.delayed == 3);
    auto deliveries = adapter->reserve({"payments"}, 10, 0ms);
    REQUIRE(deliveries.size() == 2);  // the delayed one is not due yet
    for (const auto& delivery : deliveries) {
        CHECK(delivery.message.handler == "follow-up");
        CHECK(delivery.message.metadata.at("tenant") == "acme");
        adapter->settle(delivery, Settlement{});
    }
    std::map<int, int> seen = drain(*adapter, "payments", 1000ms);
    CHECK(seen == std::map<int, int>{{3, 1}});
    CHECK(adapter->depth("payments").total() == 0);
}

/// @p count handlers each push a follow-up to another group; the relay thread of the same adapter
/// publishes them: every one arrives once.
inline void check_many_follow_ups(const Place& place, int count) {
    auto adapter = make_adapter(place, /*relay=*/true);
    for (int i = 0; i < count; ++i) adapter->push("orders", Message::create("job", {{"i", i}}));
    WorkerOptions options;
    options.channels = {"orders"};
    options.batch_size = 16;
    Worker worker(adapter, FailureMiddlewareDispatcher{}, Classifier{}, options);
    worker.on("job", [](const Message& message, HandlerContext& context) {
        context.push("payments", Message::create("follow-up", {{"i", message.data["i"]}}));
    });
    std::map<int, int> seen;
    {
        std::jthread running([&worker](std::stop_token stop) { worker.run(stop); });
        const auto give_up = std::chrono::steady_clock::now() + 60s;
        while (static_cast<int>(seen.size()) < count && std::chrono::steady_clock::now() < give_up) {
            for (const auto& [i, times] : drain(*adapter, "payments", 100ms)) seen[i] += times;
        }
    }
    for (const auto& [i, times] : drain(*adapter, "payments", 300ms)) seen[i] += times;  // nothing more comes
    CHECK(static_cast<int>(seen.size()) == count);
    int twice = 0;
    for (const auto& [i, times] : seen) twice += times != 1 ? 1 : 0;
    CHECK(twice == 0);
    CHECK(lag_of(*adapter, "orders").entries == 0);
    CHECK(adapter->depth("orders").total() == 0);
}

/// Runs the outbox worker process (tests/redis/outbox_worker.cpp) and reaps it whatever happens.
class OutboxWorker {
public:
    OutboxWorker(const std::string& binary, const std::string& mode, const Place& place, Seconds visibility, int count)
        : ready_(std::filesystem::temp_directory_path() / ("fp-outbox-" + std::to_string(::getpid()) + "-" +
                                                           std::to_string(reinterpret_cast<std::uintptr_t>(this)))) {
        std::filesystem::remove(ready_);
        const std::string visibility_text = std::to_string(visibility.count());
        const std::string count_text = std::to_string(count);
        pid_ = ::fork();
        REQUIRE(pid_ >= 0);
        if (pid_ == 0) {
            ::prctl(PR_SET_PDEATHSIG, SIGKILL);  // never outlive the test process
            ::execl(binary.c_str(), binary.c_str(), mode.c_str(), place.url.c_str(), place.prefix.c_str(),
                    visibility_text.c_str(), count_text.c_str(), ready_.c_str(), static_cast<char*>(nullptr));
            ::_exit(127);
        }
    }
    ~OutboxWorker() {
        if (pid_ > 0) {
            ::kill(pid_, SIGKILL);
            ::waitpid(pid_, nullptr, 0);
        }
        std::filesystem::remove(ready_);
    }
    OutboxWorker(const OutboxWorker&) = delete;
    OutboxWorker& operator=(const OutboxWorker&) = delete;

    bool ready() const { return std::filesystem::exists(ready_); }

    /// Waits (bounded) for the process to end; true when SIGKILL ended it.
    bool killed_by_sigkill(std::chrono::seconds bound = 30s) {
        int status = 0;
        const auto give_up = std::chrono::steady_clock::now() + bound;
        while (std::chrono::steady_clock::now() < give_up) {
            const pid_t done = ::waitpid(pid_, &status, WNOHANG);
            if (done == pid_) {
                pid_ = -1;
                return WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL;
            }
            std::this_thread::sleep_for(10ms);
        }
        return false;
    }

    void kill_now() {
        REQUIRE(pid_ > 0);
        ::kill(pid_, SIGKILL);
    }

private:
    std::filesystem::path ready_;
    pid_t pid_ = -1;
};

/// A worker process settles follow-ups into the outbox with no relay running and is SIGKILLed
/// before any relay ran: another adapter's relay publishes every one, once.
inline void check_killed_between_settle_and_relay(const Place& place, const std::string& binary) {
    constexpr int kCount = 20;
    auto adapter = make_adapter(place, /*relay=*/false);
    for (int i = 0; i < kCount; ++i) adapter->push("orders", Message::create("job", {{"i", i}}));
    {
        OutboxWorker worker(binary, "settle", place, Seconds{30.0}, kCount);
        REQUIRE(eventually([&] { return worker.ready(); }, 30s));
        worker.kill_now();
        CHECK(worker.killed_by_sigkill());
    }
    CHECK(adapter->depth("orders").total() == 0);   // settled by the dead worker
    CHECK(adapter->depth("payments").total() == 0);  // not published yet
    CHECK(lag_of(*adapter, "orders").entries == static_cast<std::size_t>(kCount));

    auto relay = make_adapter(place, /*relay=*/true);
    relay->reserve({"orders"}, 1, 0ms);  // a worker's first call starts its relay
    std::map<int, int> seen;
    REQUIRE(eventually([&] {
        for (const auto& [i, times] : drain(*adapter, "payments", 50ms)) seen[i] += times;
        return static_cast<int>(seen.size()) == kCount;
    }, 30s));
    for (const auto& [i, times] : drain(*adapter, "payments", 300ms)) seen[i] += times;
    for (int i = 0; i < kCount; ++i) {
        CAPTURE(i);
        CHECK(seen[i] == 1);
    }
    CHECK(eventually([&] { return lag_of(*adapter, "orders").entries == 0; }, 5s));
}

/// A relay process publishes the follow-ups and is SIGKILLed before it acknowledges them in the
/// outbox: once the visibility timeout has passed, another relay takes them over, and the target
/// refuses their tokens the second time: each follow-up is in "payments" once.
inline void check_killed_between_push_and_ack(const Place& place, const std::string& binary) {
    constexpr int kCount = 10;
    const Seconds visibility{1.0};
    auto adapter = make_adapter(place, /*relay=*/false, visibility);
    for (int i = 0; i < kCount; ++i) {
        adapter->push("orders", Message::create("job", {{"i", i}}));
        settle_one_with(*adapter, {follow_up(i)});
    }
    REQUIRE(lag_of(*adapter, "orders").entries == static_cast<std::size_t>(kCount));
    {
        OutboxWorker relay(binary, "relay", place, visibility, kCount);
        CHECK(relay.killed_by_sigkill());  // at the fault point: published, not acknowledged
    }
    CHECK(adapter->depth("payments").ready == static_cast<std::size_t>(kCount));  // published
    CHECK(lag_of(*adapter, "orders").entries == static_cast<std::size_t>(kCount));  // still in the outbox

    // Taken over once the dead relay's hold is older than the visibility timeout.
    std::size_t relayed = 0;
    REQUIRE(eventually([&] {
        relayed += adapter->relay_outbox();
        return relayed == static_cast<std::size_t>(kCount);
    }, 20s));
    CHECK(lag_of(*adapter, "orders").entries == 0);
    std::map<int, int> seen = drain(*adapter, "payments");
    for (int i = 0; i < kCount; ++i) {
        CAPTURE(i);
        CHECK(seen[i] == 1);
    }
    CHECK(seen.size() == static_cast<std::size_t>(kCount));
}

/// The lag grows while no relay runs, and falls to 0 after one; the Prometheus figures say the same.
inline void check_lag_figure(const Place& place) {
    auto adapter = make_adapter(place, /*relay=*/false);
    CHECK(lag_of(*adapter, "orders").entries == 0);
    CHECK(lag_of(*adapter, "orders").oldest_age.count() == 0.0);
    adapter->push("orders", Message::create("job", {{"i", 1}}));
    settle_one_with(*adapter, {follow_up(1)});
    const double first = lag_of(*adapter, "orders").oldest_age.count();
    std::this_thread::sleep_for(300ms);
    const RedisAdapter::OutboxLag later = lag_of(*adapter, "orders");
    CHECK(later.entries == 1);
    CHECK(later.oldest_age.count() >= first + 0.2);
    {
        PrometheusWriter writer;
        adapter->write_metrics(writer);
        const std::string text = writer.str();
        CHECK(text.find("# TYPE failpipe_outbox_relay_lag_seconds gauge") != std::string::npos);
        CHECK(text.find("failpipe_outbox_entries{group=\"orders\"} 1\n") != std::string::npos);
        CHECK(text.find("failpipe_outbox_relay_lag_seconds{group=\"orders\"} 0\n") == std::string::npos);
        CHECK(text.find("failpipe_outbox_relayed_total{group=\"orders\"} 0\n") != std::string::npos);
    }
    CHECK(adapter->relay_outbox() == 1);
    const RedisAdapter::OutboxLag after = lag_of(*adapter, "orders");
    CHECK(after.entries == 0);
    CHECK(after.oldest_age.count() == 0.0);
    CHECK(after.relayed == 1);
    PrometheusWriter writer;
    adapter->write_metrics(writer);
    const std::string text = writer.str();
    CHECK(text.find("failpipe_outbox_relay_lag_seconds{group=\"orders\"} 0\n") != std::string::npos);
    CHECK(text.find("failpipe_outbox_relayed_total{group=\"orders\"} 1\n") != std::string::npos);
}

/// Bad targets. An empty channel name: refused before anything is sent (settle and the item of a
/// settle_batch), the delivery still held. A channel no config names: a group of its own, reached
/// through the outbox like any other. A target whose key holds something else: the relay cannot
/// publish it, says why, and keeps it in the outbox until it can.
inline void check_bad_targets(const Place& place, int target_port) {
    auto adapter = make_adapter(place, /*relay=*/false, Seconds{1.0});
    const std::string id = adapter->push("orders", Message::create("job", {{"i", 1}}));
    auto deliveries = adapter->reserve({"orders"}, 1, 2000ms);
    REQUIRE(deliveries.size() == 1);
    Settlement empty_target;
    empty_target.pushes.push_back(OutgoingMessage{"", Message::create("follow-up", {}), Seconds{0.0}});
    CHECK_THROWS_WITH_AS(adapter->settle(deliveries[0], Settlement(empty_target)),
                         doctest::Contains("the channel name is empty"), InvalidArgumentError);
    std::vector<SettleItem> items{SettleItem{&deliveries[0], &empty_target}};
    auto outcomes = adapter->settle_batch(items);
    REQUIRE(outcomes.size() == 1);
    CHECK_THROWS_AS(std::rethrow_exception(outcomes[0]), InvalidArgumentError);
    CHECK(adapter->status(id).state == MessageState::reserved);  // still held
    CHECK(lag_of(*adapter, "orders").entries == 0);

    // A channel the groups do not know is a group of its own; the wrong-type target fails.
    Settlement settlement;
    settlement.pushes.push_back(OutgoingMessage{"audit", Message::create("note", {{"i", 7}}), Seconds{0.0}});
    settlement.pushes.push_back(follow_up(8));
    const std::string payments_stream = shard_hash_tag(place.prefix, "payments") + ":s:payments";
    REQUIRE(redis_test::raw_command(target_port, {"SET", payments_stream, "garbage-bytes"}) == "+OK");
    adapter->settle(deliveries[0], std::move(settlement));
    CHECK(adapter->status(id).state == MessageState::not_found);
    CHECK(lag_of(*adapter, "orders").entries == 2);

    CHECK(adapter->relay_outbox() == 1);  // "audit" published, "payments" not
    CHECK(drain(*adapter, "audit") == std::map<int, int>{{7, 1}});
    const RedisAdapter::OutboxLag stuck = lag_of(*adapter, "orders");
    CHECK(stuck.entries == 1);
    CHECK(stuck.failed == 1);
    CHECK(stuck.last_error.find("to \"payments\"") != std::string::npos);
    CHECK(stuck.last_error.find("garbage-bytes") == std::string::npos);  // names the key's type, not its bytes
    CHECK(stuck.last_error.find("holds a string") != std::string::npos);

    // Once the key is what it should be, the follow-up comes through: nothing was lost.
    REQUIRE(redis_test::raw_command(target_port, {"DEL", payments_stream}) == ":1");
    std::size_t relayed = 0;
    REQUIRE(eventually([&] {
        relayed += adapter->relay_outbox();
        return relayed == 1;
    }, 20s));
    CHECK(drain(*adapter, "payments") == std::map<int, int>{{8, 1}});
    CHECK(lag_of(*adapter, "orders").entries == 0);
}

}  // namespace failpipe::outbox_test
