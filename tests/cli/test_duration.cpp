// The duration parser every command shares (src/duration_text.cpp, through tools/failpipe/duration.cpp).
#include <doctest/doctest.h>

#include <string>

#include "args.hpp"
#include "duration.hpp"

using failpipe::cli::parse_duration;
using failpipe::cli::UsageError;

namespace {

std::string refusal(const char* text) {
    try {
        parse_duration(text, "--delay");
    } catch (const UsageError& e) {
        return e.what();
    }
    return "accepted";
}

}  // namespace

TEST_CASE("durations: plain seconds and the units s, m, h, d") {
    CHECK(parse_duration("0", "--delay") == 0);
    CHECK(parse_duration("90", "--delay") == 90);
    CHECK(parse_duration("1.5", "--delay") == 1.5);
    CHECK(parse_duration("90s", "--delay") == 90);
    CHECK(parse_duration("15m", "--delay") == 900);
    CHECK(parse_duration("2h", "--delay") == 7200);
    CHECK(parse_duration("7d", "--delay") == 604800);
    CHECK(parse_duration("0.5m", "--delay") == 30);
    CHECK(parse_duration("1e3s", "--delay") == 1000);
    CHECK(parse_duration("1e9", "--delay") == 1e9);
    CHECK(parse_duration("1e-400", "--delay") == 0);
}

TEST_CASE("durations: each bad one has its own clear error") {
    CHECK(refusal("-5") == "--delay expects a duration of 0 or more, found \"-5\"");
    CHECK(refusal("-1m") == "--delay expects a duration of 0 or more, found \"-1m\"");
    CHECK(refusal("3w") == "--delay: unknown unit \"w\" in \"3w\" (expected s, m, h or d)");
    CHECK(refusal("5 s") == "--delay: unknown unit \" s\" in \"5 s\" (expected s, m, h or d)");
    CHECK(refusal("2hours") == "--delay: unknown unit \"hours\" in \"2hours\" (expected s, m, h or d)");
    CHECK(refusal("2026-01-01T00:00:00Z") ==
          "--delay expects a duration such as 90s, 15m, 2h, 7d or plain seconds, not a date or time, found \"2026-01-01T00:00:00Z\"");
    CHECK(refusal("12:30") ==
          "--delay expects a duration such as 90s, 15m, 2h, 7d or plain seconds, not a date or time, found \"12:30\"");
    CHECK(refusal("nan") == "--delay expects a duration such as 90s, 15m, 2h, 7d or plain seconds, found \"nan\"");
    CHECK(refusal("") == "--delay expects a duration such as 90s, 15m, 2h, 7d or plain seconds, found \"\"");
    CHECK(refusal("s") == "--delay expects a duration such as 90s, 15m, 2h, 7d or plain seconds, found \"s\"");
    CHECK(refusal("+5") == "--delay expects a duration such as 90s, 15m, 2h, 7d or plain seconds, found \"+5\"");
    CHECK(refusal("inf") == "--delay expects at most 1e9 seconds (about 31 years), found \"inf\"");
    CHECK(refusal("1e400") == "--delay expects at most 1e9 seconds (about 31 years), found \"1e400\"");
    CHECK(refusal("11575d") == "--delay expects at most 1e9 seconds (about 31 years), found \"11575d\"");
    CHECK(refusal("1000000001") == "--delay expects at most 1e9 seconds (about 31 years), found \"1000000001\"");
}
