// explain(): the schedule a config gives a message that always fails, step by step.
#include <doctest/doctest.h>

#include <algorithm>
#include <filesystem>
#include <string>
#include <vector>

#include "failpipe/failpipe.hpp"

using namespace failpipe;
using nlohmann::json;

namespace {

const std::filesystem::path kExplainConfigDir = std::filesystem::path(FAILPIPE_SOURCE_DIR) / "config";

std::vector<ExplainStep> explain_file(const std::string& file, ExplainOptions options) {
    return explain(load_config_file(kExplainConfigDir / file).make_dispatcher(), options);
}

std::vector<ExplainStep> explain_json(const json& document, ExplainOptions options) {
    return explain(load_config(document).make_dispatcher(), options);
}

json backoff(json extra = json::object()) {
    json m = {{"type", "exponential-delay"}, {"id", "backoff"},    {"maxAttempts", 4},
              {"delayInitial", 2},           {"delayMaximum", 10}, {"exponent", 3}};
    m.update(extra);
    return m;
}

}  // namespace

TEST_CASE("explain: the yii guide's trace, exactly") {
    const auto steps = explain_file("yii-guide.json", {.channel = "orders"});
    REQUIRE(steps.size() == 33);

    CHECK(steps[0].failure == 1);
    CHECK(steps[0].channel == "orders");
    CHECK(steps[0].decision.middleware == "default-first-resend");
    CHECK(steps[0].decision.action == FailureAction::send_again);
    CHECK(steps[0].decision.to == "orders");
    CHECK(steps[0].decision.delay.count() == 0.0);

    CHECK(steps[1].failure == 2);
    CHECK(steps[1].channel == "orders");
    CHECK(steps[1].decision.middleware == "default-second-resend");
    CHECK(steps[1].decision.action == FailureAction::send_again);
    CHECK(steps[1].decision.to == "failed-messages");

    // The k-th delay is min(5 * 1.5^(k-1), 60), by repeated multiplication: bit-exact.
    double product = 5.0;
    for (int i = 2; i < 32; ++i) {
        const ExplainStep& step = steps[static_cast<std::size_t>(i)];
        CAPTURE(step.failure);
        CHECK(step.failure == i + 1);
        CHECK(step.channel == "failed-messages");
        CHECK(step.decision.middleware == "failed-messages");
        CHECK(step.decision.action == FailureAction::delay);
        CHECK(step.decision.to == "failed-messages");
        CHECK_FALSE(step.decision.jittered);
        CHECK(step.decision.delay.count() == std::min(product, 60.0));
        CHECK(step.decision.base_delay.count() == step.decision.delay.count());
        product *= 1.5;
    }
    // The figures the guide promises.
    const std::vector<double> guide{5, 7.5, 11.25, 16.875, 25.3125, 37.96875, 56.953125, 60, 60};
    for (std::size_t i = 0; i < guide.size(); ++i) CHECK(steps[i + 2].decision.delay.count() == guide[i]);

    const ExplainStep& last = steps[32];
    CHECK(last.failure == 33);
    CHECK(last.channel == "failed-messages");
    CHECK(last.decision.middleware == "final");
    CHECK(last.decision.action == FailureAction::dead_letter);
    CHECK(last.decision.to == "failed-messages:dlq");
}

TEST_CASE("explain: max_failures stops the trace early") {
    const auto steps = explain_file("yii-guide.json", {.channel = "orders", .max_failures = 5});
    REQUIRE(steps.size() == 5);
    CHECK(steps.back().failure == 5);
    CHECK(steps.back().decision.action == FailureAction::delay);
    CHECK(steps.back().decision.delay.count() == 11.25);

    CHECK(explain_file("yii-guide.json", {.channel = "orders", .max_failures = 1}).size() == 1);
    CHECK(explain_file("yii-guide.json", {.channel = "orders", .max_failures = 33}).size() == 33);
    CHECK(explain_file("yii-guide.json", {.channel = "orders", .max_failures = 100}).size() == 33);
}

