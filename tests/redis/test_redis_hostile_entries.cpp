// Stream entries that another producer wrote with a plain XADD (missing fields, extra fields, a
// delivery count that is not a number, ids with any bytes), held by workers that die: nothing may
// be lost, and one bad entry may only ever affect itself. Issue 6, section 1, defects 1–4.
#include <doctest/doctest.h>

#include <map>
#include <set>

#include "failpipe/classifier.hpp"
#include "failpipe/failure_middleware_dispatcher.hpp"
#include "failpipe/metadata_keys.hpp"
#include "failpipe/worker.hpp"
#include "redis_test_support.hpp"

using namespace std::chrono_literals;
using failpipe::Delivery;
using failpipe::Message;
using failpipe::MessageState;
using failpipe::OutgoingMessage;
using failpipe::RedisAdapter;
using failpipe::Seconds;
using failpipe::Settlement;
namespace rt = failpipe::redis_test;

namespace {

using Fields = std::vector<std::pair<std::string, std::string>>;

/// A foreign producer's XADD to the stream of @p channel.
void xadd(const std::string& prefix, const std::string& channel, const Fields& fields) {
    std::vector<std::string> args{"XADD", "{" + prefix + "}:s:" + channel, "*"};
    for (const auto& [name, value] : fields) {
        args.push_back(name);
        args.push_back(value);
    }
    const std::string reply = rt::raw_command(rt::port_of(rt::test_redis_url()), args);
    REQUIRE(reply.substr(0, 1) == "$");  // a bulk string: the stream id
}

std::string message_bytes(const std::string& id, int data) {
    Message message = Message::create("job", data);
    message.id = id;
    return failpipe::encode_message(message);
}

std::vector<Delivery> reserve_all(RedisAdapter& adapter, const std::vector<std::string>& channels, std::size_t expected) {
    std::vector<Delivery> got;
    for (int round = 0; round < 100 && got.size() < expected; ++round) {
        for (auto& delivery : adapter.reserve(channels, 100, 20ms)) got.push_back(std::move(delivery));
    }
    return got;
}

std::map<std::string, Delivery> by_id(std::vector<Delivery> deliveries) {
    std::map<std::string, Delivery> out;
    for (auto& delivery : deliveries) {
        const std::string id = delivery.message.id;
        CHECK_MESSAGE(out.count(id) == 0, "two deliveries of " << id);
        out.emplace(id, std::move(delivery));
    }
    return out;
}

std::set<std::string> keys_of(const std::map<std::string, Delivery>& deliveries) {
    std::set<std::string> keys;
    for (const auto& [id, delivery] : deliveries) keys.insert(id);
    return keys;
}

failpipe::Worker make_worker(std::shared_ptr<RedisAdapter> adapter, std::vector<std::string> channels,
                             std::uint32_t max_deliveries = 10) {
    failpipe::WorkerOptions options;
    options.channels = std::move(channels);
    options.max_deliveries = max_deliveries;
    options.wait = 0ms;
    return failpipe::Worker(std::move(adapter), failpipe::FailureMiddlewareDispatcher(failpipe::FailureMiddlewareDispatcher::Options{}), failpipe::Classifier{}, options);
}

const std::string kSeparatorId = std::string("sep") + '\x1f' + "id";

/// Every shape of entry a foreign producer can write to @p channel (7 entries).
void write_every_shape(const std::string& prefix, const std::string& channel) {
    xadd(prefix, channel, {{"x", "1"}});                                                       // neither i nor b
    xadd(prefix, channel, {{"i", "only-i"}, {"order", "42"}});                                // no b
    xadd(prefix, channel, {{"b", message_bytes("", 3)}});                                     // no i
    xadd(prefix, channel, {{"i", "extra"}, {"b", message_bytes("extra", 4)}, {"extra", "yes"}});
    xadd(prefix, channel, {{"i", "bad-n"}, {"b", message_bytes("bad-n", 5)}, {"n", "abc"}});
    xadd(prefix, channel, {{"i", "bad-bytes"}, {"b", "not json"}, {"z", std::string("\xff\xfe")}});
    xadd(prefix, channel, {{"i", kSeparatorId}, {"b", message_bytes(kSeparatorId, 7)}});
}

}  // namespace

