// ACL users and AUTH through URL credentials on a real server (issue 6, section 2, item 5): a user
// with exactly the permissions docs/redis.md lists runs everything; a user denied one command gets
// a clear error naming it; a wrong password is refused clearly; no error ever shows the password.
#include <doctest/doctest.h>

#include <algorithm>

#include "redis_test_support.hpp"

using namespace std::chrono_literals;
using failpipe::Message;
using failpipe::MessageState;
using failpipe::OutgoingMessage;
using failpipe::ProtocolError;
using failpipe::RedisAdapter;
using failpipe::Seconds;
using failpipe::Settlement;
namespace rt = failpipe::redis_test;

namespace {

// What docs/redis.md ("ACL") says the adapter's user needs, as ACL SETUSER rules.
const std::vector<std::string> kDocumentedCommands = {
    // sent by the client
    "+ping", "+evalsha", "+script|load", "+xreadgroup", "+smembers", "+info", "+select",
    // run inside the adapter's scripts
    "+time", "+exists", "+type", "+del", "+set", "+incr", "+sadd", "+hget", "+hset", "+hdel", "+hmget", "+hscan",
    "+zadd", "+zrange", "+zrem", "+zscore", "+zcount", "+zcard", "+xadd", "+xrange", "+xack", "+xdel", "+xtrim",
    "+xlen", "+xpending", "+xgroup|create", "+xinfo|groups", "+xinfo|stream", "+xautoclaim"};

const std::string kPassword = "Pw-s3cr3t:@/%-never-shown";
const std::string kPasswordInUrl = "Pw-s3cr3t%3A%40%2F%25-never-shown";

/// An ACL user on the shared test server, deleted when the guard ends.
class AclUser {
public:
    explicit AclUser(const std::vector<std::string>& rules) : name_(rt::unique_prefix("acl")) {
        std::replace(name_.begin(), name_.end(), ':', '-');  // a ':' would end the user name in a URL
        std::vector<std::string> command{"ACL", "SETUSER", name_, "reset", "on", ">" + kPassword};
        command.insert(command.end(), rules.begin(), rules.end());
        REQUIRE(rt::raw_command(port(), command) == "+OK");
    }
    AclUser(const AclUser&) = delete;
    AclUser& operator=(const AclUser&) = delete;
    ~AclUser() { rt::raw_command(port(), {"ACL", "DELUSER", name_}); }

    const std::string& name() const noexcept { return name_; }
    std::string url(const std::string& password = kPasswordInUrl) const {
        return "redis://" + name_ + ":" + password + "@127.0.0.1:" + std::to_string(port());
    }
    static int port() { return rt::port_of(rt::test_redis_url()); }

private:
    std::string name_;
};

RedisAdapter::Options options_for(const std::string& url, const std::string& prefix) {
    RedisAdapter::Options options;
    options.url = url;
    options.key_prefix = prefix;
    options.connect_timeout = Seconds{1.0};
    options.command_timeout = Seconds{3.0};
    options.visibility_timeout = Seconds{0.3};
    return options;
}

std::vector<std::string> rules_for(const std::string& prefix, std::vector<std::string> commands) {
    std::vector<std::string> rules{"resetkeys", "~{" + prefix + "}:*", "-@all"};
    rules.insert(rules.end(), commands.begin(), commands.end());
    return rules;
}

std::vector<std::string> without(const std::string& denied) {
    std::vector<std::string> commands;
    for (const auto& command : kDocumentedCommands) {
        if (command != denied) commands.push_back(command);
    }
    return commands;
}

/// The text of the ProtocolError @p f throws (fails when it throws nothing, or something else).
template <class F>
std::string protocol_error_of(F&& f) {
    try {
        f();
    } catch (const ProtocolError& e) {
        return e.what();
    } catch (const std::exception& e) {
        FAIL("expected a ProtocolError, got: " << e.what());
    }
    FAIL("expected a ProtocolError, nothing was thrown");
    return {};
}

void check_clean(const std::string& error) {
    CAPTURE(error);
    CHECK(error.find("s3cr3t") == std::string::npos);
    CHECK(error.find("never-shown") == std::string::npos);
}

}  // namespace

