// Settles that only acknowledge (no pushes), many in one call: the apply script settles a run of
// them on one channel with one XPENDING, XACK, HMGET and HDEL. These tests pin what each settle
// still answers on its own (done, stale, done by an earlier try, an error), that deliveries of
// other workers inside the run's span stay theirs, and that the run costs a few commands, not
// three per message.
#include <doctest/doctest.h>

#include <algorithm>
#include <regex>
#include <string>
#include <vector>

#include "failpipe/shard_groups.hpp"
#include "redis_test_support.hpp"

using namespace std::chrono_literals;
using failpipe::Delivery;
using failpipe::Message;
using failpipe::MessageState;
using failpipe::RedisAdapter;
using failpipe::Settlement;
using failpipe::StaleDeliveryError;
namespace rt = failpipe::redis_test;

namespace {

RedisAdapter::Options plain_options(const std::string& url, const std::string& prefix = rt::unique_prefix("plain")) {
    RedisAdapter::Options options;
    options.url = url;
    options.key_prefix = prefix;
    return options;
}

void push_jobs(RedisAdapter& adapter, const std::string& channel, int count) {
    std::vector<failpipe::OutgoingMessage> batch;
    for (int i = 0; i < count; ++i) batch.push_back({channel, Message::create("job", {{"i", i}}), failpipe::Seconds{0.0}});
    adapter.push_batch(std::move(batch));
}

/// settle_batch of @p deliveries, each with an empty settlement (a plain acknowledgement).
std::vector<std::exception_ptr> acknowledge(RedisAdapter& adapter, const std::vector<const Delivery*>& deliveries) {
    std::vector<Settlement> settlements(deliveries.size());
    std::vector<RedisAdapter::SettleItem> items;
    for (std::size_t i = 0; i < deliveries.size(); ++i) items.push_back({deliveries[i], &settlements[i]});
    return adapter.settle_batch(items);
}

std::vector<const Delivery*> pointers(const std::vector<Delivery>& deliveries) {
    std::vector<const Delivery*> out;
    for (const auto& d : deliveries) out.push_back(&d);
    return out;
}

bool is_stale(const std::exception_ptr& outcome) {
    if (!outcome) return false;
    try {
        std::rethrow_exception(outcome);
    } catch (const StaleDeliveryError&) {
        return true;
    } catch (...) {
        return false;
    }
}

/// @p count jobs pushed to "in" and reserved, all of them.
std::vector<Delivery> held_jobs(RedisAdapter& adapter, int count) {
    push_jobs(adapter, "in", count);
    auto held = adapter.reserve({"in"}, static_cast<std::size_t>(count), 0ms);
    REQUIRE(held.size() == static_cast<std::size_t>(count));
    return held;
}

/// Each of @p outcomes is an error (not a stale delivery) whose message holds @p says.
void check_failed_saying(const std::vector<std::exception_ptr>& outcomes, const std::string& says) {
    for (const auto& outcome : outcomes) {
        REQUIRE(outcome);
        CHECK_FALSE(is_stale(outcome));
        try {
            std::rethrow_exception(outcome);
        } catch (const std::exception& e) {
            CHECK(std::string(e.what()).find(says) != std::string::npos);
        }
    }
}

}  // namespace

TEST_CASE("plain acknowledgements in one batch: each answers for itself, a stale one is stale, the index forgets the rest") {
    RedisAdapter adapter(plain_options(rt::test_redis_url()));
    push_jobs(adapter, "in", 40);
    auto held = adapter.reserve({"in"}, 40, 0ms);
    REQUIRE(held.size() == 40);
    acknowledge(adapter, {&held[5], &held[17]});  // settled already: stale in the batch below
    const auto outcomes = acknowledge(adapter, pointers(held));
    REQUIRE(outcomes.size() == 40);
    for (std::size_t i = 0; i < 40; ++i) {
        INFO("delivery " << i);
        if (i == 5 || i == 17) {
            CHECK(is_stale(outcomes[i]));
        } else {
            CHECK_FALSE(outcomes[i]);
        }
        CHECK(adapter.status(held[i].message.id).state == MessageState::not_found);
    }
    CHECK(adapter.depth("in").total() == 0);
}

