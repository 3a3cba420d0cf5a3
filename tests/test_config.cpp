// Config loading: every error kind with its exact path and message, the registry, classification.
#include <doctest/doctest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <regex>
#include <stdexcept>
#include <string>
#include <vector>

#include "failpipe/failpipe.hpp"
#include "failpipe/memory/in_memory_adapter.hpp"

using namespace failpipe;
using nlohmann::json;

namespace {

const std::filesystem::path kConfigDir = std::filesystem::path(FAILPIPE_SOURCE_DIR) / "config";

// The issues a document is refused with (fails the test when it is accepted).
std::vector<ConfigIssue> issues_of(const json& document,
                                   const MiddlewareRegistry& registry = MiddlewareRegistry::with_builtins()) {
    try {
        (void)load_config(document, registry);
    } catch (const ConfigError& e) {
        return e.issues();
    }
    FAIL("the document was accepted: " << document.dump());
    return {};
}

std::vector<ConfigIssue> issues_of_text(std::string_view text) {
    try {
        (void)parse_config(text);
    } catch (const ConfigError& e) {
        return e.issues();
    }
    FAIL("the document was accepted: " << text);
    return {};
}

// The one issue a document is refused with.
ConfigIssue single_issue(const json& document) {
    auto issues = issues_of(document);
    REQUIRE_MESSAGE(issues.size() == 1, "issues: " << issues.size() << " for " << document.dump());
    return issues.front();
}

void check_issue(const json& document, const std::string& path, const std::string& message) {
    CAPTURE(document.dump());
    const ConfigIssue issue = single_issue(document);
    CHECK(issue.path == path);
    CHECK(issue.message == message);
}

json send_again(json extra = json::object()) {
    json m = {{"type", "send-again"}, {"id", "again"}, {"maxAttempts", 1}};
    m.update(extra);
    return m;
}

json exponential(json extra = json::object()) {
    json m = {{"type", "exponential-delay"}, {"id", "backoff"},    {"maxAttempts", 3},
              {"delayInitial", 1},           {"delayMaximum", 10}, {"exponent", 2}};
    m.update(extra);
    return m;
}

json in_default(json middleware) { return {{"defaultPipeline", json::array({std::move(middleware)})}}; }

template <class T>
std::shared_ptr<const T> as(const FailureMiddlewarePtr& middleware) {
    auto typed = std::dynamic_pointer_cast<const T>(middleware);
    REQUIRE(typed != nullptr);
    return typed;
}

Failure failure_of(ErrorClass error_class) { return Failure{nullptr, "failpipe::Error", "test", error_class}; }

Message message() {
    Message m = Message::create("job");
    m.id = "m1";
    return m;
}

// A user middleware: tags the message and sends it to `target`.
class TagMiddleware final : public MiddlewareFailureInterface {
public:
    TagMiddleware(std::string id, std::string label, std::string target)
        : id_(std::move(id)), label_(std::move(label)), target_(std::move(target)) {}
    FailureHandlingRequest handle(FailureHandlingRequest request, const Failure&,
                                  const FailureHandlerInterface&) const override {
        Message m = request.take_message();
        m.metadata["tag"] = label_;
        request.stage(OutgoingMessage{target_, std::move(m), Seconds{0}});
        request.decide(Decision{id_, FailureAction::send_again, target_});
        return request;
    }
    const std::string& id() const noexcept override { return id_; }
    const std::string& label() const { return label_; }

private:
    std::string id_, label_, target_;
};

MiddlewareRegistry registry_with_tag() {
    auto registry = MiddlewareRegistry::with_builtins();
    registry.add("tag", [](MiddlewareParams& params) -> FailureMiddlewarePtr {
        params.allow_keys({"id", "label", "queue"});
        auto id = params.required_string("id");
        auto label = params.required_string("label");
        if (!label.empty() && label.front() == '!')
            params.fail("label", "expected a label not starting with \"!\", found \"" + label + "\"");
        if (label == "throw") throw InvalidArgumentError("label \"throw\" is reserved");
        auto queue = params.optional_string("queue").value_or("tagged");
        if (!params.ok()) return nullptr;
        return std::make_shared<TagMiddleware>(id, label, queue);
    });
    return registry;
}

}  // namespace

TEST_CASE("config: yii-guide.json loads with the guide's parameters") {
    const Config config = load_config_file(kConfigDir / "yii-guide.json");
    const auto& d = config.dispatcher;
    CHECK(d.final_behavior == FinalBehavior::dead_letter);
    CHECK(d.dead_letter_suffix == ":dlq");

    REQUIRE(d.default_pipeline.size() == 2);
    auto first = as<SendAgainMiddleware>(d.default_pipeline[0]);
    CHECK(first->id() == "default-first-resend");
    CHECK(first->max_attempts() == 1);
    CHECK(first->queue().empty());
    CHECK(first->on().empty());
    auto second = as<SendAgainMiddleware>(d.default_pipeline[1]);
    CHECK(second->id() == "default-second-resend");
    CHECK(second->max_attempts() == 1);
    CHECK(second->queue() == "failed-messages");

    REQUIRE(d.pipelines.size() == 1);
    REQUIRE(d.pipelines.count("failed-messages") == 1);
    const auto& failed = d.pipelines.at("failed-messages");
    REQUIRE(failed.size() == 1);
    auto delay = as<ExponentialDelayMiddleware>(failed[0]);
    CHECK(delay->id() == "failed-messages");
    CHECK(delay->max_attempts() == 30);
    CHECK(delay->delay_initial() == 5.0);
    CHECK(delay->delay_maximum() == 60.0);
    CHECK(delay->exponent() == 1.5);
    CHECK(delay->queue().empty());
    CHECK(delay->jitter() == Jitter::none);
    CHECK(config.document.at("pipelines").contains("failed-messages"));
}

TEST_CASE("config: demo.json has the demo worker's pipeline") {
    const Config config = load_config_file(kConfigDir / "demo.json");
    const auto& pipeline = config.dispatcher.default_pipeline;
    REQUIRE(pipeline.size() == 3);
    auto dead = as<DeadLetterMiddleware>(pipeline[0]);
    CHECK(dead->on().contains(ErrorClass::permanent));
    CHECK_FALSE(dead->on().contains(ErrorClass::transient));
    CHECK(as<SendAgainMiddleware>(pipeline[1])->max_attempts() == 1);
    auto backoff = as<ExponentialDelayMiddleware>(pipeline[2]);
    CHECK(backoff->delay_initial() == 0.05);
    CHECK(backoff->delay_maximum() == 0.4);
    CHECK(backoff->exponent() == 2.0);
    CHECK(backoff->max_attempts() == 3);
    CHECK(config.dispatcher.final_behavior == FinalBehavior::dead_letter);
}

TEST_CASE("config: every example in config/ loads") {
    int loaded = 0;
    for (const auto& entry : std::filesystem::directory_iterator(kConfigDir)) {
        if (entry.path().extension() != ".json" || entry.path().filename() == "schema.json") continue;
        CAPTURE(entry.path().string());
        CHECK_NOTHROW((void)load_config_file(entry.path()));
        ++loaded;
    }
    CHECK(loaded >= 3);
}

TEST_CASE("config: an empty document gives the defaults") {
    const Config config = parse_config("{}");
    CHECK(config.dispatcher.default_pipeline.empty());
    CHECK(config.dispatcher.pipelines.empty());
    CHECK(config.dispatcher.final_behavior == FinalBehavior::dead_letter);
    CHECK(config.dispatcher.dead_letter_suffix == ":dlq");
    const WorkerOptions defaults;
    CHECK(config.worker.channels.empty());
    CHECK(config.worker.batch_size == defaults.batch_size);
    CHECK(config.worker.wait == defaults.wait);
    CHECK(config.worker.max_deliveries == defaults.max_deliveries);
    CHECK(config.visibility_timeout.count() == 30.0);
}

