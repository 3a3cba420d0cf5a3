// DeadLetters over the in-memory adapter (the checks are in dead_letters_cases.hpp).
#include "dead_letters_cases.hpp"

#include "failpipe/config.hpp"
#include "failpipe/memory/in_memory_adapter.hpp"
#include "test_support.hpp"

namespace {

struct DeadLetterMemoryFixture {
    std::shared_ptr<failpipe::AdapterInterface> make() { return std::make_shared<failpipe::InMemoryAdapter>(); }
    void push_raw(failpipe::AdapterInterface& adapter, const std::string& channel, std::string bytes) {
        dynamic_cast<failpipe::InMemoryAdapter&>(adapter).push_raw(channel, std::move(bytes));
    }
};

}  // namespace

FAILPIPE_DEAD_LETTER_CASES(DeadLetterMemoryFixture, "memory")

namespace {

using namespace failpipe;

/// An adapter in front of the memory adapter, with hooks on browse and move: a worker failing a
/// replayed message again at once, or a message changing between a replay's read and its move.
class HookedAdapter final : public AdapterInterface {
public:
    std::shared_ptr<InMemoryAdapter> inner = std::make_shared<InMemoryAdapter>();
    std::function<void(std::vector<Message>&)> after_browse;
    std::function<void(const MoveResult&, const std::string& to)> after_move;

    AdapterCapabilities capabilities() const override { return inner->capabilities(); }
    std::string push(const std::string& c, Message m, Seconds d) override { return inner->push(c, std::move(m), d); }
    std::vector<std::string> push_batch(std::vector<OutgoingMessage> m) override { return inner->push_batch(std::move(m)); }
    std::vector<Delivery> reserve(const std::vector<std::string>& c, std::size_t n, std::chrono::milliseconds w) override {
        return inner->reserve(c, n, w);
    }
    void settle(const Delivery& d, Settlement&& s) override { inner->settle(d, std::move(s)); }
    void release(const Delivery& d, Seconds delay) override { inner->release(d, delay); }
    std::size_t reclaim() override { return inner->reclaim(); }
    MessageStatus status(const std::string& id) override { return inner->status(id); }
    ChannelDepth depth(const std::string& c) override { return inner->depth(c); }
    std::vector<Message> browse(const std::string& c, std::size_t o, std::size_t l) override {
        auto page = inner->browse(c, o, l);
        if (after_browse) after_browse(page);
        return page;
    }
    BrowsePage browse_after(const std::string& c, const BrowseCursor& a, std::size_t l) override {
        auto page = inner->browse_after(c, a, l);
        if (after_browse) after_browse(page.messages);
        return page;
    }
    std::size_t remove(const std::string& c, const std::vector<std::string>& ids) override { return inner->remove(c, ids); }
    std::size_t evict(const std::string& c, const std::vector<std::string>& ids) override { return inner->evict(c, ids); }
    std::uint64_t evicted(const std::string& c) override { return inner->evicted(c); }
    MoveResult move(const std::string& f, const std::string& t, const std::vector<std::string>& ids, const MessageRewrite& r,
                    Seconds d) override {
        MoveResult result = inner->move(f, t, ids, r, d);
        if (after_move) after_move(result, t);
        return result;
    }
    std::vector<std::string> channels() override { return inner->channels(); }
};

}  // namespace

TEST_CASE("memory dead letters: a message that fails again during the replay is not replayed twice by the same run") {
    auto adapter = std::make_shared<HookedAdapter>();
    std::vector<dead_letter_cases::Seed> seeds;
    for (int i = 0; i < 1200; ++i) seeds.push_back({"m-" + std::to_string(i)});
    dead_letter_cases::seed(*adapter, seeds);
    // As a worker would: every replayed message fails at once and is dead-lettered again, at the end.
    adapter->after_move = [&](const MoveResult& result, const std::string& to) {
        if (to != "orders") return;  // parked ones stay parked
        for (const auto& id : result.moved) {
            REQUIRE(adapter->inner->move(to, "orders:dlq", {id}).moved.size() == 1);
        }
    };
    const ReplayResult result = DeadLetters(adapter).replay({.channel = "orders"}, ReplayOptions{.max_replays = 3});
    CHECK(result.replayed.size() == 1200);
    CHECK(result.parked.empty());
    const auto all = dead_letter_cases::census(*adapter, "orders:dlq");
    CHECK(all.size() == 1200);
    for (const auto& message : adapter->inner->browse("orders:dlq", 0, 1200))
        CHECK(message.metadata.at(std::string(metadata_keys::replays)) == 1);
}