TEST_CASE("hostile entries: every shape a foreign producer writes survives a dead worker, release, browse and status") {
    const std::string prefix = rt::unique_prefix("shape");
    auto adapter = rt::shared_server_adapter(Seconds{0.3}, prefix);
    write_every_shape(prefix, "h");

    // A worker reserves all of them and dies.
    const auto first = by_id(reserve_all(*adapter, {"h"}, 7));
    REQUIRE(first.size() == 7);
    for (const auto& [id, delivery] : first) {
        CAPTURE(id);
        CHECK(delivery.deliveries == 1);
    }
    CHECK(first.at("only-i").poisoned());
    CHECK(first.at("bad-bytes").poisoned());
    CHECK_FALSE(first.at("extra").poisoned());
    CHECK_FALSE(first.at(kSeparatorId).poisoned());
    std::this_thread::sleep_for(400ms);
    CHECK(adapter->reclaim() == 7);  // every one given back: none acknowledged and lost

    // They come back with the same ids, counted.
    const auto second = by_id(reserve_all(*adapter, {"h"}, 7));
    CHECK(keys_of(second) == keys_of(first));
    for (const auto& [id, delivery] : second) {
        CAPTURE(id);
        CHECK(delivery.deliveries == 2);
        CHECK(delivery.poisoned() == first.at(id).poisoned());
        CHECK(delivery.raw == first.at(id).raw);
        CHECK(adapter->status(id).state == MessageState::reserved);
    }

    // Released (some at once, some later): not counted, still every field, listed by browse.
    int k = 0;
    for (const auto& [id, delivery] : second) adapter->release(delivery, Seconds{k++ % 2 == 0 ? 0.0 : 0.2});
    const auto listed = adapter->browse("h", 0, 100);
    std::set<std::string> listed_ids;
    for (const auto& message : listed) listed_ids.insert(message.id);
    CHECK(listed_ids == keys_of(first));
    for (const auto& [id, delivery] : second) {
        CAPTURE(id);
        CHECK(adapter->status(id).channel == "h");
        CHECK(adapter->status(id).state != MessageState::not_found);
    }
    const auto third = by_id(reserve_all(*adapter, {"h"}, 7));
    CHECK(keys_of(third) == keys_of(first));
    for (const auto& [id, delivery] : third) {
        CAPTURE(id);
        CHECK(delivery.deliveries == 2);
        CHECK(delivery.raw == first.at(id).raw);
    }
    for (const auto& [id, delivery] : third) adapter->release(delivery);

    // A worker whose handler always fails: everything ends in the dead letters, with its id.
    int runs = 0;
    auto worker = make_worker(adapter, {"h"});
    worker.on("job", [&](const Message&, failpipe::HandlerContext&) {
        ++runs;
        throw failpipe::PermanentError("no");
    });
    CHECK(worker.run_until_idle(100) == 7);
    CHECK(runs == 4);  // the three without a message (no b, bad bytes) never reach the handler
    CHECK(adapter->depth("h").total() == 0);
    const auto dead = adapter->browse("h:dlq", 0, 100);
    std::set<std::string> dead_ids;
    for (const auto& message : dead) dead_ids.insert(message.id);
    CHECK(dead_ids == keys_of(first));
    // And they can be removed from there by those ids.
    std::vector<std::string> ids(dead_ids.begin(), dead_ids.end());
    CHECK(adapter->remove("h:dlq", ids) == 7);
    CHECK(adapter->depth("h:dlq").total() == 0);
}

