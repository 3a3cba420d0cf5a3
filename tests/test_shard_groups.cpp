// Shard groups (docs/shard-groups.md) and Redis Cluster key hashing (failpipe/hash_slot.hpp).
#include <doctest/doctest.h>

#include <filesystem>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "failpipe/config.hpp"
#include "failpipe/explain.hpp"
#include "failpipe/hash_slot.hpp"
#include "failpipe/send_again_middleware.hpp"
#include "failpipe/shard_groups.hpp"

using namespace failpipe;
using nlohmann::json;

namespace {

const std::filesystem::path kConfigDir = std::filesystem::path(FAILPIPE_SOURCE_DIR) / "config";

std::vector<ConfigIssue> issues_of_text(std::string_view text) {
    try {
        (void)parse_config(text);
    } catch (const ConfigError& e) {
        return e.issues();
    }
    FAIL("the document was accepted");
    return {};
}

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

std::vector<std::string> channels_of(const ShardGroups& groups, const std::string& name) {
    const ShardGroup* group = groups.find(name);
    REQUIRE(group != nullptr);
    return group->channels;
}

std::vector<std::string> names_of(const ShardGroups& groups) {
    std::vector<std::string> names;
    for (const auto& group : groups.groups()) names.push_back(group.name);
    return names;
}

// A custom middleware that does not say where it pushes.
class Opaque final : public MiddlewareFailureInterface {
public:
    FailureHandlingRequest handle(FailureHandlingRequest request, const Failure& failure,
                                  const FailureHandlerInterface& next) const override {
        return next.handle(std::move(request), failure);
    }
    const std::string& id() const noexcept override { return id_; }

private:
    std::string id_ = "opaque";
};

}  // namespace

// --- CRC16 and slots: the Redis Cluster specification's vectors ---------------------------------

TEST_CASE("hash slot: CRC16 is XMODEM, 123456789 gives 0x31C3 as in the Redis Cluster spec") {
    CHECK(crc16_xmodem("123456789") == 0x31C3);
    CHECK(crc16_xmodem("") == 0);
    CHECK(crc16_xmodem("A") == 0x58E5);
}

TEST_CASE("hash slot: known slots of Redis (CLUSTER KEYSLOT)") {
    CHECK(cluster_hash_slot("foo") == 12182);
    CHECK(cluster_hash_slot("bar") == 5061);
    CHECK(cluster_hash_slot("hello") == 866);
    CHECK(cluster_hash_slot("123456789") == 0x31C3 % 16384);
}

TEST_CASE("hash slot: the hash-tag rules of the spec") {
    CHECK(cluster_hash_slot("{user1000}.following") == cluster_hash_slot("{user1000}.followers"));
    CHECK(cluster_hashed_part("{user1000}.following") == "user1000");
    CHECK(cluster_hashed_part("foo{}{bar}") == "foo{}{bar}");  // an empty tag: the whole key
    CHECK(cluster_hash_slot("foo{}{bar}") == cluster_hash_slot(std::string("foo{}{bar}")));
    CHECK(cluster_hashed_part("foo{{bar}}zap") == "{bar");
    CHECK(cluster_hashed_part("foo{bar}{zap}") == "bar");
    CHECK(cluster_hashed_part("no-tag{") == "no-tag{");
    CHECK(cluster_hashed_part("}{") == "}{");
    CHECK(cluster_hash_slot("{failpipe:payments}:s:payments") == cluster_hash_slot("{failpipe:payments}:d:payments-retry-5s"));
}

TEST_CASE("hash slot: the hash tag of a group is {prefix:group} and refuses braces") {
    CHECK(shard_hash_tag("failpipe", "payments") == "{failpipe:payments}");
    CHECK(shard_slot("failpipe", "payments") == cluster_hash_slot("failpipe:payments"));
    CHECK_THROWS_AS((void)shard_hash_tag("", "payments"), InvalidArgumentError);
    CHECK_THROWS_AS((void)shard_hash_tag("fail{pipe", "payments"), InvalidArgumentError);
    CHECK_THROWS_AS((void)shard_hash_tag("failpipe", ""), InvalidArgumentError);
    CHECK_THROWS_AS((void)shard_hash_tag("failpipe", "pay}ments"), InvalidArgumentError);
}

