// The failure record on every dead letter, the bounded attempt history, expiry (TTL and
// maxElapsed) and Retry-After — each seen the way an operator sees it: in the dead letter.
#include <doctest/doctest.h>

#include <failpipe/failpipe.hpp>
#include <failpipe/memory/in_memory_adapter.hpp>

#include <functional>
#include <map>
#include <set>

#include "test_support.hpp"

using namespace failpipe;
using failpipe::test::make;
using failpipe::test::record_of;
using nlohmann::json;

namespace {

struct RecordRig {
    std::shared_ptr<ManualClock> clock = std::make_shared<ManualClock>();
    std::shared_ptr<InMemoryAdapter> adapter;
    RecordRig() {
        InMemoryAdapter::Options options;
        options.clock = clock;
        adapter = std::make_shared<InMemoryAdapter>(options);
    }
    FailureMiddlewareDispatcher::Options dispatcher_options() const {
        FailureMiddlewareDispatcher::Options options;
        options.clock = clock;
        return options;
    }
    Worker worker(FailureMiddlewareDispatcher::Options options, std::vector<std::string> channels,
                  WorkerOptions worker_options = {}, std::shared_ptr<AdapterInterface> through = nullptr) const {
        worker_options.channels = std::move(channels);
        return Worker(through ? through : adapter, FailureMiddlewareDispatcher(std::move(options)), Classifier{},
                      worker_options);
    }
    Queue queue(const std::string& channel) const { return Queue(adapter, channel, clock); }
    // Runs the worker, moving the clock past every delay, until nothing is left (bounded).
    void drain(Worker& worker, int rounds = 200) const {
        for (int i = 0; i < rounds; ++i) {
            worker.run_until_idle();
            clock->advance(Seconds{3600});
            bool waiting = false;
            for (const auto& channel : worker.options().channels) waiting = waiting || adapter->depth(channel).total() > 0;
            if (!waiting) return;
        }
        FAIL("the messages did not settle within the bound");
    }
    std::vector<Message> dead(const std::string& channel = "orders:dlq") const { return adapter->browse(channel, 0, 100); }
};

Message order(std::string id, json data = nullptr) {
    Message message = Message::create("order", std::move(data));
    message.id = std::move(id);
    return message;
}

bool is_iso_time(const json& value) {
    if (!value.is_string()) return false;
    const std::string& text = value.get_ref<const std::string&>();
    return text.size() == 24 && text[4] == '-' && text[10] == 'T' && text.back() == 'Z';
}

// Every key of the record, with its type, whatever the reason.
void check_record_shape(const json& record) {
    CAPTURE(record.dump());
    for (const char* key : {"reason", "errorType", "errorMessage", "errorClass", "fingerprint", "channel", "id",
                            "originalChannel", "originalId", "middleware"}) {
        CAPTURE(key);
        REQUIRE(record.contains(key));
        CHECK(record.at(key).is_string());
    }
    CHECK(record.at("fingerprint").get<std::string>().size() == 16);
    CHECK(record.at("fingerprint") ==
          error_fingerprint(record.at("errorType").get<std::string>(), record.at("errorMessage").get<std::string>()));
    CHECK(is_iso_time(record.at("time")));
    CHECK(record.at("attempts").is_number_integer());
    CHECK(record.at("failures").is_number_integer());
    CHECK(record.at("attemptsByMiddleware").is_object());
    for (const char* key : {"firstFailure", "lastFailure"}) {
        CAPTURE(key);
        REQUIRE(record.contains(key));
        CHECK((record.at(key).is_null() || is_iso_time(record.at(key))));
    }
    REQUIRE(record.at("history").is_array());
    CHECK(record.at("history").size() <= kDefaultHistoryLimit);
    REQUIRE(!record.at("history").empty());
    const json& last = record.at("history").back();
    CHECK(last.at("action") == "dead-letter");
    CHECK(last.at("middleware") == record.at("middleware"));
    CHECK(last.at("errorType") == record.at("errorType"));
}

class BrokenMiddleware final : public MiddlewareFailureInterface {
public:
    FailureHandlingRequest handle(FailureHandlingRequest, const Failure&, const FailureHandlerInterface&) const override {
        throw std::runtime_error("custom middleware broke");
    }
    const std::string& id() const noexcept override { return id_; }

private:
    std::string id_ = "throws";
};

// Refuses every settle that does not move a message to a dead-letter channel, as a broker refuses
// a message it cannot store.
class DeadLetterOnlyAdapter final : public test::ForwardingAdapter {
public:
    using ForwardingAdapter::ForwardingAdapter;
    void settle(const Delivery& d, Settlement&& s) override {
        for (const auto& push : s.pushes) {
            if (!push.channel.ends_with(":dlq")) throw InvalidArgumentError("refused (test): cannot be stored");
        }
        inner_->settle(d, std::move(s));
    }
};

}  // namespace