TEST_CASE("hostile entries: an entry of 5,000 fields (too wide for one XADD from a script) survives reclaim and release") {
    const std::string prefix = rt::unique_prefix("wide");
    auto adapter = rt::shared_server_adapter(Seconds{0.3}, prefix);
    Fields wide{{"i", "wide"}};
    for (int k = 0; k < 5000; ++k) wide.emplace_back("f" + std::to_string(k), std::to_string(k));
    xadd(prefix, "w", wide);
    xadd(prefix, "w", Fields(wide.begin() + 1, wide.end()));  // and one without an id
    const auto first = by_id(reserve_all(*adapter, {"w"}, 2));
    REQUIRE(first.size() == 2);
    for (const auto& [id, delivery] : first) CHECK(delivery.poisoned());
    std::this_thread::sleep_for(400ms);
    CHECK(adapter->reclaim() == 2);
    const auto second = by_id(reserve_all(*adapter, {"w"}, 2));
    REQUIRE(keys_of(second) == keys_of(first));
    for (const auto& [id, delivery] : second) {
        CAPTURE(id);
        CHECK(delivery.deliveries == 2);
        CHECK(delivery.raw == first.at(id).raw);
        adapter->release(delivery, Seconds{0.05});
    }
    const auto third = by_id(reserve_all(*adapter, {"w"}, 2));
    REQUIRE(keys_of(third) == keys_of(first));
    for (const auto& [id, delivery] : third) {
        CAPTURE(id);
        CHECK(delivery.raw == first.at(id).raw);
    }
    CHECK(first.at("wide").raw.find(R"(["f4999","4999"])") != std::string::npos);
    for (const auto& [id, delivery] : third) adapter->settle(delivery, Settlement{});
}

TEST_CASE("hostile entries: foreign entries that kill their workers reach max-deliveries with their ids, and status knows them") {
    const std::string prefix = rt::unique_prefix("maxd");
    auto adapter = rt::shared_server_adapter(Seconds{0.3}, prefix);
    xadd(prefix, "m", {{"b", message_bytes("", 1)}, {"extra", "1"}});  // no i
    xadd(prefix, "m", {{"i", "with-extra"}, {"b", message_bytes("with-extra", 2)}, {"extra", "2"}});
    const auto listed = adapter->browse("m", 0, 10);
    REQUIRE(listed.size() == 2);
    const std::string derived = listed[0].id;
    CHECK(derived.rfind("stream-", 0) == 0);
    for (int round = 0; round < 2; ++round) {  // two workers take them and vanish
        const auto held = by_id(reserve_all(*adapter, {"m"}, 2));
        REQUIRE(keys_of(held) == std::set<std::string>{derived, "with-extra"});
        CHECK(adapter->status(derived).state == MessageState::reserved);  // known by its stream id
        CHECK(adapter->status(derived).channel == "m");
        std::this_thread::sleep_for(400ms);
        CHECK(adapter->reclaim() == 2);
        CHECK(adapter->status(derived).state == MessageState::ready);
    }
    int runs = 0;
    auto worker = make_worker(adapter, {"m"}, 2);
    worker.on("job", [&](const Message&, failpipe::HandlerContext&) { ++runs; });
    CHECK(worker.run_until_idle(10) == 2);
    CHECK(runs == 0);
    const auto dead = adapter->browse("m:dlq", 0, 10);
    REQUIRE(dead.size() == 2);
    std::set<std::string> dead_ids;
    for (const auto& message : dead) {
        dead_ids.insert(message.id);
        CHECK(message.metadata[std::string(failpipe::metadata_keys::dead_letter)]["reason"] == "max-deliveries");
    }
    CHECK(dead_ids == std::set<std::string>{derived, "with-extra"});
    CHECK(adapter->depth("m").total() == 0);
    CHECK(adapter->status(derived).channel == "m:dlq");
}

