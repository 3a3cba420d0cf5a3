// Regression tests of the Redis adapter's review fixes: pipelines on pooled connections, OOM, push
// de-duplication, settles that fail half-way, huge timeouts, big browses, URLs, prefixes and ids.
#include <doctest/doctest.h>

#include <set>

#include "redis_test_support.hpp"

using namespace std::chrono_literals;
using failpipe::ConnectionError;
using failpipe::InvalidArgumentError;
using failpipe::Message;
using failpipe::MessageState;
using failpipe::OutgoingMessage;
using failpipe::ProtocolError;
using failpipe::RedisAdapter;
using failpipe::Seconds;
using failpipe::Settlement;
namespace rt = failpipe::redis_test;

namespace {

Message job(nlohmann::json data, std::string id = {}) {
    Message message = Message::create("job", std::move(data));
    message.id = std::move(id);
    return message;
}

RedisAdapter::Options options_for(const std::string& url, const std::string& prefix = rt::unique_prefix()) {
    RedisAdapter::Options options;
    options.url = url;
    options.key_prefix = prefix;
    options.connect_timeout = Seconds{1.0};
    options.command_timeout = Seconds{3.0};
    return options;
}

template <class F>
std::string error_of(F&& f) {
    try {
        f();
    } catch (const std::exception& e) {
        return e.what();
    }
    return {};
}

}  // namespace

TEST_CASE("review: an error reply part-way through a pipeline does not pair later replies with the wrong command") {
    rt::RedisServer server;
    auto options = options_for(server.url());
    options.pool_size = 1;  // every pooled call uses the same connection
    RedisAdapter adapter(options);
    adapter.push("c", job(1, "m1"));
    REQUIRE(adapter.depth("c").ready == 1);  // the pooled connection has answered
    REQUIRE(rt::raw_command(server.port(), {"CONFIG", "SET", "maxmemory", "1"}) == "+OK");
    std::vector<OutgoingMessage> batch;
    for (int i = 0; i < 1500; ++i) batch.push_back({"c", job(i), Seconds{0.0}});  // three pipelined chunks
    // The connections the adapter holds, plus the one asking.
    const auto clients = [&] {
        return rt::raw_command(server.port(), {"EVAL",
                                               "#!lua flags=no-writes\nreturn tonumber(string.match("
                                               "redis.call('INFO', 'clients'), 'connected_clients:(%d+)'))",
                                               "0"});
    };
    const std::string before = clients();
    CHECK_THROWS_AS(adapter.push_batch(batch), ConnectionError);
    // The adapter dropped the connection; the server handles what it had already read from it (the
    // later chunks, refused while memory is full) before it sees the close. Only then lift the limit.
    for (int i = 0; i < 500 && clients() == before; ++i) std::this_thread::sleep_for(10ms);
    REQUIRE(clients() != before);
    REQUIRE(rt::raw_command(server.port(), {"CONFIG", "SET", "maxmemory", "0"}) == "+OK");
    for (int k = 0; k < 4; ++k) {
        CAPTURE(k);
        const auto depth = adapter.depth("c");
        CHECK(depth.ready == 1);
        CHECK(depth.delayed == 0);
        CHECK(depth.reserved == 0);
        const auto status = adapter.status("m1");
        CHECK(status.state == MessageState::ready);
        CHECK(status.channel == "c");
        CHECK(adapter.channels() == std::vector<std::string>{"c"});
    }
}

TEST_CASE("review: a READONLY reply (replica of a dead master) is not resent and leaves nothing unread") {
    rt::RedisServer server;
    auto options = options_for(server.url());
    options.pool_size = 1;
    RedisAdapter adapter(options);
    adapter.push("c", job(1, "m1"));
    REQUIRE(adapter.depth("c").ready == 1);
    REQUIRE(rt::raw_command(server.port(), {"REPLICAOF", "127.0.0.1", std::to_string(rt::free_port())}) == "+OK");
    std::vector<OutgoingMessage> batch;
    for (int i = 0; i < 1100; ++i) batch.push_back({"c", job(i), Seconds{0.0}});
    const std::string what = error_of([&] { adapter.push_batch(batch); });
    CHECK(what.find("READONLY") != std::string::npos);
    CHECK_THROWS_AS(adapter.push("c", job(2)), ConnectionError);
    CHECK(adapter.depth("c").ready == 1);  // a reader still answers on a replica (no-writes)
    REQUIRE(rt::raw_command(server.port(), {"REPLICAOF", "NO", "ONE"}) == "+OK");
    for (int k = 0; k < 3; ++k) {
        CHECK(adapter.depth("c").ready == 1);
        CHECK(adapter.status("m1").state == MessageState::ready);
    }
    adapter.push("c", job(3, "m3"));
    CHECK(adapter.depth("c").ready == 2);
}