TEST_CASE("config: top-level settings and the worker section are read") {
    const Config config = load_config({
        {"$schema", "./schema.json"},
        {"final", "drop"},
        {"deadLetterSuffix", ".dead"},
        {"worker",
         {{"channels", {"orders", "emails"}},
          {"batchSize", 8},
          {"waitMs", 250},
          {"maxDeliveries", 0},
          {"visibilityTimeout", 2.5}}},
    });
    CHECK(config.dispatcher.final_behavior == FinalBehavior::drop);
    CHECK(config.dispatcher.dead_letter_suffix == ".dead");
    CHECK(config.worker.channels == std::vector<std::string>{"orders", "emails"});
    CHECK(config.worker.batch_size == 8);
    CHECK(config.worker.wait == std::chrono::milliseconds{250});
    CHECK(config.worker.max_deliveries == 0);
    CHECK(config.visibility_timeout.count() == 2.5);
    CHECK(load_config({{"final", "rethrow"}}).dispatcher.final_behavior == FinalBehavior::rethrow);
}

TEST_CASE("config: null counts as absent for optional keys") {
    const Config config = load_config({{"final", nullptr},
                                       {"pipelines", nullptr},
                                       {"defaultPipeline", {send_again({{"queue", nullptr}, {"on", nullptr}})}}});
    CHECK(config.dispatcher.final_behavior == FinalBehavior::dead_letter);
    auto m = as<SendAgainMiddleware>(config.dispatcher.default_pipeline.at(0));
    CHECK(m->queue().empty());
    CHECK(m->on().empty());
}

TEST_CASE("config: queue empty, null or absent means the channel the message failed on") {
    for (const json& queue : {json(""), json(nullptr)}) {
        const Config config = load_config(in_default(send_again({{"queue", queue}})));
        auto result = config.make_dispatcher().dispatch(FailureHandlingRequest(message(), "orders"),
                                                        failure_of(ErrorClass::unknown));
        REQUIRE(result.decision());
        CHECK(result.decision()->to == "orders");
    }
}

TEST_CASE("config: a document that is not an object is refused") {
    check_issue(json::array(), "", "expected a JSON object at the top level, found []");
    check_issue(5, "", "expected a JSON object at the top level, found 5");
    check_issue("x", "", "expected a JSON object at the top level, found \"x\"");
    auto issues = issues_of_text("[1, 2]");
    REQUIRE(issues.size() == 1);
    CHECK(issues[0].message == "expected a JSON object at the top level, found an array");
}

TEST_CASE("config: a JSON syntax error names line and column") {
    auto issues = issues_of_text("{\n  \"final\": ,\n}");
    REQUIRE(issues.size() == 1);
    CHECK(issues[0].path == "");
    CHECK(issues[0].message.rfind("JSON syntax error at line 2, column 12: ", 0) == 0);

    issues = issues_of_text("");
    REQUIRE(issues.size() == 1);
    CHECK(issues[0].message.rfind("JSON syntax error at line 1, column 1: ", 0) == 0);

    issues = issues_of_text("{\"a\": 1e999}");
    REQUIRE(issues.size() == 1);
    CHECK(issues[0].message.find("1e999") != std::string::npos);
}

TEST_CASE("config: an unreadable file is a ConfigError") {
    const auto missing = kConfigDir / "no-such-config.json";
    try {
        (void)load_config_file(missing);
        FAIL("accepted a missing file");
    } catch (const ConfigError& e) {
        REQUIRE(e.issues().size() == 1);
        CHECK(e.issues()[0].path == "");
        CHECK(e.issues()[0].message == "cannot read \"" + missing.string() + "\": No such file or directory");
    }
    try {
        (void)load_config_file(kConfigDir);
        FAIL("accepted a directory");
    } catch (const ConfigError& e) {
        REQUIRE(e.issues().size() == 1);
        CHECK(e.issues()[0].message == "cannot read \"" + kConfigDir.string() + "\": it is a directory");
    }
}

TEST_CASE("config: unknown keys are refused at every level with the nearest known key") {
    check_issue({{"defaultPipline", json::array()}}, "/defaultPipline",
                "unknown key \"defaultPipline\"; did you mean \"defaultPipeline\"?");
    check_issue({{"worker", {{"batchsize", 3}}}}, "/worker/batchsize",
                "unknown key \"batchsize\"; did you mean \"batchSize\"?");
    check_issue(in_default(send_again({{"maxAttempt", 2}})), "/defaultPipeline/0/maxAttempt",
                "unknown key \"maxAttempt\"; did you mean \"maxAttempts\"?");
    check_issue({{"pipelines", {{"orders", {exponential({{"delayMax", 10}})}}}}}, "/pipelines/orders/0/delayMax",
                "unknown key \"delayMax\"; did you mean \"delayMaximum\"?");
    check_issue(in_default({{"type", "dead-letter"}, {"id", "dl"}, {"queu", "x"}}), "/defaultPipeline/0/queu",
                "unknown key \"queu\"; did you mean \"queue\"?");
    check_issue({{"classification", {{{"type", "std::exception"}, {"clas", "transient"}, {"class", "transient"}}}}},
                "/classification/0/clas", "unknown key \"clas\"; did you mean \"class\"?");
}

TEST_CASE("config: an unknown key with no near match lists the known keys") {
    check_issue(in_default(send_again({{"retries", 2}})), "/defaultPipeline/0/retries",
                "unknown key \"retries\"; expected one of \"type\", \"id\", \"maxAttempts\", \"queue\", \"on\"");
    check_issue(
        {{"worker", {{"concurrency", 4}}}}, "/worker/concurrency",
        "unknown key \"concurrency\"; expected one of \"channels\", \"batchSize\", \"waitMs\", \"maxDeliveries\", "
        "\"visibilityTimeout\", \"onExpired\", \"threads\", \"shutdownGrace\"");
    // `type` is a key of middlewares, not of the worker section.
    check_issue({{"worker", {{"type", "x"}}}}, "/worker/type",
                "unknown key \"type\"; expected one of \"channels\", \"batchSize\", \"waitMs\", \"maxDeliveries\", "
                "\"visibilityTimeout\", \"onExpired\", \"threads\", \"shutdownGrace\"");
}

TEST_CASE("config: an unknown middleware type lists the known types and offers the nearest") {
    check_issue(in_default({{"type", "send-agian"}, {"id", "x"}}), "/defaultPipeline/0/type",
                "unknown middleware type \"send-agian\"; did you mean \"send-again\"? (known types: \"dead-letter\", "
                "\"exponential-delay\", \"send-again\")");
    check_issue(in_default({{"type", "circuit-breaker"}, {"id", "x"}}), "/defaultPipeline/0/type",
                "unknown middleware type \"circuit-breaker\" (known types: \"dead-letter\", \"exponential-delay\", "
                "\"send-again\")");
    check_issue(
        in_default({{"id", "x"}}), "/defaultPipeline/0",
        "missing required key \"type\" (expected one of \"dead-letter\", \"exponential-delay\", \"send-again\")");
    check_issue(in_default({{"type", 3}, {"id", "x"}}), "/defaultPipeline/0/type",
                "expected a middleware type (one of \"dead-letter\", \"exponential-delay\", \"send-again\"), found 3");
}

