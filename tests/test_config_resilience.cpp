// `breakers` and `retryBudget` in a config document: what they build, and every bad value refused
// at its JSON pointer with what was expected. The schema and the loader agree on their keys.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <limits>
#include <set>
#include <string>
#include <vector>

#include "config_resilience.hpp"
#include "failpipe/failpipe.hpp"
#include "test_support.hpp"

using namespace failpipe;
using failpipe::test::config_issues;
using failpipe::test::keys_of;
using nlohmann::json;

namespace {

// The single issue of @p document: its path and message.
ConfigIssue the_issue(const json& document) {
    auto issues = config_issues(document);
    REQUIRE(issues.size() == 1);
    return issues.front();
}

bool says(const ConfigIssue& issue, const std::string& path, const std::string& words) {
    INFO(issue.path << ": " << issue.message);
    return issue.path == path && issue.message.find(words) != std::string::npos;
}

json schema_document() {
    std::ifstream in(std::filesystem::path(FAILPIPE_SOURCE_DIR) / "config" / "schema.json");
    REQUIRE(in);
    return json::parse(in);
}

}  // namespace

TEST_CASE("config breakers: builds each breaker with its settings, shared by name") {
    auto clock = std::make_shared<ManualClock>();
    const Config config = load_config(json::parse(R"({
        "classification": [{"message": "card", "class": "permanent"}],
        "breakers": {
            "gateway": {"messageTypes": ["payment", "refund"], "failureThreshold": 3, "window": 20,
                        "openFor": 10, "halfOpenProbes": 2, "releaseDelay": 2.5, "on": ["transient"]},
            "ledger": {"failureRatio": 40, "minimumCalls": 20},
            "mail": {"messageTypes": []}
        }})"),
                                      MiddlewareRegistry::with_builtins(), clock);
    REQUIRE(config.breakers.size() == 3);
    auto gateway = config.breaker("gateway");
    REQUIRE(gateway);
    const auto& o = gateway->options();
    CHECK(*o.failure_threshold == 3);
    CHECK(o.window.count() == 20);
    CHECK_FALSE(o.failure_ratio_percent);
    CHECK(o.open_for.count() == 10);
    CHECK(o.half_open_probes == 2);
    CHECK(o.release_delay.count() == 2.5);
    CHECK(o.on.contains(ErrorClass::transient));
    CHECK_FALSE(o.on.contains(ErrorClass::unknown));

    const auto& ledger = config.breaker("ledger")->options();
    CHECK_FALSE(ledger.failure_threshold);  // only the ratio rule
    CHECK(*ledger.failure_ratio_percent == 40);
    CHECK(ledger.minimum_calls == 20);
    CHECK(ledger.on.contains(ErrorClass::unknown));
    CHECK_FALSE(ledger.on.contains(ErrorClass::permanent));

    for (const auto& middleware : config.breakers) {
        if (middleware->breaker()->name() == "gateway") {
            CHECK(middleware->applies_to("refund"));
            CHECK_FALSE(middleware->applies_to("order"));
        }
        if (middleware->breaker()->name() == "ledger") CHECK(middleware->applies_to("anything"));
        if (middleware->breaker()->name() == "mail") CHECK_FALSE(middleware->applies_to("mail"));
    }
    CHECK(config.breaker("nope") == nullptr);
    CHECK(*config.breaker("mail")->options().failure_threshold == 5);  // the default rule

    // The breakers run on the config's clock, and their middleware classifies with its rules.
    auto breaker_of_gateway = config.breakers.front();
    class Card final : public ConsumeHandlerInterface {
    public:
        void handle(const Message&, HandlerContext&) const override { throw std::runtime_error("bad card"); }
    } card;
    for (int i = 0; i < 5; ++i) {
        std::string channel = "payments";
        HandlerContext context(channel, 1);
        CHECK_THROWS(breaker_of_gateway->handle(Message::create("payment"), context, card));
    }
    CHECK(breaker_of_gateway->breaker()->state() == BreakerState::closed);
}