TEST_CASE("plain acknowledgements around other workers' deliveries leave those deliveries pending and theirs") {
    RedisAdapter adapter(plain_options(rt::test_redis_url()));
    push_jobs(adapter, "in", 330);
    auto first = adapter.reserve({"in"}, 10, 0ms);
    auto others = adapter.reserve({"in"}, 300, 0ms);  // another worker's, between the two in the stream
    auto last = adapter.reserve({"in"}, 20, 0ms);
    REQUIRE(first.size() == 10);
    REQUIRE(others.size() == 300);
    REQUIRE(last.size() == 20);
    std::vector<const Delivery*> ours = pointers(first);
    for (const auto& d : last) ours.push_back(&d);
    for (const auto& outcome : acknowledge(adapter, ours)) CHECK_FALSE(outcome);
    CHECK(adapter.depth("in").reserved == 300);
    for (const auto& d : others) CHECK(adapter.status(d.message.id).state == MessageState::reserved);
    for (const auto& outcome : acknowledge(adapter, pointers(others))) CHECK_FALSE(outcome);
    CHECK(adapter.depth("in").total() == 0);
}

TEST_CASE("a batch of 200 plain acknowledgements costs the server a few commands, not three per message") {
    rt::RedisServer server;
    RedisAdapter adapter(plain_options(server.url()));
    push_jobs(adapter, "in", 200);
    auto held = adapter.reserve({"in"}, 200, 0ms);
    REQUIRE(held.size() == 200);
    const auto xack = rt::command_calls(adapter, "xack"), hget = rt::command_calls(adapter, "hget"), hdel = rt::command_calls(adapter, "hdel");
    for (const auto& outcome : acknowledge(adapter, pointers(held))) CHECK_FALSE(outcome);
    CHECK(adapter.depth("in").total() == 0);
    CHECK(rt::command_calls(adapter, "xack") - xack == 1);
    CHECK(rt::command_calls(adapter, "hget") - hget == 0);
    CHECK(rt::command_calls(adapter, "hdel") - hdel == 1);
}

TEST_CASE("the same delivery twice in one batch of plain acknowledgements: the second is stale") {
    RedisAdapter adapter(plain_options(rt::test_redis_url()));
    push_jobs(adapter, "in", 3);
    auto held = adapter.reserve({"in"}, 3, 0ms);
    REQUIRE(held.size() == 3);
    const auto outcomes = acknowledge(adapter, {&held[0], &held[1], &held[1], &held[2]});
    CHECK_FALSE(outcomes[0]);
    CHECK_FALSE(outcomes[1]);
    CHECK(is_stale(outcomes[2]));
    CHECK_FALSE(outcomes[3]);
    CHECK(adapter.depth("in").total() == 0);
}

TEST_CASE("a batch of plain acknowledgements whose reply is lost is applied once and answers done") {
    rt::RedisServer server;
    rt::LosingProxy proxy(server.port());
    RedisAdapter adapter(plain_options(proxy.url()));
    push_jobs(adapter, "in", 5);
    auto held = adapter.reserve({"in"}, 5, 0ms);
    REQUIRE(held.size() == 5);
    proxy.lose_reply_to(held[2].message.id);
    const auto outcomes = acknowledge(adapter, pointers(held));
    CHECK(proxy.lost());
    for (const auto& outcome : outcomes) CHECK_FALSE(outcome);
    CHECK(adapter.depth("in").total() == 0);
}

TEST_CASE("plain acknowledgements of a channel whose stream was replaced by a string fail, and are not called stale") {
    const std::string prefix = rt::unique_prefix("plain");
    RedisAdapter adapter(plain_options(rt::test_redis_url(), prefix));
    const auto held = held_jobs(adapter, 3);
    const int port = rt::port_of(rt::test_redis_url());
    const std::string stream = "{" + prefix + "}:s:in";
    REQUIRE(rt::raw_command(port, {"DEL", stream}) == ":1");
    REQUIRE(rt::raw_command(port, {"SET", stream, "not a stream"}) == "+OK");
    check_failed_saying(acknowledge(adapter, pointers(held)), "WRONGTYPE");
    rt::raw_command(port, {"DEL", stream});
}

