// Config `durability`: when a settle or a push counts as done ("master" or "replicas", or an object
// with the number of replicas and the wait), read at load and checked like every other key
// (docs/config.md, "Durability").
#include <doctest/doctest.h>

#include <chrono>
#include <string>
#include <vector>

#include "failpipe/config.hpp"
#include "test_support.hpp"

using namespace failpipe;
using Mode = DurabilitySetting::Mode;
using failpipe::test::config_refusals;

TEST_CASE("config durability - absent is unset, the two words and the object form are read") {
    CHECK_FALSE(parse_config(R"({"pipelines": {}})").durability.has_value());
    CHECK_FALSE(parse_config(R"({"durability": null})").durability.has_value());
    CHECK(parse_config(R"({"durability": "master"})").durability == DurabilitySetting{});
    const auto replicas = parse_config(R"({"durability": "replicas"})").durability;
    REQUIRE(replicas.has_value());
    CHECK(replicas->mode == Mode::replicas);
    CHECK(replicas->replicas == 1);
    CHECK(replicas->wait == std::chrono::milliseconds(1000));
    const auto full = parse_config(R"({"durability": {"mode": "replicas", "replicas": 2, "waitMs": 250}})").durability;
    REQUIRE(full.has_value());
    CHECK(full->mode == Mode::replicas);
    CHECK(full->replicas == 2);
    CHECK(full->wait == std::chrono::milliseconds(250));
    CHECK(parse_config(R"({"durability": {"mode": "master"}})").durability == DurabilitySetting{});
}

TEST_CASE("config durability - bad values are refused at their path, naming what is expected") {
    auto issues = config_refusals(R"({"durability": "replica"})");
    REQUIRE(issues.size() == 1);
    CHECK(issues[0].path == "/durability");
    CHECK(issues[0].message.find("\"replicas\"") != std::string::npos);  // the nearest choice
    issues = config_refusals(R"({"durability": 2})");
    REQUIRE(issues.size() == 1);
    CHECK(issues[0].path == "/durability");
    CHECK(issues[0].message.find("an object of durability settings") != std::string::npos);
    issues = config_refusals(R"({"durability": {"replicas": 1}})");
    REQUIRE(issues.size() == 1);
    CHECK(issues[0].path == "/durability/mode");
    issues = config_refusals(R"({"durability": {"mode": "replicas", "replicas": 0}})");
    REQUIRE(issues.size() == 1);
    CHECK(issues[0].path == "/durability/replicas");
    issues = config_refusals(R"({"durability": {"mode": "replicas", "waitMs": 3600001}})");
    REQUIRE(issues.size() == 1);
    CHECK(issues[0].path == "/durability/waitMs");
    issues = config_refusals(R"({"durability": {"mode": "replicas", "wait": 100}})");
    REQUIRE(issues.size() == 1);
    CHECK(issues[0].path == "/durability/wait");
    CHECK(issues[0].message.find("waitMs") != std::string::npos);  // the nearest known key
}
