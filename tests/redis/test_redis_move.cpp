// RedisAdapter::move beyond the conformance suite: a lost reply, a replay process killed half-way,
// a large move, entries of other producers, messages that change between the read and the move,
// and moves across shard groups (through the source group's outbox).
#include <doctest/doctest.h>

#include <map>
#include <set>
#include <string>
#include <vector>

#include "failpipe/redis/redis_adapter.hpp"
#include "move_outbox_test_support.hpp"
#include "redis_test_support.hpp"

using namespace std::chrono_literals;
using failpipe::Message;
using failpipe::MoveResult;
using failpipe::MoveSkipReason;
using failpipe::OutgoingMessage;
using failpipe::RedisAdapter;
using failpipe::Seconds;
namespace rt = failpipe::redis_test;

namespace {

Message dead_letter_job(int n, std::string id) {
    Message message = Message::create("job", {{"n", n}});
    message.id = std::move(id);
    message.metadata["failpipe-dead-letter"] = {{"reason", "failure"}};
    return message;
}

/// Pushes m-0 … m-(count-1) to @p channel in one batch.
void fill(RedisAdapter& adapter, const std::string& channel, int count) {
    std::vector<OutgoingMessage> batch;
    batch.reserve(static_cast<std::size_t>(count));
    for (int i = 0; i < count; ++i) batch.push_back(OutgoingMessage{channel, dead_letter_job(i, "m-" + std::to_string(i)), Seconds{0.0}});
    adapter.push_batch(std::move(batch));
}

std::vector<std::string> m_ids(int count) {
    std::vector<std::string> ids;
    for (int i = 0; i < count; ++i) ids.push_back("m-" + std::to_string(i));
    return ids;
}

/// How many times each id is waiting in @p channel.
std::map<std::string, int> census(RedisAdapter& adapter, const std::string& channel) {
    std::map<std::string, int> seen;
    for (const auto& message : adapter.browse(channel, 0, 1'000'000)) ++seen[message.id];
    return seen;
}

void replay_rewrite(Message& message) {
    message.metadata.erase("failpipe-dead-letter");
    message.metadata["replays"] = message.metadata.value("replays", 0) + 1;
}

}  // namespace

TEST_CASE("a move whose reply is lost is answered again from the server: each message moved once, and reported moved") {
    rt::RedisServer server;
    rt::LosingProxy proxy(server.port());
    RedisAdapter::Options options;
    options.url = proxy.url();
    options.key_prefix = rt::unique_prefix("move-lost");
    RedisAdapter adapter(options);
    fill(adapter, "dlq", 300);  // two script calls of the move: the reply of the second one is lost
    proxy.lose_reply_to("marker-move-reply-lost");
    const MoveResult result = adapter.move("dlq", "work", m_ids(300), [](Message& message) {
        replay_rewrite(message);
        if (message.id == "m-280") message.metadata["note"] = "marker-move-reply-lost";
    });
    CHECK(proxy.lost());
    CHECK(result.moved == m_ids(300));  // without the token the repeat would report 44 of them not-found
    CHECK(result.skipped.empty());
    const auto work = census(adapter, "work");
    CHECK(work.size() == 300);
    CHECK(std::all_of(work.begin(), work.end(), [](const auto& entry) { return entry.second == 1; }));
    CHECK(adapter.depth("dlq").total() == 0);

    // The caller's own repeat (say after a ConnectionError) finds nothing left to move.
    const MoveResult again = adapter.move("dlq", "work", m_ids(300), replay_rewrite);
    CHECK(again.moved.empty());
    CHECK(again.skipped.size() == 300);
    CHECK(again.skipped.front().reason == MoveSkipReason::not_found);
    CHECK(adapter.depth("work").ready == 300);
}

