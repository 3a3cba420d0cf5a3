// parse_dead_letter_filter: the one reading of dead-letter filters that the CLI and the dashboard
// share (its texts are compared end to end, CLI against HTTP, by filter_messages.sh).
#include <doctest/doctest.h>

#include <chrono>
#include <string>

#include "failpipe/dead_letter_filter_params.hpp"

namespace {

using namespace failpipe;
using namespace std::chrono_literals;

const TimePoint kNow = TimePoint{} + std::chrono::hours(24 * 365 * 56);  // 2026, give or take

TimePoint utc(int y, unsigned m, unsigned d, int h, int min, int s) {
    return TimePoint{std::chrono::sys_days{std::chrono::year{y} / std::chrono::month{m} / std::chrono::day{d}}.time_since_epoch() +
                     std::chrono::hours{h} + std::chrono::minutes{min} + std::chrono::seconds{s}};
}

DeadLetterFilter parse(FilterParams params, FilterParamStyle style = FilterParamStyle::query) {
    return parse_dead_letter_filter(params, style, kNow);
}

// The message parse_dead_letter_filter refuses @p params with.
std::string refusal(FilterParams params, FilterParamStyle style = FilterParamStyle::query) {
    try {
        parse(std::move(params), style);
    } catch (const DeadLetterFilterError& e) {
        return e.what();
    }
    return "(accepted)";
}

}  // namespace

TEST_CASE("dashboard memory: filter params - every field is read, durations count back from now") {
    const DeadLetterFilter f = parse({{"channel", "orders"}, {"errorType", "app::NotFound"}, {"reason", "failure"},
                                      {"class", "permanent"}, {"group", "3f1c"}, {"grep", "not (found|JSON)"},
                                      {"since", "2h"}, {"until", "90"}});
    CHECK(f.channel == "orders");
    CHECK(f.error_type == "app::NotFound");
    CHECK(f.reason == "failure");
    CHECK(f.error_class == "permanent");
    CHECK(f.fingerprint == "3f1c");
    CHECK(f.grep == "not (found|JSON)");
    REQUIRE(f.since);
    REQUIRE(f.until);
    CHECK(*f.since == kNow - 2h);
    CHECK(*f.until == kNow - 90s);
    CHECK(*parse({{"channel", "c"}, {"since", "1.5d"}}).since == kNow - 36h);
    CHECK(*parse({{"channel", "c"}, {"since", "15m"}}).since == kNow - 15min);
    // The option style: the CLI's names, given without dashes.
    const DeadLetterFilter o = parse({{"channel", "orders"}, {"error-type", "E"}}, FilterParamStyle::option);
    CHECK(o.error_type == "E");
    // Empty text fields match everything, as an absent one.
    CHECK(parse({{"channel", "orders"}, {"reason", ""}}).reason.empty());
}

TEST_CASE("dashboard memory: filter params - a UTC time needs its Z, other zones and impossible dates are refused") {
    CHECK(*parse({{"channel", "c"}, {"since", "2026-03-01T10:00:00Z"}}).since == utc(2026, 3, 1, 10, 0, 0));
    CHECK(*parse({{"channel", "c"}, {"since", "2026-03-01T10:00:00.250Z"}}).since ==
          utc(2026, 3, 1, 10, 0, 0) + 250ms);
    CHECK(refusal({{"channel", "c"}, {"since", "2026-03-01T10:00:00"}}) ==
          "since: \"2026-03-01T10:00:00\" has no time zone: add Z for UTC (\"2026-03-01T10:00:00Z\")");
    CHECK(refusal({{"channel", "c"}, {"until", "2026-03-01T10:00:00+02:00"}}) ==
          "until: \"2026-03-01T10:00:00+02:00\" is not in UTC: write the time in UTC, ending in Z");
    for (const char* impossible : {"2026-02-30T10:00:00Z", "2026-13-01T10:00:00Z", "2026-03-01T24:00:00Z",
                                   "1969-12-31T23:59:59Z", "9999-01-01T00:00:00Z"})
        CHECK_MESSAGE(refusal({{"channel", "c"}, {"since", impossible}}).find("is not a valid time") != std::string::npos,
                      impossible);
    for (const char* garbage : {"2026-03-01", "2026-03-01 10:00:00Z", "2026-3-1T10:00:00Z", "2026-03-01T10:00:00.Z",
                                "2026-03-01T10:00:00Zjunk", "+2026-03-01T10:00:00Z"})
        CHECK_MESSAGE(refusal({{"channel", "c"}, {"since", garbage}}).find("since") == 0, garbage);
}