TEST_CASE("config: ill-typed values say what was expected and what was found") {
    check_issue(in_default(send_again({{"id", 5}})), "/defaultPipeline/0/id", "expected a string, found 5");
    check_issue(in_default(send_again({{"maxAttempts", "3"}})), "/defaultPipeline/0/maxAttempts",
                "expected an integer, found \"3\"");
    check_issue(in_default(send_again({{"maxAttempts", 1.5}})), "/defaultPipeline/0/maxAttempts",
                "expected an integer, found 1.5");
    check_issue(in_default(send_again({{"queue", 5}})), "/defaultPipeline/0/queue", "expected a string, found 5");
    check_issue(in_default(exponential({{"delayInitial", "5"}})), "/defaultPipeline/0/delayInitial",
                "expected a number, found \"5\"");
    check_issue(in_default(exponential({{"exponent", true}})), "/defaultPipeline/0/exponent",
                "expected a number, found true");
    check_issue(in_default(exponential({{"jitter", "ful"}})), "/defaultPipeline/0/jitter",
                "expected \"none\", \"full\", \"equal\" or \"decorrelated\", found \"ful\"; did you mean \"full\"?");
    check_issue(in_default(exponential({{"jitter", 1}})), "/defaultPipeline/0/jitter", "expected a string, found 1");
    check_issue(in_default(exponential({{"seed", -1}})), "/defaultPipeline/0/seed",
                "expected an unsigned integer, found -1");
    check_issue(in_default(exponential({{"seed", 0.5}})), "/defaultPipeline/0/seed",
                "expected an unsigned integer, found 0.5");
    check_issue(in_default(send_again({{"on", "transient"}})), "/defaultPipeline/0/on",
                "expected a non-empty array of error classes (\"transient\", \"permanent\" or \"unknown\"), found "
                "\"transient\"");
    check_issue(in_default(send_again({{"on", json::array()}})), "/defaultPipeline/0/on",
                "expected a non-empty array of error classes (\"transient\", \"permanent\" or \"unknown\"), found []");
    check_issue(in_default(send_again({{"on", {"transient", "perm"}}})), "/defaultPipeline/0/on/1",
                "expected \"transient\", \"permanent\" or \"unknown\", found \"perm\"");
    check_issue(
        in_default(send_again({{"on", {"transiant"}}})), "/defaultPipeline/0/on/0",
        "expected \"transient\", \"permanent\" or \"unknown\", found \"transiant\"; did you mean \"transient\"?");
    check_issue(
        {{"final", "dead_letter"}}, "/final",
        "expected \"dead-letter\", \"rethrow\" or \"drop\", found \"dead_letter\"; did you mean \"dead-letter\"?");
    check_issue({{"final", 1}}, "/final", "expected \"dead-letter\", \"rethrow\" or \"drop\", found 1");
    check_issue({{"deadLetterSuffix", 5}}, "/deadLetterSuffix", "expected a string, found 5");
    check_issue({{"deadLetterSuffix", ""}}, "/deadLetterSuffix",
                "expected a non-empty string (an empty suffix would dead-letter a message into the channel it failed "
                "on), found \"\"");
    check_issue({{"defaultPipeline", json::object()}}, "/defaultPipeline",
                "expected an array of middlewares, found {}");
    check_issue({{"defaultPipeline", {7}}}, "/defaultPipeline/0", "expected a middleware object, found 7");
    check_issue({{"pipelines", json::array()}}, "/pipelines",
                "expected an object of pipelines by channel name, found []");
    check_issue({{"pipelines", {{"orders", "send-again"}}}}, "/pipelines/orders",
                "expected an array of middlewares, found \"send-again\"");
    check_issue({{"pipelines", {{"", json::array()}}}}, "/pipelines/", "expected a non-empty channel name, found \"\"");
    check_issue({{"pipelines", {{"a/b~c", {send_again({{"id", 1}})}}}}}, "/pipelines/a~1b~0c/0/id",
                "expected a string, found 1");
    check_issue({{"classification", json::object()}}, "/classification",
                "expected an array of classification rules, found {}");
    check_issue({{"classification", {"transient"}}}, "/classification/0",
                "expected a classification rule object, found \"transient\"");
    check_issue({{"worker", 3}}, "/worker", "expected an object of worker settings, found 3");
    check_issue({{"worker", {{"channels", "orders"}}}}, "/worker/channels",
                "expected an array of channel names, found \"orders\"");
    check_issue({{"worker", {{"channels", {"orders", ""}}}}}, "/worker/channels/1",
                "expected a non-empty channel name, found \"\"");
    check_issue({{"worker", {{"channels", {"orders", "orders"}}}}}, "/worker/channels/1",
                "duplicate channel \"orders\"");
    check_issue({{"worker", {{"batchSize", 0}}}}, "/worker/batchSize", "expected an integer >= 1, found 0");
    check_issue({{"worker", {{"waitMs", -5}}}}, "/worker/waitMs", "expected an integer >= 0, found -5");
    check_issue({{"worker", {{"maxDeliveries", 4294967296LL}}}}, "/worker/maxDeliveries",
                "expected an integer <= 4294967295, found 4294967296");
    check_issue({{"worker", {{"visibilityTimeout", 0}}}}, "/worker/visibilityTimeout",
                "expected a number > 0, found 0");
    check_issue({{"worker", {{"visibilityTimeout", "30"}}}}, "/worker/visibilityTimeout",
                "expected a number, found \"30\"");
}

TEST_CASE("config: a deadLetterSuffix that clashes with the parked suffix is refused at /deadLetterSuffix") {
    // The parked suffix itself: dead letters and parked messages would share orders:parked.
    check_issue({{"deadLetterSuffix", ":parked"}}, "/deadLetterSuffix",
                "expected a suffix other than \":parked\", the suffix of parked channels (dead letters and parked "
                "messages could not be told apart), found \":parked\"");
    // Ending in it: the dead letters of orders would land in the parked channel of orders-old.
    check_issue({{"deadLetterSuffix", "-old:parked"}}, "/deadLetterSuffix",
                "expected a suffix that does not end in \":parked\", the suffix of parked channels (the dead letters of "
                "\"orders\" would go to \"orders-old:parked\", the parked channel of \"orders-old\"), found "
                "\"-old:parked\"");
    // Its end: orders:parked would read as the dead letters of orders:park.
    check_issue({{"deadLetterSuffix", "ed"}}, "/deadLetterSuffix",
                "expected a suffix that is not the end of \":parked\", the suffix of parked channels (\"orders:parked\", "
                "the parked channel of \"orders\", would also be the dead-letter channel of \"orders:park\"), found "
                "\"ed\"");
    // Reported with the document's other problems, as every issue is.
    const auto issues = issues_of({{"deadLetterSuffix", ":parked"}, {"final", "nope"}});
    REQUIRE(issues.size() == 2);
    CHECK(issues[0].path == "/deadLetterSuffix");
    // Suffixes that only look alike are fine: neither ends the other.
    for (const char* fine : {":parked2", ":parkedx", "parked:", ":dlq", ".dead", "-parked"}) {
        CAPTURE(fine);
        CHECK(load_config({{"deadLetterSuffix", fine}}).dispatcher.dead_letter_suffix == fine);
    }
}

TEST_CASE("config: long strings are shortened in messages, never inside a character") {
    const std::string long_value(100, 'x');
    auto issue = single_issue({{"final", long_value}});
    CHECK(issue.message ==
          "expected \"dead-letter\", \"rethrow\" or \"drop\", found \"" + std::string(60, 'x') + "\" (truncated)");

    // 59 ASCII bytes, then a two-byte character across the cut.
    issue = single_issue({{"final", std::string(59, 'x') + "\xC3\xA9" + long_value}});
    CHECK(issue.message ==
          "expected \"dead-letter\", \"rethrow\" or \"drop\", found \"" + std::string(59, 'x') + "\" (truncated)");

    // Invalid UTF-8 in a document built in code is shown, not thrown.
    issue = single_issue({{"final", "bad\xFF"}});
    CHECK(issue.path == "/final");
}

TEST_CASE("config: missing required keys are reported at the middleware") {
    check_issue(in_default({{"type", "send-again"}, {"maxAttempts", 1}}), "/defaultPipeline/0",
                "missing required key \"id\" (expected a string)");
    check_issue(in_default({{"type", "send-again"}, {"id", "a"}}), "/defaultPipeline/0",
                "missing required key \"maxAttempts\" (expected an integer)");
    check_issue(in_default({{"type", "dead-letter"}}), "/defaultPipeline/0",
                "missing required key \"id\" (expected a string)");
    json m = exponential();
    m.erase("delayMaximum");
    check_issue(in_default(m), "/defaultPipeline/0", "missing required key \"delayMaximum\" (expected a number)");
    m = exponential();
    m.erase("exponent");
    check_issue(in_default(m), "/defaultPipeline/0", "missing required key \"exponent\" (expected a number)");
}