TEST_CASE("hostile entries: an entry without 'b' is dead-lettered as poison with every field its producer wrote") {
    const std::string prefix = rt::unique_prefix("nob");
    auto adapter = rt::shared_server_adapter(Seconds{30.0}, prefix);
    xadd(prefix, "p", {{"i", "p1"}, {"order", "42"}, {"customer", "ann"}});
    xadd(prefix, "p", {{"order", "43"}, {"raw", std::string("\xff\x00\x01", 3)}});
    auto worker = make_worker(adapter, {"p"});
    CHECK(worker.run_until_idle(10) == 2);
    const auto dead = adapter->browse("p:dlq", 0, 10);
    REQUIRE(dead.size() == 2);
    const std::string key(failpipe::metadata_keys::dead_letter);
    CHECK(dead[0].id == "p1");
    CHECK(dead[0].data == R"([["i","p1"],["order","42"],["customer","ann"]])");
    CHECK(dead[0].metadata[key]["reason"] == "poison");
    CHECK(dead[0].metadata[key]["encoding"] == "utf-8");
    // No 'i': known by its stream id; bytes that are not UTF-8 are kept in base64.
    CHECK(dead[1].id.rfind("stream-", 0) == 0);
    CHECK(dead[1].data == R"([["order","43"],["raw",{"base64":"/wAB"}]])");
    CHECK(adapter->depth("p").total() == 0);
}

TEST_CASE("hostile entries: a delivery count that is not a number breaks neither reclaim nor a reserve of two channels") {
    const std::string prefix = rt::unique_prefix("badn");
    auto adapter = rt::shared_server_adapter(Seconds{0.3}, prefix);
    xadd(prefix, "a", {{"i", "first"}, {"b", message_bytes("first", 1)}, {"n", "not-a-number"}});
    std::set<std::string> pushed{"first"};
    for (int i = 0; i < 3; ++i) pushed.insert(adapter->push("a", Message::create("job", i)));
    xadd(prefix, "a", {{"i", "huge-n"}, {"b", message_bytes("huge-n", 1)}, {"n", "99999999999999999999999"}});
    pushed.insert("huge-n");
    // A worker takes all of them and dies: the entry with a bad count must not hold back the rest.
    REQUIRE(reserve_all(*adapter, {"a"}, 5).size() == 5);
    std::this_thread::sleep_for(400ms);
    CHECK(adapter->reclaim() == 5);
    const auto again = by_id(reserve_all(*adapter, {"a"}, 5));
    CHECK(keys_of(again) == pushed);
    CHECK(again.at("first").deliveries == 2);
    CHECK(again.at("huge-n").deliveries == UINT32_MAX);

    // Two channels in one reserve (the script path): a well-formed reply, both entries delivered.
    xadd(prefix, "c1", {{"i", "c1-bad"}, {"b", message_bytes("c1-bad", 1)}, {"n", "x"}});
    adapter->push("c2", Message::create("job", 2), Seconds{0.0});
    const auto both = by_id(reserve_all(*adapter, {"c1", "c2"}, 2));
    REQUIRE(both.size() == 2);
    CHECK(both.count("c1-bad") == 1);
    CHECK(both.at("c1-bad").deliveries == 1);
    for (const auto& [id, delivery] : both) adapter->settle(delivery, Settlement{});
    for (const auto& [id, delivery] : again) adapter->settle(delivery, Settlement{});
    CHECK(adapter->depth("a").total() == 0);
}