TEST_CASE("review: under OOM with noeviction, reserved deliveries settle and drain, and pushes are refused clearly") {
    rt::RedisServer server;
    RedisAdapter adapter(options_for(server.url()));
    for (int i = 0; i < 5; ++i) adapter.push("c", job(i));
    auto held = adapter.reserve({"c"}, 3, 0ms);
    REQUIRE(held.size() == 3);
    REQUIRE(rt::raw_command(server.port(), {"CONFIG", "SET", "maxmemory-policy", "noeviction"}) == "+OK");
    REQUIRE(rt::raw_command(server.port(), {"CONFIG", "SET", "maxmemory", "1"}) == "+OK");

    adapter.settle(held[0], Settlement{});
    Settlement to_dlq;
    to_dlq.pushes.push_back(OutgoingMessage{"c:dlq", held[1].message, Seconds{0.0}});
    adapter.settle(held[1], std::move(to_dlq));
    std::vector<Settlement> settlements(1);
    auto outcomes = adapter.settle_batch({{&held[2], &settlements[0]}});
    REQUIRE(outcomes.size() == 1);
    CHECK_FALSE(outcomes[0]);

    const std::string refused = error_of([&] { adapter.push("c", job(9)); });
    CHECK(refused.find("OOM") != std::string::npos);
    CHECK(refused.find("maxmemory") != std::string::npos);
    CHECK_THROWS_AS(adapter.push("c", job(9)), ConnectionError);
    CHECK_THROWS_AS(adapter.push_batch({{"c", job(10), Seconds{0.0}}}), ConnectionError);

    // Readers answer, and consumers drain the rest.
    auto depth = adapter.depth("c");
    CHECK(depth.ready == 2);
    CHECK(depth.reserved == 0);
    auto rest = adapter.reserve({"c"}, 5, 0ms);
    CHECK(rest.size() == 2);
    for (auto& delivery : rest) adapter.settle(delivery, Settlement{});
    CHECK(adapter.depth("c").total() == 0);

    REQUIRE(rt::raw_command(server.port(), {"CONFIG", "SET", "maxmemory", "0"}) == "+OK");
    CHECK(adapter.depth("c").total() == 0);
    CHECK(adapter.depth("c:dlq").ready == 1);
    adapter.push("c", job(11));
    CHECK(adapter.depth("c").ready == 1);
}

TEST_CASE("review: a push resent after a dropped connection lands even when its id exists in another channel") {
    rt::RedisServer server;
    RedisAdapter adapter(options_for(server.url()));
    adapter.push("orders:dlq", job(1, "dup-1"));  // the writer's connection has answered
    REQUIRE(rt::raw_command(server.port(), {"CLIENT", "KILL", "TYPE", "normal"}).front() == ':');
    CHECK(adapter.push("orders", job(1, "dup-1")) == "dup-1");
    CHECK(adapter.depth("orders").ready == 1);
    CHECK(adapter.status("dup-1").channel == "orders");

    adapter.push("orders:dlq", job(2, "dup-2"));
    REQUIRE(adapter.depth("orders").ready == 1);  // a pooled connection has answered
    REQUIRE(rt::raw_command(server.port(), {"CLIENT", "KILL", "TYPE", "normal"}).front() == ':');
    auto ids = adapter.push_batch({{"orders", job(2, "dup-2"), Seconds{0.0}}});
    CHECK(ids == std::vector<std::string>{"dup-2"});
    CHECK(adapter.depth("orders").ready == 2);
    auto listed = adapter.browse("orders", 0, 10);
    std::set<std::string> names;
    for (const auto& message : listed) names.insert(message.id);
    CHECK(names == std::set<std::string>{"dup-1", "dup-2"});
}

