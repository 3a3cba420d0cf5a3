// The built-in middleware types and the top-level keys are each known in one place; these tests
// make sure the registry, config/schema.json, the loader and the dispatcher agree on them, so a new
// built-in type or key cannot be half-registered.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "builtin_middlewares.hpp"
#include "config_sections.hpp"
#include "failpipe/failpipe.hpp"
#include "test_support.hpp"

using namespace failpipe;
using failpipe::test::config_issues;
using failpipe::test::keys_of;
using nlohmann::json;

namespace {

json schema() {
    std::ifstream in(std::filesystem::path(FAILPIPE_SOURCE_DIR) / "config" / "schema.json");
    REQUIRE(in);
    return json::parse(in);
}

template <class Range>
std::set<std::string> as_set(const Range& range) {
    std::set<std::string> out;
    for (const auto& item : range) out.emplace(item);
    return out;
}

// The types the schema's middleware definition dispatches on (`if type == T then $defs/T`).
std::set<std::string> schema_types(const json& s) {
    std::set<std::string> types;
    for (const auto& branch : s.at("$defs").at("middleware").at("allOf")) {
        const std::string type = branch.at("if").at("properties").at("type").at("const");
        CHECK(branch.at("then").at("$ref") == "#/$defs/" + type);
        types.insert(type);
    }
    return types;
}

bool refused_as_unknown(const json& document, const std::string& path) {
    for (const auto& issue : config_issues(document))
        if (issue.path == path && issue.message.rfind("unknown key", 0) == 0) return true;
    return false;
}

// A smallest valid object of each built-in type.
const std::map<std::string, json>& minimal_middlewares() {
    static const std::map<std::string, json> objects{
        {"send-again", {{"type", "send-again"}, {"id", "a"}, {"maxAttempts", 1}}},
        {"exponential-delay",
         {{"type", "exponential-delay"}, {"id", "b"}, {"maxAttempts", 1}, {"delayInitial", 1}, {"delayMaximum", 2},
          {"exponent", 2}}},
        {"dead-letter", {{"type", "dead-letter"}, {"id", "c"}}},
    };
    return objects;
}

}  // namespace

TEST_CASE("config registration: the registry, the table and the schema name the same built-in types") {
    std::vector<std::string> table_types;
    for (const auto& row : detail::builtin_middlewares()) table_types.emplace_back(row.type);
    CHECK(as_set(table_types).size() == table_types.size());
    CHECK(as_set(MiddlewareRegistry::with_builtins().types()) == as_set(table_types));
    CHECK(schema_types(schema()) == as_set(table_types));
}

TEST_CASE("config registration: each built-in type has the schema's parameters, and the loader takes exactly those") {
    const json s = schema();
    for (const auto& row : detail::builtin_middlewares()) {
        const std::string type(row.type);
        CAPTURE(type);
        REQUIRE(s.at("$defs").contains(type));
        std::set<std::string> schema_parameters = keys_of(s.at("$defs").at(type).at("properties"));
        CHECK(schema_parameters.erase("type") == 1);
        CHECK(schema_parameters == as_set(row.parameters));

        for (const auto& parameter : schema_parameters) {
            CAPTURE(parameter);
            json middleware{{"type", type}, {parameter, "?"}};
            CHECK_FALSE(refused_as_unknown({{"defaultPipeline", {middleware}}}, "/defaultPipeline/0/" + parameter));
        }
        json stranger{{"type", type}, {"notAParameter", 1}};
        CHECK(refused_as_unknown({{"defaultPipeline", {stranger}}}, "/defaultPipeline/0/notAParameter"));
    }
}