TEST_CASE("failure record: a message retried through another channel keeps its origin, counters, times and history") {
    RecordRig rig;
    auto options = rig.dispatcher_options();
    options.default_pipeline = {make<SendAgainMiddleware>("resend", 1, "orders-retry")};
    options.pipelines["orders-retry"] = {make<ExponentialDelayMiddleware>("backoff", 2, 10, 60, 2)};
    auto worker = rig.worker(options, {"orders", "orders-retry"});
    int runs = 0;
    worker.on("order", [&](const Message&, HandlerContext&) {
        ++runs;
        throw TransientError("timeout after " + std::to_string(1000 + runs) + " ms");
    });
    const TimePoint start = rig.clock->now();
    rig.queue("orders").push(order("o-1", {{"n", 1}}));
    rig.drain(worker);

    CHECK(runs == 4);  // resend once, back off twice, then the final handler
    auto dead = rig.dead("orders-retry:dlq");
    REQUIRE(dead.size() == 1);
    CHECK(dead[0].data == json{{"n", 1}});
    const json& record = record_of(dead[0]);
    check_record_shape(record);
    CHECK(record.at("reason") == "failure");
    CHECK(record.at("errorType") == "failpipe::TransientError");
    CHECK(record.at("errorMessage") == "timeout after 1004 ms");
    CHECK(record.at("errorClass") == "transient");
    CHECK(record.at("fingerprint") == error_fingerprint("failpipe::TransientError", "timeout after 7 ms"));
    CHECK(record.at("failures") == 4);
    CHECK(record.at("attempts") == 4);
    CHECK(record.at("attemptsByMiddleware") == json{{"resend", 1}, {"backoff", 2}});
    CHECK(record.at("channel") == "orders-retry");
    CHECK(record.at("originalChannel") == "orders");
    CHECK(record.at("id") == "o-1");
    CHECK(record.at("originalId") == "o-1");
    CHECK(record.at("middleware") == "final");
    CHECK(record.at("firstFailure") == "2026-01-01T00:00:00.000Z");
    CHECK(record.at("lastFailure") == record.at("time"));
    CHECK(record.at("lastFailure") != record.at("firstFailure"));
    CHECK(rig.clock->now() > start);

    const json& history = record.at("history");
    REQUIRE(history.size() == 4);
    CHECK(history[0].at("action") == "send-again");
    CHECK(history[0].at("channel") == "orders");
    CHECK(history[0].at("middleware") == "resend");
    CHECK(history[0].at("errorMessage") == "timeout after 1001 ms");
    CHECK(history[0].at("time") == "2026-01-01T00:00:00.000Z");
    CHECK(history[1].at("action") == "delay");
    CHECK(history[1].at("channel") == "orders-retry");
    CHECK(history[1].at("delay") == 10.0);
    CHECK(history[2].at("delay") == 20.0);
    CHECK(history[3].at("action") == "dead-letter");
    CHECK(history[3].at("middleware") == "final");
    CHECK(!history[1].contains("retryAfter"));
    // The dead letter carries the same history in its metadata, so a replay continues it.
    CHECK(dead[0].metadata.at("failpipe-history") == history);
}

