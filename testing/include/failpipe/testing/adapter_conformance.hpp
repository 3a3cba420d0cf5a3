/// @file adapter_conformance.hpp
/// @brief The adapter conformance suite (target failpipe::adapter_conformance): behavioural checks
/// written once and run against every adapter — InMemoryAdapter and RedisAdapter in failpipe's own
/// tests, and any adapter written outside it. See docs/adapters.md.
///
/// An adapter joins with a fixture type F (default-constructible, one per test case) offering:
///   std::shared_ptr<AdapterInterface> make();   a fresh, empty adapter whose visibility timeout is visibility()
///   Seconds visibility() const;                 that visibility timeout
///   Seconds delay() const;                      a delay long enough to see a message "not due yet"
///   void pass(Seconds d);                       makes at least d of the adapter's time go by
/// and optionally
///   void push_raw(AdapterInterface&, const std::string& channel, std::string bytes);   stores poison
/// (without it the two poison checks pass with a "skipped" message), and then instantiates every
/// check with FAILPIPE_ADAPTER_CONFORMANCE(F, "label") in a doctest test program.
///
/// Checks follow the capabilities the adapter declares (AdapterInterface::capabilities()): a check
/// of an undeclared capability is skipped, the core checks look through inspection only where it is
/// declared, and one check asserts that every undeclared operation throws UnsupportedCapabilityError.
#pragma once

#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <initializer_list>
#include <optional>
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
#include "failpipe/adapter_capabilities.hpp"
#include "failpipe/channel_stats.hpp"
#include "failpipe/health.hpp"
#include "failpipe/classifier.hpp"
#include "failpipe/dead_letter_middleware.hpp"
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

inline bool declares(const AdapterInterface& adapter, Capability capability) {
    return adapter.capabilities().has(capability);
}

/// True when the adapter declares every one of @p needed; else says which is missing (as a doctest
/// message) and returns false: the check is skipped.
template <class F>
bool declares_all(F& f, std::initializer_list<Capability> needed) {
    const AdapterCapabilities declared = f.make()->capabilities();
    for (const Capability capability : needed) {
        if (!declared.has(capability)) {
            MESSAGE("skipped: the adapter does not declare \"" << to_string(capability) << "\"");
            return false;
        }
    }
    return true;
}

/// Whether fixture F can store raw (undecodable) bytes: its optional push_raw.
template <class F>
constexpr bool stores_raw_bytes() {
    return requires(F& f, AdapterInterface& adapter) { f.push_raw(adapter, std::string(), std::string()); };
}

template <class F>
void push_raw(F& f, AdapterInterface& adapter, const std::string& channel, std::string bytes) {
    if constexpr (stores_raw_bytes<F>()) f.push_raw(adapter, channel, std::move(bytes));
}

// The core checks look at the adapter through its inspection side when it has one, and through
// reserve alone when it does not: an adapter with the broker core only runs them too.

/// depth(@p channel) is ready/delayed/reserved, when the adapter offers depth.
inline void expect_depth(AdapterInterface& adapter, const std::string& channel, std::size_t ready, std::size_t delayed,
                         std::size_t reserved) {
    if (!declares(adapter, Capability::depth)) return;
    INFO("depth of " << channel);
    CHECK(same_depth(adapter.depth(channel), ready, delayed, reserved));
}

/// @p channel holds nothing, when the adapter offers depth.
inline void expect_empty(AdapterInterface& adapter, const std::string& channel) {
    if (!declares(adapter, Capability::depth)) return;
    INFO("depth of " << channel);
    CHECK(adapter.depth(channel).total() == 0);
}

/// The message @p id is in @p state, when the adapter offers status.
inline void expect_state(AdapterInterface& adapter, const std::string& id, MessageState state) {
    if (!declares(adapter, Capability::status)) return;
    INFO("status of " << id);
    CHECK(adapter.status(id).state == state);
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
    expect_depth(*adapter, "orders", 0, 0, 1);

    adapter->settle(delivery, Settlement{});
    expect_depth(*adapter, "orders", 0, 0, 0);
    expect_state(*adapter, original.id, MessageState::not_found);
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
    expect_state(*adapter, "my-own-id", MessageState::ready);
    if (declares(*adapter, Capability::status)) CHECK(adapter->status("my-own-id").channel == "c");
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
    if (declares(*adapter, Capability::depth)) CHECK_THROWS_AS(adapter->depth(""), InvalidArgumentError);
    expect_empty(*adapter, "c");
}