TEST_CASE("a replay process killed with SIGKILL half-way: every message is in exactly one of the two channels") {
    const std::string url = rt::test_redis_url();
    const std::string prefix = rt::unique_prefix("move-kill");
    auto adapter = rt::shared_server_adapter(Seconds{30.0}, prefix);
    constexpr int kCount = 10'000;
    fill(*adapter, "orders:dlq", kCount);

    const pid_t child = ::fork();
    REQUIRE(child >= 0);
    if (child == 0) {
        ::prctl(PR_SET_PDEATHSIG, SIGKILL);  // never outlive the test process
        ::execl(FAILPIPE_REDIS_MOVE_WORKER, FAILPIPE_REDIS_MOVE_WORKER, url.c_str(), prefix.c_str(), "orders:dlq", "orders",
                std::to_string(kCount).c_str(), static_cast<char*>(nullptr));
        ::_exit(127);
    }
    struct Reaper {  // the child dies with the test, whatever happens
        pid_t pid;
        ~Reaper() {
            if (pid <= 0) return;  // already reaped (kill(-1) would signal every process we may)
            ::kill(pid, SIGKILL);
            ::waitpid(pid, nullptr, 0);
        }
    } reaper{child};
    // Half-way: some chunks moved, many not yet.
    REQUIRE(rt::eventually([&] { return adapter->depth("orders").ready >= 1000; }, 30s));
    ::kill(child, SIGKILL);
    int status = 0;
    REQUIRE(::waitpid(child, &status, 0) == child);
    reaper.pid = -1;
    CHECK(WIFSIGNALED(status));

    auto moved = census(*adapter, "orders");
    auto left = census(*adapter, "orders:dlq");
    INFO("moved before the kill: " << moved.size());
    CHECK(moved.size() < static_cast<std::size_t>(kCount));  // it really died half-way
    CHECK(moved.size() + left.size() == static_cast<std::size_t>(kCount));
    for (const auto& id : m_ids(kCount)) {
        const int in_both = (moved.count(id) ? moved[id] : 0) + (left.count(id) ? left[id] : 0);
        if (in_both != 1) FAIL_CHECK(id << " is there " << in_both << " times");
    }
    for (const auto& message : adapter->browse("orders", 0, 5)) CHECK(message.metadata["replays"] == 1);

    // The replay run again finishes the job: what moved is skipped, nothing is moved twice.
    const MoveResult rest = adapter->move("orders:dlq", "orders", m_ids(kCount), replay_rewrite);
    CHECK(rest.moved.size() == left.size());
    CHECK(rest.skipped.size() == moved.size());
    const auto all = census(*adapter, "orders");
    CHECK(all.size() == static_cast<std::size_t>(kCount));
    CHECK(std::all_of(all.begin(), all.end(), [](const auto& entry) { return entry.second == 1; }));
    CHECK(adapter->depth("orders:dlq").total() == 0);
}

TEST_CASE("a move of 10,000 messages goes in short script calls and moves each one once, in order") {
    auto adapter = rt::shared_server_adapter(Seconds{30.0}, rt::unique_prefix("move-large"));
    constexpr int kCount = 10'000;
    fill(*adapter, "big:dlq", kCount);
    const auto before = adapter->stats().commands;
    const MoveResult result = adapter->move("big:dlq", "big", m_ids(kCount), replay_rewrite, Seconds{0.0});
    const auto calls = adapter->stats().commands - before;
    CHECK(result.moved == m_ids(kCount));
    CHECK(result.skipped.empty());
    // A read and a move per chunk of at most 256 messages: no single script holds Redis for long.
    CHECK(calls >= 2 * ((kCount + 255) / 256));
    CHECK(adapter->depth("big:dlq").total() == 0);
    CHECK(adapter->depth("big").ready == static_cast<std::size_t>(kCount));
    auto got = adapter->reserve({"big"}, 3, 0ms);
    REQUIRE(got.size() == 3);
    CHECK(got[0].message.id == "m-0");
    CHECK(got[2].message.id == "m-2");
    CHECK(got[0].message.metadata["replays"] == 1);
    CHECK_FALSE(got[0].message.metadata.contains("failpipe-dead-letter"));
}