TEST_CASE("failure record: every reason writes the full record") {
    std::map<std::string, json> records;

    SUBCASE("failure by DeadLetterMiddleware") {
        RecordRig rig;
        auto options = rig.dispatcher_options();
        options.default_pipeline = {make<DeadLetterMiddleware>("to-dlq", "", ErrorClassSet{}, "", rig.clock)};
        auto worker = rig.worker(options, {"orders"});
        worker.on("order", [](const Message&, HandlerContext&) { throw PermanentError("order 8812 not found"); });
        rig.queue("orders").push(order("a"));
        rig.drain(worker);
        auto dead = rig.dead();
        REQUIRE(dead.size() == 1);
        check_record_shape(record_of(dead[0]));
        CHECK(record_of(dead[0]).at("reason") == "failure");
        CHECK(record_of(dead[0]).at("middleware") == "to-dlq");
        CHECK(record_of(dead[0]).at("failures") == 1);
        CHECK(record_of(dead[0]).at("firstFailure") == "2026-01-01T00:00:00.000Z");
    }
    SUBCASE("poison") {
        RecordRig rig;
        auto worker = rig.worker(rig.dispatcher_options(), {"orders"});
        int runs = 0;
        worker.on("order", [&](const Message&, HandlerContext&) { ++runs; });
        rig.adapter->push_raw("orders", "{\"handler\": 12, garbage");
        rig.drain(worker);
        CHECK(runs == 0);
        auto dead = rig.dead();
        REQUIRE(dead.size() == 1);
        const json& record = record_of(dead[0]);
        check_record_shape(record);
        CHECK(record.at("reason") == "poison");
        CHECK(record.at("failures") == 0);
        CHECK(record.at("firstFailure").is_null());  // the handler never ran
        CHECK(record.at("originalChannel") == "orders");
        CHECK(record.at("history").back().at("note") == "poison");
        CHECK(record.at("encoding") == "utf-8");
    }
    SUBCASE("max-deliveries, after earlier failures") {
        RecordRig rig;
        auto options = rig.dispatcher_options();
        options.default_pipeline = {make<SendAgainMiddleware>("resend", 1)};
        WorkerOptions worker_options;
        worker_options.max_deliveries = 2;
        auto worker = rig.worker(options, {"orders"}, worker_options);
        int runs = 0;
        worker.on("order", [&](const Message&, HandlerContext&) {
            if (++runs == 1) throw TransientError("first run fails");
        });
        rig.queue("orders").push(order("b"));
        CHECK(worker.run_until_idle(1) == 1);  // fails once: sent again
        for (int i = 0; i < 2; ++i) {          // two workers take it and die
            REQUIRE(rig.adapter->reserve({"orders"}, 1, std::chrono::milliseconds(0)).size() == 1);
            rig.clock->advance(Seconds{31});
        }
        rig.drain(worker);
        CHECK(runs == 1);
        auto dead = rig.dead();
        REQUIRE(dead.size() == 1);
        const json& record = record_of(dead[0]);
        check_record_shape(record);
        CHECK(record.at("reason") == "max-deliveries");
        CHECK(record.at("failures") == 1);
        CHECK(record.at("attemptsByMiddleware") == json{{"resend", 1}});
        CHECK(record.at("firstFailure") == "2026-01-01T00:00:00.000Z");
        CHECK(record.at("history").size() == 2);  // the send-again, then the dead letter
        CHECK(record.at("deliveries") == 3);
    }
    SUBCASE("pipeline-error") {
        RecordRig rig;
        auto options = rig.dispatcher_options();
        options.default_pipeline = {std::make_shared<BrokenMiddleware>()};
        auto worker = rig.worker(options, {"orders"});
        worker.on("order", [](const Message&, HandlerContext&) { throw TransientError("gateway down"); });
        rig.queue("orders").push(order("c"));
        rig.drain(worker);
        auto dead = rig.dead();
        REQUIRE(dead.size() == 1);
        const json& record = record_of(dead[0]);
        check_record_shape(record);
        CHECK(record.at("reason") == "pipeline-error");
        CHECK(record.at("failures") == 1);
        CHECK(record.at("firstFailure") == "2026-01-01T00:00:00.000Z");
    }
    SUBCASE("settle-error") {
        RecordRig rig;
        auto refusing = std::make_shared<DeadLetterOnlyAdapter>(rig.adapter);
        auto options = rig.dispatcher_options();
        options.default_pipeline = {make<SendAgainMiddleware>("resend", 3)};
        auto worker = rig.worker(options, {"orders"}, {}, refusing);
        worker.on("order", [](const Message&, HandlerContext&) { throw TransientError("fails"); });
        rig.queue("orders").push(order("d"));
        rig.drain(worker);
        auto dead = rig.dead();
        REQUIRE(dead.size() == 1);
        const json& record = record_of(dead[0]);
        check_record_shape(record);
        CHECK(record.at("reason") == "settle-error");
        CHECK(record.at("failures") == 1);
        CHECK(record.at("attemptsByMiddleware") == json{{"resend", 1}});
        CHECK(record.at("history").size() == 2);  // the refused send-again, then the dead letter
    }
    SUBCASE("expired") {
        RecordRig rig;
        auto worker = rig.worker(rig.dispatcher_options(), {"orders"});
        int runs = 0;
        worker.on("order", [&](const Message&, HandlerContext&) { ++runs; });
        rig.queue("orders").push(order("e"), PushOptions{.ttl = Seconds{60}});
        rig.clock->advance(Seconds{61});
        rig.drain(worker);
        CHECK(runs == 0);
        auto dead = rig.dead();
        REQUIRE(dead.size() == 1);
        const json& record = record_of(dead[0]);
        check_record_shape(record);
        CHECK(record.at("reason") == "expired");
        CHECK(record.at("errorType") == "failpipe::MessageExpired");
        CHECK(record.at("expiresAt") == "2026-01-01T00:01:00.000Z");
    }
}