TEST_CASE("config: a middleware with an empty id is refused at its path - an absent one is the type's to judge") {
    const std::string message =
        "expected a non-empty string (the key of the middleware's counters in the message metadata), found \"\"";
    check_issue({{"pipelines", {{"orders", {send_again({{"id", ""}})}}}}}, "/pipelines/orders/0/id", message);
    check_issue(in_default(exponential({{"id", ""}})), "/defaultPipeline/0/id", message);
    check_issue(in_default({{"type", "dead-letter"}, {"id", ""}}), "/defaultPipeline/0/id", message);
    // Every bad entry is named, not only the first; a good neighbour is not.
    const auto issues = issues_of(
        {{"pipelines", {{"orders", {send_again({{"id", "ok"}}), exponential({{"id", ""}}), send_again({{"id", ""}})}}}}});
    REQUIRE(issues.size() == 2);
    CHECK(issues[0].path == "/pipelines/orders/1/id");
    CHECK(issues[1].path == "/pipelines/orders/2/id");
    // A custom type too; one whose factory takes no id still loads without one.
    const auto registry = registry_with_tag();
    const auto custom = issues_of({{"defaultPipeline", {{{"type", "tag"}, {"id", ""}, {"label", "vip"}}}}}, registry);
    REQUIRE(custom.size() == 1);
    CHECK(custom[0].path == "/defaultPipeline/0/id");
    CHECK(custom[0].message == message);
    auto optional_id = MiddlewareRegistry::with_builtins();
    optional_id.add("no-id", [](MiddlewareParams& params) -> FailureMiddlewarePtr {
        params.allow_keys({"id"});
        return std::make_shared<SendAgainMiddleware>(params.optional_string("id").value_or("no-id"), 1);
    });
    CHECK_NOTHROW((void)load_config({{"defaultPipeline", {{{"type", "no-id"}}}}}, optional_id));
}

TEST_CASE("config: Yii's parameter checks run at load, at the parameter's path") {
    check_issue(in_default(send_again({{"maxAttempts", 0}})), "/defaultPipeline/0/maxAttempts",
                "expected an integer >= 1, found 0");
    check_issue(in_default(send_again({{"maxAttempts", -2}})), "/defaultPipeline/0/maxAttempts",
                "expected an integer >= 1, found -2");
    check_issue(in_default(exponential({{"maxAttempts", 0}})), "/defaultPipeline/0/maxAttempts",
                "expected an integer > 0, found 0");
    check_issue(in_default(exponential({{"delayInitial", 0}})), "/defaultPipeline/0/delayInitial",
                "expected a number > 0, found 0");
    check_issue(in_default(exponential({{"delayInitial", -1}})), "/defaultPipeline/0/delayInitial",
                "expected a number > 0, found -1");
    check_issue(in_default(exponential({{"delayInitial", 5}, {"delayMaximum", 4.5}})),
                "/defaultPipeline/0/delayMaximum", "expected a number >= delayInitial (5), found 4.5");
    check_issue(in_default(exponential({{"exponent", 0}})), "/defaultPipeline/0/exponent",
                "expected a number > 0, found 0");
    check_issue(in_default(exponential({{"exponent", -1.5}})), "/defaultPipeline/0/exponent",
                "expected a number > 0, found -1.5");

    // Yii's boundaries: delayMaximum == delayInitial and a shrinking exponent are allowed.
    CHECK_NOTHROW((void)load_config(in_default(exponential({{"delayInitial", 5}, {"delayMaximum", 5}}))));
    CHECK_NOTHROW((void)load_config(in_default(exponential({{"exponent", 0.5}}))));
    // An integral float is an integer.
    CHECK(as<SendAgainMiddleware>(
              load_config(in_default(send_again({{"maxAttempts", 2.0}}))).dispatcher.default_pipeline[0])
              ->max_attempts() == 2);
}

TEST_CASE("config: every problem of a document is reported together, in document order") {
    // Keys in an order nlohmann's sorted objects would not keep.
    const std::string text = R"({
  "worker": {"batchSize": 0},
  "defaultPipeline": [
    {"type": "send-again", "id": "first", "maxAttempts": 0},
    {"type": "exponential-delay", "id": "x", "jiter": "full", "maxAttempts": 3, "delayInitial": -1, "delayMaximum": 10, "exponent": 2}
  ],
  "final": "explode",
  "pipelines": {"orders": [{"type": "dead-leter", "id": "dl"}]}
})";
    const auto issues = issues_of_text(text);
    REQUIRE(issues.size() == 6);
    CHECK(issues[0].path == "/worker/batchSize");
    CHECK(issues[0].message == "expected an integer >= 1, found 0");
    CHECK(issues[1].path == "/defaultPipeline/0/maxAttempts");
    CHECK(issues[2].path == "/defaultPipeline/1/jiter");
    CHECK(issues[2].message == "unknown key \"jiter\"; did you mean \"jitter\"?");
    CHECK(issues[3].path == "/defaultPipeline/1/delayInitial");
    CHECK(issues[4].path == "/final");
    CHECK(issues[5].path == "/pipelines/orders/0/type");

    try {
        (void)parse_config(text);
    } catch (const ConfigError& e) {
        const std::string what = e.what();
        CHECK(what.find("/worker/batchSize: expected an integer >= 1, found 0\n") == 0);
        CHECK(what.find("\n/final: expected \"dead-letter\", \"rethrow\" or \"drop\", found \"explode\"\n") !=
              std::string::npos);
        CHECK(what.find("\n/pipelines/orders/0/type: unknown middleware type \"dead-leter\"; did you mean "
                        "\"dead-letter\"?") != std::string::npos);
    }

    // From a parsed json the text's order is gone: nlohmann's order (sorted keys) is used.
    const auto sorted = issues_of(json::parse(text));
    REQUIRE(sorted.size() == 6);
    CHECK(sorted[0].path == "/defaultPipeline/0/maxAttempts");
    CHECK(sorted[1].path == "/defaultPipeline/1/delayInitial");
    CHECK(sorted[2].path == "/defaultPipeline/1/jiter");
    CHECK(sorted[3].path == "/final");
    CHECK(sorted[4].path == "/pipelines/orders/0/type");
    CHECK(sorted[5].path == "/worker/batchSize");
}

TEST_CASE("config: array elements are ordered by index, not as text") {
    json pipeline = json::array();
    for (int i = 0; i < 12; ++i) pipeline.push_back(send_again({{"maxAttempts", 0}}));
    const auto issues = issues_of({{"defaultPipeline", pipeline}});
    REQUIRE(issues.size() == 12);
    CHECK(issues[2].path == "/defaultPipeline/2/maxAttempts");
    CHECK(issues[10].path == "/defaultPipeline/10/maxAttempts");
}

TEST_CASE("config: duplicate keys are refused") {
    const auto issues = issues_of_text(
        R"({"defaultPipeline": [{"type": "send-again", "id": "a", "maxAttempts": 1, "maxAttempts": 5}], "final": "drop", "final": "rethrow"})");
    REQUIRE(issues.size() == 2);
    CHECK(issues[0].path == "/defaultPipeline/0/maxAttempts");
    CHECK(issues[0].message == "duplicate key \"maxAttempts\" (only its last value would be used)");
    CHECK(issues[1].path == "/final");
}

TEST_CASE("config: two middlewares with the same type and id are allowed and share a counter") {
    const Config config =
        load_config({{"defaultPipeline", {send_again({{"id", "same"}}), send_again({{"id", "same"}})}}});
    const auto steps = explain(config.make_dispatcher(), ExplainOptions{.channel = "orders"});
    REQUIRE(steps.size() == 2);
    CHECK(steps[0].decision.action == FailureAction::send_again);
    CHECK(steps[1].decision.action == FailureAction::dead_letter);
}