TEST_CASE("stream ids not spelt as Redis writes them are settled on their own and do not spoil the batch") {
    RedisAdapter adapter(plain_options(rt::test_redis_url()));
    push_jobs(adapter, "in", 4);
    auto held = adapter.reserve({"in"}, 4, 0ms);
    REQUIRE(held.size() == 4);
    // A receipt is "<stream id> <reserved ms> <message id>": the same entry with a leading zero, and
    // a sequence number past 2^64 - 1, between real ones.
    Delivery padded = held[1];
    padded.receipt = "0" + held[1].receipt;
    Delivery too_big = held[2];
    too_big.receipt = "5-99999999999999999999" + held[2].receipt.substr(held[2].receipt.find(' '));
    const auto outcomes = acknowledge(adapter, {&held[0], &padded, &too_big, &held[3]});
    CHECK_FALSE(outcomes[0]);
    CHECK_FALSE(outcomes[1]);  // Redis reads 01-... as the entry itself, as a settle of its own always did
    REQUIRE(outcomes[2]);
    CHECK_FALSE(is_stale(outcomes[2]));
    CHECK_FALSE(outcomes[3]);
    CHECK(adapter.depth("in").reserved == 1);  // held[2], whose receipt was spoilt, is still reserved
    for (const auto& outcome : acknowledge(adapter, {&held[2]})) CHECK_FALSE(outcome);
    CHECK(adapter.depth("in").total() == 0);
}

TEST_CASE("a batch whose connection breaks after its first call was answered sends only the calls not answered again") {
    rt::RedisServer server;
    rt::LosingProxy proxy(server.port());
    RedisAdapter adapter(plain_options(proxy.url()));
    constexpr std::size_t kCount = 600;  // two apply calls: 512 settles, then 88
    push_jobs(adapter, "in", static_cast<int>(kCount) + 1);
    std::vector<Delivery> held;
    for (int round = 0; round < 100 && held.size() < kCount + 1; ++round) {
        for (auto& delivery : adapter.reserve({"in"}, kCount + 1 - held.size(), 0ms)) held.push_back(std::move(delivery));
    }
    REQUIRE(held.size() == kCount + 1);
    for (const auto& outcome : acknowledge(adapter, {&held.back()})) REQUIRE_FALSE(outcome);  // the script is loaded
    held.pop_back();
    const auto calls_before = rt::command_calls(adapter, "evalsha");
    proxy.cut_after_first_reply_to(held.front().message.id);  // in the first call, before any reply
    const auto outcomes = acknowledge(adapter, pointers(held));
    // Two calls, then the one whose reply was cut, once more: the 512 settles answered are not sent again.
    CHECK(rt::command_calls(adapter, "evalsha") - calls_before == 3);
    CHECK(proxy.lost());
    for (const auto& outcome : outcomes) CHECK_FALSE(outcome);  // the second call, sent again, answers done
    CHECK(adapter.depth("in").total() == 0);
}

TEST_CASE("plain acknowledgements between retries in one batch are acknowledged together, and each still answers for itself") {
    rt::RedisServer server;
    RedisAdapter adapter(plain_options(server.url()));
    push_jobs(adapter, "in", 30);
    auto held = adapter.reserve({"in"}, 30, 0ms);
    REQUIRE(held.size() == 30);
    acknowledge(adapter, {&held[2]});  // settled already: stale in the batch below
    const std::vector<std::size_t> retried = {4, 11, 19};
    std::vector<Settlement> settlements(held.size());
    for (std::size_t i : retried) settlements[i].pushes.push_back({"in", held[i].message, failpipe::Seconds{0.0}});
    std::vector<RedisAdapter::SettleItem> items;
    for (std::size_t i = 0; i < held.size(); ++i) items.push_back({&held[i], &settlements[i]});
    const auto xack = rt::command_calls(adapter, "xack");
    const auto outcomes = adapter.settle_batch(items);
    REQUIRE(outcomes.size() == held.size());
    for (std::size_t i = 0; i < held.size(); ++i) {
        INFO("delivery " << i);
        if (i == 2) {
            CHECK(is_stale(outcomes[i]));
            continue;
        }
        CHECK_FALSE(outcomes[i]);
        const bool again = std::find(retried.begin(), retried.end(), i) != retried.end();
        CHECK(adapter.status(held[i].message.id).state == (again ? MessageState::ready : MessageState::not_found));
    }
    // The 26 plain ones in one XACK wherever they stand, one for each retry: 4, not 4 runs + 3.
    CHECK(rt::command_calls(adapter, "xack") - xack == 4);
    CHECK(adapter.depth("in").ready == 3);
    CHECK(adapter.depth("in").reserved == 0);
}

