// The runtime's config keys: worker.threads, worker.shutdownGrace, degradation, http.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <set>

#include "config_runtime.hpp"
#include "failpipe/config.hpp"
#include "failpipe/listen_address.hpp"

using failpipe::ConfigError;
using failpipe::ConfigIssue;
using nlohmann::json;

namespace {

std::vector<ConfigIssue> issues_of(const json& document) {
    try {
        (void)failpipe::load_config(document);
    } catch (const ConfigError& e) {
        return e.issues();
    }
    return {};
}

// The one issue of @p document: its path and message.
ConfigIssue only_issue(const json& document) {
    const auto issues = issues_of(document);
    REQUIRE(issues.size() == 1);
    return issues.front();
}

std::set<std::string> schema_keys(const char* definition) {
    std::ifstream in(std::filesystem::path(FAILPIPE_SOURCE_DIR) / "config" / "schema.json");
    REQUIRE(in);
    const json schema = json::parse(in);
    std::set<std::string> keys;
    for (const auto& [key, value] : schema.at("$defs").at(definition).at("properties").items()) keys.insert(key);
    return keys;
}

template <class Range>
std::set<std::string> set_of(const Range& range) {
    return std::set<std::string>(range.begin(), range.end());
}

}  // namespace

TEST_CASE("runtime config: threads, grace, degradation and http load into Config") {
    const auto config = failpipe::load_config(json::parse(R"({
        "worker": {"channels": ["pay"], "threads": 8, "shutdownGrace": 12.5},
        "degradation": {"enabled": true, "failureRatio": 0.3, "window": 20, "minimumSamples": 50,
                        "decreaseFactor": 0.25, "increaseStep": 2, "interval": 3, "minimumConcurrency": 2},
        "http": {"listen": "127.0.0.1:9500"}
    })"));
    CHECK(config.pool.threads == 8);
    CHECK(config.pool.shutdown_grace.count() == 12.5);
    const auto& d = config.pool.degradation;
    CHECK(d.enabled);
    CHECK(d.failure_ratio == 0.3);
    CHECK(d.window.count() == 20.0);
    CHECK(d.minimum_samples == 50);
    CHECK(d.decrease_factor == 0.25);
    CHECK(d.increase_step == 2);
    CHECK(d.interval.count() == 3.0);
    CHECK(d.minimum_concurrency == 2);
    REQUIRE(config.http_listen);
    CHECK(config.http_listen->host == "127.0.0.1");
    CHECK(config.http_listen->port == 9500);

    const auto defaults = failpipe::load_config(json::object());
    CHECK(defaults.pool.threads == 1);
    CHECK(defaults.pool.shutdown_grace.count() == 30.0);
    CHECK_FALSE(defaults.pool.degradation.enabled);
    CHECK_FALSE(defaults.http_listen);
}

TEST_CASE("runtime config: a negative grace period is a ConfigError at its path") {
    const auto issue = only_issue(json::parse(R"({"worker": {"shutdownGrace": -1}})"));
    CHECK(issue.path == "/worker/shutdownGrace");
    CHECK(issue.message.find(">= 0") != std::string::npos);
    CHECK(issue.message.find("-1") != std::string::npos);
    CHECK(issues_of(json::parse(R"({"worker": {"shutdownGrace": 0}})")).empty());  // 0: do not wait
}

TEST_CASE("runtime config: threads out of bounds, bad degradation values and unknown keys are refused at their paths") {
    CHECK(only_issue(json::parse(R"({"worker": {"threads": 0}})")).path == "/worker/threads");
    CHECK(only_issue(json::parse(R"({"worker": {"threads": 5000}})")).path == "/worker/threads");
    CHECK(only_issue(json::parse(R"({"degradation": {"decreaseFactor": 1}})")).path == "/degradation/decreaseFactor");
    CHECK(only_issue(json::parse(R"({"degradation": {"failureRatio": 0}})")).path == "/degradation/failureRatio");
    CHECK(only_issue(json::parse(R"({"degradation": {"minimumConcurrency": 0}})")).path ==
          "/degradation/minimumConcurrency");
    CHECK(only_issue(json::parse(R"({"degradation": {"enabled": "yes"}})")).path == "/degradation/enabled");
    CHECK(only_issue(json::parse(R"({"degradation": {"window": 0}})")).path == "/degradation/window");
    const auto typo = only_issue(json::parse(R"({"degradation": {"failureRation": 0.5}})"));
    CHECK(typo.path == "/degradation/failureRation");
    CHECK(typo.message.find("failureRatio") != std::string::npos);
}