TEST_CASE("memory dead letters: a message whose replay count changed after the read is skipped, not sent the wrong way") {
    auto adapter = std::make_shared<HookedAdapter>();
    dead_letter_cases::Seed seed{"m-1"};
    seed.replays = 5;  // stored: parked at the next replay
    dead_letter_cases::seed(*adapter, {seed});
    // The replay reads a stale copy that says it was never replayed.
    adapter->after_browse = [](std::vector<Message>& page) {
        for (auto& message : page) message.metadata.erase(std::string(metadata_keys::replays));
    };
    const ReplayResult result = DeadLetters(adapter).replay({.channel = "orders"}, ReplayOptions{.max_replays = 5});
    CHECK(result.replayed.empty());
    CHECK(result.parked.empty());
    REQUIRE(result.skipped.size() == 1);
    CHECK(result.skipped[0].reason == MoveSkipReason::rewrite_failed);
    CHECK(result.skipped[0].detail.find("changed while the replay read it") != std::string::npos);
    CHECK(adapter->inner->depth("orders:dlq").total() == 1);
    CHECK(adapter->inner->depth("orders").total() == 0);
}

TEST_CASE("memory dead letters: list_after pages stay put when the dead letters of earlier pages go") {
    auto adapter = std::make_shared<HookedAdapter>();
    std::vector<dead_letter_cases::Seed> seeds;
    for (int i = 0; i < 120; ++i) seeds.push_back({"m-" + std::to_string(i)});
    dead_letter_cases::seed(*adapter, seeds);
    const DeadLetters letters(adapter);
    const DeadLetterPage first = letters.list_after({.channel = "orders"}, {}, 50);
    REQUIRE(first.items.size() == 50);
    CHECK(first.more);
    std::vector<std::string> gone;
    for (const auto& letter : first.items) gone.push_back(letter.id);
    REQUIRE(adapter->remove("orders:dlq", gone) == 50);  // an operator purged page one meanwhile
    const DeadLetterPage second = letters.list_after({.channel = "orders"}, first.next, 50);
    REQUIRE(second.items.size() == 50);
    CHECK(second.items.front().id == "m-50");  // nothing skipped
    CHECK(second.items.back().id == "m-99");
    const DeadLetterPage third = letters.list_after({.channel = "orders"}, second.next, 50);
    CHECK(third.items.size() == 20);
    CHECK_FALSE(third.more);
    CHECK(letters.list_after({.channel = "orders"}, first.next, 50).items.front().id == "m-50");  // a pasted cursor: the same page
    CHECK_THROWS_AS(letters.list_after({.channel = "orders"}, "m:r:x", 50), InvalidArgumentError);
}

TEST_CASE("memory dead letters: a filtered list_after page ends at its last row, and the next one starts right after it") {
    auto adapter = std::make_shared<HookedAdapter>();
    std::vector<dead_letter_cases::Seed> seeds;
    for (int i = 0; i < 300; ++i) {
        dead_letter_cases::Seed s{"m-" + std::to_string(i)};
        s.error_class = i % 3 == 0 ? "permanent" : "transient";
        seeds.push_back(s);
    }
    dead_letter_cases::seed(*adapter, seeds);
    const DeadLetters letters(adapter);
    std::vector<std::string> listed;
    BrowseCursor cursor;
    for (int pages = 0; pages < 20; ++pages) {
        const DeadLetterPage page = letters.list_after({.channel = "orders", .error_class = "permanent"}, cursor, 7);
        for (const auto& letter : page.items) listed.push_back(letter.id);
        cursor = page.next;
        if (!page.more) break;
    }
    REQUIRE(listed.size() == 100);
    for (std::size_t i = 0; i < listed.size(); ++i) CHECK(listed[i] == "m-" + std::to_string(3 * i));
}

