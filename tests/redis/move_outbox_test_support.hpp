// A move (a replay of dead letters with a target) across shard groups, written once and run both on
// one Redis (tests/redis/test_redis_move.cpp) and on the test Redis Cluster, with the two groups on
// different masters (tests/redis_cluster/test_cluster_sharded_adapter.cpp). The groups are those of
// outbox_test_support.hpp: "orders" (with its dead letters "orders:dlq") and "payments". What is
// checked is what an operator sees: each message reported moved once it is in the outbox of
// "orders", then, after one relay, in "payments" exactly once with the rewrite applied; none left in
// the dead letters, none left in the outbox, nothing more on a second relay.
#pragma once

#include <doctest/doctest.h>

#include <map>
#include <string>
#include <vector>

#include "outbox_test_support.hpp"

namespace failpipe::move_outbox_test {

using namespace std::chrono_literals;

/// A dead letter of "orders" as the dead-letter middleware leaves it: a failure record in metadata.
inline Message dead_letter(int i) {
    Message message = Message::create("job", {{"i", i}});
    message.id = "dl-" + std::to_string(i);
    message.metadata["failpipe-dead-letter"] = {{"reason", "failure"}};
    message.metadata["tenant"] = "acme";
    return message;
}

/// What a replay does to each message (DeadLetters::replay rewrites the same way).
inline void replay_rewrite(Message& message) {
    message.metadata.erase("failpipe-dead-letter");
    message.metadata["replays"] = message.metadata.value("replays", 0) + 1;
}

/// Every message of @p channel, taken and acknowledged: id → the message, and how many times an id came.
inline std::map<std::string, int> take_all(RedisAdapter& adapter, const std::string& channel,
                                           std::map<std::string, Message>& messages) {
    std::map<std::string, int> seen;
    for (int round = 0; round < 100; ++round) {
        auto deliveries = adapter.reserve({channel}, 64, 200ms);
        if (deliveries.empty()) break;
        for (auto& delivery : deliveries) {
            ++seen[delivery.message.id];
            messages[delivery.message.id] = delivery.message;
            adapter.settle(delivery, Settlement{});
        }
    }
    return seen;
}

/// Dead letters of "orders" moved to "payments" (another group): a held one and an unknown id are
/// reported as within a group, the rest moved into the outbox of "orders" (not yet in "payments"),
/// then published once by one relay, rewritten; a move with a delay arrives delayed.
inline void check_move_across_groups(const outbox_test::Place& place) {
    namespace ot = outbox_test;
    auto adapter = ot::make_adapter(place, /*relay=*/false);
    for (int i = 0; i < 5; ++i) adapter->push("orders:dlq", dead_letter(i));
    adapter->push("orders:dlq", dead_letter(5), Seconds{600.0});  // a delayed one moves too
    auto held = adapter->reserve({"orders:dlq"}, 1, 2000ms);       // a worker holds dl-0
    REQUIRE(held.size() == 1);
    REQUIRE(held[0].message.id == "dl-0");

    const std::vector<std::string> wanted{"dl-0", "dl-1", "dl-2", "dl-3", "dl-5", "nobody"};
    const MoveResult result = adapter->move("orders:dlq", "payments", wanted, replay_rewrite);
    CHECK(result.moved == std::vector<std::string>{"dl-1", "dl-2", "dl-3", "dl-5"});
    REQUIRE(result.skipped.size() == 2);
    CHECK(result.skipped[0].id == "dl-0");
    CHECK(result.skipped[0].reason == MoveSkipReason::reserved);
    CHECK(result.skipped[1].id == "nobody");
    CHECK(result.skipped[1].reason == MoveSkipReason::not_found);
    // In the outbox of "orders": out of the dead letters, not yet in "payments".
    CHECK(adapter->depth("orders:dlq").ready == 1);  // dl-4, not asked for
    CHECK(adapter->depth("orders:dlq").reserved == 1);
    CHECK(adapter->depth("orders:dlq").delayed == 0);
    CHECK(adapter->depth("payments").total() == 0);
    CHECK(ot::lag_of(*adapter, "orders").entries == 4);
    CHECK(adapter->status("dl-1").state == MessageState::not_found);

    CHECK(adapter->relay_outbox() == 4);
    CHECK(adapter->relay_outbox() == 0);  // nothing twice
    CHECK(ot::lag_of(*adapter, "orders").entries == 0);
    CHECK(adapter->status("dl-1").channel == "payments");
    std::map<std::string, Message> messages;
    const auto seen = take_all(*adapter, "payments", messages);
    CHECK(seen == std::map<std::string, int>{{"dl-1", 1}, {"dl-2", 1}, {"dl-3", 1}, {"dl-5", 1}});
    for (const auto& [id, message] : messages) {
        CAPTURE(id);
        CHECK(message.handler == "job");
        CHECK(message.data.value("i", -1) == std::stoi(id.substr(3)));
        CHECK(message.metadata.value("replays", 0) == 1);
        CHECK(message.metadata.value("tenant", "") == "acme");
        CHECK_FALSE(message.metadata.contains("failpipe-dead-letter"));
    }

    // The held one, once given back, and the one left: with a delay, counted from the move.
    adapter->release(held[0], Seconds{0.0});
    const MoveResult later = adapter->move("orders:dlq", "payments", {"dl-0", "dl-4"}, {}, Seconds{600.0});
    CHECK(later.moved == std::vector<std::string>{"dl-0", "dl-4"});
    CHECK(later.skipped.empty());
    CHECK(adapter->relay_outbox() == 2);
    const ChannelDepth payments = adapter->depth("payments");
    CHECK(payments.delayed == 2);
    CHECK(payments.ready == 0);
    CHECK(adapter->depth("orders:dlq").total() == 0);
    CHECK(ot::lag_of(*adapter, "orders").entries == 0);
    CHECK(adapter->relay_outbox() == 0);
}

}  // namespace failpipe::move_outbox_test
