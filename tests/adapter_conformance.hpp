// The adapter conformance suite: behavioural checks written once and run against every adapter
// (test_conformance_memory.cpp, redis/test_conformance_redis.cpp).
//
// An adapter joins with a fixture type F (default-constructible, one per test case) offering:
//   std::shared_ptr<AdapterInterface> make();   a fresh, empty adapter whose visibility timeout is visibility()
//   Seconds visibility() const;                 that visibility timeout
//   Seconds delay() const;                      a delay long enough to see a message "not due yet"
//   void pass(Seconds d);                       makes at least d of the adapter's time go by
//   void push_raw(AdapterInterface&, const std::string& channel, std::string bytes);   stores poison
// and then instantiates every check with FAILPIPE_ADAPTER_CONFORMANCE(F, "label").
#pragma once

#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <sstream>

#include "failpipe/adapter.hpp"
#include "failpipe/classifier.hpp"
#include "failpipe/dead_letters.hpp"
#include "failpipe/error.hpp"
#include "failpipe/failure_middleware_dispatcher.hpp"
#include "failpipe/metadata_keys.hpp"
#include "failpipe/send_again_middleware.hpp"
#include "failpipe/worker.hpp"

namespace failpipe::conformance {

using namespace std::chrono_literals;

inline Message make_message(const std::string& handler, nlohmann::json data, std::string id = {}) {
    Message message = Message::create(handler, std::move(data));
    message.id = std::move(id);
    return message;
}

inline void check_same(const Message& got, const Message& expected) {
    CHECK(got.id == expected.id);
    CHECK(got.handler == expected.handler);
    CHECK(got.data == expected.data);
    CHECK(got.metadata == expected.metadata);
}

inline std::vector<std::string> ids_of(const std::vector<Delivery>& deliveries) {
    std::vector<std::string> ids;
    for (const auto& delivery : deliveries) ids.push_back(delivery.message.id);
    return ids;
}

inline std::vector<std::string> ids_of(const std::vector<Message>& messages) {
    std::vector<std::string> ids;
    for (const auto& message : messages) ids.push_back(message.id);
    return ids;
}

inline void settle_all(AdapterInterface& adapter, const std::vector<Delivery>& deliveries) {
    for (const auto& delivery : deliveries) adapter.settle(delivery, Settlement{});
}

inline bool same_depth(const ChannelDepth& got, std::size_t ready, std::size_t delayed, std::size_t reserved) {
    INFO("ready " << got.ready << ", delayed " << got.delayed << ", reserved " << got.reserved);
    return got.ready == ready && got.delayed == delayed && got.reserved == reserved;
}

template <class F>
void push_reserve_settle(F& f) {
    auto adapter = f.make();
    Message original = make_message("orders.create", {{"order", 42}, {"lines", {1, 2, 3}}});
    original.metadata["trace"] = "abc";
    original.id = adapter->push("orders", original);
    REQUIRE_FALSE(original.id.empty());

    auto deliveries = adapter->reserve({"orders"}, 10, 0ms);
    REQUIRE(deliveries.size() == 1);
    const Delivery& delivery = deliveries.front();
    CHECK(delivery.channel == "orders");
    CHECK(delivery.deliveries == 1);
    CHECK_FALSE(delivery.poisoned());
    CHECK_FALSE(delivery.receipt.empty());
    check_same(delivery.message, original);
    CHECK(same_depth(adapter->depth("orders"), 0, 0, 1));

    adapter->settle(delivery, Settlement{});
    CHECK(same_depth(adapter->depth("orders"), 0, 0, 0));
    CHECK(adapter->status(original.id).state == MessageState::not_found);
    CHECK(adapter->reserve({"orders"}, 10, 0ms).empty());
}

template <class F>
void ids_assigned_and_kept(F& f) {
    auto adapter = f.make();
    std::set<std::string> ids;
    for (int i = 0; i < 20; ++i) ids.insert(adapter->push("c", make_message("h", i)));
    CHECK(ids.size() == 20);
    CHECK(ids.count("") == 0);
    CHECK(adapter->push("c", make_message("h", 1, "my-own-id")) == "my-own-id");
    CHECK(adapter->status("my-own-id").state == MessageState::ready);
    CHECK(adapter->status("my-own-id").channel == "c");
}

template <class F>
void fifo_within_channel(F& f) {
    auto adapter = f.make();
    std::vector<std::string> pushed;
    for (int i = 0; i < 7; ++i) pushed.push_back(adapter->push("fifo", make_message("h", i)));
    std::vector<std::string> got;
    for (int round = 0; round < 10 && got.size() < pushed.size(); ++round) {
        auto deliveries = adapter->reserve({"fifo"}, 3, 0ms);
        CHECK(deliveries.size() <= 3);
        for (auto& id : ids_of(deliveries)) got.push_back(id);
        settle_all(*adapter, deliveries);
    }
    CHECK(got == pushed);
}

template <class F>
void channel_priority_and_batch_limit(F& f) {
    auto adapter = f.make();
    std::vector<std::string> a, b;
    for (int i = 0; i < 3; ++i) a.push_back(adapter->push("a", make_message("h", i)));
    for (int i = 0; i < 3; ++i) b.push_back(adapter->push("b", make_message("h", i)));
    auto first = adapter->reserve({"b", "a"}, 4, 0ms);
    REQUIRE(first.size() == 4);
    for (int i = 0; i < 3; ++i) {
        CHECK(first[static_cast<std::size_t>(i)].channel == "b");
        CHECK(first[static_cast<std::size_t>(i)].message.id == b[static_cast<std::size_t>(i)]);
    }
    CHECK(first[3].channel == "a");
    CHECK(first[3].message.id == a[0]);
    auto rest = adapter->reserve({"b", "a"}, 10, 0ms);
    CHECK(ids_of(rest) == std::vector<std::string>{a[1], a[2]});
    settle_all(*adapter, first);
    settle_all(*adapter, rest);
}

template <class F>
void empty_and_invalid_arguments(F& f) {
    auto adapter = f.make();
    CHECK(adapter->reserve({"nobody-pushed-here"}, 5, 0ms).empty());
    CHECK(adapter->reserve({"nobody-pushed-here"}, 5, 20ms).empty());
    CHECK_THROWS_AS(adapter->push("", make_message("h", 1)), InvalidArgumentError);
    CHECK_THROWS_AS(adapter->push("c", make_message("h", 1), Seconds{-1.0}), InvalidArgumentError);
    CHECK_THROWS_AS(adapter->reserve({}, 5, 0ms), InvalidArgumentError);
    CHECK_THROWS_AS(adapter->reserve({""}, 5, 0ms), InvalidArgumentError);
    CHECK_THROWS_AS(adapter->reserve({"c"}, 0, 0ms), InvalidArgumentError);
    CHECK_THROWS_AS(adapter->depth(""), InvalidArgumentError);
    CHECK(adapter->depth("c").total() == 0);
}

template <class F>
void delayed_message_becomes_due(F& f) {
    auto adapter = f.make();
    const std::string id = adapter->push("later", make_message("h", 1), f.delay());
    CHECK(adapter->status(id).state == MessageState::delayed);
    CHECK(same_depth(adapter->depth("later"), 0, 1, 0));
    CHECK(adapter->reserve({"later"}, 10, 0ms).empty());
    f.pass(f.delay());
    auto deliveries = adapter->reserve({"later"}, 10, 0ms);
    REQUIRE(deliveries.size() == 1);
    CHECK(deliveries[0].message.id == id);
    CHECK(deliveries[0].deliveries == 1);
    adapter->settle(deliveries[0], Settlement{});
    CHECK(adapter->depth("later").total() == 0);
}

template <class F>
void failing_message_does_not_block_others(F& f) {
    auto adapter = f.make();
    const std::string failing = adapter->push("jobs", make_message("h", "fails"));
    std::vector<std::string> others;
    for (int i = 0; i < 3; ++i) others.push_back(adapter->push("jobs", make_message("h", i)));
    auto first = adapter->reserve({"jobs"}, 1, 0ms);
    REQUIRE(first.size() == 1);
    CHECK(first[0].message.id == failing);
    // Its failure pipeline sends it again later: the rest must flow meanwhile.
    adapter->settle(first[0], Settlement{{OutgoingMessage{"jobs", first[0].message, f.delay()}}});
    auto rest = adapter->reserve({"jobs"}, 10, 0ms);
    CHECK(ids_of(rest) == others);
    settle_all(*adapter, rest);
    CHECK(adapter->status(failing).state == MessageState::delayed);
    f.pass(f.delay());
    auto again = adapter->reserve({"jobs"}, 10, 0ms);
    REQUIRE(again.size() == 1);
    CHECK(again[0].message.id == failing);
    adapter->settle(again[0], Settlement{});
}

template <class F>
void settle_applies_every_push_atomically(F& f) {
    auto adapter = f.make();
    adapter->push("in", make_message("h", "source"));
    auto deliveries = adapter->reserve({"in"}, 1, 0ms);
    REQUIRE(deliveries.size() == 1);
    Settlement settlement;
    settlement.pushes.push_back(OutgoingMessage{"out-a", make_message("follow", 1), Seconds{0.0}});
    settlement.pushes.push_back(OutgoingMessage{"out-b", make_message("follow", 2), f.delay()});
    settlement.pushes.push_back(OutgoingMessage{"out-a", make_message("follow", 3, "explicit-id"), Seconds{0.0}});
    adapter->settle(deliveries[0], std::move(settlement));
    CHECK(same_depth(adapter->depth("in"), 0, 0, 0));
    CHECK(same_depth(adapter->depth("out-a"), 2, 0, 0));
    CHECK(same_depth(adapter->depth("out-b"), 0, 1, 0));
    auto out = adapter->reserve({"out-a"}, 10, 0ms);
    REQUIRE(out.size() == 2);
    CHECK(out[0].message.data == 1);
    CHECK_FALSE(out[0].message.id.empty());
    CHECK(out[1].message.id == "explicit-id");
    settle_all(*adapter, out);
}

template <class F>
void retry_keeps_id_and_counts_from_one(F& f) {
    auto adapter = f.make();
    const std::string id = adapter->push("r", make_message("h", 1));
    auto first = adapter->reserve({"r"}, 1, 0ms);
    REQUIRE(first.size() == 1);
    Message retried = first[0].message;
    retried.metadata["attempt"] = 1;
    adapter->settle(first[0], Settlement{{OutgoingMessage{"r", retried, Seconds{0.0}}}});
    CHECK(adapter->status(id).state == MessageState::ready);
    auto second = adapter->reserve({"r"}, 1, 0ms);
    REQUIRE(second.size() == 1);
    CHECK(second[0].message.id == id);
    CHECK(second[0].message.metadata["attempt"] == 1);
    CHECK(second[0].deliveries == 1);  // a push starts a new life: only crashes count up
    adapter->settle(second[0], Settlement{});
    CHECK(adapter->status(id).state == MessageState::not_found);
}

template <class F>
void second_settle_is_stale_and_changes_nothing(F& f) {
    auto adapter = f.make();
    adapter->push("s", make_message("h", 1));
    auto deliveries = adapter->reserve({"s"}, 1, 0ms);
    REQUIRE(deliveries.size() == 1);
    adapter->settle(deliveries[0], Settlement{});
    CHECK_THROWS_AS(adapter->settle(deliveries[0], Settlement{{OutgoingMessage{"elsewhere", make_message("h", 2), Seconds{0.0}}}}),
                    StaleDeliveryError);
    CHECK_THROWS_AS(adapter->release(deliveries[0]), StaleDeliveryError);
    CHECK(adapter->depth("elsewhere").total() == 0);
    CHECK(adapter->depth("s").total() == 0);
}

template <class F>
void release_does_not_count(F& f) {
    auto adapter = f.make();
    const std::string id = adapter->push("rel", make_message("h", 1));
    auto first = adapter->reserve({"rel"}, 1, 0ms);
    REQUIRE(first.size() == 1);
    CHECK(first[0].deliveries == 1);
    adapter->release(first[0]);
    CHECK(adapter->status(id).state == MessageState::ready);
    CHECK(same_depth(adapter->depth("rel"), 1, 0, 0));
    auto second = adapter->reserve({"rel"}, 1, 0ms);
    REQUIRE(second.size() == 1);
    CHECK(second[0].message.id == id);
    CHECK(second[0].deliveries == 1);
    CHECK_THROWS_AS(adapter->settle(first[0], Settlement{}), StaleDeliveryError);

    adapter->release(second[0], f.delay());
    CHECK(adapter->status(id).state == MessageState::delayed);
    CHECK(adapter->reserve({"rel"}, 1, 0ms).empty());
    f.pass(f.delay());
    auto third = adapter->reserve({"rel"}, 1, 0ms);
    REQUIRE(third.size() == 1);
    CHECK(third[0].deliveries == 1);
    adapter->settle(third[0], Settlement{});
}

template <class F>
void visibility_timeout_gives_back(F& f) {
    auto adapter = f.make();
    const std::string id = adapter->push("vis", make_message("h", 1));
    auto first = adapter->reserve({"vis"}, 1, 0ms);
    REQUIRE(first.size() == 1);
    CHECK(adapter->reclaim() == 0);
    CHECK(adapter->status(id).state == MessageState::reserved);
    f.pass(f.visibility());
    CHECK(adapter->reclaim() == 1);
    CHECK(adapter->status(id).state == MessageState::ready);
    auto second = adapter->reserve({"vis"}, 1, 0ms);
    REQUIRE(second.size() == 1);
    CHECK(second[0].message.id == id);
    CHECK(second[0].deliveries == 2);
    // The vanished worker comes back: its settle changes nothing.
    CHECK_THROWS_AS(adapter->settle(first[0], Settlement{{OutgoingMessage{"side", make_message("h", 2), Seconds{0.0}}}}),
                    StaleDeliveryError);
    CHECK(adapter->depth("side").total() == 0);
    adapter->settle(second[0], Settlement{});
    CHECK(adapter->depth("vis").total() == 0);
}

template <class F>
void reserve_reclaims_on_its_own(F& f) {
    auto adapter = f.make();
    const std::string id = adapter->push("auto", make_message("h", 1));
    REQUIRE(adapter->reserve({"auto"}, 1, 0ms).size() == 1);
    CHECK(adapter->reserve({"auto"}, 1, 0ms).empty());
    f.pass(f.visibility());
    auto again = adapter->reserve({"auto"}, 1, 0ms);
    REQUIRE(again.size() == 1);
    CHECK(again[0].message.id == id);
    CHECK(again[0].deliveries == 2);
    adapter->settle(again[0], Settlement{});
}

template <class F>
void status_of_each_state(F& f) {
    auto adapter = f.make();
    const std::string ready = adapter->push("st", make_message("h", 1));
    auto reserved = adapter->reserve({"st"}, 1, 0ms);
    REQUIRE(reserved.size() == 1);
    const std::string waiting = adapter->push("st", make_message("h", 2));
    const std::string delayed = adapter->push("st2", make_message("h", 3), f.delay());
    CHECK(adapter->status(ready).state == MessageState::reserved);
    CHECK(adapter->status(ready).channel == "st");
    CHECK(adapter->status(waiting).state == MessageState::ready);
    CHECK(adapter->status(delayed).state == MessageState::delayed);
    CHECK(adapter->status(delayed).channel == "st2");
    MessageStatus unknown = adapter->status("no-such-id");
    CHECK(unknown.state == MessageState::not_found);
    CHECK(unknown.channel.empty());
    adapter->settle(reserved[0], Settlement{});
    CHECK(adapter->status(ready).state == MessageState::not_found);
}

template <class F>
void depth_by_state(F& f) {
    auto adapter = f.make();
    for (int i = 0; i < 5; ++i) adapter->push("d", make_message("h", i));
    for (int i = 0; i < 2; ++i) adapter->push("d", make_message("h", i), f.delay());
    auto held = adapter->reserve({"d"}, 3, 0ms);
    REQUIRE(held.size() == 3);
    CHECK(same_depth(adapter->depth("d"), 2, 2, 3));
    settle_all(*adapter, held);
    CHECK(same_depth(adapter->depth("d"), 2, 2, 0));
    f.pass(f.delay());
    CHECK(same_depth(adapter->depth("d"), 4, 0, 0));

    // Dead letters are counted beside the channel, not in it.
    adapter->push("d:dlq", make_message("h", "dead"));
    adapter->push("d.parked", make_message("h", "parked"));
    auto with_dead = adapter->depth_with_dead_letters("d");
    CHECK(same_depth(with_dead, 4, 0, 0));
    CHECK(with_dead.dead == 1);
    CHECK(adapter->depth_with_dead_letters("d", ".parked").dead == 1);
    CHECK(adapter->depth("d").dead == 0);
}

template <class F>
void settle_batch_each_on_its_own(F& f) {
    auto adapter = f.make();
    for (int i = 0; i < 3; ++i) adapter->push("b", make_message("h", i));
    auto held = adapter->reserve({"b"}, 3, 0ms);
    REQUIRE(held.size() == 3);
    adapter->settle(held[1], Settlement{});  // settled already: its place in the batch is stale
    std::vector<Settlement> settlements(3);
    settlements[0].pushes.push_back(OutgoingMessage{"b-out", make_message("h", "from 0"), Seconds{0.0}});
    settlements[1].pushes.push_back(OutgoingMessage{"b-out", make_message("h", "from 1"), Seconds{0.0}});
    std::vector<SettleItem> items;
    for (std::size_t i = 0; i < 3; ++i) items.push_back(SettleItem{&held[i], &settlements[i]});
    auto results = adapter->settle_batch(items);
    REQUIRE(results.size() == 3);
    CHECK(results[0] == nullptr);
    CHECK(results[1] != nullptr);
    CHECK(results[2] == nullptr);
    CHECK_THROWS_AS(std::rethrow_exception(results[1]), StaleDeliveryError);
    auto out = adapter->browse("b-out", 0, 10);
    REQUIRE(out.size() == 1);  // the stale one's push was not applied
    CHECK(out[0].data == "from 0");
    CHECK(adapter->depth("b").total() == 0);
    CHECK(adapter->settle_batch({}).empty());
}

template <class F>
void browse_ready_then_delayed(F& f) {
    auto adapter = f.make();
    std::vector<std::string> ready;
    for (int i = 0; i < 4; ++i) ready.push_back(adapter->push("dlq", make_message("h", i)));
    const std::string late = adapter->push("dlq", make_message("h", "late"), f.delay() * 2.0);
    const std::string soon = adapter->push("dlq", make_message("h", "soon"), f.delay());
    auto held = adapter->reserve({"dlq"}, 1, 0ms);  // reserved messages are not listed
    REQUIRE(held.size() == 1);
    CHECK(held[0].message.id == ready[0]);

    auto all = adapter->browse("dlq", 0, 100);
    CHECK(ids_of(all) == std::vector<std::string>{ready[1], ready[2], ready[3], soon, late});
    REQUIRE(all.size() == 5);
    CHECK(all[0].data == 1);
    CHECK(ids_of(adapter->browse("dlq", 1, 2)) == std::vector<std::string>{ready[2], ready[3]});
    CHECK(ids_of(adapter->browse("dlq", 3, 10)) == std::vector<std::string>{soon, late});
    CHECK(ids_of(adapter->browse("dlq", 4, 1)) == std::vector<std::string>{late});
    CHECK(adapter->browse("dlq", 5, 10).empty());
    CHECK(adapter->browse("dlq", 0, 0).empty());
    CHECK(adapter->browse("never-used", 0, 10).empty());
    adapter->settle(held[0], Settlement{});
}

template <class F>
void remove_waiting_only(F& f) {
    auto adapter = f.make();
    const std::string a = adapter->push("rm", make_message("h", 1));
    const std::string b = adapter->push("rm", make_message("h", 2));
    const std::string c = adapter->push("rm", make_message("h", 3), f.delay());
    const std::string other = adapter->push("rm-other", make_message("h", 4));
    auto held = adapter->reserve({"rm"}, 1, 0ms);
    REQUIRE(held.size() == 1);
    CHECK(held[0].message.id == a);
    // a is reserved (stays), other lives in another channel (stays), unknown ids are ignored.
    CHECK(adapter->remove("rm", {a, b, c, other, "nope"}) == 2);
    CHECK(adapter->status(b).state == MessageState::not_found);
    CHECK(adapter->status(c).state == MessageState::not_found);
    CHECK(adapter->status(a).state == MessageState::reserved);
    CHECK(adapter->status(other).state == MessageState::ready);
    CHECK(same_depth(adapter->depth("rm"), 0, 0, 1));
    CHECK(adapter->remove("rm", {}) == 0);
    adapter->settle(held[0], Settlement{});
    CHECK(adapter->depth("rm").total() == 0);
}

// The requeue of a dead letter written the obvious way: push a copy to the original channel, then
// remove the dead letter. remove(C, ids) takes the waiting message with that id in C, wherever a
// later message with the same id went.
template <class F>
void remove_finds_the_message_in_its_channel(F& f) {
    auto adapter = f.make();
    const std::string id = adapter->push("orders:dlq", make_message("h", 1, "requeued-1"));
    const std::string delayed = adapter->push("orders:dlq", make_message("h", 2, "requeued-2"), f.delay() * 20);
    const std::string kept = adapter->push("orders:dlq", make_message("h", 3, "stays"));
    adapter->push("orders", make_message("h", 1, id));
    adapter->push("orders", make_message("h", 2, delayed));
    CHECK(ids_of(adapter->browse("orders:dlq", 0, 10)) == std::vector<std::string>{id, kept, delayed});

    CHECK(adapter->remove("orders:dlq", {id, delayed}) == 2);
    CHECK(ids_of(adapter->browse("orders:dlq", 0, 10)) == std::vector<std::string>{kept});
    CHECK(same_depth(adapter->depth("orders:dlq"), 1, 0, 0));
    // The copies in the original channel are untouched and still found.
    CHECK(ids_of(adapter->browse("orders", 0, 10)) == std::vector<std::string>{id, delayed});
    CHECK(adapter->status(id).state == MessageState::ready);
    CHECK(adapter->status(id).channel == "orders");
    CHECK(adapter->status(delayed).state == MessageState::ready);
    CHECK(adapter->status(delayed).channel == "orders");
    CHECK(adapter->remove("orders:dlq", {id, delayed}) == 0);
    CHECK(adapter->remove("orders", {id, delayed}) == 2);
    CHECK(adapter->depth("orders").total() == 0);
    CHECK(adapter->status(id).state == MessageState::not_found);
}

template <class F>
void channels_sorted(F& f) {
    auto adapter = f.make();
    CHECK(adapter->channels().empty());
    adapter->push("zeta", make_message("h", 1));
    adapter->push("alpha", make_message("h", 1), f.delay());
    adapter->push_batch({OutgoingMessage{"mid", make_message("h", 1), Seconds{0.0}}});
    auto held = adapter->reserve({"zeta"}, 1, 0ms);
    REQUIRE(held.size() == 1);
    adapter->settle(held[0], Settlement{{OutgoingMessage{"zeta:dlq", held[0].message, Seconds{0.0}}}});
    CHECK(adapter->channels() == std::vector<std::string>{"alpha", "mid", "zeta", "zeta:dlq"});
}

template <class F>
void poison_bytes(F& f) {
    auto adapter = f.make();
    const std::string bytes = "\xff\xfe not json {";
    f.push_raw(*adapter, "p", bytes);
    f.push_raw(*adapter, "p", R"({"id":"half","data":1})");  // JSON, but no handler
    auto deliveries = adapter->reserve({"p"}, 10, 0ms);
    REQUIRE(deliveries.size() == 2);
    CHECK(deliveries[0].poisoned());
    CHECK(deliveries[0].raw == bytes);
    CHECK_FALSE(deliveries[0].decode_error.empty());
    CHECK_FALSE(deliveries[0].message.id.empty());
    CHECK(deliveries[1].poisoned());
    CHECK(deliveries[1].message.id == "half");
    CHECK(deliveries[1].decode_error.find("handler") != std::string::npos);
    settle_all(*adapter, deliveries);
    CHECK(adapter->depth("p").total() == 0);
}

template <class F>
void push_batch_in_order(F& f) {
    auto adapter = f.make();
    std::vector<OutgoingMessage> batch;
    for (int i = 0; i < 1200; ++i) batch.push_back(OutgoingMessage{"bulk", make_message("h", i), Seconds{0.0}});
    batch.push_back(OutgoingMessage{"bulk-later", make_message("h", -1, "later-one"), f.delay()});
    auto ids = adapter->push_batch(batch);
    REQUIRE(ids.size() == batch.size());
    CHECK(ids.back() == "later-one");
    CHECK(std::set<std::string>(ids.begin(), ids.end()).size() == ids.size());
    CHECK(same_depth(adapter->depth("bulk"), 1200, 0, 0));
    CHECK(same_depth(adapter->depth("bulk-later"), 0, 1, 0));
    auto first = adapter->reserve({"bulk"}, 500, 0ms);
    REQUIRE(first.size() == 500);
    for (std::size_t i = 0; i < first.size(); ++i) {
        CHECK(first[i].message.id == ids[i]);
        CHECK(first[i].message.data == static_cast<int>(i));
    }
    settle_all(*adapter, first);
    CHECK(adapter->push_batch({}).empty());
}

inline Worker make_worker(std::shared_ptr<AdapterInterface> adapter, std::vector<std::string> channels,
                          std::uint32_t max_deliveries, FailurePipeline pipeline = {}) {
    FailureMiddlewareDispatcher::Options options;
    options.default_pipeline = std::move(pipeline);
    WorkerOptions worker_options;
    worker_options.channels = std::move(channels);
    worker_options.max_deliveries = max_deliveries;
    worker_options.wait = 0ms;
    return Worker(std::move(adapter), FailureMiddlewareDispatcher(std::move(options)), Classifier{}, worker_options);
}

template <class F>
void worker_dead_letters_after_max_deliveries(F& f) {
    auto adapter = f.make();
    const std::string id = adapter->push("crashy", make_message("boom", 1));
    // Two workers take it and vanish without a word.
    for (int round = 0; round < 2; ++round) {
        auto held = adapter->reserve({"crashy"}, 1, 0ms);
        REQUIRE(held.size() == 1);
        CHECK(held[0].deliveries == static_cast<std::uint32_t>(round + 1));
        f.pass(f.visibility());
    }
    int runs = 0;
    Worker worker = make_worker(adapter, {"crashy"}, 2);
    worker.on("boom", [&](const Message&, HandlerContext&) { ++runs; });
    CHECK(worker.run_until_idle(10) == 1);
    CHECK(runs == 0);  // the third delivery never reaches the handler
    auto dead = adapter->browse("crashy:dlq", 0, 10);
    REQUIRE(dead.size() == 1);
    CHECK(dead[0].id == id);
    CHECK(dead[0].metadata[std::string(metadata_keys::dead_letter)]["reason"] == "max-deliveries");
    CHECK(adapter->depth("crashy").total() == 0);
}

// A release (HandlerContext::release) is not a delivery: released more often than maxDeliveries, a
// message is neither poison nor a max-deliveries dead letter, and a release with a delay is due
// only after it.
template <class F>
void worker_release_is_not_a_delivery(F& f) {
    auto adapter = f.make();
    const std::string id = adapter->push("gated", make_message("gate", 1));
    const Seconds delay = f.delay();
    int runs = 0;
    Worker worker = make_worker(adapter, {"gated"}, 10);
    worker.on("gate", [&](const Message& message, HandlerContext& context) {
        ++runs;
        CHECK(context.deliveries() == 1);
        CHECK_FALSE(message.metadata.contains(std::string(metadata_keys::failure)));
        if (runs <= 15) context.release(Seconds{0.0}, "conformance");
        if (runs == 16) context.release(delay, "conformance");
    });
    for (int round = 0; round < 20 && runs < 16; ++round) worker.run_until_idle(1);
    CHECK(runs == 16);
    CHECK(adapter->status(id).state == MessageState::delayed);
    CHECK(worker.run_until_idle(1) == 0);
    f.pass(delay);
    CHECK(worker.run_until_idle(1) == 1);
    CHECK(runs == 17);
    CHECK(adapter->depth("gated").total() == 0);
    CHECK(adapter->depth("gated:dlq").total() == 0);
    const auto metrics = worker.metrics().snapshot();
    CHECK(metrics.released == 16);
    CHECK(metrics.succeeded == 1);
    CHECK(metrics.poison == 0);
    CHECK(metrics.failed == 0);
}

template <class F>
void worker_retries_then_dead_letters(F& f) {
    auto adapter = f.make();
    for (int i = 0; i < 10; ++i) adapter->push("work", make_message("job", i));
    int runs = 0;
    Worker worker = make_worker(adapter, {"work"}, 10, {std::make_shared<SendAgainMiddleware>("again", 2)});
    worker.on("job", [&](const Message& message, HandlerContext&) {
        ++runs;
        if (message.data.get<int>() % 5 == 0) throw TransientError("always fails");
        if (message.data.get<int>() % 2 == 1 && !message.metadata.contains(std::string(metadata_keys::failure))) {
            throw TransientError("fails once");
        }
    });
    std::size_t processed = 0;
    for (int round = 0; round < 20 && adapter->depth("work").total() != 0; ++round) processed += worker.run_until_idle(100);
    // 0 and 5 always fail (3 runs each), 1, 3, 7, 9 fail once (2 runs each), the rest run once.
    CHECK(runs == 6 + 8 + 4);
    CHECK(processed == 18);
    CHECK(adapter->depth("work").total() == 0);
    CHECK(same_depth(adapter->depth("work:dlq"), 2, 0, 0));
    auto metrics = worker.metrics().snapshot();
    CHECK(metrics.succeeded == 8);
    CHECK(metrics.dead_lettered == 2);
    CHECK(metrics.retried == 4 + 4);
}

template <class F>
void concurrent_reservers_no_duplicates(F& f) {
    auto adapter = f.make();
    constexpr int kMessages = 400;
    std::vector<OutgoingMessage> batch;
    for (int i = 0; i < kMessages; ++i) batch.push_back(OutgoingMessage{"shared", make_message("h", i), Seconds{0.0}});
    adapter->push_batch(std::move(batch));
    std::vector<std::vector<std::string>> seen(4);
    std::atomic<int> total{0};
    std::atomic<bool> failed{false};
    {
        std::vector<std::jthread> threads;
        for (std::size_t t = 0; t < seen.size(); ++t) {
            threads.emplace_back([&, t] {
                const auto give_up = std::chrono::steady_clock::now() + 20s;
                try {
                    while (total.load() < kMessages && std::chrono::steady_clock::now() < give_up) {
                        auto deliveries = adapter->reserve({"shared"}, 7, 0ms);
                        for (auto& delivery : deliveries) {
                            seen[t].push_back(delivery.message.id);
                            adapter->settle(delivery, Settlement{});
                            ++total;
                        }
                    }
                } catch (...) {
                    failed = true;
                }
            });
        }
    }
    CHECK_FALSE(failed.load());
    std::vector<std::string> all;
    for (auto& ids : seen) all.insert(all.end(), ids.begin(), ids.end());
    CHECK(all.size() == static_cast<std::size_t>(kMessages));
    CHECK(std::set<std::string>(all.begin(), all.end()).size() == all.size());
    CHECK(adapter->depth("shared").total() == 0);
}

// --- move ---------------------------------------------------------------------------------------

/// "id:reason" for each skipped message, in order: what an operator reads in a replay report.
inline std::vector<std::string> skips_of(const MoveResult& result) {
    std::vector<std::string> out;
    for (const auto& skip : result.skipped) out.push_back(skip.id + ":" + std::string(to_string(skip.reason)));
    return out;
}

/// A dead letter as the worker leaves it: the failure record in its metadata.
inline Message dead_letter(int n, std::string id) {
    Message message = make_message("job", {{"n", n}}, std::move(id));
    message.metadata[std::string(metadata_keys::dead_letter)] = {{"reason", "failure"}, {"channel", "orders"}};
    message.metadata["trace"] = "t-" + std::to_string(n);
    return message;
}

/// The rewrite of a replay: the failure record goes, a replay count comes.
inline void strip_and_count(Message& message) {
    message.metadata.erase(std::string(metadata_keys::dead_letter));
    message.metadata["replays"] = message.metadata.value("replays", 0) + 1;
}

template <class F>
void move_between_channels(F& f) {
    auto adapter = f.make();
    for (int i = 0; i < 5; ++i) adapter->push("orders:dlq", dead_letter(i, "d" + std::to_string(i)));
    const MoveResult result = adapter->move("orders:dlq", "orders", {"d3", "d0", "d1"}, strip_and_count);
    CHECK(result.moved == std::vector<std::string>{"d3", "d0", "d1"});
    CHECK(result.skipped.empty());
    CHECK(same_depth(adapter->depth("orders:dlq"), 2, 0, 0));
    CHECK(same_depth(adapter->depth("orders"), 3, 0, 0));
    CHECK(ids_of(adapter->browse("orders:dlq", 0, 10)) == std::vector<std::string>{"d2", "d4"});
    const auto moved = adapter->browse("orders", 0, 10);
    REQUIRE(moved.size() == 3);
    CHECK(ids_of(moved) == std::vector<std::string>{"d3", "d0", "d1"});
    for (const auto& message : moved) {
        CHECK(message.handler == "job");
        CHECK_FALSE(message.metadata.contains(std::string(metadata_keys::dead_letter)));
        CHECK(message.metadata["replays"] == 1);
        CHECK(message.metadata["trace"] == "t-" + std::to_string(message.data["n"].template get<int>()));
    }
    CHECK(adapter->status("d3").channel == "orders");
    CHECK(adapter->status("d3").state == MessageState::ready);
    CHECK(adapter->status("d2").channel == "orders:dlq");
    // Without a rewrite a message moves exactly as it was.
    CHECK(adapter->move("orders:dlq", "orders", {"d4"}).moved == std::vector<std::string>{"d4"});
    check_same(adapter->browse("orders", 3, 1).at(0), dead_letter(4, "d4"));
    CHECK(adapter->channels() == std::vector<std::string>{"orders", "orders:dlq"});
}

template <class F>
void move_with_delay(F& f) {
    auto adapter = f.make();
    adapter->push("dlq", dead_letter(1, "late-1"));
    adapter->push("dlq", dead_letter(2, "late-2"));
    CHECK(adapter->move("dlq", "work", {"late-1", "late-2"}, {}, f.delay()).moved.size() == 2);
    CHECK(same_depth(adapter->depth("work"), 0, 2, 0));
    CHECK(adapter->status("late-1").state == MessageState::delayed);
    CHECK(adapter->reserve({"work"}, 10, 0ms).empty());
    f.pass(f.delay());
    auto got = adapter->reserve({"work"}, 10, 0ms);
    CHECK(ids_of(got) == std::vector<std::string>{"late-1", "late-2"});
    settle_all(*adapter, got);
    // A delayed message moves too, and keeps no due time of its source.
    adapter->push("dlq", dead_letter(3, "waiting"), f.delay() * 100);
    CHECK(adapter->move("dlq", "work", {"waiting"}).moved == std::vector<std::string>{"waiting"});
    CHECK(same_depth(adapter->depth("dlq"), 0, 0, 0));
    CHECK(ids_of(adapter->reserve({"work"}, 10, 0ms)) == std::vector<std::string>{"waiting"});
}

template <class F>
void move_skips_unknown_and_reserved(F& f) {
    auto adapter = f.make();
    adapter->push("dlq", dead_letter(1, "held"));
    adapter->push("dlq", dead_letter(2, "free"));
    adapter->push("elsewhere", dead_letter(3, "other-channel"));
    auto held = adapter->reserve({"dlq"}, 1, 0ms);
    REQUIRE(ids_of(held) == std::vector<std::string>{"held"});
    const MoveResult result = adapter->move("dlq", "work", {"held", "nope", "free", "free", "other-channel"});
    CHECK(result.moved == std::vector<std::string>{"free"});
    CHECK(skips_of(result) == std::vector<std::string>{"held:reserved", "nope:not-found", "other-channel:not-found"});
    CHECK(adapter->status("held").state == MessageState::reserved);
    CHECK(adapter->status("other-channel").channel == "elsewhere");
    CHECK(same_depth(adapter->depth("work"), 1, 0, 0));
    // The worker that holds it still settles it, and it is gone.
    adapter->settle(held[0], Settlement{});
    CHECK(adapter->depth("dlq").total() == 0);
    CHECK(skips_of(adapter->move("dlq", "work", {"held"})) == std::vector<std::string>{"held:not-found"});
    // Nothing to move, nothing done; bad arguments change nothing.
    CHECK(adapter->move("dlq", "work", {}).moved.empty());
    CHECK(adapter->move("no-such-channel", "work", {"free"}).skipped.size() == 1);
    CHECK_THROWS_AS(adapter->move("work", "work", {"free"}), InvalidArgumentError);
    CHECK_THROWS_AS(adapter->move("", "work", {"free"}), InvalidArgumentError);
    CHECK_THROWS_AS(adapter->move("work", "", {"free"}), InvalidArgumentError);
    CHECK_THROWS_AS(adapter->move("work", "dlq", {"free"}, {}, Seconds{-1.0}), InvalidArgumentError);
    CHECK(same_depth(adapter->depth("work"), 1, 0, 0));
}

template <class F>
void move_there_and_back(F& f) {
    auto adapter = f.make();
    std::vector<std::string> ids;
    for (int i = 0; i < 6; ++i) ids.push_back(adapter->push("a", dead_letter(i, "tb" + std::to_string(i))));
    const auto before = adapter->browse("a", 0, 10);
    CHECK(adapter->move("a", "b", ids).moved == ids);
    CHECK(adapter->depth("a").total() == 0);
    CHECK(adapter->move("b", "a", ids).moved == ids);
    CHECK(adapter->depth("b").total() == 0);
    const auto after = adapter->browse("a", 0, 10);
    REQUIRE(after.size() == before.size());
    for (std::size_t i = 0; i < after.size(); ++i) check_same(after[i], before[i]);
    // Once more: a repeat of a move that already happened (its reply lost) moves nothing twice.
    CHECK(adapter->move("a", "b", ids).moved == ids);
    const MoveResult again = adapter->move("a", "b", ids);
    CHECK(again.moved.empty());
    CHECK(again.skipped.size() == ids.size());
    CHECK(same_depth(adapter->depth("b"), 6, 0, 0));
    CHECK(adapter->depth("a").total() == 0);
}

template <class F>
void move_ids_that_repeat_in_another_channel(F& f) {
    auto adapter = f.make();
    // The dead letter, then a copy under the same id pushed back to its channel by hand (the index
    // now knows the copy): move still finds the dead letter, and leaves the copy alone.
    adapter->push("orders:dlq", dead_letter(1, "twice"));
    adapter->push("orders:dlq", dead_letter(2, "twice-delayed"), f.delay() * 100);
    adapter->push("orders", make_message("job", "the copy", "twice"));
    adapter->push("orders", make_message("job", "the delayed copy", "twice-delayed"));
    const MoveResult result = adapter->move("orders:dlq", "parking", {"twice", "twice-delayed"}, strip_and_count);
    CHECK(result.moved == std::vector<std::string>{"twice", "twice-delayed"});
    CHECK(result.skipped.empty());
    CHECK(adapter->depth("orders:dlq").total() == 0);
    const auto parked = adapter->browse("parking", 0, 10);
    REQUIRE(parked.size() == 2);
    CHECK(parked[0].data == nlohmann::json{{"n", 1}});
    CHECK(parked[0].metadata["replays"] == 1);
    CHECK(parked[1].data == nlohmann::json{{"n", 2}});
    const auto copies = adapter->browse("orders", 0, 10);
    REQUIRE(copies.size() == 2);
    CHECK(copies[0].data == "the copy");
    CHECK(copies[1].data == "the delayed copy");
    // Back to the channel that holds the copies: both messages of each id are there after.
    CHECK(adapter->move("parking", "orders", {"twice", "twice-delayed"}).moved.size() == 2);
    CHECK(same_depth(adapter->depth("orders"), 4, 0, 0));
    CHECK(adapter->depth("parking").total() == 0);
}

template <class F>
void move_undecodable_and_failed_rewrites(F& f) {
    auto adapter = f.make();
    const std::string bytes = "\xff\xfe not json {";
    f.push_raw(*adapter, "dlq", bytes);
    const std::string poison_id = adapter->browse("dlq", 0, 1).at(0).id;
    adapter->push("dlq", dead_letter(1, "throws"));
    adapter->push("dlq", dead_letter(2, "renamed"));
    adapter->push("dlq", dead_letter(3, "fine"));
    auto rewrite = [](Message& message) {
        if (message.id == "throws") throw std::runtime_error("cannot rewrite this one");
        if (message.id == "renamed") message.id = "new-id";
        strip_and_count(message);
    };
    const MoveResult result = adapter->move("dlq", "work", {poison_id, "throws", "renamed", "fine"}, rewrite);
    CHECK(result.moved == std::vector<std::string>{"fine"});
    CHECK(skips_of(result) ==
          std::vector<std::string>{poison_id + ":undecodable", "throws:rewrite-failed", "renamed:rewrite-failed"});
    REQUIRE(result.skipped.size() == 3);
    CHECK_FALSE(result.skipped[0].detail.empty());
    CHECK(result.skipped[1].detail == "cannot rewrite this one");
    CHECK(result.skipped[2].detail.find("new-id") != std::string::npos);
    CHECK(same_depth(adapter->depth("dlq"), 3, 0, 0));
    CHECK(adapter->status("new-id").state == MessageState::not_found);
    // Without a rewrite the bytes move as they are, and reach a worker as the same poison.
    CHECK(adapter->move("dlq", "work", {poison_id}).moved == std::vector<std::string>{poison_id});
    auto got = adapter->reserve({"work"}, 10, 0ms);
    REQUIRE(got.size() == 2);
    CHECK(got[1].message.id == poison_id);
    CHECK(got[1].poisoned());
    CHECK(got[1].raw == bytes);
    settle_all(*adapter, got);
}

template <class F>
void moved_message_handled_by_worker(F& f) {
    auto adapter = f.make();
    adapter->push("jobs:dlq", dead_letter(7, "replayed"));
    // Two workers took it and vanished: its count in the dead letters is 2.
    for (int round = 0; round < 2; ++round) {
        REQUIRE(adapter->reserve({"jobs:dlq"}, 1, 0ms).size() == 1);
        f.pass(f.visibility());
    }
    adapter->reclaim();
    CHECK(adapter->move("jobs:dlq", "jobs", {"replayed"}, strip_and_count).moved == std::vector<std::string>{"replayed"});
    std::vector<std::uint32_t> deliveries;
    std::vector<Message> seen;
    Worker worker = make_worker(adapter, {"jobs"}, 2);
    worker.on("job", [&](const Message& message, HandlerContext& context) {
        seen.push_back(message);
        deliveries.push_back(context.deliveries());
    });
    CHECK(worker.run_until_idle(10) == 1);
    REQUIRE(seen.size() == 1);
    CHECK(seen[0].id == "replayed");
    CHECK(seen[0].data == nlohmann::json{{"n", 7}});
    CHECK(seen[0].metadata["replays"] == 1);
    CHECK_FALSE(seen[0].metadata.contains(std::string(metadata_keys::dead_letter)));
    CHECK(deliveries == std::vector<std::uint32_t>{1});  // counted from zero in its new channel
    CHECK(adapter->depth("jobs").total() == 0);
    CHECK(adapter->depth("jobs:dlq").total() == 0);
}

/// Captures what the "failpipe" logger writes while it lives.
class LogCapture {
public:
    LogCapture() : sink_(std::make_shared<spdlog::sinks::ostream_sink_mt>(stream_)) {
        logger_ = spdlog::get("failpipe");
        if (!logger_) {
            logger_ = spdlog::stderr_color_mt("failpipe");
            logger_->set_level(spdlog::level::warn);
        }
        sink_->set_pattern("%v");
        logger_->sinks().push_back(sink_);
    }
    LogCapture(const LogCapture&) = delete;
    LogCapture& operator=(const LogCapture&) = delete;
    ~LogCapture() {
        auto& sinks = logger_->sinks();
        sinks.erase(std::remove(sinks.begin(), sinks.end(), sink_), sinks.end());
    }
    std::string text() const { return stream_.str(); }

private:
    std::ostringstream stream_;
    std::shared_ptr<spdlog::sinks::ostream_sink_mt> sink_;
    std::shared_ptr<spdlog::logger> logger_;
};

/// A dead letter whose record says it failed at @p time (ISO 8601 UTC).
inline Message dead_letter_at(int n, std::string id, const std::string& time) {
    Message message = dead_letter(n, std::move(id));
    message.metadata[std::string(metadata_keys::dead_letter)]["time"] = time;
    return message;
}

template <class F>
void evict_removes_and_counts(F& f) {
    auto adapter = f.make();
    for (int i = 0; i < 4; ++i) adapter->push("jobs:dlq", dead_letter(i, "e" + std::to_string(i)));
    adapter->push("jobs:dlq", dead_letter(4, "e4"), f.delay());
    CHECK(adapter->evicted("jobs:dlq") == 0);
    auto held = adapter->reserve({"jobs:dlq"}, 1, 0ms);  // e0: reserved, not evicted
    REQUIRE(held.size() == 1);
    CHECK(adapter->evict("jobs:dlq", {"e0", "e1", "e4", "nope"}) == 2);
    CHECK(adapter->evicted("jobs:dlq") == 2);
    CHECK(adapter->evict("jobs:dlq", {"e1"}) == 0);  // gone already: not counted twice
    CHECK(adapter->remove("jobs:dlq", {"e2"}) == 1);  // a purge is not an eviction
    CHECK(adapter->evicted("jobs:dlq") == 2);
    CHECK(adapter->evicted("jobs") == 0);
    CHECK(adapter->depth("jobs:dlq").ready == 1);  // e3
    CHECK(adapter->status("e0").state == MessageState::reserved);
    settle_all(*adapter, held);
}

template <class F>
void retention_by_count_evicts_the_oldest(F& f) {
    auto adapter = f.make();
    for (int i = 0; i < 10; ++i) adapter->push("orders:dlq", dead_letter(i, "r" + std::to_string(i)));
    const DeadLetters dead_letters(adapter);
    LogCapture log;
    const RetentionResult result = dead_letters.enforce_retention("orders", RetentionPolicy{3, std::nullopt});
    CHECK(result.channel == "orders:dlq");
    CHECK(result.removed == 7);
    CHECK(result.evicted == std::vector<std::string>{"r0", "r1", "r2", "r3", "r4", "r5", "r6"});
    CHECK(adapter->evicted("orders:dlq") == 7);
    std::vector<std::string> left;
    for (const auto& message : adapter->browse("orders:dlq", 0, 100)) left.push_back(message.id);
    CHECK(left == std::vector<std::string>{"r7", "r8", "r9"});
    CHECK(log.text().find("evicted 7 dead letters of orders:dlq (maxCount 3): r0, r1, r2, r3, r4, r5, r6") !=
          std::string::npos);
    // Within the cap: nothing more goes, nothing more is logged.
    CHECK(dead_letters.enforce_retention("orders", RetentionPolicy{3, std::nullopt}).evicted.empty());
    CHECK(adapter->evicted("orders:dlq") == 7);
}

template <class F>
void retention_by_age_evicts_old_records(F& f) {
    auto adapter = f.make();
    // Age is the record's `time` (when it was dead-lettered), read against the DeadLetters' clock.
    auto clock = std::make_shared<ManualClock>();
    clock->set(TimePoint{std::chrono::sys_days{std::chrono::year{2026} / 1 / 2}.time_since_epoch()});
    adapter->push("orders:dlq", dead_letter_at(0, "old-1", "2025-12-31T00:00:00Z"));
    adapter->push("orders:dlq", dead_letter_at(1, "young", "2026-01-01T23:30:00Z"));
    adapter->push("orders:dlq", dead_letter_at(2, "old-2", "2026-01-01T12:00:00.500Z"));
    adapter->push("orders:dlq", dead_letter(3, "no-time"));  // age unknown: kept
    DeadLetters::Options options;
    options.clock = clock;
    const DeadLetters dead_letters(adapter, options);
    LogCapture log;
    const RetentionResult result = dead_letters.enforce_retention("orders", RetentionPolicy{std::nullopt, Seconds{3600.0}});
    CHECK(result.evicted == std::vector<std::string>{"old-1", "old-2"});
    CHECK(adapter->evicted("orders:dlq") == 2);
    CHECK(adapter->depth("orders:dlq").ready == 2);
    CHECK(log.text().find("evicted 2 dead letters of orders:dlq (maxAge 3600s): old-1, old-2") != std::string::npos);
    CHECK_THROWS_AS(dead_letters.enforce_retention("orders", RetentionPolicy{std::nullopt, Seconds{-1.0}}),
                    InvalidArgumentError);
}

template <class F>
void worker_keeps_dead_letters_within_max_count(F& f) {
    auto adapter = f.make();
    for (int i = 0; i < 10; ++i) adapter->push("jobs", make_message("job", i, "w" + std::to_string(i)));
    FailureMiddlewareDispatcher::Options dispatcher_options;
    WorkerOptions options;
    options.channels = {"jobs"};
    options.wait = 0ms;
    options.dead_letter_retention.max_count = 3;
    Worker worker(adapter, FailureMiddlewareDispatcher(dispatcher_options), Classifier{}, options);
    worker.on("job", [](const Message&, HandlerContext&) { throw std::runtime_error("always fails"); });
    LogCapture log;
    CHECK(worker.run_until_idle(20) == 10);
    CHECK(worker.metrics().dead_lettered.load() == 10);
    CHECK(adapter->depth("jobs:dlq").ready == 3);
    CHECK(adapter->evicted("jobs:dlq") == 7);
    std::vector<std::string> left;
    for (const auto& message : adapter->browse("jobs:dlq", 0, 100)) left.push_back(message.id);
    CHECK(left == std::vector<std::string>{"w7", "w8", "w9"});
    for (int i = 0; i < 7; ++i) CHECK(log.text().find("w" + std::to_string(i)) != std::string::npos);
}

}  // namespace failpipe::conformance