TEST_CASE("move keeps every field of an entry written by another producer, and finds it behind thousands of others") {
    const std::string prefix = rt::unique_prefix("move-foreign");
    auto adapter = rt::shared_server_adapter(Seconds{30.0}, prefix);
    const int port = rt::port_of(rt::test_redis_url());
    fill(*adapter, "in", 2500);  // the scan for the foreign entries takes more than one step
    const std::string stream = "{" + prefix + "}:s:in";
    REQUIRE(rt::raw_command(port, {"XADD", stream, "*", "order", "42", "note", "\xff"}).rfind('$', 0) == 0);
    const std::string body = R"({"id":"x","handler":"job","data":{"n":-1},"metadata":{}})";
    REQUIRE(rt::raw_command(port, {"XADD", stream, "*", "i", "foreign-1", "b", body, "extra", "kept"}).rfind('$', 0) == 0);
    const auto tail = adapter->browse("in", 2500, 10);
    REQUIRE(tail.size() == 2);
    const std::string no_body = tail[0].id;  // stream-<stream id>
    CHECK(no_body.rfind("stream-", 0) == 0);
    CHECK(tail[1].id == "foreign-1");

    // With a rewrite: the entry without bytes cannot be rewritten; the other one can.
    const MoveResult rewritten = adapter->move("in", "out", {no_body, "foreign-1"}, replay_rewrite);
    CHECK(rewritten.moved == std::vector<std::string>{"foreign-1"});
    REQUIRE(rewritten.skipped.size() == 1);
    CHECK(rewritten.skipped[0].id == no_body);
    CHECK(rewritten.skipped[0].reason == MoveSkipReason::undecodable);
    // Without one, it moves as it is: a worker sees the same poison, with every field and its id.
    CHECK(adapter->move("in", "out", {no_body}).moved == std::vector<std::string>{no_body});
    CHECK(adapter->depth("in").ready == 2500);
    auto got = adapter->reserve({"out"}, 10, 0ms);
    REQUIRE(got.size() == 2);
    CHECK(got[0].message.id == "foreign-1");
    CHECK_FALSE(got[0].poisoned());
    CHECK(got[0].message.data == nlohmann::json{{"n", -1}});
    CHECK(got[0].message.metadata["replays"] == 1);
    CHECK(got[1].message.id == no_body);
    CHECK(got[1].poisoned());
    CHECK(got[1].raw == R"([["order","42"],["note",{"base64":"/w=="}]])");
    CHECK(adapter->status("foreign-1").channel == "out");
    // The producer's extra field travelled with the rewritten entry.
    CHECK(rt::raw_command(port, {"XLEN", "{" + prefix + "}:s:out"}) == ":2");
}

TEST_CASE("a message that changes between the read and the move is read again, never moved stale or twice") {
    const std::string prefix = rt::unique_prefix("move-cas");
    auto adapter = rt::shared_server_adapter(Seconds{30.0}, prefix);
    auto other = rt::shared_server_adapter(Seconds{30.0}, prefix);  // another process at work meanwhile
    adapter->push("dlq", dead_letter_job(1, "edited"), Seconds{600.0});
    adapter->push("dlq", dead_letter_job(2, "taken"));
    int rewrites = 0;
    std::vector<failpipe::Delivery> taken;
    const MoveResult result = adapter->move("dlq", "work", {"edited", "taken"}, [&](Message& message) {
        if (++rewrites == 1) {
            // Between this read and the move: an operator replaces the delayed one, a worker takes the other.
            CHECK(other->remove("dlq", {"edited"}) == 1);
            other->push("dlq", dead_letter_job(100, "edited"), Seconds{600.0});
            taken = other->reserve({"dlq"}, 1, 0ms);
        }
        replay_rewrite(message);
    });
    CHECK(result.moved == std::vector<std::string>{"edited"});
    REQUIRE(result.skipped.size() == 1);
    CHECK(result.skipped[0].id == "taken");
    CHECK(result.skipped[0].reason == MoveSkipReason::reserved);
    const auto work = adapter->browse("work", 0, 10);
    REQUIRE(work.size() == 1);
    CHECK(work[0].data == nlohmann::json{{"n", 100}});  // the new version, not the one first read
    REQUIRE(taken.size() == 1);
    CHECK(taken[0].message.id == "taken");
    other->settle(taken[0], failpipe::Settlement{});  // its worker still owns it
    CHECK(adapter->depth("dlq").total() == 0);
}

TEST_CASE("move across shard groups - dead letters go through the outbox: after one relay each is in the target once, "
          "none in the dead letters, the outbox empty") {
    failpipe::move_outbox_test::check_move_across_groups(
        failpipe::outbox_test::Place{rt::test_redis_url(), rt::unique_prefix("move-groups")});
}

