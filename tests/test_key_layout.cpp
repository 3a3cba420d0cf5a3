// Config `keyLayout`: where a deployment's keys live ("prefix" or "groups"), read at load and
// checked like every other key (docs/config.md, docs/shard-groups.md "Key layout").
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "failpipe/config.hpp"
#include "failpipe/shard_groups.hpp"

using namespace failpipe;

namespace {

std::vector<ConfigIssue> issues_of(std::string_view text) {
    try {
        (void)parse_config(text);
    } catch (const ConfigError& e) {
        return e.issues();
    }
    FAIL("the document was accepted");
    return {};
}

}  // namespace

TEST_CASE("config keyLayout - absent is unset, prefix and groups are read") {
    CHECK_FALSE(parse_config(R"({"pipelines": {}})").key_layout.has_value());
    CHECK_FALSE(parse_config(R"({"keyLayout": null})").key_layout.has_value());
    CHECK(parse_config(R"({"keyLayout": "prefix"})").key_layout == KeyLayout::prefix);
    const Config grouped = parse_config(R"({"keyLayout": "groups", "pipelines": {"orders": [
        {"type": "dead-letter", "id": "dlq"}]}})");
    CHECK(grouped.key_layout == KeyLayout::groups);
    CHECK(grouped.shard_groups.group_of("orders:dlq") == "orders");
}

TEST_CASE("config keyLayout - an unknown value or another type is refused, naming the key and the choices") {
    auto issues = issues_of(R"({"keyLayout": "grouped"})");
    REQUIRE(issues.size() == 1);
    CHECK(issues[0].path == "/keyLayout");
    CHECK(issues[0].message.find("\"groups\"") != std::string::npos);
    CHECK(issues[0].message.find("\"prefix\"") != std::string::npos);
    issues = issues_of(R"({"keyLayout": true})");
    REQUIRE(issues.size() == 1);
    CHECK(issues[0].path == "/keyLayout");
    issues = issues_of(R"({"keylayout": "groups"})");
    REQUIRE(issues.size() == 1);
    CHECK(issues[0].message.find("keyLayout") != std::string::npos);  // the nearest known key
}

TEST_CASE("key layout names - to_string and key_layout_named agree, anything else is no layout") {
    for (const KeyLayout layout : {KeyLayout::prefix, KeyLayout::groups}) CHECK(key_layout_named(to_string(layout)) == layout);
    CHECK_FALSE(key_layout_named("Groups").has_value());
    CHECK_FALSE(key_layout_named("").has_value());
}