TEST_CASE("review: a settle whose second push target has the wrong type changes nothing, and redelivery duplicates nothing") {
    const std::string prefix = rt::unique_prefix("halfway");
    auto adapter = rt::shared_server_adapter(Seconds{0.3}, prefix);
    const int port = rt::port_of(rt::test_redis_url());
    adapter->push("src", job(1, "h1"));
    auto held = adapter->reserve({"src"}, 1, 0ms);
    REQUIRE(held.size() == 1);
    const std::string bad_key = "{" + prefix + "}:s:bad";
    REQUIRE(rt::raw_command(port, {"SET", bad_key, "not a stream"}) == "+OK");

    Settlement settlement;
    settlement.pushes.push_back(OutgoingMessage{"good", job("first"), Seconds{0.0}});
    settlement.pushes.push_back(OutgoingMessage{"bad", job("second"), Seconds{0.0}});
    const std::string what = error_of([&] { adapter->settle(held[0], std::move(settlement)); });
    CHECK(what.find("nothing was changed") != std::string::npos);
    CHECK_THROWS_AS(adapter->settle(held[0], std::move(settlement)), ProtocolError);
    CHECK(adapter->status("h1").state == MessageState::reserved);
    CHECK(adapter->depth("good").total() == 0);
    REQUIRE(settlement.pushes.size() == 2);  // intact: may be sent again

    // Redelivered after the visibility timeout; the same settle fails the same way, adding nothing.
    std::vector<failpipe::Delivery> again;
    REQUIRE(rt::eventually([&] {
        again = adapter->reserve({"src"}, 1, 0ms);
        return !again.empty();
    }, 5s));
    CHECK(again[0].deliveries == 2);
    Settlement retry;
    retry.pushes.push_back(OutgoingMessage{"good", job("first"), Seconds{0.0}});
    retry.pushes.push_back(OutgoingMessage{"bad", job("second"), Seconds{0.0}});
    CHECK_THROWS_AS(adapter->settle(again[0], std::move(retry)), ProtocolError);
    CHECK(adapter->depth("good").total() == 0);

    REQUIRE(rt::raw_command(port, {"DEL", bad_key}) == ":1");
    adapter->settle(again[0], std::move(retry));
    CHECK(adapter->depth("good").ready == 1);
    CHECK(adapter->depth("bad").ready == 1);
    CHECK(adapter->depth("src").total() == 0);
}

TEST_CASE("review: timeouts above 1e9 seconds are refused, not overflowed") {
    for (double huge : {1e30, 1e10, 1e9 + 1.0}) {
        CAPTURE(huge);
        auto options = options_for("redis://127.0.0.1:1");
        options.visibility_timeout = Seconds{huge};
        CHECK_THROWS_AS(RedisAdapter{options}, InvalidArgumentError);
        options = options_for("redis://127.0.0.1:1");
        options.command_timeout = Seconds{huge};
        CHECK_THROWS_AS(RedisAdapter{options}, InvalidArgumentError);
        options = options_for("redis://127.0.0.1:1");
        options.connect_timeout = Seconds{huge};
        CHECK_THROWS_AS(RedisAdapter{options}, InvalidArgumentError);
    }
    // The largest allowed visibility timeout really is that long: a reserved message stays reserved.
    auto options = options_for(rt::test_redis_url());
    options.visibility_timeout = Seconds{1e9};
    RedisAdapter adapter(options);
    adapter.push("c", job(1, "vt"));
    REQUIRE(adapter.reserve({"c"}, 1, 0ms).size() == 1);
    CHECK(adapter.reclaim() == 0);
    CHECK(adapter.status("vt").state == MessageState::reserved);
}

TEST_CASE("review: browse lists 9,000 delayed messages") {
    auto adapter = rt::shared_server_adapter();
    std::vector<OutgoingMessage> batch;
    for (int i = 0; i < 9000; ++i) batch.push_back({"later", job(i), Seconds{3600.0}});
    adapter->push_batch(batch);
    CHECK(adapter->depth("later").delayed == 9000);
    CHECK(adapter->browse("later", 0, 10000).size() == 9000);
    CHECK(adapter->browse("later", 8990, 100).size() == 10);
    CHECK(adapter->browse("later", 1500, 2500).size() == 2500);
}

TEST_CASE("review: URL edge cases never echo a secret and bound the database") {
    for (const char* url : {"redis://user:s3cret", "redis://user:s3cret/0", "http://user:s3cret", "redis://user:s3cret?x"}) {
        CAPTURE(url);
        const std::string what = error_of([&] { RedisAdapter adapter(options_for(url)); });
        CHECK_FALSE(what.empty());
        CHECK(what.find("s3cret") == std::string::npos);
    }
    CHECK_THROWS_AS(RedisAdapter(options_for("redis://127.0.0.1:6379/2147483648")), InvalidArgumentError);
    CHECK_THROWS_AS(RedisAdapter(options_for("redis://127.0.0.1:6379/99999999999999999999")), InvalidArgumentError);
    RedisAdapter biggest(options_for("redis://127.0.0.1:6379/2147483647"));
    CHECK(biggest.endpoint() == "127.0.0.1:6379/2147483647");
    RedisAdapter plain(options_for("redis://127.0.0.1:6379/3"));
    CHECK(plain.options().url == "redis://127.0.0.1:6379/3");
}