TEST_CASE("move across shard groups - from a group the config does not name is refused, naming both channels and "
          "groups, nothing moved") {
    namespace ot = failpipe::outbox_test;
    auto adapter = ot::make_adapter(ot::Place{rt::test_redis_url(), rt::unique_prefix("move-groups-unnamed")}, /*relay=*/false);
    const std::string id = adapter->push("legacy:dlq", dead_letter_job(1, "old-1"));
    try {
        adapter->move("legacy:dlq", "payments", {id}, replay_rewrite);
        FAIL("a move out of a group no worker relays was accepted");
    } catch (const failpipe::InvalidArgumentError& e) {
        const std::string text = e.what();
        CHECK(text.find("\"legacy:dlq\" (shard group \"legacy\")") != std::string::npos);
        CHECK(text.find("\"payments\" (shard group \"payments\")") != std::string::npos);
        CHECK(text.find("no worker would relay it") != std::string::npos);
        CHECK(text.find("nothing was moved") != std::string::npos);
    }
    CHECK(adapter->status(id).channel == "legacy:dlq");
    CHECK(adapter->depth("legacy:dlq").ready == 1);
    // Within its group it still moves.
    CHECK(adapter->move("legacy:dlq", "legacy", {id}, replay_rewrite).moved == std::vector<std::string>{id});
}

TEST_CASE("move across shard groups - a chunk whose reply is lost writes each message once to the outbox, and the relay "
          "publishes each once") {
    namespace ot = failpipe::outbox_test;
    rt::LosingProxy proxy(rt::port_of(rt::test_redis_url()));
    auto adapter = ot::make_adapter(ot::Place{proxy.url(), rt::unique_prefix("move-groups-lost")}, /*relay=*/false);
    fill(*adapter, "orders:dlq", 300);  // two script calls of the move: the reply of the second one is lost
    proxy.lose_reply_to("marker-move-reply-lost");
    const MoveResult result = adapter->move("orders:dlq", "payments", m_ids(300), [](Message& message) {
        replay_rewrite(message);
        if (message.id == "m-280") message.metadata["note"] = "marker-move-reply-lost";
    });
    CHECK(proxy.lost());
    CHECK(result.moved == m_ids(300));  // the repeat was answered from its token
    CHECK(result.skipped.empty());
    CHECK(adapter->depth("orders:dlq").total() == 0);
    CHECK(ot::lag_of(*adapter, "orders").entries == 300);  // each written once

    CHECK(adapter->relay_outbox(1000) == 300);
    CHECK(adapter->relay_outbox(1000) == 0);
    CHECK(ot::lag_of(*adapter, "orders").entries == 0);
    const auto payments = census(*adapter, "payments");
    CHECK(payments.size() == 300);
    CHECK(std::all_of(payments.begin(), payments.end(), [](const auto& entry) { return entry.second == 1; }));
    CHECK(adapter->browse("payments", 280, 1).front().metadata["note"] == "marker-move-reply-lost");
}

TEST_CASE("move across shard groups - an entry of another producer with fields of its own is skipped undecodable and "
          "stays, the others move") {
    namespace ot = failpipe::outbox_test;
    const ot::Place where{rt::test_redis_url(), rt::unique_prefix("move-groups-foreign")};
    auto adapter = ot::make_adapter(where, /*relay=*/false);
    fill(*adapter, "orders:dlq", 2);
    const std::string stream = failpipe::shard_hash_tag(where.prefix, "orders") + ":s:orders:dlq";
    const std::string body = R"({"id":"x","handler":"job","data":{"n":-1},"metadata":{}})";
    REQUIRE(rt::raw_command(rt::port_of(where.url), {"XADD", stream, "*", "i", "foreign-1", "b", body, "extra", "kept"})
                .rfind('$', 0) == 0);
    const MoveResult result = adapter->move("orders:dlq", "payments", {"m-0", "foreign-1", "m-1"}, replay_rewrite);
    CHECK(result.moved == std::vector<std::string>{"m-0", "m-1"});
    REQUIRE(result.skipped.size() == 1);
    CHECK(result.skipped[0].id == "foreign-1");
    CHECK(result.skipped[0].reason == MoveSkipReason::undecodable);
    CHECK(result.skipped[0].detail.find("another shard group") != std::string::npos);
    CHECK(adapter->relay_outbox() == 2);
    CHECK(census(*adapter, "payments") == std::map<std::string, int>{{"m-0", 1}, {"m-1", 1}});
    // It stays as it was, every field kept: within its group it still moves whole.
    CHECK(census(*adapter, "orders:dlq") == std::map<std::string, int>{{"foreign-1", 1}});
    CHECK(adapter->move("orders:dlq", "orders", {"foreign-1"}).moved == std::vector<std::string>{"foreign-1"});
    CHECK(rt::raw_command(rt::port_of(where.url), {"XLEN", failpipe::shard_hash_tag(where.prefix, "orders") + ":s:orders"}) == ":1");
}