TEST_CASE("config: the dead-letter middleware takes the document's suffix, the clock and its on filter") {
    auto clock = std::make_shared<ManualClock>();
    const Config config = load_config(
        {{"deadLetterSuffix", ".dead"},
         {"defaultPipeline", {{{"type", "dead-letter"}, {"id", "perm"}, {"on", {"permanent"}}}, send_again()}}},
        MiddlewareRegistry::with_builtins(), clock);
    const auto dispatcher = config.make_dispatcher();

    auto result = dispatcher.dispatch(FailureHandlingRequest(message(), "orders"), failure_of(ErrorClass::permanent));
    REQUIRE(result.decision());
    CHECK(result.decision()->middleware == "perm");
    CHECK(result.decision()->action == FailureAction::dead_letter);
    CHECK(result.decision()->to == "orders.dead");
    REQUIRE(result.pushes().size() == 1);
    // The time comes from the injected clock (2026-01-01T00:00:00Z), whatever the sub-second format.
    const auto time =
        result.pushes()[0].message.metadata.at(std::string(metadata_keys::dead_letter)).at("time").get<std::string>();
    CHECK(time.rfind("2026-01-01T00:00:00", 0) == 0);

    result = dispatcher.dispatch(FailureHandlingRequest(message(), "orders"), failure_of(ErrorClass::transient));
    CHECK(result.decision()->middleware == "again");

    const Config with_queue = load_config(in_default({{"type", "dead-letter"}, {"id", "dl"}, {"queue", "parking"}}));
    result = with_queue.make_dispatcher().dispatch(FailureHandlingRequest(message(), "orders"),
                                                   failure_of(ErrorClass::unknown));
    CHECK(result.decision()->to == "parking");
}

TEST_CASE("config: jitter and seed give a reproducible middleware") {
    const json document = in_default(exponential({{"jitter", "full"}, {"seed", 42}}));
    auto draw = [&] {
        const Config config = load_config(document);
        CHECK(as<ExponentialDelayMiddleware>(config.dispatcher.default_pipeline[0])->jitter() == Jitter::full);
        auto result = config.make_dispatcher().dispatch(FailureHandlingRequest(message(), "orders"),
                                                        failure_of(ErrorClass::unknown));
        REQUIRE(result.decision());
        CHECK(result.decision()->jittered);
        return result.decision()->delay.count();
    };
    const double first = draw();
    CHECK(first == draw());
    CHECK(first >= 0.0);
    CHECK(first <= 1.0);
}

TEST_CASE("config: a custom middleware type is registered by name and loaded") {
    const auto registry = registry_with_tag();
    CHECK(registry.contains("tag"));
    const Config config =
        load_config({{"pipelines", {{"orders", {{{"type", "tag"}, {"id", "t"}, {"label", "vip"}}}}}}}, registry);
    const auto& pipeline = config.dispatcher.pipelines.at("orders");
    REQUIRE(pipeline.size() == 1);
    CHECK(as<TagMiddleware>(pipeline[0])->label() == "vip");

    auto result =
        config.make_dispatcher().dispatch(FailureHandlingRequest(message(), "orders"), failure_of(ErrorClass::unknown));
    REQUIRE(result.decision());
    CHECK(result.decision()->middleware == "t");
    REQUIRE(result.pushes().size() == 1);
    CHECK(result.pushes()[0].channel == "tagged");
    CHECK(result.pushes()[0].message.metadata.at("tag") == "vip");

    // Without the registration, the type is unknown (and the default registry does not know it).
    CHECK(issues_of({{"defaultPipeline", {{{"type", "tag"}, {"id", "t"}, {"label", "vip"}}}}}).at(0).path ==
          "/defaultPipeline/0/type");
}

TEST_CASE("config: a custom middleware's problems get path-aware issues") {
    const auto registry = registry_with_tag();
    auto issues = issues_of({{"defaultPipeline", {{{"type", "tag"}, {"id", "t"}, {"lable", "x"}}}}}, registry);
    REQUIRE(issues.size() == 2);
    // An object's own issues come before those of its keys.
    CHECK(issues[0].path == "/defaultPipeline/0");
    CHECK(issues[0].message == "missing required key \"label\" (expected a string)");
    CHECK(issues[1].path == "/defaultPipeline/0/lable");
    CHECK(issues[1].message == "unknown key \"lable\"; did you mean \"label\"?");

    issues = issues_of({{"defaultPipeline", {{{"type", "tag"}, {"id", "t"}, {"label", "!x"}}}}}, registry);
    REQUIRE(issues.size() == 1);
    CHECK(issues[0].path == "/defaultPipeline/0/label");
    CHECK(issues[0].message == "expected a label not starting with \"!\", found \"!x\"");

    // An InvalidArgumentError thrown by a factory (or a constructor) lands at the middleware's path.
    issues = issues_of({{"defaultPipeline", {{{"type", "tag"}, {"id", "t"}, {"label", "throw"}}}}}, registry);
    REQUIRE(issues.size() == 1);
    CHECK(issues[0].path == "/defaultPipeline/0");
    CHECK(issues[0].message == "label \"throw\" is reserved");

    // The unknown-type message knows the custom type.
    issues = issues_of({{"defaultPipeline", {{{"type", "tga"}, {"id", "t"}}}}}, registry);
    REQUIRE(issues.size() == 1);
    CHECK(
        issues[0].message ==
        "unknown middleware type \"tga\"; did you mean \"tag\"? (known types: \"dead-letter\", \"exponential-delay\", "
        "\"send-again\", \"tag\")");
}

TEST_CASE("config: a factory that builds nothing without saying why is an issue") {
    auto registry = MiddlewareRegistry::with_builtins();
    registry.add("nothing", [](MiddlewareParams&) -> FailureMiddlewarePtr { return nullptr; });
    const auto issues = issues_of({{"defaultPipeline", {{{"type", "nothing"}}}}}, registry);
    REQUIRE(issues.size() == 1);
    CHECK(issues[0].path == "/defaultPipeline/0");
    CHECK(issues[0].message == "the factory of middleware type \"nothing\" built nothing");
}

TEST_CASE("config: the registry") {
    auto registry = MiddlewareRegistry::with_builtins();
    CHECK(registry.types() == std::vector<std::string>{"dead-letter", "exponential-delay", "send-again"});
    CHECK(registry.contains("send-again"));
    CHECK_FALSE(registry.contains("tag"));
    CHECK(registry.find("tag") == nullptr);
    CHECK(registry.find("dead-letter") != nullptr);
    CHECK(MiddlewareRegistry().types().empty());
    CHECK_THROWS_AS(registry.add("", [](MiddlewareParams&) -> FailureMiddlewarePtr { return nullptr; }),
                    InvalidArgumentError);
    CHECK_THROWS_AS(registry.add("x", nullptr), InvalidArgumentError);

    // Registering a built-in's name replaces it.
    registry.add("send-again", [](MiddlewareParams& params) -> FailureMiddlewarePtr {
        params.allow_keys({"id"});
        return std::make_shared<TagMiddleware>(params.required_string("id"), "replaced", "elsewhere");
    });
    const Config config = load_config(in_default({{"type", "send-again"}, {"id", "a"}}), registry);
    CHECK(as<TagMiddleware>(config.dispatcher.default_pipeline[0])->label() == "replaced");
}

TEST_CASE("config: classification rules classify exceptions") {
    const Config config = load_config({{"classification",
                                        {{{"type", "std::out_of_range"}, {"class", "transient"}},
                                         {{"message", "^card declined"}, {"class", "permanent"}},
                                         {{"message", "timeout"}, {"class", "transient"}}}}});
    try {
        throw std::out_of_range("index 7");
    } catch (const std::exception& e) {
        const Failure failure = config.classifier.classify(e);
        CHECK(failure.type == "std::out_of_range");
        CHECK(failure.error_class == ErrorClass::transient);
    }
    try {
        throw std::runtime_error("card declined by issuer");
    } catch (const std::exception& e) {
        CHECK(config.classifier.classify(e).error_class == ErrorClass::permanent);
    }
    try {
        throw std::runtime_error("upstream timeout after 3s");
    } catch (const std::exception& e) {
        CHECK(config.classifier.classify(e).error_class == ErrorClass::transient);
    }
    try {
        throw std::runtime_error("something else");
    } catch (const std::exception& e) {
        CHECK(config.classifier.classify(e).error_class == ErrorClass::unknown);
    }
    // The built-in rules stay behind the user's.
    try {
        throw PermanentError("bad data");
    } catch (const std::exception& e) {
        CHECK(config.classifier.classify(e).error_class == ErrorClass::permanent);
    }
}

