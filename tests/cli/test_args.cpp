// parse_args (tools/failpipe/args.cpp): CLI11 underneath, the tool's own words on top. The binary's
// tests (CMakeLists.txt here) cover the commands there are; these cover flags, which the coming
// commands (dlq purge --yes, replay --dry-run) use and no command has yet.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "args.hpp"

using failpipe::cli::OptionSpec;
using failpipe::cli::parse_args;
using failpipe::cli::ParsedArgs;
using failpipe::cli::UsageError;

namespace {

const std::vector<OptionSpec> kOptions{{"channel", "C", "", true}, {"limit", "N", ""}, {"dry-run", "", ""},
                                       {"yes", "", ""}};

ParsedArgs parse(const std::vector<std::string>& args) { return parse_args(args, kOptions, {}); }

std::string refusal(const std::vector<std::string>& args) {
    try {
        parse(args);
    } catch (const UsageError& e) {
        return e.what();
    }
    return "accepted";
}

}  // namespace

TEST_CASE("args: flags are present or absent, and take no value") {
    const ParsedArgs with = parse({"--channel", "orders", "--dry-run"});
    CHECK(with.has("dry-run"));
    CHECK_FALSE(with.has("yes"));
    CHECK(*with.value("channel") == "orders");
    CHECK(refusal({"--channel", "orders", "--dry-run=1"}) == "option \"--dry-run\" takes no value");
    CHECK(refusal({"--channel", "orders", "--dry-run=true"}) == "option \"--dry-run\" takes no value");
    CHECK(refusal({"--channel", "orders", "--yes="}) == "option \"--yes\" takes no value");
    CHECK(refusal({"--channel", "orders", "--yes", "--yes"}) == "option \"--yes\" given more than once");
    CHECK(refusal({"--channel", "orders", "--dryrun"}) == "unknown option \"--dryrun\"; did you mean \"--dry-run\"?");
}

TEST_CASE("args: values, inline values and the end of options") {
    CHECK(*parse({"--channel=orders", "--limit", "5"}).value("limit") == "5");
    CHECK(*parse({"--channel", "-x"}).value("channel") == "-x");
    CHECK(*parse({"--channel=--odd"}).value("channel") == "--odd");
    CHECK(refusal({"--channel", "--limit", "5"}) == "option \"--channel\" needs a value (C)");
    CHECK(refusal({"--limit", "5"}) == "missing required option \"--channel C\"");
    CHECK(refusal({"--channel", "a", "--", "--yes"}) == "unexpected argument \"--yes\"");
    CHECK(parse({"--channel", "a", "--yes", "--help"}).help);
    CHECK(refusal({"--channel", "a", "--help=x"}) == "option \"--help\" takes no value");
}

TEST_CASE("args: a value echoed in an error shows control bytes as ? - a pasted escape sequence cannot reach the terminal") {
    CHECK(refusal({"--channel", "a", "--lmit\x1b[2J"}) == "unknown option \"--lmit?[2J\"");
    CHECK(refusal({"--channel", "a", "extra\x07\nline"}) == "unexpected argument \"extra? line\"");
    CHECK(failpipe::cli::quote(std::string(300, 'x') + "\x1b") == "\"" + std::string(200, 'x') + "\u2026\"");
    CHECK(failpipe::cli::quote("tab\there") == "\"tab here\"");
}