TEST_CASE("failure record: after 30 failures the history holds the last 10 entries, each bounded") {
    RecordRig rig;
    auto options = rig.dispatcher_options();
    options.default_pipeline = {make<SendAgainMiddleware>("resend", 29)};
    auto worker = rig.worker(options, {"orders"});
    int runs = 0;
    const std::string huge(100000, 'x');
    std::size_t largest_retry = 0;
    worker.on("order", [&](const Message& m, HandlerContext&) {
        ++runs;
        largest_retry = std::max(largest_retry, m.metadata.dump().size());
        throw TransientError("run " + std::to_string(runs) + " " + huge);
    });
    rig.queue("orders").push(order("f"));
    rig.drain(worker);
    CHECK(runs == 30);
    auto dead = rig.dead();
    REQUIRE(dead.size() == 1);
    const json& history = record_of(dead[0]).at("history");
    REQUIRE(history.size() == 10);
    CHECK(history.front().at("errorMessage").get<std::string>().starts_with("run 21 "));
    CHECK(history.back().at("errorMessage").get<std::string>().starts_with("run 30 "));
    for (const auto& entry : history) CHECK(entry.at("errorMessage").get<std::string>().size() <= kHistoryMessageBytes);
    CHECK(dead[0].metadata.at("failpipe-history").size() == 10);
    // What a retry carried never grew with the failures: ten entries of at most ~1 KB.
    CHECK(largest_retry < 10 * 1024);
    CHECK(record_of(dead[0]).at("failures") == 30);
}

