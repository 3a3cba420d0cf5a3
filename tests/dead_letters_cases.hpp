// DeadLetters checks written once and run on every adapter (test_dead_letters.cpp for memory,
// redis/test_redis_dead_letters.cpp for Redis).
//
// A fixture F (default-constructible, one per test case) offers:
//   std::shared_ptr<AdapterInterface> make();   a fresh, empty adapter
//   void push_raw(AdapterInterface&, const std::string& channel, std::string bytes);   stores poison
// and FAILPIPE_DEAD_LETTER_CASES(F, "label") instantiates every check.
#pragma once

#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "failpipe/classifier.hpp"
#include "failpipe/dead_letters.hpp"
#include "failpipe/error.hpp"
#include "failpipe/failure_middleware_dispatcher.hpp"
#include "failpipe/fingerprint.hpp"
#include "failpipe/metadata_keys.hpp"
#include "failpipe/worker.hpp"

// The checks name only the filter fields and options they set (designated initializers); g++ 12
// warns about every field left to its default there.
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

namespace failpipe::dead_letter_cases {

using namespace std::chrono_literals;

/// A dead letter of `orders` as DeadLetterMiddleware writes it (the newer record keys optional).
struct Seed {
    std::string id;
    std::string type = "std::runtime_error";
    std::string text = "timeout after 3012 ms";
    std::string reason = "failure";
    std::string error_class = "transient";
    std::string time = "2026-03-01T10:00:00.000Z";
    std::string original_channel;  ///< set: written as `originalChannel` (else only `channel`)
    bool with_fingerprint = true;
    long long replays = 0;
};

inline Message dead_letter_message(const Seed& seed) {
    Message message = Message::create("order", {{"n", seed.id}});
    message.id = seed.id;
    message.metadata[std::string(metadata_keys::failure)] = {{"failures", 3}, {"failure-strategy-resend-attempts-r", 2}};
    nlohmann::json record = {{"reason", seed.reason},   {"errorType", seed.type}, {"errorMessage", seed.text},
                             {"errorClass", seed.error_class}, {"time", seed.time},   {"attempts", 3},
                             {"channel", "orders"},     {"id", seed.id},         {"middleware", "dead-letter"}};
    if (seed.with_fingerprint) record["fingerprint"] = error_fingerprint(seed.type, seed.text);
    if (!seed.original_channel.empty()) record["originalChannel"] = seed.original_channel;
    message.metadata[std::string(metadata_keys::dead_letter)] = record;
    if (seed.replays > 0) message.metadata[std::string(metadata_keys::replays)] = seed.replays;
    return message;
}

inline void seed(AdapterInterface& adapter, const std::vector<Seed>& seeds, const std::string& channel = "orders:dlq") {
    for (const auto& s : seeds) adapter.push(channel, dead_letter_message(s));
}

/// Every waiting message of @p channel by id, with how many times it is there.
inline std::map<std::string, int> census(AdapterInterface& adapter, const std::string& channel) {
    std::map<std::string, int> out;
    for (std::size_t offset = 0;; offset += 1000) {
        const auto page = adapter.browse(channel, offset, 1000);
        for (const auto& message : page) ++out[message.id];
        if (page.size() < 1000) break;
    }
    return out;
}

inline std::vector<std::string> ids_of(const DeadLetterPage& page) {
    std::vector<std::string> out;
    for (const auto& letter : page.items) out.push_back(letter.id);
    return out;
}

inline std::vector<std::string> sorted(std::vector<std::string> ids) {
    std::sort(ids.begin(), ids.end());
    return ids;
}

inline std::string detail_now_iso() {
    const auto now = std::chrono::floor<std::chrono::seconds>(std::chrono::system_clock::now());
    const std::chrono::year_month_day date{std::chrono::floor<std::chrono::days>(now)};
    const std::chrono::hh_mm_ss time{now - std::chrono::floor<std::chrono::days>(now)};
    char buffer[64];
    std::snprintf(buffer, sizeof buffer, "%04d-%02u-%02uT%02ld:%02ld:%02ld.000Z", static_cast<int>(date.year()),
                  static_cast<unsigned>(date.month()), static_cast<unsigned>(date.day()),
                  static_cast<long>(time.hours().count()), static_cast<long>(time.minutes().count()),
                  static_cast<long>(time.seconds().count()));
    return buffer;
}

/// The mixed set most checks use: three causes, two reasons, two classes, three times.
inline std::vector<Seed> mixed_seeds() {
    std::vector<Seed> seeds;
    seeds.push_back({"t1", "std::runtime_error", "timeout after 3012 ms", "failure", "transient", "2026-03-01T10:00:00.000Z"});
    seeds.push_back({"t2", "std::runtime_error", "timeout after 250 ms", "failure", "transient", "2026-03-02T10:00:00.000Z"});
    seeds.push_back({"t3", "std::runtime_error", "timeout after 7 ms", "failure", "transient", "2026-03-03T10:00:00.000Z", "",
                     false});
    seeds.push_back({"n1", "app::NotFound", "order 8812 not found", "failure", "permanent", "2026-03-02T12:00:00.000Z"});
    seeds.push_back({"n2", "app::NotFound", "order 17 not found", "max-deliveries", "permanent", "2026-03-04T12:00:00.000Z"});
    seeds.push_back({"p1", "failpipe::DecodeError", "not JSON at byte 0", "poison", "permanent", "2026-03-05T00:00:00.000Z"});
    return seeds;
}

template <class F>
void filters_each_return_the_right_rows() {
    F fixture;
    auto adapter = fixture.make();
    seed(*adapter, mixed_seeds());
    DeadLetters letters(adapter);
    auto list = [&](DeadLetterFilter filter) {
        filter.channel = "orders";
        return sorted(ids_of(letters.list(filter, 0, 100)));
    };
    using V = std::vector<std::string>;
    CHECK(list({}) == V{"n1", "n2", "p1", "t1", "t2", "t3"});
    CHECK(list({.error_type = "app::NotFound"}) == V{"n1", "n2"});
    CHECK(list({.reason = "max-deliveries"}) == V{"n2"});
    CHECK(list({.error_class = "transient"}) == V{"t1", "t2", "t3"});
    // t3 has no fingerprint in its record: it is computed, and falls in the same group.
    CHECK(list({.fingerprint = error_fingerprint("std::runtime_error", "timeout after 1 ms")}) == V{"t1", "t2", "t3"});
    CHECK(list({.grep = "order [0-9]+ not"}) == V{"n1", "n2"});
    CHECK(list({.grep = "^timeout after 2"}) == V{"t2"});
    const TimePoint march2 = TimePoint{} + std::chrono::sys_days{std::chrono::year{2026} / 3 / 2}.time_since_epoch();
    const TimePoint march3 = march2 + 24h;
    CHECK(list({.since = march2}) == V{"n1", "n2", "p1", "t2", "t3"});
    CHECK(list({.until = march2}) == V{"t1"});
    CHECK(list({.since = march2, .until = march3}) == V{"n1", "t2"});
    CHECK(list({.error_class = "permanent", .grep = "order"}) == V{"n1", "n2"});
    CHECK(list({.error_type = "nobody"}).empty());
    // The dead-letter channel named as it is reads the same.
    CHECK(sorted(ids_of(letters.list({.channel = "orders:dlq", .reason = "poison"}))) == V{"p1"});
    CHECK(letters.count({.channel = "orders", .error_class = "permanent"}) == 3);
    const auto counts = letters.counts("orders");
    CHECK(counts.dead_letter_channel == "orders:dlq");
    CHECK(counts.dead == 6);
    CHECK(counts.parked == 0);
}

template <class F>
void list_pages_without_reading_everything() {
    F fixture;
    auto adapter = fixture.make();
    std::vector<Seed> seeds;
    for (int i = 0; i < 1200; ++i) seeds.push_back({"m-" + std::to_string(i)});
    seed(*adapter, seeds);
    DeadLetters letters(adapter);
    const auto first = letters.list({.channel = "orders"}, 0, 10);
    CHECK(first.items.size() == 10);
    CHECK(first.more);
    CHECK(first.items.front().id == "m-0");
    const auto later = letters.list({.channel = "orders"}, 1195, 10);
    CHECK(ids_of(later) == std::vector<std::string>{"m-1195", "m-1196", "m-1197", "m-1198", "m-1199"});
    CHECK_FALSE(later.more);
    const auto letter = letters.show("orders", "m-700");
    CHECK(letter.error_message == "timeout after 3012 ms");
    CHECK(letter.error_class == "transient");
    CHECK(letter.attempts == 3);
    CHECK(letter.original_channel == "orders");
    CHECK(letter.time == "2026-03-01T10:00:00.000Z");
    REQUIRE(letter.time_point.has_value());
    CHECK(letter.message.data.at("n") == "m-700");
}

template <class F>
void groups_by_fingerprint() {
    F fixture;
    auto adapter = fixture.make();
    seed(*adapter, mixed_seeds());
    const auto groups = DeadLetters(adapter).groups({.channel = "orders"});
    REQUIRE(groups.size() == 3);
    CHECK(groups[0].count == 3);
    CHECK(groups[0].fingerprint == error_fingerprint("std::runtime_error", "timeout after 1 ms"));
    CHECK(groups[0].error_type == "std::runtime_error");
    CHECK(groups[0].sample_id == "t1");
    CHECK(groups[0].sample_message == "timeout after 3012 ms");
    CHECK(groups[0].first_seen == "2026-03-01T10:00:00.000Z");
    CHECK(groups[0].last_seen == "2026-03-03T10:00:00.000Z");
    CHECK(groups[1].count == 2);
    CHECK(groups[1].error_type == "app::NotFound");
    CHECK(groups[2].count == 1);
    CHECK(DeadLetters(adapter).groups({.channel = "orders", .reason = "poison"}).size() == 1);
}

template <class F>
void a_group_replay_moves_exactly_that_group() {
    F fixture;
    auto adapter = fixture.make();
    auto seeds = mixed_seeds();
    seeds[1].original_channel = "orders-eu";  // originalChannel wins over channel
    seed(*adapter, seeds);
    DeadLetters letters(adapter, DeadLetters::Options{.known_channels = {"orders-eu"}});
    const std::string group = error_fingerprint("std::runtime_error", "timeout after 1 ms");
    const ReplayResult result = letters.replay({.channel = "orders", .fingerprint = group});
    CHECK_FALSE(result.dry_run);
    CHECK(result.matched == 3);
    CHECK(sorted(result.replayed) == std::vector<std::string>{"t1", "t2", "t3"});
    CHECK(result.parked.empty());
    CHECK(result.skipped.empty());
    CHECK(census(*adapter, "orders") == std::map<std::string, int>{{"t1", 1}, {"t3", 1}});
    CHECK(census(*adapter, "orders-eu") == std::map<std::string, int>{{"t2", 1}});
    CHECK(census(*adapter, "orders:dlq") == std::map<std::string, int>{{"n1", 1}, {"n2", 1}, {"p1", 1}});
    const Message back = adapter->browse("orders", 0, 1).at(0);
    CHECK_FALSE(back.metadata.contains(std::string(metadata_keys::failure)));
    CHECK_FALSE(back.metadata.contains(std::string(metadata_keys::dead_letter)));
    CHECK(back.metadata.at(std::string(metadata_keys::replays)) == 1);
    CHECK(back.data.at("n") == "t1");
}

template <class F>
void replay_to_another_channel_with_limit_keeping_attempts() {
    F fixture;
    auto adapter = fixture.make();
    seed(*adapter, mixed_seeds());
    DeadLetters letters(adapter);
    const ReplayResult result =
        letters.replay({.channel = "orders", .error_type = "app::NotFound"},
                       ReplayOptions{.to = std::string("orders-retry"), .limit = 1, .keep_attempts = true});
    CHECK(result.replayed == std::vector<std::string>{"n1"});
    const auto moved = adapter->browse("orders-retry", 0, 10);
    REQUIRE(moved.size() == 1);
    CHECK(moved[0].metadata.at(std::string(metadata_keys::failure)).at("failures") == 3);
    CHECK(moved[0].metadata.contains(std::string(metadata_keys::dead_letter)));
    CHECK(moved[0].metadata.at(std::string(metadata_keys::replays)) == 1);
    CHECK(census(*adapter, "orders:dlq").size() == 5);
}

// The origin a dead letter names is written by whoever pushed the message: a replay sends it there
// only when the deployment knows the channel, else leaves it where it is (refused, counted, with the
// reason), unless the operator names the target.
template <class F>
void a_replay_refuses_an_origin_the_deployment_does_not_know() {
    F fixture;
    auto adapter = fixture.make();
    adapter->push("billing", Message::create("invoice", 1));  // a channel the broker lists
    auto seeds = mixed_seeds();
    seeds[0].original_channel = "admin-commands";  // forged: no such channel
    seeds[1].original_channel = "payments";        // known from the config
    seeds[2].original_channel = "billing";         // known from the broker
    seeds[3].original_channel = "orders:parked";   // a parked channel is never an origin
    seed(*adapter, seeds);
    Message hopped = dead_letter_message({.id = "h1", .original_channel = "orders"});
    hopped.metadata[std::string(metadata_keys::dead_letter_hops)] = 3;
    adapter->push("orders:dlq", hopped);
    DeadLetters letters(adapter, DeadLetters::Options{.known_channels = {"payments"}});

    const ReplayResult dry = letters.replay({.channel = "orders"}, ReplayOptions{.dry_run = true});
    CHECK(dry.matched == 7);
    CHECK(sorted(dry.replayed) == std::vector<std::string>{"h1", "n2", "p1", "t2", "t3"});
    REQUIRE(dry.refused.size() == 2);
    CHECK(census(*adapter, "orders:dlq").size() == 7);  // a dry run moves nothing

    const ReplayResult result = letters.replay({.channel = "orders"});
    CHECK(result.matched == 7);
    CHECK(sorted(result.replayed) == std::vector<std::string>{"h1", "n2", "p1", "t2", "t3"});
    CHECK(result.skipped.empty());
    REQUIRE(result.refused.size() == 2);
    CHECK(result.refused[0].id == "t1");
    CHECK(result.refused[0].origin == "admin-commands");
    CHECK(result.refused[0].reason.find("its origin \"admin-commands\" is not a channel this deployment knows") !=
          std::string::npos);
    CHECK(result.refused[1].id == "n1");
    CHECK(result.refused[1].reason == "its origin \"orders:parked\" is a dead-letter or parked channel");
    CHECK(adapter->depth("admin-commands").total() == 0);
    CHECK(adapter->depth("orders:parked").total() == 0);
    CHECK(census(*adapter, "payments") == std::map<std::string, int>{{"t2", 1}});
    CHECK(census(*adapter, "billing").size() == 2);  // its own message and t3
    CHECK(census(*adapter, "orders:dlq") == std::map<std::string, int>{{"n1", 1}, {"t1", 1}});
    // Replayed: a new start, the dead-letter hop count with it.
    for (const auto& message : adapter->browse("orders", 0, 10))
        CHECK_FALSE(message.metadata.contains(std::string(metadata_keys::dead_letter_hops)));

    // Named by the operator, the target is trusted: the refused ones go there, nothing else moves.
    const ReplayResult named = letters.replay({.channel = "orders"}, ReplayOptions{.to = std::string("orders-retry")});
    CHECK(sorted(named.replayed) == std::vector<std::string>{"n1", "t1"});
    CHECK(named.refused.empty());
    CHECK(census(*adapter, "orders-retry") == std::map<std::string, int>{{"n1", 1}, {"t1", 1}});
    CHECK(adapter->depth("orders:dlq").total() == 0);
}

template <class F>
void a_dry_run_changes_nothing() {
    F fixture;
    auto adapter = fixture.make();
    auto seeds = mixed_seeds();
    seeds[0].replays = 5;  // would be parked
    seed(*adapter, seeds);
    DeadLetters letters(adapter);
    const auto before = adapter->browse("orders:dlq", 0, 100);
    const ReplayResult replay = letters.replay({.channel = "orders"}, ReplayOptions{.dry_run = true, .max_replays = 5});
    CHECK(replay.dry_run);
    CHECK(replay.matched == 6);
    CHECK(replay.parked == std::vector<std::string>{"t1"});
    CHECK(sorted(replay.replayed) == std::vector<std::string>{"n1", "n2", "p1", "t2", "t3"});
    const PurgeResult purge = letters.purge({.channel = "orders"}, PurgeOptions{.dry_run = true});
    CHECK(purge.ids.size() == 6);
    CHECK(purge.removed == 0);
    const auto after = adapter->browse("orders:dlq", 0, 100);
    REQUIRE(after.size() == before.size());
    for (std::size_t i = 0; i < after.size(); ++i) {
        CHECK(after[i].id == before[i].id);
        CHECK(after[i].metadata == before[i].metadata);
    }
    CHECK(adapter->depth("orders").total() == 0);
    CHECK(adapter->depth("orders:parked").total() == 0);
}

template <class F>
void purge_removes_exactly_the_matching_ones() {
    F fixture;
    auto adapter = fixture.make();
    auto seeds = mixed_seeds();
    seed(*adapter, seeds);
    Seed recent{"r1"};
    recent.time = detail_now_iso();
    seed(*adapter, {recent});
    Seed undated{"u1"};
    undated.time = "yesterday";  // not a time: never purged by age
    seed(*adapter, {undated});
    DeadLetters letters(adapter);
    const PurgeResult by_reason = letters.purge({.channel = "orders", .reason = "max-deliveries"});
    CHECK(by_reason.ids == std::vector<std::string>{"n2"});
    CHECK(by_reason.removed == 1);
    // Older than a day: every seeded 2026-03 record, not the recent or the undated one.
    const PurgeResult by_age = letters.purge({.channel = "orders"}, PurgeOptions{.older_than = Seconds{86400.0}});
    CHECK(sorted(by_age.ids) == std::vector<std::string>{"n1", "p1", "t1", "t2", "t3"});
    CHECK(by_age.removed == 5);
    CHECK(census(*adapter, "orders:dlq") == std::map<std::string, int>{{"r1", 1}, {"u1", 1}});
}

template <class F>
void bad_filters_and_options_are_clear_errors() {
    F fixture;
    auto adapter = fixture.make();
    seed(*adapter, mixed_seeds());
    DeadLetters letters(adapter);
    auto message_of = [](auto&& call) {
        try {
            call();
        } catch (const InvalidArgumentError& e) {
            return std::string(e.what());
        }
        return std::string("no error");
    };
    CHECK(message_of([&] { letters.list({.channel = "orders", .grep = "order (["}); }).find("not a valid regular expression") !=
          std::string::npos);
    CHECK(message_of([&] { letters.list({.channel = "orders", .grep = "(a)\\1"}); }).find("refused") != std::string::npos);
    CHECK(message_of([&] { letters.groups({.channel = "orders", .grep = std::string(600, 'a')}); }).find("refused") !=
          std::string::npos);
    CHECK(message_of([&] { letters.list({}); }).find("a channel is required") != std::string::npos);
    CHECK(message_of([&] { letters.list({.channel = "orders"}, 0, 0); }).find("limit") != std::string::npos);
    CHECK(message_of([&] { letters.list({.channel = "orders"}, 0, 1'000'000); }).find("limit") != std::string::npos);
    for (double rate : {-1.0, 0.0, std::nan(""), std::numeric_limits<double>::infinity(), 5e6}) {
        CAPTURE(rate);
        CHECK(message_of([&] { letters.replay({.channel = "orders"}, ReplayOptions{.rate = rate}); }).find("rate must be") !=
              std::string::npos);
    }
    CHECK(message_of([&] { letters.replay({.channel = "orders"}, ReplayOptions{.limit = 0}); }).find("limit must be") !=
          std::string::npos);
    CHECK(message_of([&] { letters.purge({.channel = "orders"}, PurgeOptions{.limit = 0}); }).find("limit must be") !=
          std::string::npos);
    for (const char* to : {"orders:dlq", "billing:dlq", "orders:parked", ""}) {
        CAPTURE(to);
        CHECK(message_of([&] { letters.replay({.channel = "orders"}, ReplayOptions{.to = std::string(to)}); }).find("`to`") !=
              std::string::npos);
    }
    CHECK_THROWS_WITH_AS(letters.show("orders", "nobody"), doctest::Contains("no message with id nobody"),
                         DeadLetterNotFoundError);
    adapter->push("orders", Message::create("order"));
    const std::string live = adapter->browse("orders", 0, 1).at(0).id;
    CHECK_THROWS_WITH_AS(letters.show("orders", live), doctest::Contains("is not a dead letter of orders:dlq"),
                         DeadLetterNotFoundError);
    // Nothing was changed by any of the refused calls.
    CHECK(census(*adapter, "orders:dlq").size() == 6);
}

template <class F>
void undecodable_dead_letters_are_listed_and_skipped_by_replay() {
    F fixture;
    auto adapter = fixture.make();
    fixture.push_raw(*adapter, "orders:dlq", "\xff not a message");
    seed(*adapter, {Seed{"t1"}});
    DeadLetters letters(adapter);
    const auto page = letters.list({.channel = "orders"});
    REQUIRE(page.items.size() == 2);
    CHECK(page.items[0].undecodable);
    const ReplayResult result = letters.replay({.channel = "orders"});
    CHECK(result.replayed == std::vector<std::string>{"t1"});
    REQUIRE(result.skipped.size() == 1);
    CHECK(result.skipped[0].reason == MoveSkipReason::undecodable);
    CHECK(adapter->depth("orders:dlq").total() == 1);
}

template <class F>
void a_fixed_handler_succeeds_and_a_still_failing_one_is_parked() {
    F fixture;
    auto adapter = fixture.make();
    WorkerOptions worker_options;
    worker_options.channels = {"orders"};
    Worker worker(adapter, FailureMiddlewareDispatcher(FailureMiddlewareDispatcher::Options{}), Classifier{}, worker_options);
    bool fixed = false;
    int handled = 0;
    worker.on("order", [&](const Message& message, HandlerContext&) {
        if (message.data.at("kind") == "broken" || !fixed) throw std::runtime_error("payment service said no");
        ++handled;
    });
    adapter->push("orders", Message::create("order", {{"kind", "good"}}));
    adapter->push("orders", Message::create("order", {{"kind", "broken"}}));
    worker.run_until_idle();
    DeadLetters letters(adapter);
    REQUIRE(letters.count({.channel = "orders"}) == 2);
    fixed = true;
    const ReplayOptions options{.max_replays = 2};
    for (int round = 1; round <= 2; ++round) {
        CAPTURE(round);
        const ReplayResult result = letters.replay({.channel = "orders"}, options);
        CHECK(result.replayed.size() == (round == 1 ? 2u : 1u));
        CHECK(result.parked.empty());
        worker.run_until_idle();
        CHECK(handled == 1);  // the good one succeeded on the first replay; the broken one is back
        REQUIRE(letters.count({.channel = "orders"}) == 1);
        CHECK(letters.list({.channel = "orders"}).items.at(0).replays == round);
    }
    // Replayed twice already: a third replay parks it instead of looping.
    const ReplayResult third = letters.replay({.channel = "orders"}, options);
    CHECK(third.replayed.empty());
    CHECK(third.parked.size() == 1);
    CHECK(adapter->depth("orders:dlq").total() == 0);
    CHECK(adapter->depth("orders").total() == 0);
    CHECK(letters.counts("orders").parked == 1);
    const auto parked = letters.list({.channel = "orders:parked"});
    REQUIRE(parked.items.size() == 1);
    CHECK(parked.items[0].error_message == "payment service said no");  // the record stays with a parked message
    CHECK(parked.items[0].original_channel == "orders");
}

template <class F>
void a_rated_replay_of_ten_thousand_takes_count_over_rate() {
    F fixture;
    auto adapter = fixture.make();
    constexpr std::size_t kCount = 10'000;
    std::vector<OutgoingMessage> batch;
    for (std::size_t i = 0; i < kCount; ++i)
        batch.push_back(OutgoingMessage{"orders:dlq", dead_letter_message(Seed{"m-" + std::to_string(i)}), Seconds{0.0}});
    adapter->push_batch(std::move(batch));
    std::vector<std::pair<std::size_t, std::size_t>> progress;
    // A rate the replay can hold even where moves are slow (a sanitizer build moves ~2,700 a second).
    constexpr double kRate = 2000.0;
    ReplayOptions options{.rate = kRate};
    options.progress = [&](std::size_t done, std::size_t total) { progress.emplace_back(done, total); };
    const auto start = std::chrono::steady_clock::now();
    const ReplayResult result = DeadLetters(adapter).replay({.channel = "orders"}, options);
    const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    const double expected = static_cast<double>(kCount) / kRate;
    INFO("elapsed " << elapsed << " s, expected " << expected << " s");
    CHECK(result.replayed.size() == kCount);
    CHECK(elapsed >= expected * 0.8);  // the rate is a ceiling: never faster
#if !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)
    CHECK(elapsed <= expected * 1.2);  // and, where moves are fast, the rate is what you get
#endif
    REQUIRE(!progress.empty());
    CHECK(progress.front() == std::pair<std::size_t, std::size_t>{0, kCount});
    CHECK(progress.back() == std::pair<std::size_t, std::size_t>{kCount, kCount});
    const auto all = census(*adapter, "orders");
    CHECK(all.size() == kCount);
    CHECK(std::all_of(all.begin(), all.end(), [](const auto& entry) { return entry.second == 1; }));
    CHECK(adapter->depth("orders:dlq").total() == 0);
}

}  // namespace failpipe::dead_letter_cases