TEST_CASE("dashboard memory: filter params - bad durations name the parameter and the value") {
    const std::string forms = " expects a duration ago (90s, 15m, 2h, 7d) or a UTC time (2026-03-01T10:00:00Z), found ";
    CHECK(refusal({{"channel", "c"}, {"since", "yesterday"}}) == "since" + forms + "\"yesterday\"");
    CHECK(refusal({{"channel", "c"}, {"since", "yesterday"}}, FilterParamStyle::option) == "--since" + forms + "\"yesterday\"");
    CHECK(refusal({{"channel", "c"}, {"since", ""}}) == "since" + forms + "\"\"");
    CHECK(refusal({{"channel", "c"}, {"since", " 5m"}}) == "since" + forms + "\" 5m\"");
    CHECK(refusal({{"channel", "c"}, {"since", "nan"}}) == "since" + forms + "\"nan\"");
    CHECK(refusal({{"channel", "c"}, {"since", "5ms"}}) == "since: unknown unit \"ms\" in \"5ms\" (expected s, m, h or d)");
    CHECK(refusal({{"channel", "c"}, {"until", "-5m"}}) == "until expects a duration of 0 or more, found \"-5m\"");
    CHECK(refusal({{"channel", "c"}, {"since", "1e400"}}) ==
          "since expects at most 1e9 seconds (about 31 years), found \"1e400\"");
    CHECK(refusal({{"channel", "c"}, {"since", "40000d"}}).find("at most 1e9 seconds") != std::string::npos);
    // A long or hostile value is cut and its control characters shown as '?'.
    const std::string shown = refusal({{"channel", "c"}, {"since", std::string(5000, 'x') + "\x1b[2J"}});
    CHECK(shown.size() < 400);
    CHECK(shown.find('\x1b') == std::string::npos);
}

TEST_CASE("dashboard memory: filter params - unknown, repeated and missing parameters are refused") {
    CHECK(refusal({{"channel", "c"}, {"erorType", "x"}}) ==
          "unknown filter parameter \"erorType\" (a filter has channel, errorType, reason, class, group, grep, since, until)");
    CHECK(refusal({{"channel", "c"}, {"errorType", "x"}}, FilterParamStyle::option).find("unknown filter parameter \"--errorType\"") == 0);
    CHECK(refusal({{"channel", "c"}, {"reason", "a"}, {"reason", "b"}}) == "reason is given twice (\"a\" and \"b\")");
    CHECK(refusal({{"reason", "failure"}}) == "channel is required: the channel whose dead letters are meant");
    CHECK(refusal({{"channel", ""}}, FilterParamStyle::option) == "--channel expects a channel name, found \"\"");
    CHECK(refusal({{"channel", "c"}, {"since", "1h"}, {"until", "2h"}}) == "until \"2h\" must be later than since \"1h\"");
    CHECK(refusal({{"channel", "c"}, {"class", "transiant"}}) ==
          "class expected \"transient\", \"permanent\" or \"unknown\", found \"transiant\"; did you mean \"transient\"?");
    CHECK(refusal({{"channel", "c"}, {"class", "\xff"}}, FilterParamStyle::option).find("--class expected \"transient\"") == 0);
    CHECK(parse({{"channel", "c"}, {"class", ""}}).error_class.empty());  // empty: every class
    CHECK(refusal({{"channel", "c"}, {"grep", "order (["}}).find("dead-letter filter grep \"order ([\" is not a valid regular expression") == 0);
    try {
        parse({{"channel", "c"}, {"since", "soon"}}, FilterParamStyle::option);
        FAIL("accepted");
    } catch (const DeadLetterFilterError& e) {
        CHECK(e.parameter() == "--since");
        CHECK(e.value() == "soon");
    }
}