TEST_CASE("failure record: history_limit 0 keeps no history, 3 keeps three — out of range is refused") {
    for (std::size_t limit : {std::size_t{0}, std::size_t{3}}) {
        CAPTURE(limit);
        RecordRig rig;
        auto options = rig.dispatcher_options();
        options.history_limit = limit;
        options.default_pipeline = {make<SendAgainMiddleware>("resend", 5)};
        auto worker = rig.worker(options, {"orders"});
        worker.on("order", [](const Message&, HandlerContext&) { throw TransientError("no"); });
        rig.queue("orders").push(order("g"));
        rig.drain(worker);
        auto dead = rig.dead();
        REQUIRE(dead.size() == 1);
        CHECK(record_of(dead[0]).at("history").size() == limit);
        CHECK(dead[0].metadata.contains("failpipe-history") == (limit != 0));
        CHECK(record_of(dead[0]).at("failures") == 6);
    }
    FailureMiddlewareDispatcher::Options options;
    options.history_limit = kMaxHistoryLimit + 1;
    CHECK_THROWS_AS(FailureMiddlewareDispatcher{options}, InvalidArgumentError);
}

TEST_CASE("failure record: two messages failing with different numbers share one fingerprint") {
    RecordRig rig;
    auto worker = rig.worker(rig.dispatcher_options(), {"orders"});
    worker.on("order", [](const Message& m, HandlerContext&) {
        throw TransientError("timeout after " + m.data.get<std::string>() + " ms");
    });
    rig.queue("orders").push(order("h1", "3012"));
    rig.queue("orders").push(order("h2", "40"));
    rig.queue("orders").push(Message::create("other"));  // no handler: another cause
    rig.drain(worker);
    auto dead = rig.dead();
    REQUIRE(dead.size() == 3);
    std::map<std::string, std::string> fingerprint;
    for (const auto& d : dead) fingerprint[d.id] = record_of(d).at("fingerprint");
    CHECK(fingerprint.at("h1") == fingerprint.at("h2"));
    std::set<std::string> distinct;
    for (const auto& [id, key] : fingerprint) distinct.insert(key);
    CHECK(distinct.size() == 2);
}

TEST_CASE("expiry: an expired message never reaches its handler — dead-lettered with reason expired and counted") {
    RecordRig rig;
    auto worker = rig.worker(rig.dispatcher_options(), {"orders"});
    std::map<std::string, int> runs;
    worker.on("order", [&](const Message& m, HandlerContext&) { ++runs[m.id]; });
    auto orders = rig.queue("orders");
    orders.push(order("late"), PushOptions{.ttl = Seconds{30}});
    orders.push(order("delayed-past-ttl"), PushOptions{.delay = Seconds{120}, .ttl = Seconds{60}});
    orders.push(order("in-time"), PushOptions{.ttl = Seconds{3600}});
    orders.push(order("no-ttl"));
    rig.clock->advance(Seconds{45});
    rig.drain(worker);
    CHECK(runs == std::map<std::string, int>{{"in-time", 1}, {"no-ttl", 1}});
    std::set<std::string> dead_ids;
    for (const auto& d : rig.dead()) {
        dead_ids.insert(d.id);
        CHECK(record_of(d).at("reason") == "expired");
        CHECK(record_of(d).at("history").back().at("note") == "expired");
    }
    CHECK(dead_ids == std::set<std::string>{"late", "delayed-past-ttl"});
    const auto metrics = worker.metrics().snapshot();
    CHECK(metrics.expired == 2);
    CHECK(metrics.dead_lettered == 2);
    CHECK(metrics.succeeded == 2);
}

TEST_CASE("expiry: onExpired drop acknowledges the message without running it, and counts it") {
    RecordRig rig;
    WorkerOptions worker_options;
    worker_options.on_expired = ExpiredBehavior::drop;
    auto worker = rig.worker(rig.dispatcher_options(), {"orders"}, worker_options);
    int runs = 0;
    worker.on("order", [&](const Message&, HandlerContext&) { ++runs; });
    rig.queue("orders").push(order("late"), PushOptions{.ttl = Seconds{1}});
    rig.clock->advance(Seconds{2});
    rig.drain(worker);
    CHECK(runs == 0);
    CHECK(rig.dead().empty());
    CHECK(rig.adapter->depth("orders").total() == 0);
    const auto metrics = worker.metrics().snapshot();
    CHECK(metrics.expired == 1);
    CHECK(metrics.dropped == 1);
    CHECK(parse_expired_behavior("drop") == ExpiredBehavior::drop);
    CHECK(parse_expired_behavior("dead-letter") == ExpiredBehavior::dead_letter);
    CHECK(!parse_expired_behavior("discard"));
}