TEST_CASE("review: AUTH and SELECT refused by the server are ProtocolErrors without the password") {
    rt::RedisServer server;
    const std::string host = "127.0.0.1:" + std::to_string(server.port());
    REQUIRE(rt::raw_command(server.port(), {"ACL", "SETUSER", "opener", "on", "nopass", "~*", "&*", "+@all"}) == "+OK");
    REQUIRE(rt::raw_command(server.port(), {"CONFIG", "SET", "requirepass", "s3cretpw"}) == "+OK");

    RedisAdapter wrong(options_for("redis://:wr0ngpw@" + host));
    std::string what = error_of([&] { wrong.ping(); });
    CHECK(what.find("AUTH") != std::string::npos);
    CHECK(what.find("wr0ngpw") == std::string::npos);
    CHECK_THROWS_AS(wrong.ping(), ProtocolError);
    CHECK_THROWS_AS(wrong.push("c", job(1)), ProtocolError);

    // user:@host sends AUTH user "" (refused for "default", accepted for a nopass user).
    RedisAdapter empty_default(options_for("redis://default:@" + host));
    CHECK_THROWS_AS(empty_default.ping(), ProtocolError);
    RedisAdapter opener(options_for("redis://opener:@" + host));
    CHECK_NOTHROW(opener.ping());

    RedisAdapter bad_db(options_for("redis://:s3cretpw@" + host + "/99999"));
    what = error_of([&] { bad_db.ping(); });
    CHECK(what.find("SELECT") != std::string::npos);
    CHECK(what.find("s3cretpw") == std::string::npos);
    CHECK_THROWS_AS(bad_db.depth("c"), ProtocolError);

    RedisAdapter right(options_for("redis://:s3cretpw@" + host + "/1"));
    right.push("c", job(1));
    CHECK(right.depth("c").ready == 1);
}

TEST_CASE("review: a key_prefix with braces is refused, a message id with \\x1f is kept intact") {
    for (const char* prefix : {"a{b", "a}b", "{x}"}) {
        CAPTURE(prefix);
        CHECK_THROWS_AS(RedisAdapter(options_for("redis://127.0.0.1:6379", prefix)), InvalidArgumentError);
    }
    auto adapter = rt::shared_server_adapter();
    // Once the separator of the old delayed-member encoding: now any byte of an id is kept.
    const std::string bad_id = std::string("a") + '\x1f' + "1";
    CHECK(adapter->push("c", job(1, bad_id), Seconds{0.2}) == bad_id);
    CHECK(adapter->push("c", job(2, bad_id), Seconds{0.2}) == bad_id);  // the same id twice while delayed
    CHECK(adapter->push_batch({{"c", job(3, bad_id), Seconds{0.0}}}) == std::vector<std::string>{bad_id});
    adapter->push("c", job(4, "fine"));
    std::vector<failpipe::Delivery> got;
    for (int round = 0; round < 100 && got.size() < 4; ++round) {
        for (auto& delivery : adapter->reserve({"c"}, 10, 50ms)) got.push_back(std::move(delivery));
    }
    REQUIRE(got.size() == 4);
    std::multiset<std::string> ids;
    for (const auto& delivery : got) ids.insert(delivery.message.id);
    CHECK(ids == std::multiset<std::string>{bad_id, bad_id, bad_id, "fine"});
    Settlement settlement;
    settlement.pushes.push_back(OutgoingMessage{"d", job(5, bad_id), Seconds{1.0}});
    adapter->settle(got[0], std::move(settlement));
    CHECK(adapter->status(bad_id).state == MessageState::delayed);
    CHECK(adapter->status(bad_id).channel == "d");
    CHECK(adapter->browse("d", 0, 10).at(0).id == bad_id);
    CHECK(adapter->remove("d", {bad_id}) == 1);
    CHECK(adapter->depth("d").total() == 0);
}

TEST_CASE("review: a stream entry trimmed outside the adapter is not reported as ready forever") {
    const std::string prefix = rt::unique_prefix("trim");
    auto adapter = rt::shared_server_adapter(Seconds{30.0}, prefix);
    const int port = rt::port_of(rt::test_redis_url());
    adapter->push("c", job(1, "w1"));
    adapter->push("c", job(2, "r1"));
    auto held = adapter->reserve({"c"}, 1, 0ms);
    REQUIRE(held.size() == 1);
    REQUIRE(held[0].message.id == "w1");
    REQUIRE(rt::raw_command(port, {"XTRIM", "{" + prefix + "}:s:c", "MAXLEN", "0"}).front() == ':');
    CHECK(adapter->status("r1").state == MessageState::not_found);
    adapter->release(held[0]);
    CHECK(adapter->status("w1").state == MessageState::not_found);
}