TEST_CASE("a plain acknowledgement whose message id is also pushed in the same batch keeps its turn") {
    RedisAdapter adapter(plain_options(rt::test_redis_url()));
    push_jobs(adapter, "in", 4);
    auto held = adapter.reserve({"in"}, 4, 0ms);
    REQUIRE(held.size() == 4);
    // Delivery 0 sends delivery 3's message again; delivery 3 is acknowledged after it: the index
    // must end pointing at the new entry, as if each ran in its turn.
    std::vector<Settlement> settlements(4);
    settlements[0].pushes.push_back({"in", held[3].message, failpipe::Seconds{0.0}});
    std::vector<RedisAdapter::SettleItem> items;
    for (std::size_t i = 0; i < 4; ++i) items.push_back({&held[i], &settlements[i]});
    for (const auto& outcome : adapter.settle_batch(items)) CHECK_FALSE(outcome);
    CHECK(adapter.status(held[3].message.id).state == MessageState::ready);
    CHECK(adapter.status(held[1].message.id).state == MessageState::not_found);
    CHECK(adapter.depth("in").ready == 1);
    auto again = adapter.reserve({"in"}, 4, 0ms);
    REQUIRE(again.size() == 1);
    CHECK(again[0].message.id == held[3].message.id);
}

TEST_CASE("plain acknowledgements of messages whose ids hold spaces, colons, control bytes and quotes settle and leave no index entry") {
    RedisAdapter adapter(plain_options(rt::test_redis_url()));
    const std::vector<std::string> ids{"a b", "x:y:1", std::string("nul\0\x1f", 5), "line\nbreak", "\"quoted\" \\", "7-1"};
    std::vector<failpipe::OutgoingMessage> batch;
    for (const auto& id : ids) {
        Message message = Message::create("job", 1);
        message.id = id;
        batch.push_back({"in", message, failpipe::Seconds{0.0}});
    }
    adapter.push_batch(std::move(batch));
    auto held = adapter.reserve({"in"}, ids.size(), 0ms);
    REQUIRE(held.size() == ids.size());
    for (const auto& outcome : acknowledge(adapter, pointers(held))) CHECK_FALSE(outcome);
    for (const auto& id : ids) CHECK(adapter.status(id).state == MessageState::not_found);
    CHECK(adapter.depth("in").total() == 0);
}

TEST_CASE("a batch of 512 plain acknowledgements, as many as one call carries, is one XACK and each answers for itself") {
    rt::RedisServer server;
    RedisAdapter adapter(plain_options(server.url()));
    constexpr std::size_t kCount = 512;
    push_jobs(adapter, "in", static_cast<int>(kCount));
    std::vector<Delivery> held;
    for (int round = 0; round < 100 && held.size() < kCount; ++round) {
        for (auto& delivery : adapter.reserve({"in"}, kCount - held.size(), 0ms)) held.push_back(std::move(delivery));
    }
    REQUIRE(held.size() == kCount);
    acknowledge(adapter, {&held[0], &held[kCount - 1]});  // settled already: stale below
    const auto xack = rt::command_calls(adapter, "xack"), evalsha = rt::command_calls(adapter, "evalsha");
    const auto outcomes = acknowledge(adapter, pointers(held));
    REQUIRE(outcomes.size() == kCount);
    for (std::size_t i = 0; i < kCount; ++i) {
        INFO("delivery " << i);
        if (i == 0 || i == kCount - 1) {
            CHECK(is_stale(outcomes[i]));
        } else {
            CHECK_FALSE(outcomes[i]);
        }
    }
    CHECK(rt::command_calls(adapter, "evalsha") - evalsha == 1);
    CHECK(rt::command_calls(adapter, "xack") - xack == 1);
    CHECK(adapter.depth("in").total() == 0);
}