// --- derived groups of the example configs -------------------------------------------------------

TEST_CASE("shard groups: the payments config is one group, every retry and dead-letter channel in it") {
    const Config config = load_config_file(kConfigDir / "payments.json");
    const ShardGroups& groups = config.shard_groups;
    CHECK(names_of(groups) == std::vector<std::string>{"payments"});
    const std::vector<std::string> expected{
        "payments",
        "payments-retry-15s",
        "payments-retry-15s:dlq",
        "payments-retry-15s:parked",
        "payments-retry-5s",
        "payments-retry-5s:dlq",
        "payments-retry-5s:parked",
        "payments-retry-60s",
        "payments-retry-60s:dlq",
        "payments-retry-60s:parked",
        "payments:dlq",
        "payments:parked",
    };
    CHECK(channels_of(groups, "payments") == expected);
    CHECK_FALSE(groups.find("payments")->named);
    CHECK(groups.same_group("payments", "payments-retry-60s"));
    CHECK(groups.group_of("payments:dlq") == "payments");
    CHECK(groups.group_of("emails") == "emails");  // not in the config: a group of its own
    CHECK_FALSE(groups.same_group("payments", "emails"));
    CHECK_FALSE(groups.default_group());
    CHECK(groups.undeclared().empty());
}

TEST_CASE("shard groups: the guide's default pipeline puts every channel without a pipeline with failed-messages") {
    const Config config = load_config_file(kConfigDir / "yii-guide.json");
    const ShardGroups& groups = config.shard_groups;
    CHECK(names_of(groups) == std::vector<std::string>{"failed-messages"});
    CHECK(channels_of(groups, "failed-messages") ==
          std::vector<std::string>{"failed-messages", "failed-messages:dlq", "failed-messages:parked"});
    REQUIRE(groups.default_group());
    CHECK(*groups.default_group() == "failed-messages");
    // `orders` runs the default pipeline, which sends its second retry to failed-messages.
    CHECK(groups.group_of("orders") == "failed-messages");
    CHECK(groups.group_of("orders:dlq") == "failed-messages");
}

TEST_CASE("shard groups: the demo and permanent-vs-transient configs give one group per worker channel") {
    const Config demo = load_config_file(kConfigDir / "demo.json");
    CHECK(names_of(demo.shard_groups) == std::vector<std::string>{"orders"});
    CHECK(channels_of(demo.shard_groups, "orders") == std::vector<std::string>{"orders", "orders:dlq", "orders:parked"});

    const Config both = load_config_file(kConfigDir / "permanent-vs-transient.json");
    CHECK(names_of(both.shard_groups) == std::vector<std::string>{"emails", "orders"});
    CHECK_FALSE(both.shard_groups.same_group("orders", "emails"));
    CHECK(both.shard_groups.same_group("orders", "orders:parked"));
}

TEST_CASE("shard groups: a chain of pipelines is linked through every hop, and a custom suffix is followed") {
    const Config config = parse_config(R"({
      "deadLetterSuffix": ".dead",
      "pipelines": {
        "a": [{"type": "send-again", "id": "to-b", "maxAttempts": 1, "queue": "b"}],
        "b": [{"type": "exponential-delay", "id": "to-c", "maxAttempts": 2, "delayInitial": 1, "delayMaximum": 2,
               "exponent": 2, "queue": "c"}],
        "x": [{"type": "dead-letter", "id": "elsewhere", "queue": "graveyard"}]
      },
      "worker": {"channels": ["a", "x", "y"]}
    })");
    const ShardGroups& groups = config.shard_groups;
    CHECK(names_of(groups) == std::vector<std::string>{"a", "x", "y"});
    // c has no pipeline of its own and is not consumed by name: it still runs the (empty) default
    // pipeline when it is consumed, so its dead letters go to c.dead.
    CHECK(channels_of(groups, "a") ==
          std::vector<std::string>{"a", "a.dead", "a:parked", "b", "b.dead", "b:parked", "c", "c.dead", "c:parked"});
    CHECK(channels_of(groups, "x") == std::vector<std::string>{"graveyard", "x", "x.dead", "x:parked"});
    CHECK(groups.group_of("c.dead") == "a");
    CHECK(groups.group_of("graveyard.dead") == "x");  // the dead letters of a consumed graveyard
}