template <class F>
void delayed_message_becomes_due(F& f) {
    auto adapter = f.make();
    const std::string id = adapter->push("later", make_message("h", 1), f.delay());
    expect_state(*adapter, id, MessageState::delayed);
    expect_depth(*adapter, "later", 0, 1, 0);
    CHECK(adapter->reserve({"later"}, 10, 0ms).empty());
    f.pass(f.delay());
    auto deliveries = adapter->reserve({"later"}, 10, 0ms);
    REQUIRE(deliveries.size() == 1);
    CHECK(deliveries[0].message.id == id);
    CHECK(deliveries[0].deliveries == 1);
    adapter->settle(deliveries[0], Settlement{});
    expect_empty(*adapter, "later");
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
    expect_state(*adapter, failing, MessageState::delayed);
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
    const bool delays = declares(*adapter, Capability::delayed_delivery);
    settlement.pushes.push_back(OutgoingMessage{"out-b", make_message("follow", 2), delays ? f.delay() : Seconds{0.0}});
    settlement.pushes.push_back(OutgoingMessage{"out-a", make_message("follow", 3, "explicit-id"), Seconds{0.0}});
    adapter->settle(deliveries[0], std::move(settlement));
    expect_depth(*adapter, "in", 0, 0, 0);
    expect_depth(*adapter, "out-a", 2, 0, 0);
    expect_depth(*adapter, "out-b", delays ? 0 : 1, delays ? 1 : 0, 0);
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
    expect_state(*adapter, id, MessageState::ready);
    auto second = adapter->reserve({"r"}, 1, 0ms);
    REQUIRE(second.size() == 1);
    CHECK(second[0].message.id == id);
    CHECK(second[0].message.metadata["attempt"] == 1);
    CHECK(second[0].deliveries == 1);  // a push starts a new life: only crashes count up
    adapter->settle(second[0], Settlement{});
    expect_state(*adapter, id, MessageState::not_found);
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
    expect_empty(*adapter, "elsewhere");
    expect_empty(*adapter, "s");
}

template <class F>
void release_does_not_count(F& f) {
    auto adapter = f.make();
    const std::string id = adapter->push("rel", make_message("h", 1));
    auto first = adapter->reserve({"rel"}, 1, 0ms);
    REQUIRE(first.size() == 1);
    CHECK(first[0].deliveries == 1);
    adapter->release(first[0]);
    expect_state(*adapter, id, MessageState::ready);
    expect_depth(*adapter, "rel", 1, 0, 0);
    auto second = adapter->reserve({"rel"}, 1, 0ms);
    REQUIRE(second.size() == 1);
    CHECK(second[0].message.id == id);
    CHECK(second[0].deliveries == 1);
    CHECK_THROWS_AS(adapter->settle(first[0], Settlement{}), StaleDeliveryError);

    adapter->release(second[0], f.delay());
    expect_state(*adapter, id, MessageState::delayed);
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
    expect_state(*adapter, id, MessageState::reserved);
    f.pass(f.visibility());
    CHECK(adapter->reclaim() == 1);
    expect_state(*adapter, id, MessageState::ready);
    auto second = adapter->reserve({"vis"}, 1, 0ms);
    REQUIRE(second.size() == 1);
    CHECK(second[0].message.id == id);
    CHECK(second[0].deliveries == 2);
    // The vanished worker comes back: its settle changes nothing.
    CHECK_THROWS_AS(adapter->settle(first[0], Settlement{{OutgoingMessage{"side", make_message("h", 2), Seconds{0.0}}}}),
                    StaleDeliveryError);
    expect_empty(*adapter, "side");
    adapter->settle(second[0], Settlement{});
    expect_empty(*adapter, "vis");
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
    expect_state(*adapter, ready, MessageState::reserved);
    CHECK(adapter->status(ready).channel == "st");
    expect_state(*adapter, waiting, MessageState::ready);
    expect_state(*adapter, delayed, MessageState::delayed);
    CHECK(adapter->status(delayed).channel == "st2");
    MessageStatus unknown = adapter->status("no-such-id");
    CHECK(unknown.state == MessageState::not_found);
    CHECK(unknown.channel.empty());
    adapter->settle(reserved[0], Settlement{});
    expect_state(*adapter, ready, MessageState::not_found);
}