TEST_CASE("plain and pushing settles of two channels in one batch each answer for themselves") {
    RedisAdapter adapter(plain_options(rt::test_redis_url()));
    push_jobs(adapter, "a", 6);
    push_jobs(adapter, "b", 6);
    auto held = adapter.reserve({"a", "b"}, 12, 0ms);
    REQUIRE(held.size() == 12);
    std::vector<std::size_t> of_a, of_b;
    for (std::size_t i = 0; i < held.size(); ++i) (held[i].channel == "a" ? of_a : of_b).push_back(i);
    REQUIRE(of_a.size() == 6);
    REQUIRE(of_b.size() == 6);
    const std::size_t stale = of_b[2];
    acknowledge(adapter, {&held[stale]});
    // Interleaved: a retry on a, a dead letter on b, the rest plain.
    std::vector<Settlement> settlements(held.size());
    settlements[of_a[1]].pushes.push_back({"a", held[of_a[1]].message, failpipe::Seconds{0.0}});
    settlements[of_b[4]].pushes.push_back({"b:dlq", held[of_b[4]].message, failpipe::Seconds{0.0}});
    std::vector<RedisAdapter::SettleItem> items;
    for (std::size_t k = 0; k < 6; ++k) {
        items.push_back({&held[of_b[k]], &settlements[of_b[k]]});
        items.push_back({&held[of_a[k]], &settlements[of_a[k]]});
    }
    const auto outcomes = adapter.settle_batch(items);
    REQUIRE(outcomes.size() == items.size());
    for (std::size_t k = 0; k < items.size(); ++k) {
        INFO("item " << k);
        if (items[k].delivery == &held[stale]) {
            CHECK(is_stale(outcomes[k]));
        } else {
            CHECK_FALSE(outcomes[k]);
        }
    }
    CHECK(adapter.status(held[of_a[1]].message.id).state == MessageState::ready);
    CHECK(adapter.status(held[of_b[4]].message.id).channel == "b:dlq");
    CHECK(adapter.status(held[of_a[0]].message.id).state == MessageState::not_found);
    CHECK(adapter.status(held[of_b[5]].message.id).state == MessageState::not_found);
    CHECK(adapter.depth("a").ready == 1);
    CHECK(adapter.depth("a").reserved == 0);
    CHECK(adapter.depth("b").total() == 0);
    CHECK(adapter.depth("b:dlq").total() == 1);
}

TEST_CASE("an empty batch of settles sends nothing and answers nothing") {
    rt::RedisServer server;
    RedisAdapter adapter(plain_options(server.url()));
    const auto evalsha = rt::command_calls(adapter, "evalsha");
    CHECK(adapter.settle_batch({}).empty());
    CHECK(rt::command_calls(adapter, "evalsha") == evalsha);
}

TEST_CASE("plain acknowledgements with the index key of the wrong type fail with nothing changed, the deliveries still held") {
    const std::string prefix = rt::unique_prefix("plain");
    RedisAdapter adapter(plain_options(rt::test_redis_url(), prefix));
    const auto held = held_jobs(adapter, 4);
    const int port = rt::port_of(rt::test_redis_url());
    const std::string index = "{" + prefix + "}:idx", kept = index + ":kept";
    REQUIRE(rt::raw_command(port, {"RENAME", index, kept}) == "+OK");
    REQUIRE(rt::raw_command(port, {"SET", index, "not a hash"}) == "+OK");
    // Three packed into one operation, and the same delivery twice (settled each on its own).
    const auto outcomes = acknowledge(adapter, {&held[0], &held[1], &held[2], &held[3], &held[3]});
    REQUIRE(rt::raw_command(port, {"DEL", index}) == ":1");
    REQUIRE(rt::raw_command(port, {"RENAME", kept, index}) == "+OK");
    check_failed_saying(outcomes, "nothing was changed");
    CHECK(adapter.depth("in").reserved == 4);
    for (const auto& d : held) CHECK(adapter.status(d.message.id).state == MessageState::reserved);
    // Nothing was acknowledged, so the same settles go through now.
    for (const auto& outcome : acknowledge(adapter, pointers(held))) CHECK_FALSE(outcome);
    CHECK(adapter.depth("in").total() == 0);
}