TEST_CASE("acl: a user with exactly the documented commands and keys runs every operation") {
    const std::string prefix = rt::unique_prefix("acl-ok");
    AclUser user(rules_for(prefix, kDocumentedCommands));
    RedisAdapter adapter(options_for(user.url() + "/0", prefix));
    adapter.ping();
    const std::string a = adapter.push("a", Message::create("job", 1));
    adapter.push("a", Message::create("job", 2), Seconds{0.05});
    adapter.push_batch({OutgoingMessage{"b", Message::create("job", 3), Seconds{0.0}}});
    CHECK(adapter.status(a).state == MessageState::ready);
    CHECK(adapter.browse("a", 0, 10).size() == 2);
    std::vector<failpipe::Delivery> held;
    for (int round = 0; round < 40 && held.size() < 2; ++round) {
        for (auto& delivery : adapter.reserve({"a"}, 10, 50ms)) held.push_back(std::move(delivery));
    }
    REQUIRE(held.size() == 2);
    Settlement retry;
    retry.pushes.push_back(OutgoingMessage{"a:dlq", held[0].message, Seconds{0.0}});
    adapter.settle(held[0], std::move(retry));
    adapter.release(held[1], Seconds{0.05});
    auto both = adapter.reserve({"a", "b"}, 10, 200ms);
    for (int round = 0; round < 20 && both.size() < 2; ++round) {
        for (auto& delivery : adapter.reserve({"a", "b"}, 10, 50ms)) both.push_back(std::move(delivery));
    }
    REQUIRE(both.size() == 2);
    std::this_thread::sleep_for(400ms);  // their worker "died"
    CHECK(adapter.reclaim() == 2);
    CHECK(adapter.depth("a").ready + adapter.depth("b").ready == 2);
    const auto moved = adapter.move("a:dlq", "c", {a}, [](Message& m) { m.metadata["replays"] = 1; }, Seconds{0.05});
    CHECK(moved.moved == std::vector<std::string>{a});
    CHECK(adapter.move("c", "a:dlq", {a, "unknown"}).moved == std::vector<std::string>{a});
    CHECK(adapter.remove("a:dlq", {a}) == 1);
    CHECK(adapter.channels() == std::vector<std::string>{"a", "a:dlq", "b", "c"});
    CHECK_FALSE(adapter.info("server").empty());
    check_clean(adapter.options().url);
}

TEST_CASE("acl: a user denied a command the adapter sends gets an error naming it, without the password") {
    const std::string prefix = rt::unique_prefix("acl-deny");
    {
        AclUser user(rules_for(prefix, without("+evalsha")));
        RedisAdapter adapter(options_for(user.url(), prefix));
        const std::string error = protocol_error_of([&] { adapter.push("a", Message::create("job", 1)); });
        CAPTURE(error);
        CHECK(error.find("EVALSHA") != std::string::npos);
        CHECK(error.find("ACL") != std::string::npos);
        check_clean(error);
        check_clean(protocol_error_of([&] { adapter.reserve({"a"}, 1, 0ms); }));
    }
    {
        AclUser user(rules_for(prefix, without("+xreadgroup")));
        RedisAdapter adapter(options_for(user.url(), prefix));
        adapter.push("a", Message::create("job", 1));
        for (const std::vector<std::string>& channels : {std::vector<std::string>{"a"}, std::vector<std::string>{"a", "b"}}) {
            const std::string error = protocol_error_of([&] { adapter.reserve(channels, 1, 0ms); });
            CAPTURE(error);
            CHECK(error.find("XREADGROUP") != std::string::npos);
            check_clean(error);
        }
        CHECK(adapter.status(adapter.push("a", Message::create("job", 2))).state == MessageState::ready);
    }
}