TEST_CASE("memory dead letters: count without a filter is the channel's depth, read without browsing") {
    auto adapter = std::make_shared<HookedAdapter>();
    std::vector<dead_letter_cases::Seed> seeds;
    for (int i = 0; i < 3000; ++i) seeds.push_back({"m-" + std::to_string(i)});
    dead_letter_cases::seed(*adapter, seeds);
    std::size_t browsed = 0;
    adapter->after_browse = [&](std::vector<Message>& page) { browsed += page.size(); };
    CHECK(DeadLetters(adapter).count({.channel = "orders"}) == 3000);
    CHECK(browsed == 0);
    CHECK(DeadLetters(adapter).count({.channel = "orders", .error_class = "transient"}) == 3000);
    CHECK(browsed == 3000);  // a filter reads the channel once
}

// The origins a replay trusts come from one rule, configured_channels(config), which both
// `failpipe dlq replay --config` and the dashboard use: a channel the workers consume without a
// pipeline of its own is the deployment's (its failures run the default pipeline), a channel the
// config never names is not.
TEST_CASE("memory dead letters: a config's worker channel without a pipeline is a trusted origin, a channel it does not name is not") {
    const Config config = load_config(nlohmann::json::parse(R"({
        "pipelines": {"orders": [{"type": "send-again", "id": "again", "maxAttempts": 2, "queue": "orders-retry"}]},
        "worker": {"channels": ["orders", "audit"]}
    })"));
    CHECK(configured_channels(config) == std::vector<std::string>{"audit", "orders", "orders-retry"});
    CHECK(configured_channels(config) == configured_channels(config.dispatcher, config.worker.channels));

    auto adapter = std::make_shared<InMemoryAdapter>();
    dead_letter_cases::seed(*adapter, {{.id = "w1", .original_channel = "audit"},
                                       {.id = "f1", .original_channel = "admin-commands"}});
    const DeadLetters letters(adapter, DeadLetters::Options{.known_channels = configured_channels(config)});
    const ReplayResult result = letters.replay({.channel = "orders"});
    CHECK(result.replayed == std::vector<std::string>{"w1"});
    REQUIRE(result.refused.size() == 1);
    CHECK(result.refused[0].id == "f1");
    CHECK(result.refused[0].reason.find("its origin \"admin-commands\" is not a channel this deployment knows") == 0);
    CHECK(dead_letter_cases::census(*adapter, "audit") == std::map<std::string, int>{{"w1", 1}});
    CHECK(dead_letter_cases::census(*adapter, "orders:dlq") == std::map<std::string, int>{{"f1", 1}});
}

namespace {

// What the DeadLetters constructor says when it refuses @p options (empty when it does not).
std::string refusal_of(failpipe::DeadLetters::Options options) {
    try {
        failpipe::DeadLetters(std::make_shared<failpipe::InMemoryAdapter>(), std::move(options));
    } catch (const failpipe::Error& e) {
        return e.what();
    }
    return {};
}

}  // namespace