TEST_CASE("runtime config: http.listen must be host:port, loopback unless allowNonLoopback") {
    const auto remote = only_issue(json::parse(R"({"http": {"listen": "0.0.0.0:9464"}})"));
    CHECK(remote.path == "/http/listen");
    CHECK(remote.message.find("allowNonLoopback") != std::string::npos);
    const auto allowed = failpipe::load_config(json::parse(R"({"http": {"listen": "0.0.0.0:9464", "allowNonLoopback": true}})"));
    CHECK(allowed.http_listen->host == "0.0.0.0");
    CHECK(allowed.http_allow_non_loopback);
    CHECK(only_issue(json::parse(R"({"http": {"listen": "example.com:80"}})")).path == "/http/listen");
    CHECK(only_issue(json::parse(R"({"http": {"listen": "127.0.0.1"}})")).path == "/http/listen");
    CHECK(only_issue(json::parse(R"({"http": {"listen": "127.0.0.1:70000"}})")).path == "/http/listen");
    CHECK(only_issue(json::parse(R"({"http": {"listen": "127.0.0.1:0"}})")).path == "/http/listen");
    CHECK(failpipe::load_config(json::parse(R"({"http": {"listen": "[::1]:9464"}})")).http_listen->loopback());
    CHECK(failpipe::load_config(json::parse(R"({"http": {"listen": "localhost:9464"}})")).http_listen->loopback());
}

TEST_CASE("runtime config: the schema and the loader know the same degradation and http keys") {
    CHECK(schema_keys("degradation") == set_of(failpipe::detail::degradation_keys()));
    CHECK(schema_keys("http") == set_of(failpipe::detail::http_keys()));
    for (const auto& key : failpipe::detail::degradation_keys()) {
        CAPTURE(key);
        CHECK(issues_of({{"degradation", {{key, nullptr}}}}).empty());
    }
}

TEST_CASE("listen address: parsed, printed, and loopback told apart") {
    const auto v4 = failpipe::ListenAddress::parse("127.0.0.2:1");
    CHECK(v4.loopback());
    CHECK(v4.to_string() == "127.0.0.2:1");
    const auto v6 = failpipe::ListenAddress::parse("[::]:9464");
    CHECK_FALSE(v6.loopback());
    CHECK(v6.to_string() == "[::]:9464");
    CHECK_FALSE(failpipe::ListenAddress::parse("10.0.0.1:80").loopback());
    CHECK_THROWS_WITH_AS(failpipe::ListenAddress::parse(":80"), doctest::Contains("host"), failpipe::InvalidArgumentError);
    CHECK_THROWS_AS(failpipe::ListenAddress::parse("1.2.3.4:"), failpipe::InvalidArgumentError);
    CHECK_THROWS_AS(failpipe::ListenAddress::parse("1.2.3.4:-1"), failpipe::InvalidArgumentError);
}

TEST_CASE("runtime config: dashboard.allowedHosts is a list of Host names - a URL, a wildcard or a non-string is refused naming the item") {
    const auto config = failpipe::load_config(json::parse(
        R"({"dashboard": {"listen": "127.0.0.1:8080", "allowedHosts": ["dash.example.com", "dash.example.com:443"]}})"));
    CHECK(config.dashboard.allowed_hosts == std::vector<std::string>{"dash.example.com", "dash.example.com:443"});
    CHECK(failpipe::load_config(json::parse(R"({"dashboard": {"listen": "127.0.0.1:8080"}})")).dashboard.allowed_hosts.empty());
    for (const char* bad : {R"(["http://evil.example/"])", R"(["*.example.com"])", R"([""])", R"([42])", R"(["a b"])",
                            R"("dash.example.com")"}) {
        CAPTURE(bad);
        const auto issue = only_issue(json::parse(std::string(R"({"dashboard": {"listen": "127.0.0.1:8080", "allowedHosts": )") +
                                                  bad + "}}"));
        CHECK(issue.path == "/dashboard/allowedHosts");
    }
    CHECK(only_issue(json::parse(R"({"dashboard": {"allowedHosts": ["ok", "x/y"]}})")).message.find("item 1") != std::string::npos);
}