template <class F>
void depth_by_state(F& f) {
    auto adapter = f.make();
    for (int i = 0; i < 5; ++i) adapter->push("d", make_message("h", i));
    for (int i = 0; i < 2; ++i) adapter->push("d", make_message("h", i), f.delay());
    auto held = adapter->reserve({"d"}, 3, 0ms);
    REQUIRE(held.size() == 3);
    expect_depth(*adapter, "d", 2, 2, 3);
    settle_all(*adapter, held);
    expect_depth(*adapter, "d", 2, 2, 0);
    f.pass(f.delay());
    expect_depth(*adapter, "d", 4, 0, 0);

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
    auto out = adapter->reserve({"b-out"}, 10, 0ms);
    REQUIRE(out.size() == 1);  // the stale one's push was not applied
    CHECK(out[0].message.data == "from 0");
    settle_all(*adapter, out);
    expect_empty(*adapter, "b");
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

/// Every page of browse_after from @p after on, @p limit at a time; each page's size is checked
/// against the limit, and the end must come within @p max_pages.
inline std::vector<std::string> browse_all_after(AdapterInterface& adapter, const std::string& channel, std::size_t limit,
                                                 std::size_t max_pages = 1000) {
    std::vector<std::string> ids;
    BrowseCursor cursor;
    for (std::size_t pages = 0; pages < max_pages; ++pages) {
        BrowsePage page = adapter.browse_after(channel, cursor, limit);
        CHECK(page.messages.size() <= limit);
        if (!page.end) CHECK(page.messages.size() == limit);
        for (const auto& message : page.messages) ids.push_back(message.id);
        if (page.end) return ids;
        cursor = page.next;
    }
    FAIL_CHECK("browse_after did not reach the end in " << max_pages << " pages");
    return ids;
}

template <class F>
void browse_after_in_browse_order(F& f) {
    auto adapter = f.make();
    std::vector<std::string> ready;
    for (int i = 0; i < 7; ++i) ready.push_back(adapter->push("dlq", make_message("h", i)));
    const std::string late = adapter->push("dlq", make_message("h", "late"), f.delay() * 2.0);
    const std::string soon = adapter->push("dlq", make_message("h", "soon"), f.delay());
    auto held = adapter->reserve({"dlq"}, 1, 0ms);  // reserved messages are not listed
    REQUIRE(held.size() == 1);
    const std::vector<std::string> expected = ids_of(adapter->browse("dlq", 0, 100));
    REQUIRE(expected.size() == 8);
    CHECK(expected.back() == late);
    for (const std::size_t limit : {1, 2, 3, 8, 9, 100}) {
        INFO("limit " << limit);
        CHECK(browse_all_after(*adapter, "dlq", limit) == expected);
    }
    const BrowsePage first = adapter->browse_after("dlq", {}, 2);
    CHECK(ids_of(first.messages) == std::vector<std::string>{ready[1], ready[2]});
    CHECK_FALSE(first.end);
    CHECK(adapter->browse_after("dlq", {}, 8).end);  // exactly all of them: the end is reported
    CHECK(adapter->browse_after("dlq", first.next, 100).messages.front().data == 3);
    const BrowsePage none = adapter->browse_after("never-used", {}, 10);
    CHECK(none.messages.empty());
    CHECK(none.end);
    CHECK_THROWS_AS(adapter->browse_after("dlq", {}, 0), InvalidArgumentError);
    adapter->settle(held[0], Settlement{});
}

template <class F>
void browse_after_refuses_a_forged_cursor(F& f) {
    auto adapter = f.make();
    adapter->push("dlq", make_message("h", 1));
    const BrowsePage page = adapter->browse_after("dlq", {}, 1);
    for (const std::string& forged : {std::string("garbage"), std::string("r:abc"), std::string("o:12x"), std::string("m:r:"),
                                     std::string("d:1:zz"), std::string("r:1-2-3"), page.next + "x", std::string(":"),
                                     std::string("d:nan:41"), std::string(200, 'z')}) {
        INFO("cursor " << forged);
        CHECK_THROWS_AS(adapter->browse_after("dlq", forged, 10), InvalidArgumentError);
    }
    CHECK(adapter->browse_after("dlq", page.next, 10).messages.empty());  // the real one still works
}

/// Pages while messages are pushed and removed between the pages: every message waiting from the
/// first page to the last is listed exactly once, also after its page's cursor message went.
template <class F>
void browse_after_survives_pushes_and_removes(F& f) {
    auto adapter = f.make();
    std::vector<std::string> ids;
    for (int i = 0; i < 30; ++i) ids.push_back(adapter->push("dlq", make_message("h", i)));
    std::vector<std::string> delayed;
    for (int i = 0; i < 6; ++i) delayed.push_back(adapter->push("dlq", make_message("h", "d" + std::to_string(i)), f.delay()));
    std::set<std::string> removed;
    std::vector<std::string> pushed;
    std::vector<std::string> seen;
    BrowseCursor cursor;
    for (int pages = 0; pages < 100; ++pages) {
        BrowsePage page = adapter->browse_after("dlq", cursor, 4);
        for (const auto& message : page.messages) seen.push_back(message.id);
        if (page.end) break;
        cursor = page.next;
        // The cursor's own message goes, and one not read yet; a new one arrives.
        const std::string last = page.messages.back().id;
        std::vector<std::string> gone{last};
        const auto later = std::find(ids.begin(), ids.end(), last);
        if (later != ids.end() && later + 2 < ids.end()) gone.push_back(*(later + 2));
        CHECK(adapter->remove("dlq", gone) == gone.size());
        removed.insert(gone.begin(), gone.end());
        if (pushed.size() < 5) pushed.push_back(adapter->push("dlq", make_message("h", "new")));
    }
    const std::multiset<std::string> listed(seen.begin(), seen.end());
    for (const auto& id : ids)
        if (!removed.contains(id)) CHECK_MESSAGE(listed.count(id) == 1, "ready " << id);
    for (const auto& id : delayed)
        if (!removed.contains(id)) CHECK_MESSAGE(listed.count(id) == 1, "delayed " << id);
    for (const auto& id : pushed) CHECK_MESSAGE(listed.count(id) <= 1, "pushed meanwhile " << id);
    CHECK(std::set<std::string>(seen.begin(), seen.end()).size() == seen.size());  // nothing twice
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
    expect_state(*adapter, b, MessageState::not_found);
    expect_state(*adapter, c, MessageState::not_found);
    expect_state(*adapter, a, MessageState::reserved);
    expect_state(*adapter, other, MessageState::ready);
    expect_depth(*adapter, "rm", 0, 0, 1);
    CHECK(adapter->remove("rm", {}) == 0);
    adapter->settle(held[0], Settlement{});
    expect_empty(*adapter, "rm");
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
    expect_depth(*adapter, "orders:dlq", 1, 0, 0);
    // The copies in the original channel are untouched and still found.
    CHECK(ids_of(adapter->browse("orders", 0, 10)) == std::vector<std::string>{id, delayed});
    expect_state(*adapter, id, MessageState::ready);
    CHECK(adapter->status(id).channel == "orders");
    expect_state(*adapter, delayed, MessageState::ready);
    CHECK(adapter->status(delayed).channel == "orders");
    CHECK(adapter->remove("orders:dlq", {id, delayed}) == 0);
    CHECK(adapter->remove("orders", {id, delayed}) == 2);
    expect_empty(*adapter, "orders");
    expect_state(*adapter, id, MessageState::not_found);
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
    if (!stores_raw_bytes<F>()) {
        MESSAGE("skipped: the fixture has no push_raw");
        return;
    }
    auto adapter = f.make();
    const std::string bytes = "\xff\xfe not json {";
    push_raw(f, *adapter, "p", bytes);
    push_raw(f, *adapter, "p", R"({"id":"half","data":1})");  // JSON, but no handler
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
    expect_empty(*adapter, "p");
}

template <class F>
void push_batch_in_order(F& f) {
    auto adapter = f.make();
    std::vector<OutgoingMessage> batch;
    for (int i = 0; i < 1200; ++i) batch.push_back(OutgoingMessage{"bulk", make_message("h", i), Seconds{0.0}});
    const bool delays = declares(*adapter, Capability::delayed_delivery);
    batch.push_back(OutgoingMessage{"bulk-later", make_message("h", -1, "later-one"), delays ? f.delay() : Seconds{0.0}});
    auto ids = adapter->push_batch(batch);
    REQUIRE(ids.size() == batch.size());
    CHECK(ids.back() == "later-one");
    CHECK(std::set<std::string>(ids.begin(), ids.end()).size() == ids.size());
    expect_depth(*adapter, "bulk", 1200, 0, 0);
    expect_depth(*adapter, "bulk-later", delays ? 0 : 1, delays ? 1 : 0, 0);
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
    expect_empty(*adapter, "crashy");
    auto dead = adapter->reserve({"crashy:dlq"}, 10, 0ms);
    REQUIRE(dead.size() == 1);
    CHECK(dead[0].message.id == id);
    CHECK(dead[0].message.metadata[std::string(metadata_keys::dead_letter)]["reason"] == "max-deliveries");
    settle_all(*adapter, dead);
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
    expect_state(*adapter, id, MessageState::delayed);
    CHECK(worker.run_until_idle(1) == 0);
    f.pass(delay);
    CHECK(worker.run_until_idle(1) == 1);
    CHECK(runs == 17);
    expect_empty(*adapter, "gated");
    expect_empty(*adapter, "gated:dlq");
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
    for (int round = 0; round < 20 && processed < 18; ++round) processed += worker.run_until_idle(100);
    // 0 and 5 always fail (3 runs each), 1, 3, 7, 9 fail once (2 runs each), the rest run once.
    CHECK(runs == 6 + 8 + 4);
    CHECK(processed == 18);
    expect_empty(*adapter, "work");
    expect_depth(*adapter, "work:dlq", 2, 0, 0);
    auto metrics = worker.metrics().snapshot();
    CHECK(metrics.succeeded == 8);
    CHECK(metrics.dead_lettered == 2);
    CHECK(metrics.retried == 4 + 4);
}

// Two consumed channels whose pipelines dead-letter to each other: the message goes round at most
// DeadLetterMiddleware::kMaxHops times, then rests in the dead letters of the channel it failed on,
// once, with its record (the broker keeps the hop count the worker wrote).
template <class F>
void worker_dead_letter_loop_ends(F& f) {
    auto adapter = f.make();
    FailureMiddlewareDispatcher::Options options;
    options.pipelines["ring-a"] = {std::make_shared<DeadLetterMiddleware>("to-b", "ring-b")};
    options.pipelines["ring-b"] = {std::make_shared<DeadLetterMiddleware>("to-a", "ring-a")};
    WorkerOptions worker_options;
    worker_options.channels = {"ring-a", "ring-b"};
    worker_options.wait = 0ms;
    Worker worker(adapter, FailureMiddlewareDispatcher(std::move(options)), Classifier{}, worker_options);
    int runs = 0;
    worker.on("ring", [&](const Message&, HandlerContext&) {
        ++runs;
        throw PermanentError("always fails");
    });
    const std::string id = adapter->push("ring-a", make_message("ring", 7));
    for (int round = 0; round < 50 && runs <= 20; ++round) worker.run_until_idle(5);
    CHECK(runs == DeadLetterMiddleware::kMaxHops + 1);
    expect_empty(*adapter, "ring-a");
    expect_empty(*adapter, "ring-b");
    auto dead = adapter->reserve({"ring-a:dlq", "ring-b:dlq"}, 10, 0ms);
    REQUIRE(dead.size() == 1);
    CHECK(dead[0].channel == "ring-a:dlq");
    CHECK(dead[0].message.id == id);
    const auto& record = dead[0].message.metadata[std::string(metadata_keys::dead_letter)];
    CHECK(record["reason"] == "failure");
    CHECK(record["hops"] == DeadLetterMiddleware::kMaxHops + 1);
    settle_all(*adapter, dead);
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
    expect_empty(*adapter, "shared");
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
    expect_depth(*adapter, "orders:dlq", 2, 0, 0);
    expect_depth(*adapter, "orders", 3, 0, 0);
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
    expect_state(*adapter, "d3", MessageState::ready);
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
    expect_depth(*adapter, "work", 0, 2, 0);
    expect_state(*adapter, "late-1", MessageState::delayed);
    CHECK(adapter->reserve({"work"}, 10, 0ms).empty());
    f.pass(f.delay());
    auto got = adapter->reserve({"work"}, 10, 0ms);
    CHECK(ids_of(got) == std::vector<std::string>{"late-1", "late-2"});
    settle_all(*adapter, got);
    // A delayed message moves too, and keeps no due time of its source.
    adapter->push("dlq", dead_letter(3, "waiting"), f.delay() * 100);
    CHECK(adapter->move("dlq", "work", {"waiting"}).moved == std::vector<std::string>{"waiting"});
    expect_depth(*adapter, "dlq", 0, 0, 0);
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
    expect_state(*adapter, "held", MessageState::reserved);
    CHECK(adapter->status("other-channel").channel == "elsewhere");
    expect_depth(*adapter, "work", 1, 0, 0);
    // The worker that holds it still settles it, and it is gone.
    adapter->settle(held[0], Settlement{});
    expect_empty(*adapter, "dlq");
    CHECK(skips_of(adapter->move("dlq", "work", {"held"})) == std::vector<std::string>{"held:not-found"});
    // Nothing to move, nothing done; bad arguments change nothing.
    CHECK(adapter->move("dlq", "work", {}).moved.empty());
    CHECK(adapter->move("no-such-channel", "work", {"free"}).skipped.size() == 1);
    CHECK_THROWS_AS(adapter->move("work", "work", {"free"}), InvalidArgumentError);
    CHECK_THROWS_AS(adapter->move("", "work", {"free"}), InvalidArgumentError);
    CHECK_THROWS_AS(adapter->move("work", "", {"free"}), InvalidArgumentError);
    CHECK_THROWS_AS(adapter->move("work", "dlq", {"free"}, {}, Seconds{-1.0}), InvalidArgumentError);
    expect_depth(*adapter, "work", 1, 0, 0);
}

template <class F>
void move_there_and_back(F& f) {
    auto adapter = f.make();
    std::vector<std::string> ids;
    for (int i = 0; i < 6; ++i) ids.push_back(adapter->push("a", dead_letter(i, "tb" + std::to_string(i))));
    const auto before = adapter->browse("a", 0, 10);
    CHECK(adapter->move("a", "b", ids).moved == ids);
    expect_empty(*adapter, "a");
    CHECK(adapter->move("b", "a", ids).moved == ids);
    expect_empty(*adapter, "b");
    const auto after = adapter->browse("a", 0, 10);
    REQUIRE(after.size() == before.size());
    for (std::size_t i = 0; i < after.size(); ++i) check_same(after[i], before[i]);
    // Once more: a repeat of a move that already happened (its reply lost) moves nothing twice.
    CHECK(adapter->move("a", "b", ids).moved == ids);
    const MoveResult again = adapter->move("a", "b", ids);
    CHECK(again.moved.empty());
    CHECK(again.skipped.size() == ids.size());
    expect_depth(*adapter, "b", 6, 0, 0);
    expect_empty(*adapter, "a");
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
    expect_empty(*adapter, "orders:dlq");
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
    expect_depth(*adapter, "orders", 4, 0, 0);
    expect_empty(*adapter, "parking");
}

template <class F>
void move_undecodable_and_failed_rewrites(F& f) {
    if (!stores_raw_bytes<F>()) {
        MESSAGE("skipped: the fixture has no push_raw");
        return;
    }
    auto adapter = f.make();
    const std::string bytes = "\xff\xfe not json {";
    push_raw(f, *adapter, "dlq", bytes);
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
    expect_depth(*adapter, "dlq", 3, 0, 0);
    expect_state(*adapter, "new-id", MessageState::not_found);
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
    expect_empty(*adapter, "jobs");
    expect_empty(*adapter, "jobs:dlq");
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
        // The test main turns logging off (FAILPIPE_LOG_LEVEL=off) for whoever creates the logger
        // first; what is captured here is warnings, whichever test came first.
        level_ = logger_->level();
        if (level_ > spdlog::level::warn) logger_->set_level(spdlog::level::warn);
        sink_->set_pattern("%v");
        logger_->sinks().push_back(sink_);
    }
    LogCapture(const LogCapture&) = delete;
    LogCapture& operator=(const LogCapture&) = delete;
    ~LogCapture() {
        auto& sinks = logger_->sinks();
        sinks.erase(std::remove(sinks.begin(), sinks.end(), sink_), sinks.end());
        logger_->set_level(level_);
    }
    std::string text() const { return stream_.str(); }

private:
    std::ostringstream stream_;
    std::shared_ptr<spdlog::sinks::ostream_sink_mt> sink_;
    std::shared_ptr<spdlog::logger> logger_;
    spdlog::level::level_enum level_ = spdlog::level::warn;
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
    expect_state(*adapter, "e0", MessageState::reserved);
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


// --- capabilities -------------------------------------------------------------------------------

/// The first of @p needed that @p declared lacks: what an operation needing them must name.
inline std::optional<Capability> first_missing(const AdapterCapabilities& declared, std::initializer_list<Capability> needed) {
    for (const Capability capability : needed)
        if (!declared.has(capability)) return capability;
    return std::nullopt;
}

/// @p call throws UnsupportedCapabilityError naming @p capability (in capability() and in its text).
template <class Call>
void expect_unsupported(Capability capability, const char* what, Call&& call) {
    INFO(what << " without \"" << to_string(capability) << "\"");
    try {
        call();
        FAIL_CHECK("no UnsupportedCapabilityError");
    } catch (const UnsupportedCapabilityError& e) {
        CHECK(e.capability() == capability);
        CHECK(std::string(e.what()).find("\"" + std::string(to_string(capability)) + "\"") != std::string::npos);
    }
}

/// The same for a caller needing @p needed: it names the first one missing (nothing when none is).
template <class Call>
void expect_refused(const AdapterCapabilities& declared, std::initializer_list<Capability> needed, const char* what,
                    Call&& call) {
    if (auto missing = first_missing(declared, needed)) expect_unsupported(*missing, what, std::forward<Call>(call));
}

/// An operation the adapter does not declare throws UnsupportedCapabilityError naming it, and so do
/// the callers above the adapter that need it (before they change anything); the message pushed
/// first is still there after all of them.
template <class F>
void undeclared_capabilities_throw(F& f) {
    auto adapter = f.make();
    const AdapterCapabilities declared = adapter->capabilities();
    CHECK(adapter->capabilities() == declared);
    bool lacks_any = false;
    for (std::size_t i = 0; i < kCapabilityCount; ++i) lacks_any = lacks_any || !declared.has(static_cast<Capability>(i));
    if (!lacks_any) MESSAGE("every capability is declared: nothing to refuse");
    const std::string id = adapter->push("caps", make_message("h", 1));
    auto lacks = [&](Capability capability) { return !declared.has(capability); };
    if (lacks(Capability::delayed_delivery)) {
        const auto c = Capability::delayed_delivery;
        expect_unsupported(c, "push", [&] { adapter->push("caps", make_message("h", 2), f.delay()); });
        expect_unsupported(c, "push_batch",
                           [&] { adapter->push_batch({OutgoingMessage{"caps", make_message("h", 3), f.delay()}}); });
    }
    if (lacks(Capability::status)) expect_unsupported(Capability::status, "status", [&] { adapter->status(id); });
    if (lacks(Capability::depth)) {
        expect_unsupported(Capability::depth, "depth", [&] { adapter->depth("caps"); });
        expect_unsupported(Capability::depth, "depth_with_dead_letters", [&] { adapter->depth_with_dead_letters("caps"); });
    }
    if (lacks(Capability::browse)) expect_unsupported(Capability::browse, "browse", [&] { adapter->browse("caps", 0, 10); });
    if (lacks(Capability::remove)) expect_unsupported(Capability::remove, "remove", [&] { adapter->remove("caps", {id}); });
    if (lacks(Capability::evict)) {
        expect_unsupported(Capability::evict, "evict", [&] { adapter->evict("caps", {id}); });
        expect_unsupported(Capability::evict, "evicted", [&] { adapter->evicted("caps"); });
    }
    if (lacks(Capability::move)) expect_unsupported(Capability::move, "move", [&] { adapter->move("caps", "caps-2", {id}); });
    if (lacks(Capability::channels)) expect_unsupported(Capability::channels, "channels", [&] { adapter->channels(); });

    using C = Capability;
    const DeadLetters dead_letters(adapter);
    DeadLetterFilter filter;
    filter.channel = "caps";
    expect_refused(declared, {C::browse}, "DeadLetters::list", [&] { dead_letters.list(filter); });
    expect_refused(declared, {C::status, C::browse}, "DeadLetters::show", [&] { dead_letters.show("caps", id); });
    expect_refused(declared, {C::depth}, "DeadLetters::counts", [&] { dead_letters.counts("caps"); });
    expect_refused(declared, {C::depth, C::browse, C::move}, "DeadLetters::replay", [&] { dead_letters.replay(filter); });
    expect_refused(declared, {C::depth, C::browse, C::remove}, "DeadLetters::purge", [&] { dead_letters.purge(filter); });
    expect_refused(declared, {C::depth, C::browse, C::evict}, "DeadLetters::enforce_retention",
                   [&] { dead_letters.enforce_retention("caps", RetentionPolicy{1, std::nullopt}); });
    expect_refused(declared, {C::depth}, "channel_stats", [&] { channel_stats(*adapter, "caps"); });
    expect_refused(declared, {C::channels, C::depth}, "channel_stats of every channel", [&] { channel_stats(*adapter); });
    expect_refused(declared, {C::channels, C::depth}, "probe_broker", [&] { probe_broker(adapter); });
    expect_refused(declared, {C::depth, C::browse, C::evict}, "a Worker with dead-letter retention", [&] {
        WorkerOptions options;
        options.channels = {"caps"};
        options.dead_letter_retention.max_count = 1;
        [[maybe_unused]] const Worker worker(adapter, FailureMiddlewareDispatcher(FailureMiddlewareDispatcher::Options{}),
                                             Classifier{}, options);
    });

    // Nothing refused changed anything: the first message is the only one, still due.
    auto held = adapter->reserve({"caps"}, 10, 0ms);
    REQUIRE(held.size() == 1);
    CHECK(held[0].message.id == id);
    if (lacks(Capability::delayed_delivery)) {
        expect_unsupported(Capability::delayed_delivery, "release", [&] { adapter->release(held[0], f.delay()); });
    }
    settle_all(*adapter, held);
    CHECK(adapter->reserve({"caps", "caps-2"}, 10, 0ms).empty());
}

/// A declared max_message_bytes is enforced by push and push_batch (InvalidArgumentError, nothing pushed).
template <class F>
void max_message_bytes_enforced(F& f) {
    auto adapter = f.make();
    const std::size_t limit = adapter->capabilities().max_message_bytes;
    if (limit == 0) {
        MESSAGE("skipped: the adapter declares no max_message_bytes");
        return;
    }
    const Message big = make_message("h", std::string(limit + 1, 'x'));
    CHECK_THROWS_AS(adapter->push("big", big), InvalidArgumentError);
    CHECK_THROWS_AS(adapter->push_batch({OutgoingMessage{"big", big, Seconds{0.0}}}), InvalidArgumentError);
    const std::string small = adapter->push("big", make_message("h", "small"));
    auto held = adapter->reserve({"big"}, 10, 0ms);
    REQUIRE(held.size() == 1);
    CHECK(held[0].message.id == small);
    settle_all(*adapter, held);
}

}  // namespace failpipe::conformance