TEST_CASE("config: bad classification rules are refused") {
    check_issue(
        {{"classification", {{{"message", "(unclosed"}, {"class", "permanent"}}}}},
        "/classification/0/message", "expected an ECMAScript regular expression, found \"(unclosed\" (" + [] {
            try {
                std::regex r("(unclosed");
            } catch (const std::regex_error& e) {
                return std::string(e.what());
            }
            return std::string();
        }() + ")");
    check_issue({{"classification", {{{"type", "std::exception"}, {"message", "x"}, {"class", "permanent"}}}}},
                "/classification/0", "expected either \"type\" or \"message\", found both");
    check_issue({{"classification", {{{"class", "permanent"}}}}}, "/classification/0",
                "missing required key \"type\" or \"message\"");
    check_issue({{"classification", {{{"type", "std::exception"}}}}}, "/classification/0",
                "missing required key \"class\" (expected \"transient\", \"permanent\" or \"unknown\")");
    check_issue({{"classification", {{{"type", "std::exception"}, {"class", "fatal"}}}}}, "/classification/0/class",
                "expected \"transient\", \"permanent\" or \"unknown\", found \"fatal\"");
    check_issue({{"classification", {{{"type", ""}, {"class", "permanent"}}}}}, "/classification/0/type",
                "expected a non-empty exception type name, found \"\"");
    check_issue({{"classification", {{{"type", 3}, {"class", "permanent"}}}}}, "/classification/0/type",
                "expected a string, found 3");
}

TEST_CASE("config: nearest_word finds likely typos only") {
    const std::vector<std::string> known{"maxAttempts", "delayInitial", "delayMaximum", "exponent", "queue"};
    CHECK(nearest_word("maxAttempt", known) == "maxAttempts");
    CHECK(nearest_word("MAXATTEMPTS", known) == "maxAttempts");
    CHECK(nearest_word("delayMax", known) == "delayMaximum");
    CHECK(nearest_word("exponet", known) == "exponent");
    CHECK(nearest_word("qeueu", known) == "queue");
    CHECK_FALSE(nearest_word("retries", known).has_value());
    CHECK_FALSE(nearest_word("concurrency", {"channels", "batchSize", "waitMs"}).has_value());
    CHECK_FALSE(nearest_word("x", {}).has_value());
    // Ties go to the first known word.
    CHECK(nearest_word("ab", {"ac", "ad"}) == "ac");
}

TEST_CASE("config: MiddlewareParams readers") {
    std::vector<ConfigIssue> issues;
    const json object = {{"s", "text"},
                         {"n", 2.5},
                         {"i", 7},
                         {"u", 18446744073709551615ULL},
                         {"big", 9223372036854775808ULL},
                         {"nul", nullptr},
                         {"on", {"transient", "unknown"}}};
    MiddlewareParams params(object, "/x", issues, ":dlq", nullptr);
    CHECK(params.path() == "/x");
    CHECK(params.dead_letter_suffix() == ":dlq");
    CHECK(params.required_string("s") == "text");
    CHECK(params.optional_string("nul") == std::nullopt);
    CHECK(params.optional_string("absent") == std::nullopt);
    CHECK(params.required_number("n") == 2.5);
    CHECK(params.required_number("i") == 7.0);
    CHECK(params.optional_number("absent") == std::nullopt);
    CHECK(params.required_integer("i") == 7);
    CHECK(params.optional_unsigned("u") == 18446744073709551615ULL);
    const auto on = params.error_classes();
    CHECK(on.contains(ErrorClass::transient));
    CHECK(on.contains(ErrorClass::unknown));
    CHECK_FALSE(on.contains(ErrorClass::permanent));
    CHECK(params.ok());
    CHECK(issues.empty());

    CHECK(params.required_integer("big") == std::nullopt);
    CHECK_FALSE(params.ok());
    REQUIRE(issues.size() == 1);
    CHECK(issues[0].path == "/x/big");
    CHECK(issues[0].message == "expected an integer <= 9223372036854775807, found 9223372036854775808");
    params.fail("", "whole object");
    CHECK(issues.back().path == "/x");
}

// --- hostile documents: every one refused quickly, with bounded memory, at its path ------------

namespace {

std::string nested_groups(std::size_t depth) { return std::string(depth, '(') + "a" + std::string(depth, ')'); }

json rule(const std::string& pattern) {
    return {{"classification", json::array({{{"message", pattern}, {"class", "permanent"}}})}};
}

// A scratch directory of its own, removed at the end of the test.
struct ScratchDir {
    std::filesystem::path path;
    explicit ScratchDir(const std::string& name)
        : path(std::filesystem::temp_directory_path() / ("failpipe-config-" + name + "-" + std::to_string(::getpid()))) {
        std::filesystem::remove_all(path);
        std::filesystem::create_directories(path);
    }
    ~ScratchDir() {
        std::error_code ec;
        std::filesystem::remove_all(path, ec);
    }
};

std::string only_message(const std::function<void()>& load) {
    try {
        load();
    } catch (const ConfigError& e) {
        REQUIRE(e.issues().size() == 1);
        return e.issues()[0].message;
    }
    FAIL("the document was accepted");
    return {};
}

}  // namespace

TEST_CASE("config: a message pattern beyond the limits is refused at its path before std::regex sees it") {
    const std::string prefix = "expected a regular expression within the limits of docs/config.md, found ";
    // 20,000 nested groups: std::regex would overflow the stack compiling it.
    const ConfigIssue nested = single_issue(rule(nested_groups(20000)));
    CHECK(nested.path == "/classification/0/message");
    CHECK(nested.message == prefix + "\"" + std::string(60, '(') + "\" (truncated), which is 40001 bytes long (at most 512)");
    CHECK(issues_of_text(rule(nested_groups(20000)).dump()).at(0).path == "/classification/0/message");

    check_issue(rule(nested_groups(17)), "/classification/0/message",
                prefix + "\"" + nested_groups(17) + "\", which nests groups more than 16 deep");
    check_issue(rule("(?:a{100}){100}"), "/classification/0/message",
                prefix + "\"(?:a{100}){100}\", which expands to more than 1000 atoms (a counted repetition {n,m} "
                         "copies what it repeats)");
    check_issue(rule("(a)\\1"), "/classification/0/message", prefix + "\"(a)\\\\1\", which uses a back-reference (\\1 to \\9)");
    check_issue(rule("a(?=b)"), "/classification/0/message",
                prefix + "\"a(?=b)\", which uses a lookahead assertion ((?= or (?!)");
    check_issue(rule(std::string(513, 'a')), "/classification/0/message",
                prefix + "\"" + std::string(60, 'a') + "\" (truncated), which is 513 bytes long (at most 512)");

    // Within the limits: loaded.
    CHECK_NOTHROW((void)load_config(rule(nested_groups(16))));
    CHECK_NOTHROW((void)load_config(rule(std::string(512, 'a'))));
    CHECK_NOTHROW((void)load_config(rule("(?:a{10}){50}")));
    CHECK_NOTHROW((void)load_config(rule("[(]\\(\\)[)]")));  // brackets in classes and escapes are no groups
}

TEST_CASE("config: Classifier::add_message_pattern has the config's limits") {
    Classifier classifier;
    CHECK_THROWS_WITH_AS(classifier.add_message_pattern(nested_groups(20000), ErrorClass::transient),
                         ("message pattern \"" + std::string(60, '(') +
                          "... (truncated)\" refused: it is 40001 bytes long (at most 512)")
                             .c_str(),
                         InvalidArgumentError);
    CHECK_THROWS_AS(classifier.add_message_pattern(nested_groups(17), ErrorClass::transient), InvalidArgumentError);
    CHECK_THROWS_AS(classifier.add_message_pattern("(a)\\1", ErrorClass::transient), InvalidArgumentError);
    CHECK_THROWS_AS(classifier.add_message_pattern("a)|(b", ErrorClass::transient), InvalidArgumentError);
    CHECK(message_pattern_problem("timed? ?out") == std::nullopt);
}