TEST_CASE("acl: a command denied inside the adapter's scripts is named too, and nothing changes") {
    const std::string prefix = rt::unique_prefix("acl-script");
    AclUser full(rules_for(prefix, kDocumentedCommands));
    RedisAdapter owner(options_for(full.url(), prefix));
    owner.push("a", Message::create("job", 1));
    {
        AclUser user(rules_for(prefix, without("+xadd")));
        RedisAdapter adapter(options_for(user.url(), prefix));
        const std::string error = protocol_error_of([&] { adapter.push("a", Message::create("job", 2)); });
        CAPTURE(error);
        CHECK(error.find("XADD") != std::string::npos);
        check_clean(error);
        // A settle that would push: refused as a whole, the delivery stays reserved.
        auto held = adapter.reserve({"a"}, 1, 0ms);
        REQUIRE(held.size() == 1);
        Settlement retry;
        retry.pushes.push_back(OutgoingMessage{"a", held[0].message, Seconds{0.0}});
        const std::string settle_error = protocol_error_of([&] { adapter.settle(held[0], std::move(retry)); });
        CAPTURE(settle_error);
        CHECK(settle_error.find("XADD") != std::string::npos);
        CHECK(owner.depth("a").reserved == 1);
        std::vector<Settlement> settlements(1);
        settlements[0].pushes.push_back(OutgoingMessage{"a", held[0].message, Seconds{0.0}});
        std::vector<failpipe::SettleItem> items{{&held[0], &settlements[0]}};
        const auto outcomes = adapter.settle_batch(items);
        REQUIRE(outcomes.size() == 1);
        CHECK(protocol_error_of([&] { std::rethrow_exception(outcomes[0]); }).find("XADD") != std::string::npos);
        adapter.settle(held[0], Settlement{});  // a plain acknowledgement needs no XADD
        CHECK(owner.depth("a").total() == 0);
    }
    {
        AclUser user(rules_for(prefix, without("+xpending")));
        RedisAdapter adapter(options_for(user.url(), prefix));
        owner.push("a", Message::create("job", 3));
        const std::string error = protocol_error_of([&] { adapter.reserve({"a"}, 1, 0ms); });
        CAPTURE(error);
        CHECK(error.find("XPENDING") != std::string::npos);
        // What the read took could not be given back (that needs XPENDING too): it comes back
        // after the visibility timeout, nothing lost.
        std::this_thread::sleep_for(400ms);
        owner.reclaim();
        CHECK(owner.depth("a").ready == 1);
    }
}

TEST_CASE("acl: keys outside the user's patterns, a wrong password, an unknown user: clear errors, no password") {
    const std::string prefix = rt::unique_prefix("acl-keys");
    {
        AclUser user({"resetkeys", "~someone-else:*", "+@all"});
        RedisAdapter adapter(options_for(user.url(), prefix));
        const std::string error = protocol_error_of([&] { adapter.push("a", Message::create("job", 1)); });
        CAPTURE(error);
        CHECK(error.find("ACL") != std::string::npos);
        check_clean(error);
    }
    AclUser user(rules_for(prefix, kDocumentedCommands));
    for (const std::string& url : {user.url("wrong-never-shown"), "redis://nobody-" + user.name() + ":" + kPasswordInUrl +
                                                                     "@127.0.0.1:" + std::to_string(AclUser::port())}) {
        RedisAdapter adapter(options_for(url, prefix));
        const std::string error = protocol_error_of([&] { adapter.ping(); });
        CAPTURE(error);
        CHECK(error.find("AUTH refused") != std::string::npos);
        CHECK(error.find("WRONGPASS") != std::string::npos);
        check_clean(error);
        check_clean(protocol_error_of([&] { adapter.push("a", Message::create("job", 1)); }));
    }
}

TEST_CASE("acl: with shard groups, the documented commands settle and relay a follow-up across groups") {
    const std::string prefix = rt::unique_prefix("acl-groups");
    auto rules = [&](const std::vector<std::string>& commands) {
        std::vector<std::string> all{"resetkeys", "~{" + prefix + "}:*", "~{" + prefix + ":*}:*", "-@all"};
        all.insert(all.end(), commands.begin(), commands.end());
        return all;
    };
    auto options = [&](const AclUser& user) {
        RedisAdapter::Options o = options_for(user.url(), prefix);
        failpipe::ShardGroupsOptions groups;
        groups.channels = {"orders", "payments"};
        o.shard_groups = failpipe::ShardGroups::derive({}, groups);
        o.outbox_relay = false;
        return o;
    };
    AclUser full(rules(kDocumentedCommands));
    RedisAdapter adapter(options(full));
    adapter.push("orders", Message::create("job", 1));
    auto held = adapter.reserve({"orders"}, 1, 1000ms);
    REQUIRE(held.size() == 1);
    Settlement settlement;
    settlement.pushes.push_back(OutgoingMessage{"payments", Message::create("follow-up", 2), Seconds{0.0}});
    adapter.settle(held[0], std::move(settlement));
    {
        AclUser user(rules(without("+xautoclaim")));
        RedisAdapter relay(options(user));
        const std::string error = protocol_error_of([&] { relay.relay_outbox(); });
        CAPTURE(error);
        CHECK(error.find("XAUTOCLAIM") != std::string::npos);
        check_clean(error);
    }
    CHECK(adapter.outbox_lag().at(0).entries == 1);  // "orders" first: groups by name
    CHECK(adapter.relay_outbox() == 1);
    CHECK(adapter.outbox_lag().at(0).entries == 0);
    auto follow_ups = adapter.reserve({"payments"}, 10, 1000ms);
    REQUIRE(follow_ups.size() == 1);
    CHECK(follow_ups[0].message.data == 2);
}