#define FAILPIPE_DEAD_LETTER_CASE(Fixture, label, name, what)                 \
    TEST_CASE(label " dead letters: " what) { failpipe::dead_letter_cases::name<Fixture>(); }

#define FAILPIPE_DEAD_LETTER_CASES(Fixture, label)                                                                              \
    FAILPIPE_DEAD_LETTER_CASE(Fixture, label, filters_each_return_the_right_rows, "each filter returns the right rows")        \
    FAILPIPE_DEAD_LETTER_CASE(Fixture, label, list_pages_without_reading_everything, "list pages with offset and limit, and show") \
    FAILPIPE_DEAD_LETTER_CASE(Fixture, label, groups_by_fingerprint, "groups by fingerprint")                                  \
    FAILPIPE_DEAD_LETTER_CASE(Fixture, label, a_group_replay_moves_exactly_that_group, "a group replay moves exactly that group") \
    FAILPIPE_DEAD_LETTER_CASE(Fixture, label, replay_to_another_channel_with_limit_keeping_attempts,                            \
                              "replay to another channel, with a limit, keeping attempts")                                   \
    FAILPIPE_DEAD_LETTER_CASE(Fixture, label, a_replay_refuses_an_origin_the_deployment_does_not_know,                          \
                              "a replay refuses an origin the deployment does not know, and replays it to a named channel") \
    FAILPIPE_DEAD_LETTER_CASE(Fixture, label, a_dry_run_changes_nothing, "a dry run changes nothing")                          \
    FAILPIPE_DEAD_LETTER_CASE(Fixture, label, purge_removes_exactly_the_matching_ones, "purge removes exactly the matching ones") \
    FAILPIPE_DEAD_LETTER_CASE(Fixture, label, bad_filters_and_options_are_clear_errors, "bad filters and options are clear errors") \
    FAILPIPE_DEAD_LETTER_CASE(Fixture, label, undecodable_dead_letters_are_listed_and_skipped_by_replay,                        \
                              "undecodable dead letters are listed, and skipped by replay")                                  \
    FAILPIPE_DEAD_LETTER_CASE(Fixture, label, a_fixed_handler_succeeds_and_a_still_failing_one_is_parked,                       \
                              "a fixed handler succeeds, a still failing one returns and is parked after max_replays")       \
    FAILPIPE_DEAD_LETTER_CASE(Fixture, label, a_rated_replay_of_ten_thousand_takes_count_over_rate,                             \
                              "a rated replay of 10,000 takes count / rate")