// Dead-letter and parked channels are told apart by their ends alone: a dead-letter suffix that is
// the parked suffix, ends in it or is its end would send dead letters where a replay mistakes them
// for parked messages (or the reverse). The constructor applies the config reader's rule, one
// function (dead_letter_suffix_clash), so code that builds DeadLetters without a config is kept
// from it too.
TEST_CASE("memory dead letters: a dead-letter suffix that clashes with the parked suffix is refused, as the config reader refuses it") {
    CHECK(refusal_of({.dead_letter_suffix = "-old:parked"}) ==
          "DeadLetters: the dead-letter suffix \"-old:parked\" clashes with the parked suffix: expected a suffix that "
          "does not end in \":parked\", the suffix of parked channels (the dead letters of \"orders\" would go to "
          "\"orders-old:parked\", the parked channel of \"orders-old\")");
    CHECK(refusal_of({.dead_letter_suffix = "ed"}) ==
          "DeadLetters: the dead-letter suffix \"ed\" clashes with the parked suffix: expected a suffix that is not the "
          "end of \":parked\", the suffix of parked channels (\"orders:parked\", the parked channel of \"orders\", "
          "would also be the dead-letter channel of \"orders:park\")");
    CHECK(refusal_of({.dead_letter_suffix = ":parked"}) ==
          "DeadLetters: the dead-letter suffix \":parked\" clashes with the parked suffix: expected a suffix other than "
          "\":parked\", the suffix of parked channels (dead letters and parked messages could not be told apart)");
    // A parked suffix of the caller's own is held to the same rule.
    CHECK(refusal_of({.dead_letter_suffix = ":dlq", .parked_suffix = "q"}).find("expected a suffix that does not end in \"q\"") !=
          std::string::npos);
    CHECK_THROWS_AS(DeadLetters(std::make_shared<InMemoryAdapter>(), DeadLetters::Options{.dead_letter_suffix = "ed"}),
                    InvalidArgumentError);
    // The config reader says the same about the same suffix.
    try {
        (void)load_config(nlohmann::json{{"deadLetterSuffix", "-old:parked"}});
        FAIL("the config reader took \"-old:parked\"");
    } catch (const ConfigError& e) {
        CHECK(std::string(e.what()).find(*dead_letter_suffix_clash("-old:parked")) != std::string::npos);
    }
    // Suffixes that only look alike are fine, and work.
    for (const char* fine : {":parked2", ":parkedx", "parked:", ":dlq", ".dead", "-parked"}) {
        CAPTURE(fine);
        CHECK(refusal_of({.dead_letter_suffix = fine}).empty());
        CHECK_FALSE(dead_letter_suffix_clash(fine).has_value());
    }
}

namespace {

/// The memory adapter, as if "payments" were in another shard group than "orders" (the Redis
/// adapter with shard groups answers outbox_of_move so).
class TwoGroupsAdapter final : public test::ForwardingAdapter {
public:
    TwoGroupsAdapter() : ForwardingAdapter(std::make_shared<InMemoryAdapter>()) {}
    std::optional<std::string> outbox_of_move(const std::string& from, const std::string& to) const override {
        if (from.starts_with("orders") && to == "payments") return "orders";
        return std::nullopt;
    }
};

}  // namespace

// The CLI and the dashboard both say a replay goes through an outbox from this field alone.
TEST_CASE("memory dead letters: a replay to another shard group's channel names the outbox it goes through, in a dry run too") {
    auto adapter = std::make_shared<TwoGroupsAdapter>();
    dead_letter_cases::seed(*adapter, {{.id = "a1"}, {.id = "a2"}});
    const DeadLetters letters(adapter);
    const ReplayResult dry = letters.replay({.channel = "orders"}, {.to = "payments", .dry_run = true});
    CHECK(dry.replayed.size() == 2);
    CHECK(dry.through_outbox == std::optional<std::string>("orders"));
    CHECK(adapter->depth("payments").total() == 0);
    // Within the group, to their origin, or with nothing to replay: no outbox.
    CHECK_FALSE(letters.replay({.channel = "orders"}, {.to = "orders-retry", .dry_run = true}).through_outbox.has_value());
    CHECK_FALSE(letters.replay({.channel = "orders"}, {.dry_run = true}).through_outbox.has_value());
    CHECK_FALSE(letters.replay({.channel = "orders", .ids = {"nope"}}, {.to = "payments", .dry_run = true}).through_outbox.has_value());
    const ReplayResult real = letters.replay({.channel = "orders"}, {.to = "payments"});
    CHECK(real.replayed.size() == 2);
    CHECK(real.through_outbox == std::optional<std::string>("orders"));
}