TEST_CASE("expiry: a TTL that is not a positive finite number is refused at push — foreign values are ignored") {
    RecordRig rig;
    auto orders = rig.queue("orders");
    for (double ttl : {0.0, -1.0, std::nan(""), std::numeric_limits<double>::infinity()}) {
        CAPTURE(ttl);
        CHECK_THROWS_AS(orders.push(order("x"), PushOptions{.ttl = Seconds{ttl}}), InvalidArgumentError);
    }
    CHECK(rig.adapter->depth("orders").total() == 0);
    auto worker = rig.worker(rig.dispatcher_options(), {"orders"});
    int runs = 0;
    worker.on("order", [&](const Message&, HandlerContext&) { ++runs; });
    for (const json& value : {json("soon"), json(-5), json::object(), json(nullptr), json(1e300)}) {
        Message m = order("");
        m.metadata["failpipe-expires-at"] = value;
        orders.push(m);
    }
    rig.drain(worker);
    CHECK(runs == 5);  // none of these expire (1e300 ms is beyond any clock)
    CHECK(rig.dead().empty());
}

TEST_CASE("maxElapsed: once passed since the first failure, no middleware retries — the final behaviour applies") {
    RecordRig rig;
    auto options = rig.dispatcher_options();
    options.default_pipeline = {make<ExponentialDelayMiddleware>("backoff", 100, 60, 600, 2)};
    options.default_max_elapsed = Seconds{1000};
    auto worker = rig.worker(options, {"orders"});
    int runs = 0;
    worker.on("order", [&](const Message&, HandlerContext&) {
        ++runs;
        throw TransientError("still down");
    });
    rig.queue("orders").push(order("m"));
    // Failures at 0, 60, 180, 420, 900 (each retry handled when due), then 1500 > 1000.
    for (int i = 0; i < 60 && rig.adapter->depth("orders").total() > 0; ++i) {
        worker.run_until_idle();
        rig.clock->advance(Seconds{60});
    }
    CHECK(runs == 6);  // without maxElapsed it would run 101 times
    auto dead = rig.dead();
    REQUIRE(dead.size() == 1);
    const json& record = record_of(dead[0]);
    CHECK(record.at("reason") == "failure");
    CHECK(record.at("middleware") == "final");
    CHECK(record.at("note").get<std::string>().starts_with("maxElapsed 1000 s passed since the first failure"));
    CHECK(record.at("history").back().at("note") == record.at("note"));
    CHECK(record.at("attemptsByMiddleware") == json{{"backoff", 5}});
}

TEST_CASE("maxElapsed: a channel's own limit overrides the default — 0 there means none") {
    FailureMiddlewareDispatcher::Options options;
    options.default_max_elapsed = Seconds{100};
    options.max_elapsed["slow"] = Seconds{5000};
    options.max_elapsed["forever"] = Seconds{0};
    FailureMiddlewareDispatcher dispatcher(options);
    CHECK(dispatcher.max_elapsed_for("orders") == Seconds{100});
    CHECK(dispatcher.max_elapsed_for("slow") == Seconds{5000});
    CHECK(!dispatcher.max_elapsed_for("forever"));
    options.max_elapsed["bad"] = Seconds{-1};
    CHECK_THROWS_AS(FailureMiddlewareDispatcher{options}, InvalidArgumentError);
}