TEST_CASE("config: message patterns match in time linear in the message") {
    Classifier classifier;
    // Backtracking takes 2^n steps for this pattern on "aaa…ab"; the polynomial matcher does not.
    classifier.add_message_pattern("^(a+)+$", ErrorClass::permanent);
    classifier.add_message_pattern("^HTTP 5\\d\\d\\b", ErrorClass::transient);
    classifier.add_message_pattern("deadlock|lock wait", ErrorClass::transient);
    CHECK(classifier.class_of(nullptr, "x", std::string(400, 'a') + "b") == ErrorClass::unknown);
    CHECK(classifier.class_of(nullptr, "x", std::string(400, 'a')) == ErrorClass::permanent);
    CHECK(classifier.class_of(nullptr, "x", "HTTP 503 Service Unavailable") == ErrorClass::transient);
    CHECK(classifier.class_of(nullptr, "x", "got HTTP 503") == ErrorClass::unknown);  // ^ is the start only
    CHECK(classifier.class_of(nullptr, "x", "HTTP 5031") == ErrorClass::unknown);
    CHECK(classifier.class_of(nullptr, "x", "Lock wait timeout exceeded; lock wait") == ErrorClass::transient);
    CHECK(classifier.class_of(nullptr, "x", std::string(100000, 'x') + "deadlock") == ErrorClass::unknown);  // past the prefix
}

TEST_CASE("config: a document nested deeper than the limit is refused") {
    const std::string too_deep = "expected arrays and objects nested at most 64 deep, found one deeper";
    // The top object and 63 arrays: 64 levels, loaded far enough to find the unknown key.
    auto nested = [](std::size_t arrays) {
        return "{\"deep\": " + std::string(arrays, '[') + std::string(arrays, ']') + "}";
    };
    CHECK(issues_of_text(nested(63)).at(0).message.starts_with("unknown key \"deep\""));
    std::string path = "/deep";
    for (int i = 0; i < 63; ++i) path += "/0";
    const auto issues = issues_of_text(nested(64));
    REQUIRE(issues.size() == 1);
    CHECK(issues[0].path == path);
    CHECK(issues[0].message == too_deep);

    // 20,000 levels: the parse stops at level 65.
    const auto deep = issues_of_text(std::string(20000, '[') + std::string(20000, ']'));
    REQUIRE(deep.size() == 1);
    CHECK(deep[0].message == too_deep);

    // A json built in code, 100,000 deep: refused without recursion (copying it would overflow).
    json document = json::object();
    json* cursor = &document["deep"];
    for (int i = 0; i < 100000; ++i) {
        *cursor = json::array();
        cursor->push_back(nullptr);
        cursor = &cursor->back();
    }
    const auto built = issues_of(document);
    REQUIRE(built.size() == 1);
    CHECK(built[0].path == path);
    CHECK(built[0].message == too_deep);
}

TEST_CASE("config: a document larger than the limit is refused, from text and from a file") {
    const std::string big(ConfigLimits::kMaxDocumentBytes + 1, ' ');
    CHECK(only_message([&] { (void)parse_config(big); }) ==
          "the document is 4194305 bytes, more than the limit of 4194304 bytes");
    ScratchDir dir("big");
    const auto file = dir.path / "big.json";
    {
        std::ofstream out(file, std::ios::binary);
        out << '{' << std::string(5 * 1024 * 1024, ' ') << '}';
    }
    CHECK(only_message([&] { (void)load_config_file(file); }) ==
          "cannot read \"" + file.string() + "\": it is 5242882 bytes, more than the limit of 4194304 bytes");
}

TEST_CASE("config: a FIFO and a device are refused without blocking or reading forever") {
    ScratchDir dir("fifo");
    const auto fifo = dir.path / "config.json";
    REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
    CHECK(only_message([&] { (void)load_config_file(fifo); }) ==
          "cannot read \"" + fifo.string() + "\": it is not a regular file (a FIFO, a device or a socket)");
    CHECK(only_message([&] { (void)load_config_file("/dev/zero"); }) ==
          "cannot read \"/dev/zero\": it is not a regular file (a FIFO, a device or a socket)");
}

TEST_CASE("config: at most 20 problems are listed, then how many more") {
    std::string text = "{";
    json document = json::object();
    for (int i = 0; i < 100000; ++i) {
        const std::string key = "unknown-" + std::to_string(i);
        text += "\"" + key + "\": 0,";
        document[key] = 0;
    }
    text += "\"last\": 0}";
    const auto listed = issues_of_text(text);
    REQUIRE(listed.size() == 21);
    CHECK(listed[0].message.starts_with("unknown key \"unknown-"));
    CHECK(listed[20].path == "");
    CHECK(listed[20].message == "and 99981 more problems (only the first 20 are listed)");
    const auto built = issues_of(document);
    REQUIRE(built.size() == 21);
    CHECK(built[20].message == "and 99980 more problems (only the first 20 are listed)");

    // Exactly 21 problems: all listed... no, 20 and "1 more problem".
    json few = json::object();
    for (int i = 0; i < 21; ++i) few["x" + std::to_string(i)] = 0;
    CHECK(issues_of(few).back().message == "and 1 more problem (only the first 20 are listed)");
}

TEST_CASE("config: pipelines, rules and channels are bounded in number and length") {
    json long_pipeline = json::array();
    for (int i = 0; i < 101; ++i) long_pipeline.push_back(send_again());
    check_issue({{"defaultPipeline", long_pipeline}}, "/defaultPipeline",
                "expected at most 100 middlewares in a pipeline, found 101");

    // 11 pipelines of 100: the 11th goes beyond 1000 middlewares in all.
    json full = json::array();
    for (int i = 0; i < 100; ++i) full.push_back(send_again());
    json pipelines = json::object();
    for (int i = 0; i < 11; ++i) pipelines["c" + std::to_string(i)] = full;
    check_issue({{"pipelines", pipelines}}, "/pipelines/c9",
                "expected at most 1000 middlewares in all pipelines together, found more by this pipeline");

    json many = json::object();
    for (int i = 0; i < 1001; ++i) many["c" + std::to_string(i)] = json::array();
    check_issue({{"pipelines", many}}, "/pipelines", "expected at most 1000 pipelines, found 1001");

    json rules = json::array();
    for (int i = 0; i < 101; ++i) rules.push_back({{"type", "x"}, {"class", "permanent"}});
    check_issue({{"classification", rules}}, "/classification", "expected at most 100 classification rules, found 101");

    json channels = json::array();
    for (int i = 0; i < 1001; ++i) channels.push_back("c" + std::to_string(i));
    check_issue({{"worker", {{"channels", channels}}}}, "/worker/channels", "expected at most 1000 channels, found 1001");

    const std::string long_name(1025, 'c');
    check_issue({{"worker", {{"channels", {long_name}}}}}, "/worker/channels/0",
                "expected a channel name of at most 1024 bytes, found one of 1025 bytes");
    check_issue({{"pipelines", {{long_name, json::array()}}}}, "/pipelines/" + long_name,
                "expected a channel name of at most 1024 bytes, found one of 1025 bytes");
    CHECK_NOTHROW((void)load_config({{"worker", {{"channels", {std::string(1024, 'c')}}}}}));
}

TEST_CASE("config: numbers are refused where the worker or an adapter would refuse them") {
    check_issue({{"worker", {{"visibilityTimeout", 1e300}}}}, "/worker/visibilityTimeout",
                "expected a number <= 1e9 (seconds), found 1e+300");
    check_issue({{"worker", {{"visibilityTimeout", 1000000000.5}}}}, "/worker/visibilityTimeout",
                "expected a number <= 1e9 (seconds), found 1000000000.5");
    check_issue({{"worker", {{"visibilityTimeout", -1}}}}, "/worker/visibilityTimeout",
                "expected a number > 0, found -1");
    check_issue({{"worker", {{"batchSize", 100001}}}}, "/worker/batchSize", "expected an integer <= 100000, found 100001");
    check_issue({{"worker", {{"waitMs", 1e15}}}}, "/worker/waitMs",
                "expected an integer <= 1000000000000, found 1000000000000000");
    check_issue(in_default(send_again({{"maxAttempts", 1000000001}})), "/defaultPipeline/0/maxAttempts",
                "expected an integer <= 1000000000, found 1000000001");
    check_issue(in_default(exponential({{"maxAttempts", 1e12}})), "/defaultPipeline/0/maxAttempts",
                "expected an integer <= 1000000000, found 1000000000000.0");
    check_issue(in_default(exponential({{"delayInitial", 2e9}, {"delayMaximum", 3e9}})),
                "/defaultPipeline/0/delayInitial", "expected a number <= 1e9 (seconds), found 2000000000.0");
    check_issue(in_default(exponential({{"delayMaximum", 1e308}})), "/defaultPipeline/0/delayMaximum",
                "expected a number <= 1e9 (seconds), found 1e+308");

    // The largest accepted values work with the worker and the adapter.
    const Config config = load_config({{"worker", {{"channels", {"a"}}, {"visibilityTimeout", 1e9},
                                                   {"batchSize", 100000}, {"waitMs", 1000000000000}}},
                                       {"defaultPipeline", {exponential({{"maxAttempts", 1000000000},
                                                                         {"delayMaximum", 1e9}, {"exponent", 1e300}})}}});
    CHECK(config.visibility_timeout.count() == 1e9);
    CHECK_NOTHROW(InMemoryAdapter(InMemoryAdapter::Options{config.visibility_timeout, nullptr}));
}