TEST_CASE("config breakers: bad values are refused at their path with what was expected") {
    auto breaker = [](json settings) { return json{{"breakers", {{"gateway", std::move(settings)}}}}; };
    CHECK(says(the_issue(breaker({{"failureThreshold", 0}})), "/breakers/gateway/failureThreshold",
               "expected an integer >= 1, found 0"));
    CHECK(says(the_issue(breaker({{"failureThreshold", 2.5}})), "/breakers/gateway/failureThreshold",
               "expected an integer"));
    CHECK(says(the_issue(breaker({{"failureRatio", 150}})), "/breakers/gateway/failureRatio",
               "expected a percentage > 0 and <= 100 (50 means half), found 150"));
    CHECK(says(the_issue(breaker({{"failureRatio", -1}})), "/breakers/gateway/failureRatio", "found -1"));
    CHECK(says(the_issue(breaker({{"failureRatio", 0}})), "/breakers/gateway/failureRatio", "found 0"));
    CHECK(says(the_issue(breaker({{"failureRatio", std::numeric_limits<double>::infinity()}})),
               "/breakers/gateway/failureRatio", "expected a finite number"));
    CHECK(says(the_issue(breaker({{"window", std::numeric_limits<double>::quiet_NaN()}})), "/breakers/gateway/window",
               "expected a finite number"));
    CHECK(says(the_issue(breaker({{"window", 0}})), "/breakers/gateway/window", "expected a number > 0"));
    CHECK(says(the_issue(breaker({{"openFor", -5}})), "/breakers/gateway/openFor", "expected a number > 0"));
    CHECK(says(the_issue(breaker({{"releaseDelay", -1}})), "/breakers/gateway/releaseDelay",
               "expected a number of seconds >= 0 and <= 1e9, found -1"));
    CHECK(says(the_issue(breaker({{"halfOpenProbes", 0}})), "/breakers/gateway/halfOpenProbes", ">= 1"));
    CHECK(says(the_issue(breaker({{"minimumCalls", 5}})), "/breakers/gateway/minimumCalls",
               "expected only with \"failureRatio\""));
    CHECK(says(the_issue(breaker({{"failureRatio", 50}, {"minimumCalls", 0}})), "/breakers/gateway/minimumCalls",
               ">= 1"));
    CHECK(says(the_issue(breaker({{"on", json::array()}})), "/breakers/gateway/on", "non-empty array"));
    CHECK(says(the_issue(breaker({{"on", {"transient", "fatal"}}})), "/breakers/gateway/on/1", "\"fatal\""));
    CHECK(says(the_issue(breaker({{"messageTypes", "payment"}})), "/breakers/gateway/messageTypes",
               "expected an array of message type names"));
    CHECK(says(the_issue(breaker({{"messageTypes", {"payment", ""}}})), "/breakers/gateway/messageTypes/1",
               "non-empty message type name"));
    CHECK(says(the_issue(breaker({{"messageTypes", {"payment", "payment"}}})), "/breakers/gateway/messageTypes/1",
               "duplicate message type \"payment\""));
    CHECK(says(the_issue(breaker({{"failureTreshold", 3}})), "/breakers/gateway/failureTreshold",
               "did you mean \"failureThreshold\"?"));
    CHECK(says(the_issue(breaker(5)), "/breakers/gateway", "expected an object of breaker settings, found 5"));
    CHECK(says(the_issue({{"breakers", {{"", json::object()}}}}), "/breakers/", "non-empty breaker name"));
    CHECK(says(the_issue({{"breakers", json::array()}}), "/breakers", "expected an object of circuit breakers by name"));
    CHECK(config_issues({{"breakers", nullptr}}).empty());
    CHECK(config_issues(breaker({{"window", nullptr}})).empty());
}

TEST_CASE("config retryBudget: a default and per-channel budgets, wired into the dispatcher") {
    const Config config = load_config(json::parse(R"({
        "retryBudget": {
            "default": {"ratio": 20},
            "payments": {"ratio": 5.5, "window": 30, "minRetries": 0, "fallbackDelay": 15}
        }})"));
    REQUIRE(config.retry_budget);
    CHECK(config.dispatcher.retry_budget == config.retry_budget);
    CHECK(config.make_dispatcher().options().retry_budget == config.retry_budget);
    const RetryBudgetOptions* defaults = config.retry_budget->options_for("orders");
    REQUIRE(defaults);
    CHECK(defaults->ratio_percent == 20);
    CHECK(defaults->window.count() == 60);
    CHECK(defaults->min_retries == 10);
    CHECK(defaults->fallback_delay.count() == 60);
    const RetryBudgetOptions* payments = config.retry_budget->options_for("payments");
    CHECK(payments->ratio_percent == 5.5);
    CHECK(payments->window.count() == 30);
    CHECK(payments->min_retries == 0);
    CHECK(payments->fallback_delay.count() == 15);

    const Config only = load_config(json::parse(R"({"retryBudget": {"payments": {"ratio": 10}}})"));
    CHECK(only.retry_budget->options_for("orders") == nullptr);
    CHECK_FALSE(load_config(json::object()).retry_budget);
    CHECK_FALSE(load_config(json::parse(R"({"retryBudget": {}})")).retry_budget);
}