/// Registers every conformance check for fixture @p Fixture, each as its own test case named
/// "<label> conformance: ...".
#define FAILPIPE_ADAPTER_CONFORMANCE(Fixture, label)                                                              \
    TEST_CASE(label " conformance: push, reserve, settle") {                                                    \
        Fixture f;                                                                                              \
        ::failpipe::conformance::push_reserve_settle(f);                                                        \
    }                                                                                                           \
    TEST_CASE(label " conformance: ids are assigned and kept") {                                                \
        Fixture f;                                                                                              \
        ::failpipe::conformance::ids_assigned_and_kept(f);                                                      \
    }                                                                                                           \
    TEST_CASE(label " conformance: first in, first out within a channel") {                                     \
        Fixture f;                                                                                              \
        ::failpipe::conformance::fifo_within_channel(f);                                                        \
    }                                                                                                           \
    TEST_CASE(label " conformance: earlier channels first, up to max_messages") {                               \
        Fixture f;                                                                                              \
        ::failpipe::conformance::channel_priority_and_batch_limit(f);                                           \
    }                                                                                                           \
    TEST_CASE(label " conformance: nothing due, and bad arguments") {                                           \
        Fixture f;                                                                                              \
        ::failpipe::conformance::empty_and_invalid_arguments(f);                                                \
    }                                                                                                           \
    TEST_CASE(label " conformance: a delayed message becomes due") {                                            \
        Fixture f;                                                                                              \
        ::failpipe::conformance::delayed_message_becomes_due(f);                                                \
    }                                                                                                           \
    TEST_CASE(label " conformance: a failing message does not block the others") {                              \
        Fixture f;                                                                                              \
        ::failpipe::conformance::failing_message_does_not_block_others(f);                                      \
    }                                                                                                           \
    TEST_CASE(label " conformance: a settle applies every push") {                                              \
        Fixture f;                                                                                              \
        ::failpipe::conformance::settle_applies_every_push_atomically(f);                                       \
    }                                                                                                           \
    TEST_CASE(label " conformance: a retry keeps its id and counts deliveries from one") {                      \
        Fixture f;                                                                                              \
        ::failpipe::conformance::retry_keeps_id_and_counts_from_one(f);                                         \
    }                                                                                                           \
    TEST_CASE(label " conformance: a second settle is stale and changes nothing") {                             \
        Fixture f;                                                                                              \
        ::failpipe::conformance::second_settle_is_stale_and_changes_nothing(f);                                 \
    }                                                                                                           \
    TEST_CASE(label " conformance: release does not count a delivery") {                                        \
        Fixture f;                                                                                              \
        ::failpipe::conformance::release_does_not_count(f);                                                     \
    }                                                                                                           \
    TEST_CASE(label " conformance: the visibility timeout gives a delivery back") {                             \
        Fixture f;                                                                                              \
        ::failpipe::conformance::visibility_timeout_gives_back(f);                                              \
    }                                                                                                           \
    TEST_CASE(label " conformance: reserve reclaims on its own") {                                              \
        Fixture f;                                                                                              \
        ::failpipe::conformance::reserve_reclaims_on_its_own(f);                                                \
    }                                                                                                           \
    TEST_CASE(label " conformance: status of each state") {                                                     \
        Fixture f;                                                                                              \
        ::failpipe::conformance::status_of_each_state(f);                                                       \
    }                                                                                                           \
    TEST_CASE(label " conformance: depth by state") {                                                           \
        Fixture f;                                                                                              \
        ::failpipe::conformance::depth_by_state(f);                                                             \
    }                                                                                                           \
    TEST_CASE(label " conformance: settle_batch settles each delivery on its own") {                           \
        Fixture f;                                                                                              \
        ::failpipe::conformance::settle_batch_each_on_its_own(f);                                               \
    }                                                                                                           \
    TEST_CASE(label " conformance: browse lists ready, then delayed by due time") {                             \
        Fixture f;                                                                                              \
        ::failpipe::conformance::browse_ready_then_delayed(f);                                                  \
    }                                                                                                           \
    TEST_CASE(label " conformance: remove takes waiting messages only") {                                       \
        Fixture f;                                                                                              \
        ::failpipe::conformance::remove_waiting_only(f);                                                        \
    }                                                                                                           \
    TEST_CASE(label " conformance: remove finds the message in its channel after a requeue") {                  \
        Fixture f;                                                                                              \
        ::failpipe::conformance::remove_finds_the_message_in_its_channel(f);                                    \
    }                                                                                                           \
    TEST_CASE(label " conformance: evict removes waiting messages and counts them") {                          \
        Fixture f;                                                                                              \
        ::failpipe::conformance::evict_removes_and_counts(f);                                                   \
    }                                                                                                           \
    TEST_CASE(label " conformance: retention by count evicts the oldest, counted and logged") {                 \
        Fixture f;                                                                                              \
        ::failpipe::conformance::retention_by_count_evicts_the_oldest(f);                                       \
    }                                                                                                           \
    TEST_CASE(label " conformance: retention by age evicts old records, counted and logged") {                  \
        Fixture f;                                                                                              \
        ::failpipe::conformance::retention_by_age_evicts_old_records(f);                                        \
    }                                                                                                           \
    TEST_CASE(label " conformance: a worker with maxCount 3 keeps 3 of 10 dead letters and counts 7") {         \
        Fixture f;                                                                                              \
        ::failpipe::conformance::worker_keeps_dead_letters_within_max_count(f);                                 \
    }                                                                                                           \
    TEST_CASE(label " conformance: channels are listed sorted") {                                               \
        Fixture f;                                                                                              \
        ::failpipe::conformance::channels_sorted(f);                                                            \
    }                                                                                                           \
    TEST_CASE(label " conformance: poison bytes come out as poisoned deliveries") {                             \
        Fixture f;                                                                                              \
        ::failpipe::conformance::poison_bytes(f);                                                               \
    }                                                                                                           \
    TEST_CASE(label " conformance: push_batch keeps order and ids") {                                           \
        Fixture f;                                                                                              \
        ::failpipe::conformance::push_batch_in_order(f);                                                        \
    }                                                                                                           \
    TEST_CASE(label " conformance: the worker dead-letters after max deliveries") {                             \
        Fixture f;                                                                                              \
        ::failpipe::conformance::worker_dead_letters_after_max_deliveries(f);                                   \
    }                                                                                                           \
    TEST_CASE(label " conformance: a worker's release is not a delivery: 16 releases with maxDeliveries 10") { \
        Fixture f;                                                                                              \
        ::failpipe::conformance::worker_release_is_not_a_delivery(f);                                           \
    }                                                                                                           \
    TEST_CASE(label " conformance: the worker retries, then dead-letters") {                                    \
        Fixture f;                                                                                              \
        ::failpipe::conformance::worker_retries_then_dead_letters(f);                                           \
    }                                                                                                           \
    TEST_CASE(label " conformance: concurrent reservers see no duplicates") {                                   \
        Fixture f;                                                                                              \
        ::failpipe::conformance::concurrent_reservers_no_duplicates(f);                                         \
    }                                                                                                                \
    TEST_CASE(label " conformance: move takes messages from one channel to another, rewritten") { \
        Fixture f;                                                                                              \
        ::failpipe::conformance::move_between_channels(f);                                                  \
    }                                                                                                                \
    TEST_CASE(label " conformance: move honours a delay") { \
        Fixture f;                                                                                              \
        ::failpipe::conformance::move_with_delay(f);                                                  \
    }                                                                                                                \
    TEST_CASE(label " conformance: move skips unknown and reserved messages") { \
        Fixture f;                                                                                              \
        ::failpipe::conformance::move_skips_unknown_and_reserved(f);                                                  \
    }                                                                                                                \
    TEST_CASE(label " conformance: move there and back, and a repeated move moves nothing twice") { \
        Fixture f;                                                                                              \
        ::failpipe::conformance::move_there_and_back(f);                                                  \
    }                                                                                                                \
    TEST_CASE(label " conformance: move finds its messages when their ids repeat in another channel") { \
        Fixture f;                                                                                              \
        ::failpipe::conformance::move_ids_that_repeat_in_another_channel(f);                                                  \
    }                                                                                                                \
    TEST_CASE(label " conformance: move of undecodable bytes and of failed rewrites") { \
        Fixture f;                                                                                              \
        ::failpipe::conformance::move_undecodable_and_failed_rewrites(f);                                                  \
    }                                                                                                                \
    TEST_CASE(label " conformance: a moved message is handled by a worker") { \
        Fixture f;                                                                                              \
        ::failpipe::conformance::moved_message_handled_by_worker(f);                                                  \
    }