TEST_CASE("config registration: the loader and the schema know the same top-level and worker keys") {
    const json s = schema();
    CHECK(keys_of(s.at("properties")) == as_set(detail::top_level_keys()));
    CHECK(keys_of(s.at("$defs").at("worker").at("properties")) == as_set(detail::worker_keys()));
    CHECK(keys_of(s.at("properties").at("deadLetters").at("properties")) == as_set(detail::dead_letters_keys()));
    CHECK(keys_of(s.at("properties").at("durability").at("oneOf").at(1).at("properties")) ==
          as_set(detail::durability_keys()));
    for (const auto& key : keys_of(s.at("properties").at("deadLetters").at("properties"))) {
        CAPTURE(key);
        CHECK(config_issues({{"deadLetters", {{key, nullptr}}}}).empty());
    }
    // Every key the schema allows loads (null counts as absent); one it does not is refused.
    for (const auto& key : keys_of(s.at("properties"))) {
        CAPTURE(key);
        CHECK(config_issues({{key, nullptr}}).empty());
    }
    for (const auto& key : keys_of(s.at("$defs").at("worker").at("properties"))) {
        CAPTURE(key);
        CHECK(config_issues({{"worker", {{key, nullptr}}}}).empty());
    }
    CHECK(refused_as_unknown({{"notAKey", nullptr}}, "/notAKey"));
    CHECK(refused_as_unknown({{"worker", {{"notAKey", nullptr}}}}, "/worker/notAKey"));
}

TEST_CASE("config registration: the dispatcher treats every built-in type as built-in and anything else as custom") {
    const auto registry = MiddlewareRegistry::with_builtins();
    for (const auto& row : detail::builtin_middlewares()) {
        const std::string type(row.type);
        CAPTURE(type);
        REQUIRE(minimal_middlewares().count(type) == 1);
        const Config config = load_config({{"pipelines", {{"orders", {minimal_middlewares().at(type)}}}}}, registry);
        const auto& middleware = *config.dispatcher.pipelines.at("orders").front();
        CHECK(row.is_instance(middleware));
        CHECK(detail::is_builtin_middleware(middleware));
        CHECK_FALSE(config.make_dispatcher().runs_custom_middleware("orders"));
    }

    struct Custom final : MiddlewareFailureInterface {
        FailureHandlingRequest handle(FailureHandlingRequest request, const Failure& failure,
                                      const FailureHandlerInterface& next) const override {
            return next.handle(std::move(request), failure);
        }
        const std::string& id() const noexcept override { return id_; }
        std::string id_ = "custom";
    };
    const auto custom = std::make_shared<Custom>();
    CHECK_FALSE(detail::is_builtin_middleware(*custom));
    FailureMiddlewareDispatcher::Options options;
    options.pipelines["orders"] = {std::make_shared<SendAgainMiddleware>("a", 1), custom};
    options.pipelines["invoices"] = {std::make_shared<SendAgainMiddleware>("a", 1)};
    const FailureMiddlewareDispatcher dispatcher(options);
    CHECK(dispatcher.runs_custom_middleware("orders"));
    CHECK_FALSE(dispatcher.runs_custom_middleware("invoices"));
    CHECK_FALSE(dispatcher.runs_custom_middleware("elsewhere"));  // the default pipeline is empty
}

TEST_CASE("config registration: top-level settings are kept even when the pipelines report more problems than are kept") {
    // 1000 middlewares with 5 problems each: far beyond the issues a load keeps. The settings are
    // read before the sections, so their problems are among those kept and listed first.
    json pipeline = json::array();
    for (int i = 0; i < 100; ++i) pipeline.push_back({{"type", "send-again"}, {"a", 1}, {"b", 1}, {"c", 1}});
    json pipelines = json::object();
    for (int i = 0; i < 10; ++i) pipelines["c" + std::to_string(i)] = pipeline;
    const std::string text = R"({"final": "nope", "deadLetterSuffix": "", "pipelines": )" + pipelines.dump() + "}";
    try {
        (void)parse_config(text);
        FAIL("the document was accepted");
    } catch (const ConfigError& e) {
        REQUIRE(e.issues().size() == ConfigLimits::kMaxReportedIssues + 1);
        CHECK(e.issues()[0].path == "/final");
        CHECK(e.issues()[1].path == "/deadLetterSuffix");
        CHECK(e.issues().back().message == "and 4982 more problems (only the first 20 are listed)");
    }
}