// --- named groups ---------------------------------------------------------------------------------

TEST_CASE("shard groups: a named group merges two derived groups and names them") {
    const Config config = parse_config(R"({
      "worker": {"channels": ["orders", "invoices", "emails"]},
      "groups": {"billing": ["orders", "invoices"]}
    })");
    const ShardGroups& groups = config.shard_groups;
    CHECK(names_of(groups) == std::vector<std::string>{"billing", "emails"});
    CHECK(groups.find("billing")->named);
    CHECK(channels_of(groups, "billing") == std::vector<std::string>{"invoices", "invoices:dlq", "invoices:parked",
                                                                     "orders", "orders:dlq", "orders:parked"});
    CHECK(groups.group_of("orders:dlq") == "billing");
    CHECK(groups.same_group("orders", "invoices"));
}

TEST_CASE("shard groups: a named group takes in every channel its channels exchange messages with") {
    const std::string text = R"({
      "pipelines": {
        "payments": [{"type": "send-again", "id": "retry", "maxAttempts": 1, "queue": "payments-retry"}]
      },
      "groups": {"money": ["payments"]}
    })";
    const Config named = parse_config(text);
    CHECK(names_of(named.shard_groups) == std::vector<std::string>{"money"});
    CHECK(named.shard_groups.group_of("payments-retry") == "money");
    CHECK(named.shard_groups.group_of("payments-retry:dlq") == "money");
}

TEST_CASE("shard groups: named groups that split channels a pipeline links are refused, naming both channels") {
    const auto issues = issues_of_text(R"({
      "pipelines": {
        "payments": [{"type": "send-again", "id": "retry-5s", "maxAttempts": 1, "queue": "payments-retry-5s"}]
      },
      "groups": {"front": ["payments"], "back": ["payments-retry-5s"]}
    })");
    REQUIRE(issues.size() == 1);
    CHECK(issues[0].path == "/groups/back/0");
    const std::string& m = issues[0].message;
    CAPTURE(m);
    CHECK(contains(m, "channels \"payments\" and \"payments-retry-5s\" must share one group"));
    CHECK(contains(m, "\"payments\" is in group \"front\""));
    CHECK(contains(m, "\"payments-retry-5s\" is in group \"back\""));
    CHECK(contains(m, "middleware \"retry-5s\" (/pipelines/payments/0)"));
}

TEST_CASE("shard groups: a contradiction through an unnamed channel and through a dead-letter channel is refused") {
    const auto through = issues_of_text(R"({
      "pipelines": {
        "a": [{"type": "send-again", "id": "hop", "maxAttempts": 1, "queue": "middle"}],
        "middle": [{"type": "send-again", "id": "hop-2", "maxAttempts": 1, "queue": "b"}]
      },
      "groups": {"one": ["a"], "two": ["b"]}
    })");
    REQUIRE(through.size() == 1);
    CAPTURE(through[0].message);
    CHECK(contains(through[0].message, "\"middle\" is in group \"one\" (through the channels it exchanges messages with)"));
    CHECK(contains(through[0].message, "middleware \"hop-2\""));

    const auto dead = issues_of_text(R"({"groups": {"work": ["orders"], "graveyard": ["orders:dlq"]}})");
    REQUIRE(dead.size() == 1);
    CHECK(dead[0].path == "/groups/graveyard/0");
    CHECK(contains(dead[0].message, "\"orders:dlq\" is the dead-letter channel of \"orders\""));

    const auto by_default = issues_of_text(R"({
      "defaultPipeline": [{"type": "send-again", "id": "later", "maxAttempts": 1, "queue": "later"}],
      "groups": {"now": ["orders"], "then": ["later"]}
    })");
    REQUIRE(by_default.size() == 1);
    CHECK(contains(by_default[0].message, "(/defaultPipeline/0)"));
}