TEST_CASE("config: nearest_word skips words far longer than every known one") {
    CHECK(nearest_word(std::string(4 * 1024 * 1024, 'x'), {"maxAttempts", "queue"}) == std::nullopt);
    CHECK(nearest_word("maxAttempt", {"maxAttempts", "queue"}) == "maxAttempts");
}

TEST_CASE("config: deadLetters.historyLimit, maxElapsed and worker.onExpired reach the dispatcher and the worker") {
    Config config = load_config({{"deadLetters", {{"historyLimit", 3}}},
                                 {"maxElapsed", 600},
                                 {"worker", {{"onExpired", "drop"}}}});
    CHECK(config.dispatcher.history_limit == 3);
    REQUIRE(config.dispatcher.default_max_elapsed);
    CHECK(config.dispatcher.default_max_elapsed->count() == 600);
    CHECK(config.worker.on_expired == ExpiredBehavior::drop);

    config = load_config({{"maxElapsed", {{"default", 3600}, {"orders", 60}, {"audit", 0}}}});
    CHECK(config.dispatcher.default_max_elapsed->count() == 3600);
    CHECK(config.dispatcher.max_elapsed.at("orders").count() == 60);
    CHECK(config.dispatcher.max_elapsed.at("audit").count() == 0);  // no limit on that channel
    CHECK_FALSE(config.make_dispatcher().max_elapsed_for("audit"));
    CHECK(config.make_dispatcher().max_elapsed_for("emails")->count() == 3600);

    config = load_config(json::object());
    CHECK(config.dispatcher.history_limit == kDefaultHistoryLimit);
    CHECK_FALSE(config.dispatcher.default_max_elapsed);
    CHECK(config.worker.on_expired == ExpiredBehavior::dead_letter);
}

TEST_CASE("config: maxElapsed 0 means no limit in both forms - a number and the object's default agree") {
    for (const json& form : {json(0), json({{"default", 0}}), json(0.0)}) {
        CAPTURE(form.dump());
        const Config config = load_config({{"maxElapsed", form}});
        CHECK_FALSE(config.dispatcher.default_max_elapsed);
        CHECK_FALSE(config.make_dispatcher().max_elapsed_for("orders"));
    }
    for (const json& form : {json(-0.5), json({{"default", -0.5}})}) {
        CAPTURE(form.dump());
        CHECK_THROWS_AS(load_config({{"maxElapsed", form}}), ConfigError);
    }
    CHECK(load_config({{"maxElapsed", 1e9}}).dispatcher.default_max_elapsed->count() == 1e9);
    CHECK(load_config({{"maxElapsed", {{"default", 1e9}}}}).dispatcher.default_max_elapsed->count() == 1e9);
}

TEST_CASE("config: deadLetters.maxCount and maxAge become the worker's retention policy") {
    Config config = load_config({{"deadLetters", {{"maxCount", 10000}, {"maxAge", 604800}}}});
    REQUIRE(config.worker.dead_letter_retention.max_count);
    CHECK(*config.worker.dead_letter_retention.max_count == 10000);
    REQUIRE(config.worker.dead_letter_retention.max_age);
    CHECK(config.worker.dead_letter_retention.max_age->count() == 604800);
    config = load_config({{"deadLetters", {{"maxCount", nullptr}}}});
    CHECK_FALSE(config.worker.dead_letter_retention.enabled());
}

TEST_CASE("config: bad deadLetters.maxCount and maxAge values are refused at their paths") {
    check_issue({{"deadLetters", {{"maxCount", 0}}}}, "/deadLetters/maxCount", "expected an integer >= 1, found 0");
    check_issue({{"deadLetters", {{"maxCount", -5}}}}, "/deadLetters/maxCount", "expected an integer >= 1, found -5");
    check_issue({{"deadLetters", {{"maxCount", 2.5}}}}, "/deadLetters/maxCount", "expected an integer, found 2.5");
    check_issue({{"deadLetters", {{"maxCount", 2000000000}}}}, "/deadLetters/maxCount",
                "expected an integer <= 1000000000, found 2000000000");
    check_issue({{"deadLetters", {{"maxAge", 0}}}}, "/deadLetters/maxAge", "expected a number > 0, found 0");
    check_issue({{"deadLetters", {{"maxAge", "7d"}}}}, "/deadLetters/maxAge", "expected a number, found \"7d\"");
    check_issue({{"deadLetters", {{"maxcount", 5}}}}, "/deadLetters/maxcount",
                "unknown key \"maxcount\"; did you mean \"maxCount\"?");
}

TEST_CASE("config: bad deadLetters, maxElapsed and onExpired values are refused at their paths") {
    check_issue({{"deadLetters", {{"historyLimit", 1001}}}}, "/deadLetters/historyLimit",
                "expected an integer <= 1000, found 1001");
    check_issue({{"deadLetters", {{"historyLimt", 5}}}}, "/deadLetters/historyLimt",
                "unknown key \"historyLimt\"; did you mean \"historyLimit\"?");
    check_issue({{"deadLetters", 5}}, "/deadLetters", "expected an object of dead-letter settings, found 5");
    check_issue({{"maxElapsed", -1}}, "/maxElapsed",
                "expected a number of seconds >= 0 and <= 1e9 (0: no limit), found -1 (or an object: channel to seconds)");
    check_issue({{"maxElapsed", 1e300}}, "/maxElapsed",
                "expected a number of seconds >= 0 and <= 1e9 (0: no limit), found 1e+300 (or an object: channel to seconds)");
    check_issue({{"maxElapsed", "10m"}}, "/maxElapsed",
                "expected a number of seconds >= 0 and <= 1e9 (0: no limit), found \"10m\" (or an object: channel to seconds)");
    check_issue({{"maxElapsed", {{"orders", "soon"}}}}, "/maxElapsed/orders",
                "expected a number of seconds >= 0 and <= 1e9 (0: no limit), found \"soon\"");
    check_issue({{"worker", {{"onExpired", "discard"}}}}, "/worker/onExpired",
                "expected \"dead-letter\" or \"drop\", found \"discard\"");
}

TEST_CASE("config: maxMessageBytes reaches Config for the adapter — bad values are refused at /maxMessageBytes") {
    CHECK(load_config({{"maxMessageBytes", 1048576}}).max_message_bytes == 1048576);
    CHECK(load_config({{"maxMessageBytes", 0}}).max_message_bytes == 0);
    CHECK(load_config(json::object()).max_message_bytes == 0);  // no limit unless configured
    check_issue({{"maxMessageBytes", -1}}, "/maxMessageBytes", "expected an integer >= 0, found -1");
    check_issue({{"maxMessageBytes", 536870913}}, "/maxMessageBytes", "expected an integer <= 536870912, found 536870913");
    check_issue({{"maxMessageBytes", "1MB"}}, "/maxMessageBytes", "expected an integer, found \"1MB\"");
    check_issue({{"maxMesageBytes", 10}}, "/maxMesageBytes", "unknown key \"maxMesageBytes\"; did you mean \"maxMessageBytes\"?");
}