/// Registers one check that needs only the broker core.
#define FAILPIPE_CONFORMANCE_CORE_CASE(Fixture, label, title, check)                                          \
    TEST_CASE(label " conformance: " title) {                                                                 \
        Fixture f;                                                                                            \
        ::failpipe::conformance::check(f);                                                                    \
    }

/// Registers one check that runs only when the adapter declares every capability listed (written
/// C::name): otherwise the case passes with a "skipped" message naming the first one missing.
#define FAILPIPE_CONFORMANCE_CASE(Fixture, label, title, check, ...)                                          \
    TEST_CASE(label " conformance: " title) {                                                                 \
        using C = ::failpipe::Capability;                                                                     \
        Fixture f;                                                                                            \
        if (::failpipe::conformance::declares_all(f, {__VA_ARGS__})) ::failpipe::conformance::check(f);      \
    }

/// Registers every conformance check for fixture @p Fixture, each as its own test case named
/// "<label> conformance: ...". Checks of a capability the adapter does not declare are skipped;
/// one check asserts that each undeclared operation throws UnsupportedCapabilityError.
#define FAILPIPE_ADAPTER_CONFORMANCE(Fixture, label)                                                                                                                                                                     \
    FAILPIPE_CONFORMANCE_CORE_CASE(Fixture, label, "push, reserve, settle", push_reserve_settle)                                                                                                                         \
    FAILPIPE_CONFORMANCE_CORE_CASE(Fixture, label, "ids are assigned and kept", ids_assigned_and_kept)                                                                                                                   \
    FAILPIPE_CONFORMANCE_CORE_CASE(Fixture, label, "first in, first out within a channel", fifo_within_channel)                                                                                                          \
    FAILPIPE_CONFORMANCE_CORE_CASE(Fixture, label, "earlier channels first, up to max_messages", channel_priority_and_batch_limit)                                                                                       \
    FAILPIPE_CONFORMANCE_CORE_CASE(Fixture, label, "nothing due, and bad arguments", empty_and_invalid_arguments)                                                                                                        \
    FAILPIPE_CONFORMANCE_CASE(Fixture, label, "a delayed message becomes due", delayed_message_becomes_due, C::delayed_delivery)                                                                                         \
    FAILPIPE_CONFORMANCE_CASE(Fixture, label, "a failing message does not block the others", failing_message_does_not_block_others, C::delayed_delivery)                                                                 \
    FAILPIPE_CONFORMANCE_CORE_CASE(Fixture, label, "a settle applies every push", settle_applies_every_push_atomically)                                                                                                  \
    FAILPIPE_CONFORMANCE_CORE_CASE(Fixture, label, "a retry keeps its id and counts deliveries from one", retry_keeps_id_and_counts_from_one)                                                                            \
    FAILPIPE_CONFORMANCE_CORE_CASE(Fixture, label, "a second settle is stale and changes nothing", second_settle_is_stale_and_changes_nothing)                                                                           \
    FAILPIPE_CONFORMANCE_CASE(Fixture, label, "release does not count a delivery", release_does_not_count, C::uncounted_release, C::delayed_delivery)                                                                    \
    FAILPIPE_CONFORMANCE_CORE_CASE(Fixture, label, "the visibility timeout gives a delivery back", visibility_timeout_gives_back)                                                                                        \
    FAILPIPE_CONFORMANCE_CORE_CASE(Fixture, label, "reserve reclaims on its own", reserve_reclaims_on_its_own)                                                                                                           \
    FAILPIPE_CONFORMANCE_CASE(Fixture, label, "status of each state", status_of_each_state, C::status, C::delayed_delivery)                                                                                              \
    FAILPIPE_CONFORMANCE_CASE(Fixture, label, "depth by state", depth_by_state, C::depth, C::delayed_delivery)                                                                                                           \
    FAILPIPE_CONFORMANCE_CORE_CASE(Fixture, label, "settle_batch settles each delivery on its own", settle_batch_each_on_its_own)                                                                                        \
    FAILPIPE_CONFORMANCE_CASE(Fixture, label, "browse lists ready, then delayed by due time", browse_ready_then_delayed, C::browse, C::delayed_delivery)                                                                 \
    FAILPIPE_CONFORMANCE_CASE(Fixture, label, "browse_after pages in browse order, the end reported", browse_after_in_browse_order, C::browse, C::delayed_delivery)                                                       \
    FAILPIPE_CONFORMANCE_CASE(Fixture, label, "browse_after refuses a forged cursor", browse_after_refuses_a_forged_cursor, C::browse)                                                                                   \
    FAILPIPE_CONFORMANCE_CASE(Fixture, label, "browse_after lists each message once while others come and go", browse_after_survives_pushes_and_removes, C::browse_cursor, C::browse, C::remove, C::delayed_delivery)    \
    FAILPIPE_CONFORMANCE_CASE(Fixture, label, "remove takes waiting messages only", remove_waiting_only, C::remove, C::status, C::depth, C::delayed_delivery)                                                            \
    FAILPIPE_CONFORMANCE_CASE(Fixture, label, "remove finds the message in its channel after a requeue", remove_finds_the_message_in_its_channel, C::remove, C::browse, C::status, C::depth, C::delayed_delivery)        \
    FAILPIPE_CONFORMANCE_CASE(Fixture, label, "evict removes waiting messages and counts them", evict_removes_and_counts, C::evict, C::remove, C::status, C::depth, C::delayed_delivery)                                 \
    FAILPIPE_CONFORMANCE_CASE(Fixture, label, "retention by count evicts the oldest, counted and logged", retention_by_count_evicts_the_oldest, C::evict, C::browse, C::depth)                                           \
    FAILPIPE_CONFORMANCE_CASE(Fixture, label, "retention by age evicts old records, counted and logged", retention_by_age_evicts_old_records, C::evict, C::browse, C::depth)                                             \
    FAILPIPE_CONFORMANCE_CASE(Fixture, label, "a worker with maxCount 3 keeps 3 of 10 dead letters and counts 7", worker_keeps_dead_letters_within_max_count, C::evict, C::browse, C::depth)                             \
    FAILPIPE_CONFORMANCE_CASE(Fixture, label, "channels are listed sorted", channels_sorted, C::channels, C::delayed_delivery)                                                                                           \
    FAILPIPE_CONFORMANCE_CORE_CASE(Fixture, label, "poison bytes come out as poisoned deliveries", poison_bytes)                                                                                                         \
    FAILPIPE_CONFORMANCE_CORE_CASE(Fixture, label, "push_batch keeps order and ids", push_batch_in_order)                                                                                                                \
    FAILPIPE_CONFORMANCE_CORE_CASE(Fixture, label, "the worker dead-letters after max deliveries", worker_dead_letters_after_max_deliveries)                                                                             \
    FAILPIPE_CONFORMANCE_CASE(Fixture, label, "a worker's release is not a delivery: 16 releases with maxDeliveries 10", worker_release_is_not_a_delivery, C::uncounted_release, C::delayed_delivery)                    \
    FAILPIPE_CONFORMANCE_CORE_CASE(Fixture, label, "the worker retries, then dead-letters", worker_retries_then_dead_letters)                                                                                            \
    FAILPIPE_CONFORMANCE_CORE_CASE(Fixture, label, "a dead-letter loop between two channels ends: the message rests in a dead-letter channel", worker_dead_letter_loop_ends)                                           \
    FAILPIPE_CONFORMANCE_CORE_CASE(Fixture, label, "concurrent reservers see no duplicates", concurrent_reservers_no_duplicates)                                                                                         \
    FAILPIPE_CONFORMANCE_CASE(Fixture, label, "move takes messages from one channel to another, rewritten", move_between_channels, C::move, C::browse, C::status, C::depth)                                              \
    FAILPIPE_CONFORMANCE_CASE(Fixture, label, "move honours a delay", move_with_delay, C::move, C::browse, C::status, C::depth, C::delayed_delivery)                                                                     \
    FAILPIPE_CONFORMANCE_CASE(Fixture, label, "move skips unknown and reserved messages", move_skips_unknown_and_reserved, C::move, C::browse, C::status, C::depth, C::delayed_delivery)                                                      \
    FAILPIPE_CONFORMANCE_CASE(Fixture, label, "move there and back, and a repeated move moves nothing twice", move_there_and_back, C::move, C::browse, C::status, C::depth)                                              \
    FAILPIPE_CONFORMANCE_CASE(Fixture, label, "move finds its messages when their ids repeat in another channel", move_ids_that_repeat_in_another_channel, C::move, C::browse, C::status, C::depth, C::delayed_delivery) \
    FAILPIPE_CONFORMANCE_CASE(Fixture, label, "move of undecodable bytes and of failed rewrites", move_undecodable_and_failed_rewrites, C::move, C::browse, C::status, C::depth)                                         \
    FAILPIPE_CONFORMANCE_CASE(Fixture, label, "a moved message is handled by a worker", moved_message_handled_by_worker, C::move, C::browse, C::status, C::depth)                                                        \
    FAILPIPE_CONFORMANCE_CORE_CASE(Fixture, label, "an operation the adapter does not declare throws UnsupportedCapabilityError naming it", undeclared_capabilities_throw)                                               \
    FAILPIPE_CONFORMANCE_CORE_CASE(Fixture, label, "a message over max_message_bytes is refused", max_message_bytes_enforced)