TEST_CASE("shard groups: a channel in two groups, a duplicate and bad group names are refused") {
    const auto issues = issues_of_text(R"({"groups": {
      "a": ["orders", "orders"],
      "b": ["orders"],
      "": ["x"],
      "br{ce": ["y"],
      "empty": [],
      "typed": [1],
      "not-a-list": "orders"
    }})");
    std::set<std::string> paths;
    for (const auto& issue : issues) paths.insert(issue.path + " | " + issue.message);
    auto has = [&](const std::string& path, const std::string& text) {
        for (const auto& issue : issues)
            if (issue.path == path && contains(issue.message, text)) return true;
        return false;
    };
    CAPTURE(paths);
    CHECK(has("/groups/a/1", "duplicate channel \"orders\""));
    CHECK(has("/groups/b/0", "channel \"orders\" is already in group \"a\" (/groups/a/0): a channel belongs to one group"));
    CHECK(has("/groups/", "expected a non-empty group name, found \"\""));
    CHECK(has("/groups/br{ce", "expected a group name without '{' or '}'"));
    CHECK(has("/groups/empty", "expected a non-empty array of channel names, found []"));
    CHECK(has("/groups/typed/0", "expected a channel name, found 1"));
    CHECK(has("/groups/not-a-list", "expected an array of channel names, found \"orders\""));
    CHECK(issues.size() == 7);
}

TEST_CASE("shard groups: hostile names - huge, empty, braces, too many - are refused or named safely") {
    const std::string huge(ShardGroups::kMaxNameBytes + 1, 'g');
    const auto long_name = issues_of_text(R"({"groups": {")" + huge + R"(": ["x"]}})");
    REQUIRE(long_name.size() == 1);
    CHECK(contains(long_name[0].message, "expected a group name of at most 256 bytes, found one of 257 bytes"));

    const std::string long_channel(ConfigLimits::kMaxChannelNameBytes + 1, 'c');
    const auto channel = issues_of_text(R"({"groups": {"g": ["", ")" + long_channel + R"("]}})");
    REQUIRE(channel.size() == 2);
    CHECK(channel[0].path == "/groups/g/0");
    CHECK(channel[1].path == "/groups/g/1");

    json many = json::object();
    for (std::size_t i = 0; i <= ConfigLimits::kMaxGroups; ++i) many["g" + std::to_string(i)] = json::array({"c" + std::to_string(i)});
    const auto too_many = issues_of_text(json{{"groups", many}}.dump());
    REQUIRE(too_many.size() == 1);
    CHECK(too_many[0].message == "expected at most 1000 groups, found 1001");

    json wide = json::object();
    for (std::size_t g = 0; g < 11; ++g) {
        json channels = json::array();
        for (std::size_t i = 0; i < 1000; ++i) channels.push_back("c" + std::to_string(g) + "-" + std::to_string(i));
        wide["g" + std::to_string(g)] = channels;
    }
    const auto too_wide = issues_of_text(json{{"groups", wide}}.dump());
    REQUIRE(too_wide.size() == 1);
    CHECK(too_wide[0].path == "/groups/g9");  // nlohmann orders keys: g0, g1, g10, g2, ... g9 is the 11th
    CHECK(contains(too_wide[0].message, "at most 10000 channels in all groups together"));

    // Channels with braces are fine in keys (the tag ends at the group's brace); a derived group's name avoids them.
    const Config braces = parse_config(R"({"worker": {"channels": ["{a}", "b}"]}})");
    for (const auto& group : braces.shard_groups.groups()) {
        CAPTURE(group.name);
        CHECK_FALSE(shard_group_name_problem(group.name));
        CHECK_NOTHROW((void)shard_hash_tag("failpipe", group.name));
    }
    CHECK(braces.shard_groups.group_of("{a}") == "_a_");  // every channel of it has a brace
    CHECK(braces.shard_groups.group_of("b}:dlq") == "b_");
    CHECK(braces.shard_groups.group_of("new{x}") == "new_x_");
    CHECK_THROWS_AS((void)braces.shard_groups.group_of(""), InvalidArgumentError);
}