TEST_CASE("explain: shows where maxElapsed ends the schedule") {
    FailureMiddlewareDispatcher::Options options;
    options.default_pipeline = {make<ExponentialDelayMiddleware>("backoff", 100, 60, 600, 2)};
    options.default_max_elapsed = Seconds{1000};
    const auto steps = explain(FailureMiddlewareDispatcher(options), {.channel = "orders"});
    REQUIRE(steps.size() == 6);
    CHECK(steps[4].decision.action == FailureAction::delay);
    CHECK(steps[4].elapsed == Seconds{900});
    CHECK(steps[4].decision.note.empty());
    CHECK(steps[5].elapsed == Seconds{1500});
    CHECK(steps[5].decision.action == FailureAction::dead_letter);
    CHECK(steps[5].decision.note.find("maxElapsed 1000 s") != std::string::npos);
}

TEST_CASE("explain: shows where a time to live ends the schedule") {
    FailureMiddlewareDispatcher::Options options;
    options.default_pipeline = {make<ExponentialDelayMiddleware>("backoff", 100, 60, 600, 2)};
    ExplainOptions explain_options{.channel = "orders"};
    explain_options.ttl = Seconds{400};
    const auto steps = explain(FailureMiddlewareDispatcher(options), explain_options);
    // Failures at 0, 60 and 180; the retry due at 420 finds the message expired.
    REQUIRE(steps.size() == 4);
    CHECK(steps[2].decision.action == FailureAction::delay);
    CHECK(steps[3].elapsed == Seconds{420});
    CHECK(steps[3].decision.action == FailureAction::dead_letter);
    CHECK(steps[3].decision.to == "orders:dlq");
    CHECK(steps[3].decision.note.starts_with("expired: its time to live (400 s"));
    explain_options.on_expired = ExpiredBehavior::drop;
    CHECK(explain(FailureMiddlewareDispatcher(options), explain_options).back().decision.action == FailureAction::drop);
    explain_options.ttl = Seconds{-1};
    CHECK_THROWS_AS(explain(FailureMiddlewareDispatcher(options), explain_options), InvalidArgumentError);
}

TEST_CASE("retry-after: the hint replaces the schedule's delay, capped at delayMaximum, and the history says so") {
    RecordRig rig;
    auto options = rig.dispatcher_options();
    options.default_pipeline = {make<ExponentialDelayMiddleware>("backoff", 4, 10, 100, 2)};
    auto worker = rig.worker(options, {"orders"});
    // Hints per run: 30 s (used), 5000 s (capped at 100), none (the schedule continues: 40), NaN (ignored: 80).
    const std::vector<std::optional<double>> hints = {30.0, 5000.0, std::nullopt, std::nan("")};
    int runs = 0;
    std::vector<TimePoint> run_times;
    worker.on("order", [&](const Message&, HandlerContext&) {
        run_times.push_back(rig.clock->now());
        const auto hint = runs < 4 ? hints[static_cast<std::size_t>(runs)] : std::nullopt;
        ++runs;
        if (hint) throw RetryAfter(Seconds{*hint}, "HTTP 429 rate limited");
        throw TransientError("HTTP 503");
    });
    rig.queue("orders").push(order("r"));
    for (int i = 0; i < 400 && runs < 5; ++i) {
        worker.run_until_idle();
        rig.clock->advance(Seconds{1});
    }
    REQUIRE(runs == 5);
    auto gap = [&](int i) {
        return std::chrono::duration<double>(run_times[static_cast<std::size_t>(i + 1)] - run_times[static_cast<std::size_t>(i)]).count();
    };
    CHECK(gap(0) == doctest::Approx(30).epsilon(0.05));
    CHECK(gap(1) == doctest::Approx(100).epsilon(0.02));
    CHECK(gap(2) == doctest::Approx(40).epsilon(0.05));
    CHECK(gap(3) == doctest::Approx(80).epsilon(0.03));
    auto dead = rig.dead();
    REQUIRE(dead.size() == 1);
    const json& history = record_of(dead[0]).at("history");
    REQUIRE(history.size() == 5);
    CHECK(history[0].at("retryAfter") == 30.0);
    CHECK(history[0].at("delay") == 30.0);
    CHECK(history[1].at("retryAfter") == 100.0);
    CHECK(history[1].at("delay") == 100.0);
    CHECK(!history[2].contains("retryAfter"));
    CHECK(history[2].at("delay") == 40.0);
    CHECK(!history[3].contains("retryAfter"));
    CHECK(history[3].at("delay") == 80.0);
}