TEST_CASE("hostile entries: an id with \\x1f in a batch affects only itself: every item settles") {
    const std::string prefix = rt::unique_prefix("sep");
    auto adapter = rt::shared_server_adapter(Seconds{30.0}, prefix);
    xadd(prefix, "w", {{"i", kSeparatorId}, {"b", message_bytes(kSeparatorId, 0)}});
    for (int i = 1; i <= 5; ++i) adapter->push("w", Message::create("job", i));

    // The Worker settles the whole batch in one settle_batch: the bad-id one is dead-lettered.
    int handled = 0;
    auto worker = make_worker(adapter, {"w"});
    worker.on("job", [&](const Message& message, failpipe::HandlerContext&) {
        if (message.id == kSeparatorId) throw failpipe::PermanentError("bad id");
        ++handled;
    });
    CHECK(worker.run_until_idle(10) == 6);
    CHECK(handled == 5);
    CHECK(adapter->depth("w").total() == 0);
    const auto dead = adapter->browse("w:dlq", 0, 10);
    REQUIRE(dead.size() == 1);
    CHECK(dead[0].id == kSeparatorId);

    // settle_batch with a delayed retry of it, beside plain acknowledgements.
    const std::string again = adapter->push("w", dead[0]);
    CHECK(again == kSeparatorId);
    CHECK(adapter->remove("w:dlq", {kSeparatorId}) == 1);
    for (int i = 0; i < 3; ++i) adapter->push("w", Message::create("job", i));
    auto held = reserve_all(*adapter, {"w"}, 4);
    REQUIRE(held.size() == 4);
    std::vector<Settlement> settlements(held.size());
    std::vector<failpipe::SettleItem> items;
    for (std::size_t i = 0; i < held.size(); ++i) {
        if (held[i].message.id == kSeparatorId) {
            settlements[i].pushes.push_back(OutgoingMessage{"w", held[i].message, Seconds{0.2}});
        }
        items.push_back(failpipe::SettleItem{&held[i], &settlements[i]});
    }
    const auto outcomes = adapter->settle_batch(items);
    REQUIRE(outcomes.size() == 4);
    for (const auto& outcome : outcomes) CHECK(outcome == nullptr);
    CHECK(adapter->status(kSeparatorId).state == MessageState::delayed);
    const auto back = reserve_all(*adapter, {"w"}, 1);
    REQUIRE(back.size() == 1);
    CHECK(back[0].message.id == kSeparatorId);
    adapter->settle(back[0], Settlement{});
    CHECK(adapter->depth("w").total() == 0);
}

TEST_CASE("hostile entries: an id of any bytes works in push, settle, release, status, browse and remove") {
    auto adapter = rt::shared_server_adapter();
    const std::string id("a b\x00\x1f\xff:d5:x\n", 13);
    Message message = Message::create("job", 1);
    message.id = id;
    CHECK(adapter->push("q", message) == id);
    CHECK(adapter->status(id).state == MessageState::ready);
    auto held = reserve_all(*adapter, {"q"}, 1);
    REQUIRE(held.size() == 1);
    CHECK(held[0].message.id == id);
    CHECK(adapter->status(id).state == MessageState::reserved);
    adapter->release(held[0], Seconds{0.05});
    CHECK(adapter->status(id).state == MessageState::delayed);
    held = reserve_all(*adapter, {"q"}, 1);
    REQUIRE(held.size() == 1);
    CHECK(held[0].message.id == id);
    CHECK(held[0].deliveries == 1);
    Settlement retry;
    retry.pushes.push_back(OutgoingMessage{"q", held[0].message, Seconds{0.05}});
    adapter->settle(held[0], std::move(retry));
    held = reserve_all(*adapter, {"q"}, 1);
    REQUIRE(held.size() == 1);
    CHECK(held[0].message.id == id);
    Settlement dead;
    dead.pushes.push_back(OutgoingMessage{"q:dlq", held[0].message, Seconds{0.0}});
    adapter->settle(held[0], std::move(dead));
    CHECK(adapter->status(id).channel == "q:dlq");
    const auto listed = adapter->browse("q:dlq", 0, 10);
    REQUIRE(listed.size() == 1);
    CHECK(listed[0].id == id);
    CHECK(adapter->remove("q:dlq", {id}) == 1);
    CHECK(adapter->status(id).state == MessageState::not_found);
}