TEST_CASE("shard groups: derived names stay unique and stable") {
    // A named group called like a channel outside it: the derived group of that channel gets `_2`.
    const Config config = parse_config(R"({
      "worker": {"channels": ["orders", "invoices"]},
      "groups": {"orders": ["invoices"]}
    })");
    CHECK(names_of(config.shard_groups) == std::vector<std::string>{"orders", "orders_2"});
    CHECK(config.shard_groups.group_of("orders") == "orders_2");
    CHECK(config.shard_groups.group_of("invoices") == "orders");
    const Config again = parse_config(config.document.dump());
    CHECK(names_of(again.shard_groups) == names_of(config.shard_groups));
}

TEST_CASE("shard groups: derived in code, with a middleware that does not say where it pushes") {
    FailureMiddlewareDispatcher::Options dispatcher;
    dispatcher.pipelines["orders"] = {std::make_shared<SendAgainMiddleware>("again", 1, "orders-later"),
                                      std::make_shared<Opaque>()};
    const ShardGroups groups = ShardGroups::derive(dispatcher);
    CHECK(groups.same_group("orders", "orders-later"));
    REQUIRE(groups.undeclared().size() == 1);
    CHECK(groups.undeclared()[0].channel == "orders");
    CHECK(groups.undeclared()[0].middleware == "opaque");

    ShardGroupsOptions options;
    options.named = {{"a", {"orders"}}, {"b", {"orders-later"}}};
    CHECK_THROWS_AS((void)ShardGroups::derive(dispatcher, options), ConfigError);

    const ShardGroups none;
    CHECK(none.groups().empty());
    CHECK(none.group_of("orders:dlq") == "orders");
    CHECK(none.group_of("orders:parked") == "orders");
}

TEST_CASE("shard groups: a document with other problems reports its group problems but no guessed links") {
    // The pipeline of `a` is refused, so `a` would look like it runs the default pipeline: the link
    // from a to `later` would be a guess, and is not reported.
    const auto issues = issues_of_text(R"({
      "defaultPipeline": [{"type": "send-again", "id": "later", "maxAttempts": 1, "queue": "later"}],
      "pipelines": {"a": [{"type": "send-again", "id": "x", "maxAttempts": 0}]},
      "groups": {"now": ["a"], "then": ["later"], "dup": ["a"]}
    })");
    for (const auto& issue : issues) CHECK_FALSE(contains(issue.message, "must share one group"));
    bool duplicate = false;
    for (const auto& issue : issues) duplicate = duplicate || contains(issue.message, "already in group");
    CHECK(duplicate);
}

TEST_CASE("shard groups: every channel explain sends a message to is in the group it started in") {
    // The invariant the groups exist for: a settle's pushes stay in one group, so in one slot.
    int checked = 0;
    for (const auto& dir : {kConfigDir, std::filesystem::path(FAILPIPE_SOURCE_DIR) / "tests" / "fuzz" / "config" / "corpus"}) {
        for (const auto& entry : std::filesystem::directory_iterator(dir)) {
            if (entry.path().extension() != ".json" || entry.path().filename() == "schema.json") continue;
            std::optional<Config> config;
            try {
                config.emplace(load_config_file(entry.path()));
            } catch (const ConfigError&) {
                continue;  // the corpus holds refused documents too
            }
            std::vector<std::string> starts{"orders", "emails"};
            for (const auto& [channel, pipeline] : config->dispatcher.pipelines) starts.push_back(channel);
            for (const auto& channel : config->worker.channels) starts.push_back(channel);
            for (const auto& start : starts) {
                for (ErrorClass error_class : {ErrorClass::unknown, ErrorClass::transient, ErrorClass::permanent}) {
                    ExplainOptions options;
                    options.channel = start;
                    options.error_class = error_class;
                    options.max_failures = 100;
                    for (const auto& step : explain(config->make_dispatcher(), options)) {
                        CAPTURE(entry.path().filename().string());
                        CAPTURE(start);
                        CAPTURE(step.channel);
                        CAPTURE(step.decision.to);
                        CHECK(config->shard_groups.same_group(start, step.channel));
                        if (!step.decision.to.empty()) CHECK(config->shard_groups.same_group(start, step.decision.to));
                        ++checked;
                    }
                }
            }
        }
    }
    CHECK(checked > 100);
}