TEST_CASE("retry-after: any exception implementing RetryAfterHint is honoured — a negative hint means now") {
    struct RateLimited : std::runtime_error, RetryAfterHint {
        double seconds;
        explicit RateLimited(double s) : std::runtime_error("rate limited"), seconds(s) {}
        std::optional<Seconds> retry_after() const noexcept override { return Seconds{seconds}; }
    };
    Classifier classifier;
    Failure failure;
    try {
        throw RateLimited(12.5);
    } catch (const std::exception& e) {
        failure = classifier.classify(e);
    }
    REQUIRE(failure.retry_after);
    CHECK(failure.retry_after->count() == 12.5);
    CHECK(failure.error_class == ErrorClass::unknown);
    try {
        throw RetryAfter(Seconds{3}, "busy");
    } catch (const std::exception& e) {
        CHECK(classifier.classify(e).error_class == ErrorClass::transient);
    }

    ExponentialDelayMiddleware middleware("backoff", 3, 10, 100, 2);
    failpipe::test::RecordingNext next;
    failure.retry_after = Seconds{-7};
    auto result = middleware.handle(FailureHandlingRequest(order("n"), "orders"), failure, next);
    REQUIRE(result.decision());
    CHECK(result.decision()->delay == Seconds{0});
    CHECK(result.decision()->retry_after == Seconds{0});
    CHECK(result.pushes().front().delay == Seconds{0});
}

TEST_CASE("hostile metadata: a history of the wrong type, a million entries or huge strings is bounded on the next failure") {
    const std::string huge(1 << 20, 'y');
    json million = json::array();
    for (int i = 0; i < 1000000; ++i) million.push_back(i % 2 == 0 ? json{{"errorMessage", "e"}} : json(i));
    const std::vector<std::pair<std::string, json>> cases = {
        {"string", json("not a history")},
        {"object", json{{"a", 1}}},
        {"million", std::move(million)},
        {"huge strings", json::array({json{{"errorMessage", huge}, {"channel", huge}, {"delay", "NaN"}, {"junk", huge}},
                                      json{{"note", huge}}})},
    };
    for (const auto& [name, history] : cases) {
        CAPTURE(name);
        RecordRig rig;
        auto options = rig.dispatcher_options();
        options.default_pipeline = {make<SendAgainMiddleware>("resend", 1)};
        auto worker = rig.worker(options, {"orders"});
        std::vector<std::size_t> seen;
        worker.on("order", [&](const Message& m, HandlerContext&) {
            const auto it = m.metadata.find("failpipe-history");
            seen.push_back(it != m.metadata.end() && it->is_array() ? it->size() : 0);
            throw TransientError("boom");
        });
        Message m = order("hostile");
        m.metadata["failpipe-history"] = history;
        m.metadata["failpipe-origin"] = json{{"channel", huge}, {"id", 5}};
        m.metadata["failpipe-failure"] = json{{"first-failure-ms", "yesterday"}, {"failures", -3}};
        rig.queue("orders").push(m);
        CHECK_NOTHROW(rig.drain(worker));
        REQUIRE(seen.size() == 2);
        CHECK(seen[1] <= kDefaultHistoryLimit);  // the retry carried a bounded history
        auto dead = rig.dead();
        REQUIRE(dead.size() == 1);
        const json& record = record_of(dead[0]);
        check_record_shape(record);
        CHECK(record.at("originalChannel") == "orders");  // a hostile origin is replaced
        CHECK(record.at("failures") == 2);
        CHECK(record.at("firstFailure") == "2026-01-01T00:00:00.000Z");
        CHECK(dead[0].metadata.dump().size() < 64 * 1024);
        for (const auto& entry : record.at("history")) {
            REQUIRE(entry.is_object());
            CHECK(entry.dump().size() < 2048);
        }
    }
}