TEST_CASE("config retryBudget: bad values are refused at their path with what was expected") {
    auto budget = [](json settings) { return json{{"retryBudget", {{"default", std::move(settings)}}}}; };
    CHECK(says(the_issue(budget({{"ratio", 120}})), "/retryBudget/default/ratio",
               "expected a percentage > 0 and <= 100 (50 means half), found 120"));
    CHECK(says(the_issue(budget({{"ratio", -10}})), "/retryBudget/default/ratio", "found -10"));
    CHECK(says(the_issue(budget({{"ratio", 0}})), "/retryBudget/default/ratio", "found 0"));
    CHECK(says(the_issue(budget({{"ratio", std::numeric_limits<double>::quiet_NaN()}})), "/retryBudget/default/ratio",
               "expected a finite number"));
    CHECK(says(the_issue(budget({{"ratio", "20%"}})), "/retryBudget/default/ratio", "expected a number"));
    CHECK(says(the_issue(budget({{"window", 10}})), "/retryBudget/default",
               "missing required key \"ratio\" (expected a percentage"));
    CHECK(says(the_issue(budget({{"ratio", 10}, {"window", -1}})), "/retryBudget/default/window", "expected a number > 0"));
    CHECK(says(the_issue(budget({{"ratio", 10}, {"minRetries", -1}})), "/retryBudget/default/minRetries",
               "expected an integer >= 0, found -1"));
    CHECK(says(the_issue(budget({{"ratio", 10}, {"fallbackDelay", 0}})), "/retryBudget/default/fallbackDelay",
               "expected a number > 0"));
    CHECK(says(the_issue(budget({{"ratio", 10}, {"minRetry", 1}})), "/retryBudget/default/minRetry",
               "did you mean \"minRetries\"?"));
    CHECK(says(the_issue(budget("20%")), "/retryBudget/default", "expected an object of retry budget settings"));
    CHECK(says(the_issue({{"retryBudget", 20}}), "/retryBudget", "expected an object of retry budgets"));
    CHECK(says(the_issue({{"retryBudget", {{"", {{"ratio", 10}}}}}}), "/retryBudget/", "non-empty channel name"));
    CHECK(config_issues({{"retryBudget", {{"default", nullptr}}}}).empty());
}

TEST_CASE("config resilience: the schema and the loader know the same breaker and retry budget keys") {
    const json s = schema_document();
    std::set<std::string> breaker(detail::breaker_keys().begin(), detail::breaker_keys().end());
    std::set<std::string> budget(detail::retry_budget_keys().begin(), detail::retry_budget_keys().end());
    CHECK(keys_of(s.at("$defs").at("breaker").at("properties")) == breaker);
    CHECK(keys_of(s.at("$defs").at("retryBudget").at("properties")) == budget);
    for (const auto& key : breaker) {
        CAPTURE(key);
        CHECK(config_issues({{"breakers", {{"b", {{key, nullptr}}}}}}).empty());
    }
}

TEST_CASE("config resilience: explain says what each breaker and the retry budget do, and nothing when neither is set") {
    const Config config = load_config(json::parse(R"({
        "defaultPipeline": [
            {"type": "send-again", "id": "again", "maxAttempts": 1},
            {"type": "exponential-delay", "id": "backoff", "maxAttempts": 3, "delayInitial": 5, "delayMaximum": 90, "exponent": 2}
        ],
        "breakers": {
            "gateway": {"messageTypes": ["payment"], "failureThreshold": 4, "failureRatio": 25, "minimumCalls": 8,
                        "releaseDelay": 2, "halfOpenProbes": 2, "on": ["transient"]},
            "mail": {"messageTypes": []}
        },
        "retryBudget": {"orders": {"ratio": 10, "minRetries": 3, "fallbackDelay": 45}}
    })"));
    const auto all = explain_breakers(config.breakers, std::nullopt);
    REQUIRE(all.size() == 2);
    CHECK(all[0] ==
          "breaker \"gateway\" guards message type payment: opens on 4 transient failures within 60 s, or when transient "
          "failures reach 25% of at least 8 calls within 60 s; while open, a delivery is released until the open period ends, plus up to 2 s (spread), no attempt "
          "counted, nothing dead-lettered; after 30 s, 2 probes decide whether it closes");
    CHECK(all[1].find("breaker \"mail\" guards no message type (handlers use it by name): opens on 5 transient or unknown") == 0);
    CHECK(explain_breakers(config.breakers, std::string("payment")).size() == 1);
    CHECK(explain_breakers(config.breakers, std::string("refund")).empty());

    const auto budget = explain_retry_budget(config.make_dispatcher(), "orders", {"again", "backoff"});
    REQUIRE(budget.size() == 1);
    CHECK(budget[0] == "retry budget of channel \"orders\": early retries at most 10% of first attempts per 60 s (at least 3); "
                       "past it, a retry waits its middleware's maximum delay instead of its schedule: again 45 s "
                       "(fallbackDelay), backoff 90 s");
    CHECK(explain_retry_budget(config.make_dispatcher(), "invoices", {"again"}).empty());  // no budget there

    const Config plain = load_config(json::object());
    CHECK(explain_breakers(plain.breakers, std::nullopt).empty());
    CHECK(explain_retry_budget(plain.make_dispatcher(), "orders", {"again"}).empty());
}