TEST_CASE("explain: the final behaviours drop and rethrow end the trace") {
    const json drop = {{"defaultPipeline", {{{"type", "send-again"}, {"id", "a"}, {"maxAttempts", 2}}}},
                       {"final", "drop"}};
    auto steps = explain_json(drop, {.channel = "jobs"});
    REQUIRE(steps.size() == 3);
    CHECK(steps[0].decision.action == FailureAction::send_again);
    CHECK(steps[1].decision.action == FailureAction::send_again);
    CHECK(steps[2].decision.middleware == "final");
    CHECK(steps[2].decision.action == FailureAction::drop);
    CHECK(steps[2].decision.to.empty());
    CHECK(steps[2].channel == "jobs");

    steps = explain_json({{"final", "rethrow"}}, {.channel = "jobs"});
    REQUIRE(steps.size() == 1);
    CHECK(steps[0].decision.middleware == "final");
    CHECK(steps[0].decision.action == FailureAction::rethrow);
    CHECK(steps[0].decision.to.empty());

    steps = explain_json({{"deadLetterSuffix", "-parked"}}, {.channel = "jobs"});
    REQUIRE(steps.size() == 1);
    CHECK(steps[0].decision.action == FailureAction::dead_letter);
    CHECK(steps[0].decision.to == "jobs-parked");
}

TEST_CASE("explain: under jitter it reports the schedule's value and the bounds") {
    const std::vector<double> schedule{2, 6, 10, 10};
    for (const char* seed_or_not : {"seeded", "unseeded"}) {
        CAPTURE(seed_or_not);
        json full = backoff({{"jitter", "full"}});
        if (std::string(seed_or_not) == "seeded") full["seed"] = 7;
        auto steps = explain_json({{"defaultPipeline", {full}}}, {.channel = "orders"});
        REQUIRE(steps.size() == 5);
        for (std::size_t i = 0; i < 4; ++i) {
            const Decision& d = steps[i].decision;
            CHECK(d.jittered);
            CHECK(d.delay.count() == schedule[i]);
            CHECK(d.base_delay.count() == schedule[i]);
            CHECK(d.delay_min.count() == 0.0);
            CHECK(d.delay_max.count() == schedule[i]);
        }
        CHECK(steps[4].decision.action == FailureAction::dead_letter);
    }

    auto steps = explain_json({{"defaultPipeline", {backoff({{"jitter", "equal"}})}}}, {.channel = "orders"});
    REQUIRE(steps.size() == 5);
    for (std::size_t i = 0; i < 4; ++i) {
        CHECK(steps[i].decision.delay.count() == schedule[i]);
        CHECK(steps[i].decision.delay_min.count() == schedule[i] / 2);
        CHECK(steps[i].decision.delay_max.count() == schedule[i]);
    }

    // Decorrelated: bounds within [delayInitial, delayMaximum]; two runs print the same.
    const json decorrelated = {{"defaultPipeline", {backoff({{"jitter", "decorrelated"}})}}};
    const auto a = explain_json(decorrelated, {.channel = "orders"});
    const auto b = explain_json(decorrelated, {.channel = "orders"});
    REQUIRE(a.size() == b.size());
    for (std::size_t i = 0; i + 1 < a.size(); ++i) {
        CHECK(a[i].decision.delay.count() == b[i].decision.delay.count());
        CHECK(a[i].decision.delay_min.count() == b[i].decision.delay_min.count());
        CHECK(a[i].decision.delay_max.count() == b[i].decision.delay_max.count());
        CHECK(a[i].decision.delay_min.count() >= 2.0);
        CHECK(a[i].decision.delay_max.count() <= 10.0);
    }
}