TEST_CASE("hostile entries: a delayed value written by hand is handed out as poison and stops nothing, and old values are read") {
    const std::string prefix = rt::unique_prefix("dval");
    auto adapter = rt::shared_server_adapter(Seconds{30.0}, prefix);
    const int port = rt::port_of(rt::test_redis_url());
    adapter->push("d", Message::create("job", 1), Seconds{0.05});
    for (const std::string& value : {std::string("garbage"), std::string("F12:x"), std::string("F1:i")}) {
        const std::string member = "hand-" + value;
        REQUIRE(rt::raw_command(port, {"ZADD", "{" + prefix + "}:d:d", "0", member}) == ":1");
        REQUIRE(rt::raw_command(port, {"HSET", "{" + prefix + "}:b:d", member, value}) == ":1");
    }
    // A value as versions before this one wrote it: "<n>:<bytes>", the id in the member.
    REQUIRE(rt::raw_command(port, {"ZADD", "{" + prefix + "}:d:d", "0", "old-format"}) == ":1");
    REQUIRE(rt::raw_command(port, {"HSET", "{" + prefix + "}:b:d", "old-format", "2:" + message_bytes("old-format", 9)}) == ":1");
    const auto listed = adapter->browse("d", 0, 10);
    CHECK(listed.size() == 5);
    std::this_thread::sleep_for(60ms);
    const auto got = by_id(reserve_all(*adapter, {"d"}, 5));
    REQUIRE(got.size() == 5);
    CHECK_FALSE(got.at("old-format").poisoned());
    CHECK(got.at("old-format").deliveries == 3);
    CHECK(got.at("hand-garbage").poisoned());
    CHECK(got.at("hand-garbage").raw == "garbage");
    CHECK(got.at("hand-F12:x").raw == "F12:x");
    CHECK(got.at("hand-F1:i").raw == "F1:i");
    for (const auto& [id, delivery] : got) adapter->settle(delivery, Settlement{});
    CHECK(adapter->depth("d").total() == 0);
}

TEST_CASE("hostile entries: one item that is not a Redis delivery is that item's result, not the batch's") {
    auto adapter = rt::shared_server_adapter();
    for (int i = 0; i < 3; ++i) adapter->push("x", Message::create("job", i));
    auto held = reserve_all(*adapter, {"x"}, 3);
    REQUIRE(held.size() == 3);
    Delivery foreign = held[1];
    foreign.receipt = "not a receipt";
    std::vector<Settlement> settlements(3);
    std::vector<failpipe::SettleItem> items{{&held[0], &settlements[0]}, {&foreign, &settlements[1]}, {&held[2], &settlements[2]}};
    const auto outcomes = adapter->settle_batch(items);
    REQUIRE(outcomes.size() == 3);
    CHECK(outcomes[0] == nullptr);
    CHECK(outcomes[1] != nullptr);
    CHECK_THROWS_AS(std::rethrow_exception(outcomes[1]), failpipe::InvalidArgumentError);
    CHECK(outcomes[2] == nullptr);
    CHECK(adapter->depth("x").reserved == 1);
    adapter->settle(held[1], Settlement{});
    CHECK(adapter->depth("x").total() == 0);
}

TEST_CASE("hostile entries: a foreign XADD bigger than maxMessageBytes ends in the dead letters with its bytes, no handler runs") {
    const std::string prefix = rt::unique_prefix("size");
    RedisAdapter::Options options;
    options.url = rt::test_redis_url();
    options.key_prefix = prefix;
    options.max_message_bytes = 1024;
    auto adapter = std::make_shared<RedisAdapter>(options);
    const std::string big = message_bytes("big-foreign", 0).insert(1, "\"pad\":\"" + std::string(4096, 'p') + "\",");
    xadd(prefix, "s", {{"i", "big-foreign"}, {"b", big}});
    xadd(prefix, "s", {{"i", "small"}, {"b", message_bytes("small", 1)}});
    CHECK_THROWS_WITH_AS(adapter->push("s", Message::create("job", std::string(2000, 'x'))),
                         doctest::Contains("bytes, more than maxMessageBytes 1024"), failpipe::InvalidArgumentError);
    auto worker = make_worker(adapter, {"s"});
    int runs = 0;
    worker.on("job", [&](const Message&, failpipe::HandlerContext&) { ++runs; });
    CHECK(worker.run_until_idle(10) == 2);
    CHECK(runs == 1);  // the small one only
    auto dead = adapter->browse("s:dlq", 0, 10);
    REQUIRE(dead.size() == 1);
    CHECK(dead[0].id == "big-foreign");
    CHECK(dead[0].data == big);
    const auto& record = dead[0].metadata.at(std::string(failpipe::metadata_keys::dead_letter));
    CHECK(record.at("reason") == "poison");
    CHECK(record.at("errorMessage").get<std::string>().find(std::to_string(big.size()) + " bytes, more than maxMessageBytes 1024") !=
          std::string::npos);
    CHECK(adapter->depth("s").total() == 0);
}