TEST_CASE("explain: the error class selects middlewares through their on filters") {
    auto steps =
        explain_file("permanent-vs-transient.json", {.channel = "orders", .error_class = ErrorClass::permanent});
    REQUIRE(steps.size() == 1);
    CHECK(steps[0].decision.middleware == "permanent");
    CHECK(steps[0].decision.action == FailureAction::dead_letter);
    CHECK(steps[0].decision.to == "orders:dlq");

    steps = explain_file("permanent-vs-transient.json", {.channel = "orders", .error_class = ErrorClass::transient});
    REQUIRE(steps.size() == 9);
    CHECK(std::all_of(steps.begin(), steps.end() - 1,
                      [](const ExplainStep& s) { return s.decision.middleware == "transient-backoff"; }));
    CHECK(steps.back().decision.middleware == "final");

    steps = explain_file("permanent-vs-transient.json", {.channel = "orders", .error_class = ErrorClass::unknown});
    REQUIRE(steps.size() == 3);
    CHECK(steps[0].decision.middleware == "unknown-retry");
    CHECK(steps[1].decision.middleware == "unknown-retry");
    CHECK(steps[2].decision.action == FailureAction::dead_letter);

    // demo.json: permanent errors go straight to the dead letters.
    steps = explain_file("demo.json", {.channel = "orders", .error_class = ErrorClass::permanent});
    REQUIRE(steps.size() == 1);
    CHECK(steps[0].decision.middleware == "permanent-errors");
    steps = explain_file("demo.json", {.channel = "orders"});
    REQUIRE(steps.size() == 5);
    CHECK(steps[1].decision.delay.count() == 0.05);
    CHECK(steps[2].decision.delay.count() == 0.05 * 2);
    CHECK(steps[3].decision.delay.count() == 0.05 * 2 * 2);
}

TEST_CASE("explain: a channel's own pipeline replaces the default one") {
    json document;
    document["defaultPipeline"] = {{{"type", "send-again"}, {"id", "default"}, {"maxAttempts", 3}}};
    document["pipelines"]["orders"] = {
        {{"type", "send-again"}, {"id", "orders"}, {"maxAttempts", 1}, {"queue", "slow"}}};
    document["pipelines"]["slow"] = json::array();
    const auto steps = explain_json(document, {.channel = "orders"});
    REQUIRE(steps.size() == 5);
    CHECK(steps[0].decision.middleware == "orders");
    CHECK(steps[0].decision.to == "slow");
    // `slow` has an empty pipeline of its own: the default runs there.
    CHECK(steps[1].channel == "slow");
    CHECK(steps[1].decision.middleware == "default");
    CHECK(steps[3].decision.middleware == "default");
    CHECK(steps[4].decision.to == "slow:dlq");
}

TEST_CASE("explain: refuses an empty channel and a limit below 1") {
    const FailureMiddlewareDispatcher dispatcher;
    CHECK_THROWS_AS(explain(dispatcher, ExplainOptions{}), InvalidArgumentError);
    CHECK_THROWS_AS(explain(dispatcher, ExplainOptions{.channel = "x", .max_failures = 0}), InvalidArgumentError);
    const auto steps = explain(dispatcher, ExplainOptions{.channel = "x"});
    REQUIRE(steps.size() == 1);
    CHECK(steps[0].decision.to == "x:dlq");
}

TEST_CASE("explain: the streaming form hands over the same steps, one at a time, keeping none") {
    const Config config = load_config_file(kExplainConfigDir / "yii-guide.json");
    const ExplainOptions options{.channel = "orders"};
    const auto kept = explain(config.make_dispatcher(), options);
    std::vector<ExplainStep> streamed;
    explain(config.make_dispatcher(), options, [&](const ExplainStep& step) { streamed.push_back(step); });
    REQUIRE(streamed.size() == kept.size());
    for (std::size_t i = 0; i < kept.size(); ++i) {
        CHECK(streamed[i].failure == kept[i].failure);
        CHECK(streamed[i].channel == kept[i].channel);
        CHECK(streamed[i].decision.middleware == kept[i].decision.middleware);
        CHECK(streamed[i].decision.delay.count() == kept[i].decision.delay.count());
    }

    // 50,000 failures, counted as they come, nothing held. (200,000 took over the 120 s limit under
    // the thread sanitizer at -O0 on a slow 2-core machine; the count proves the same.)
    constexpr int kFailures = 50000;
    const Config endless = load_config({{"defaultPipeline", {backoff({{"maxAttempts", 1000000000}})}}});
    std::size_t count = 0;
    double total = 0;
    explain(endless.make_dispatcher(), {.channel = "jobs", .max_failures = kFailures}, [&](const ExplainStep& step) {
        ++count;
        total += step.decision.delay.count();
    });
    CHECK(count == kFailures);
    CHECK(total == 2 + 6 + 10.0 * (kFailures - 2));
    CHECK_THROWS_AS(explain(endless.make_dispatcher(), {.channel = "jobs"}, nullptr), InvalidArgumentError);
}
