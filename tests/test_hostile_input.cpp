// What a careless or hostile producer can put in a message, and what the core does with it:
// nesting too deep for recursive code, counters that are negative, huge or of the wrong type,
// an adapter that refuses one message of a batch, and odd ids and delays on the memory adapter.
// Each case ends in "handled, or dead-lettered with its reason": nothing lost, nothing stuck.
#include <doctest/doctest.h>

#include <failpipe/failpipe.hpp>
#include <failpipe/memory/in_memory_adapter.hpp>

#include <cmath>
#include <functional>
#include <limits>
#include <map>
#include <string>
#include <vector>

#include "test_support.hpp"

using namespace failpipe;
using failpipe::test::make;
using failpipe::test::record_of;
using nlohmann::json;

namespace {

struct HostileRig {
    std::shared_ptr<ManualClock> clock = std::make_shared<ManualClock>();
    std::shared_ptr<InMemoryAdapter> memory;
    HostileRig() {
        InMemoryAdapter::Options options;
        options.clock = clock;
        options.visibility_timeout = Seconds{30};
        memory = std::make_shared<InMemoryAdapter>(options);
    }
    FailureMiddlewareDispatcher::Options dispatcher_options() const {
        FailureMiddlewareDispatcher::Options options;
        options.clock = clock;
        return options;
    }
    Worker worker(FailureMiddlewareDispatcher::Options options, WorkerOptions worker_options = {},
                  std::shared_ptr<AdapterInterface> adapter = nullptr) const {
        if (worker_options.channels.empty()) worker_options.channels = {"orders"};
        return Worker(adapter ? adapter : memory, FailureMiddlewareDispatcher(std::move(options)), Classifier{},
                      worker_options);
    }
};

Message job_of(nlohmann::json data = nullptr) { return Message::create("job", std::move(data)); }

/// @p levels arrays nested in each other around @p leaf, built without recursion.
json nested(std::size_t levels, json leaf = 1) {
    json value = std::move(leaf);
    for (std::size_t i = 0; i < levels; ++i) {
        json outer = json::array();
        outer.push_back(std::move(value));
        value = std::move(outer);
    }
    return value;
}

/// The wire form of a message whose data is @p levels arrays deep, written as text (no recursion).
std::string deep_wire(const std::string& id, std::size_t levels) {
    return "{\"id\":\"" + id + "\",\"handler\":\"job\",\"data\":" + std::string(levels, '[') + "1" +
           std::string(levels, ']') + ",\"metadata\":{}}";
}

std::string error_text(const json& record) { return record.at("errorMessage").get<std::string>(); }

/// Runs the worker and the clock until nothing is left in "orders", at most @p rounds times.
void drain_orders(HostileRig& rig, Worker& worker, int rounds = 60) {
    for (int i = 0; i < rounds && rig.memory->depth("orders").total() != 0; ++i) {
        worker.run_until_idle(1000);
        rig.clock->advance(Seconds{100000});
    }
}

}  // namespace

// ---- defect 5: nesting depth ---------------------------------------------------------------

TEST_CASE("hostile input: JSON nested 100,000 levels deep is poison — dead-lettered with its bytes, the handler never runs") {
    HostileRig rig;
    auto options = rig.dispatcher_options();
    options.default_pipeline = {make<SendAgainMiddleware>("again", 3)};
    auto worker = rig.worker(options);
    int runs = 0;
    worker.on("job", [&](const Message&, HandlerContext&) {
        ++runs;
        throw TransientError("fails");
    });
    const std::string bytes = deep_wire("deep-1", 100000);
    rig.memory->push_raw("orders", bytes);
    Queue(rig.memory, "orders").push(job_of("fine"));
    drain_orders(rig, worker);

    CHECK(runs == 4);  // the fine message: 1 + 3 resends; never the deep one
    auto dead = rig.memory->browse("orders:dlq", 0, 10);
    REQUIRE(dead.size() == 2);
    const Message& poison = dead[0].id == "deep-1" ? dead[0] : dead[1];
    CHECK(poison.id == "deep-1");
    CHECK(poison.data == bytes);  // every byte kept, as text
    CHECK(record_of(poison).at("reason") == "poison");
    CHECK(record_of(poison).at("encoding") == "utf-8");
    CHECK(error_text(record_of(poison)).find("nested deeper than 128 levels") != std::string::npos);
    CHECK(rig.memory->depth("orders").total() == 0);
    CHECK(worker.metrics().snapshot().poison == 1);
}

TEST_CASE("hostile input: decode_message refuses nesting past the limit with a clear DecodeError, without recursion") {
    CHECK(kMaxMessageDepth == 128);
    CHECK_THROWS_WITH_AS(decode_message(deep_wire("x", 100000)),
                         doctest::Contains("nested deeper than 128 levels"), DecodeError);
    CHECK_THROWS_WITH_AS(decode_message(deep_wire("x", kMaxMessageDepth + 1)),
                         doctest::Contains("nested deeper than 128 levels"), DecodeError);
    // Deep metadata, and brackets of any kind, count the same; brackets inside strings do not count.
    CHECK_THROWS_AS(decode_message("{\"handler\":\"job\",\"metadata\":{\"a\":" + std::string(200, '[') +
                                   std::string(200, ']') + "}}"),
                    DecodeError);
    CHECK_THROWS_AS(decode_message("{\"handler\":\"job\",\"data\":" + nested(50, json::object()).dump() +
                                   ",\"x\":" + std::string(150, '{') + "}"),
                    DecodeError);
    Message in_string = decode_message("{\"handler\":\"job\",\"data\":\"" + std::string(1000, '[') + "\\\"[{\"}");
    CHECK(in_string.data.get<std::string>().size() == 1003);
    // An unterminated document stays "not JSON", however deep it starts.
    CHECK_THROWS_AS(decode_message(std::string(100000, '[')), DecodeError);
}

TEST_CASE("hostile input: a message nested deeper than the limit is refused at push, on every path, with a clear error") {
    HostileRig rig;
    Queue orders(rig.memory, "orders");
    for (std::size_t levels : {kMaxMessageDepth + 1, std::size_t{100000}}) {
        CAPTURE(levels);
        CHECK_THROWS_WITH_AS(orders.push(job_of(nested(levels))), doctest::Contains("nested deeper than 128 levels"),
                             InvalidArgumentError);
        Message deep_meta = job_of();
        deep_meta.metadata["trace"] = nested(levels);
        CHECK_THROWS_WITH_AS(orders.push(std::move(deep_meta)), doctest::Contains("metadata"), InvalidArgumentError);
        CHECK_THROWS_AS(rig.memory->push("orders", job_of(nested(levels))), InvalidArgumentError);
        std::vector<OutgoingMessage> batch;
        batch.push_back(OutgoingMessage{"orders", job_of("fine"), Seconds{0}});
        batch.push_back(OutgoingMessage{"orders", job_of(nested(levels)), Seconds{0}});
        CHECK_THROWS_AS(rig.memory->push_batch(std::move(batch)), InvalidArgumentError);
        CHECK_THROWS_AS(encode_message(job_of(nested(levels))), InvalidArgumentError);
        const std::string channel = "orders";
        HandlerContext context(channel, 1);
        CHECK_THROWS_AS(context.push("audit", job_of(nested(levels))), InvalidArgumentError);
        CHECK(context.staged().empty());
    }
    CHECK(rig.memory->depth("orders").total() == 0);  // a refused batch pushes nothing
}

TEST_CASE("hostile input: a message nested exactly at the limit works end to end, retried and dead-lettered") {
    HostileRig rig;
    auto options = rig.dispatcher_options();
    options.default_pipeline = {make<SendAgainMiddleware>("again", 1),
                                make<ExponentialDelayMiddleware>("later", 1, 1.0, 10.0, 2.0)};
    auto worker = rig.worker(options);
    const json data = nested(kMaxMessageDepth);
    Message message = job_of(data);
    message.metadata["trace"] = nested(kMaxMessageDepth - 1);  // metadata itself is one level
    int runs = 0;
    bool same = true;
    worker.on("job", [&](const Message& m, HandlerContext& context) {
        ++runs;
        same = same && m.data == data;
        if (m.data.is_array()) context.push("audit", Message::create("audit", m.data));  // staged, then discarded
        throw TransientError("fails");
    });

    message.id = "queued-1";
    Queue(rig.memory, "orders").push(message);
    Message raw = message;  // the same message through the bytes path
    raw.id = "raw-1";
    rig.memory->push_raw("orders", encode_message(raw));
    drain_orders(rig, worker);

    CHECK(runs == 6);  // two messages, three runs each
    CHECK(same);
    auto dead = rig.memory->browse("orders:dlq", 0, 10);
    REQUIRE(dead.size() == 2);
    for (const auto& d : dead) {
        CHECK(d.data == data);
        CHECK(d.metadata.at("trace") == message.metadata.at("trace"));
        CHECK(record_of(d).at("reason") == "failure");
        CHECK(record_of(d).at("attempts") == 3);
        // What a dead letter adds to metadata stays within the limit: it encodes and decodes again.
        CHECK(decode_message(encode_message(d)).data == data);
    }
    CHECK(rig.memory->depth("audit").total() == 0);
}

// ---- defect 6: hostile attempt counters ----------------------------------------------------

TEST_CASE("hostile input: counters in metadata of any value or type never stretch the retry loop past the pipeline's limits") {
    const std::string again_key = std::string(metadata_keys::resend_attempts_prefix) + "again";
    const std::string backoff_attempts = std::string(metadata_keys::delay_attempts_prefix) + "backoff";
    const std::string backoff_delay = std::string(metadata_keys::delay_delay_prefix) + "backoff";
    const std::string jitter_attempts = std::string(metadata_keys::delay_attempts_prefix) + "jittered";
    const std::string jitter_delay = std::string(metadata_keys::delay_delay_prefix) + "jittered";
    const std::string jitter_applied = std::string(metadata_keys::delay_applied_prefix) + "jittered";
    const std::vector<json> hostile = {
        -1, -1e12, 1e300, -1e300, "abc", "-1e12", "1e999", "  -7 apples", true, false, json::array({1, 2}),
        json::object({{"a", 1}}), std::numeric_limits<std::int64_t>::min(), std::numeric_limits<std::int64_t>::max(),
        std::numeric_limits<std::uint64_t>::max(), nullptr, std::nan(""), -0.0, 0.5, -0.5,
        std::numeric_limits<double>::infinity(), -std::numeric_limits<double>::infinity()};
    // At most 1 + 2 (again) + 3 (backoff) + 2 (jittered) runs, whatever the message says.
    constexpr int kMaxRuns = 8;

    for (const auto& value : hostile) {
        CAPTURE(value.dump());
        HostileRig rig;
        auto options = rig.dispatcher_options();
        ExponentialDelayMiddleware::Options jitter;
        jitter.jitter = Jitter::decorrelated;
        jitter.random = std::make_shared<RandomSource>(7);
        options.default_pipeline = {make<SendAgainMiddleware>("again", 2),
                                    make<ExponentialDelayMiddleware>("backoff", 3, 1.0, 60.0, 2.0),
                                    make<ExponentialDelayMiddleware>("jittered", 2, 1.0, 60.0, 2.0, jitter)};
        auto worker = rig.worker(options);
        int runs = 0;
        worker.on("job", [&](const Message&, HandlerContext&) {
            ++runs;
            throw TransientError("fails");
        });
        Message message = job_of();
        message.metadata["failpipe-failure"] = {{again_key, value},       {backoff_attempts, value},
                                                {backoff_delay, value},   {jitter_attempts, value},
                                                {jitter_delay, value},    {jitter_applied, value},
                                                {"failures", value}};
        Queue(rig.memory, "orders").push(message);
        drain_orders(rig, worker, 3 * kMaxRuns);

        CHECK(runs >= 1);
        CHECK(runs <= kMaxRuns);
        auto dead = rig.memory->browse("orders:dlq", 0, 10);
        REQUIRE(dead.size() == 1);
        const json& attempts = record_of(dead[0]).at("attempts");
        CHECK(attempts.is_number_integer());
        CHECK(attempts.get<long long>() >= 1);
        CHECK(rig.memory->depth("orders").total() == 0);
    }
}

TEST_CASE("hostile input: a negative ExponentialDelayMiddleware counter is read as 0, as SendAgainMiddleware's is") {
    ExponentialDelayMiddleware backoff("backoff", 3, 1.0, 60.0, 2.0);
    const std::string key = std::string(metadata_keys::delay_attempts_prefix) + "backoff";
    CHECK(backoff.attempts(test::message_with_failure_meta({{key, -1e12}})) == 0);
    CHECK(backoff.attempts(test::message_with_failure_meta({{key, std::numeric_limits<std::int64_t>::min()}})) == 0);
    test::RecordingNext next;
    auto result = backoff.handle(FailureHandlingRequest(test::message_with_failure_meta({{key, -5}}), "orders"),
                                 test::failure_of(), next);
    REQUIRE(result.handled());
    CHECK(test::failure_meta(result.pushes().front().message).at(key) == 1);
}

// ---- defect 7: counters at the top of their range ------------------------------------------

TEST_CASE("hostile input: a failure count of INT64_MAX saturates — the dead letter never shows a negative count") {
    constexpr auto kMax = std::numeric_limits<std::int64_t>::max();
    for (const json& failures : {json(kMax), json(std::numeric_limits<std::uint64_t>::max()), json(1e300), json(-5),
                                 json(std::numeric_limits<std::int64_t>::min())}) {
        CAPTURE(failures.dump());
        HostileRig rig;
        auto worker = rig.worker(rig.dispatcher_options());
        worker.on("job", [](const Message&, HandlerContext&) { throw PermanentError("no"); });
        Message message = job_of();
        message.metadata["failpipe-failure"] = {{"failures", failures}};
        Queue(rig.memory, "orders").push(message);
        worker.run_until_idle();
        auto dead = rig.memory->browse("orders:dlq", 0, 10);
        REQUIRE(dead.size() == 1);
        const long long expected = failures.get<double>() > 0 ? kMax : 1;
        CHECK(record_of(dead[0]).at("attempts") == expected);
        CHECK(dead[0].metadata.at("failpipe-failure").at("failures") == expected);
    }
}

namespace {

class ThrowingMiddleware final : public MiddlewareFailureInterface {
public:
    FailureHandlingRequest handle(FailureHandlingRequest, const Failure&, const FailureHandlerInterface&) const override {
        throw std::logic_error("middleware bug");
    }
    const std::string& id() const noexcept override { return id_; }
    std::string id_ = "throws";
};

}  // namespace

TEST_CASE("hostile input: a failure count of INT64_MAX saturates on the pipeline-error path too") {
    HostileRig rig;
    auto options = rig.dispatcher_options();
    options.default_pipeline = {std::make_shared<ThrowingMiddleware>()};
    auto worker = rig.worker(options);
    worker.on("job", [](const Message&, HandlerContext&) { throw PermanentError("no"); });
    Message message = job_of();
    message.metadata["failpipe-failure"] = {{"failures", std::numeric_limits<std::int64_t>::max()}};
    Queue(rig.memory, "orders").push(message);
    worker.run_until_idle();
    auto dead = rig.memory->browse("orders:dlq", 0, 10);
    REQUIRE(dead.size() == 1);
    CHECK(record_of(dead[0]).at("reason") == "pipeline-error");
    CHECK(record_of(dead[0]).at("attempts") == std::numeric_limits<std::int64_t>::max());
}

// ---- defect 4, the worker's side: one refused item of a batch --------------------------------

namespace {

/// An adapter in front of the memory adapter that refuses the settles @p refuse picks, for their
/// content (InvalidArgumentError), as a broker refusing one bad message would. With
/// @p whole_batch, settle_batch throws for the whole batch when any item is refused (today's
/// Redis adapter did); settle() always refuses item by item.
class RefusingAdapter final : public test::ForwardingAdapter {
public:
    using Predicate = std::function<bool(const Delivery&, const Settlement&)>;
    RefusingAdapter(std::shared_ptr<InMemoryAdapter> inner, Predicate refuse, bool whole_batch = false)
        : ForwardingAdapter(std::move(inner)), refuse_(std::move(refuse)), whole_batch_(whole_batch) {}
    int refused = 0;
    int batch_calls = 0;

    void settle(const Delivery& d, Settlement&& s) override {
        if (refuse_(d, s)) {
            ++refused;
            throw InvalidArgumentError("refused (test): message \"" + d.message.id + "\" cannot be stored");
        }
        inner_->settle(d, std::move(s));
    }
    std::vector<std::exception_ptr> settle_batch(std::vector<SettleItem> items) override {
        ++batch_calls;
        if (whole_batch_) {
            for (const auto& item : items) {
                if (refuse_(*item.delivery, *item.settlement)) throw ProtocolError("ERR the batch is refused (test)");
            }
        }
        return AdapterInterface::settle_batch(std::move(items));
    }

private:
    Predicate refuse_;
    bool whole_batch_;
};

bool only_dead_letters(const Settlement& s) {
    if (s.pushes.empty()) return false;
    for (const auto& push : s.pushes) {
        if (push.channel.size() < 4 || push.channel.substr(push.channel.size() - 4) != ":dlq") return false;
    }
    return true;
}

std::string reason_of(const Settlement& s) {
    if (s.pushes.size() != 1) return {};
    const auto& meta = s.pushes.front().message.metadata;
    auto record = meta.find("failpipe-dead-letter");
    return record == meta.end() ? std::string() : record->value("reason", std::string());
}

}  // namespace

TEST_CASE("hostile input: one item the adapter refuses is dead-lettered on its own — the rest of its batch settles") {
    for (bool whole_batch : {false, true}) {
        for (bool per_batch : {true, false}) {
            CAPTURE(whole_batch);
            CAPTURE(per_batch);
            HostileRig rig;
            auto refusing = std::make_shared<RefusingAdapter>(
                rig.memory,
                [](const Delivery& d, const Settlement& s) {
                    return d.message.id.find("bad") != std::string::npos && !only_dead_letters(s);
                },
                whole_batch);
            WorkerOptions worker_options;
            worker_options.settle_per_batch = per_batch;
            auto options = rig.dispatcher_options();
            options.default_pipeline = {make<SendAgainMiddleware>("again", 1)};
            auto worker = rig.worker(options, worker_options, refusing);
            std::map<std::string, int> runs;
            worker.on("job", [&](const Message& m, HandlerContext& context) {
                ++runs[m.id];
                context.push("audit", Message::create("audit", m.id));  // follow-ups of the bad one must not leak
                if (m.data == "fail") throw TransientError("fails once");
            });
            Queue orders(refusing, "orders");
            std::vector<std::string> ids;
            for (int i = 0; i < 5; ++i) {
                Message m = job_of(i == 1 ? "fail" : "ok");
                m.id = i == 2 ? "bad-2" : "good-" + std::to_string(i);
                ids.push_back(orders.push(m));
            }
            Message bad_failing = job_of("fail");
            bad_failing.id = "bad-fail";
            orders.push(bad_failing);
            drain_orders(rig, worker);

            CHECK(runs["good-0"] == 1);
            CHECK(runs["good-1"] == 2);  // failed once, sent again, then... still "fail": dead-lettered by the final handler
            CHECK(runs["good-3"] == 1);
            CHECK(runs["good-4"] == 1);
            CHECK(runs["bad-2"] == 1);  // no loop: dead-lettered after its first run
            CHECK(runs["bad-fail"] == 1);
            CHECK(rig.memory->depth("orders").total() == 0);
            CHECK(rig.memory->depth("audit").total() == 3);  // good-0, good-3, good-4: never the refused ones

            auto dead = rig.memory->browse("orders:dlq", 0, 10);
            REQUIRE(dead.size() == 3);
            std::map<std::string, Message> by_id;
            for (auto& d : dead) by_id[d.id] = d;
            REQUIRE(by_id.count("bad-2") == 1);
            REQUIRE(by_id.count("bad-fail") == 1);
            CHECK(record_of(by_id["good-1"]).at("reason") == "failure");
            for (const char* id : {"bad-2", "bad-fail"}) {
                CAPTURE(id);
                const auto& record = record_of(by_id[id]);
                CHECK(record.at("reason") == "settle-error");
                CHECK(record.at("errorType") == "failpipe::InvalidArgumentError");
                CHECK(error_text(record).find("refused (test): message \"" + std::string(id) + "\" cannot be stored") !=
                      std::string::npos);
                CHECK(by_id[id].data == (std::string(id) == "bad-2" ? "ok" : "fail"));
            }
            const auto snapshot = worker.metrics().snapshot();
            CHECK(snapshot.settle_errors == 2);
            CHECK(snapshot.dead_lettered == 3);
        }
    }
}

TEST_CASE("hostile input: when even the dead letter is refused the message stays with the broker, and max-deliveries ends it") {
    HostileRig rig;
    auto refusing = std::make_shared<RefusingAdapter>(rig.memory, [](const Delivery& d, const Settlement& s) {
        return d.message.id == "worse" && reason_of(s) != "max-deliveries";
    });
    WorkerOptions worker_options;
    worker_options.max_deliveries = 3;
    auto worker = rig.worker(rig.dispatcher_options(), worker_options, refusing);
    int runs = 0;
    int others = 0;
    worker.on("job", [&](const Message& m, HandlerContext&) { m.id == "worse" ? ++runs : ++others; });
    Message worse = job_of("payload");
    worse.id = "worse";
    Queue(refusing, "orders").push(worse);
    Queue(refusing, "orders").push(job_of());
    drain_orders(rig, worker);

    CHECK(runs == 3);  // one run per delivery up to max-deliveries, then no more
    CHECK(others == 1);
    CHECK(refusing->refused == 6);  // each run: its settle and its settle-error dead letter
    auto dead = rig.memory->browse("orders:dlq", 0, 10);
    REQUIRE(dead.size() == 1);
    CHECK(dead[0].id == "worse");
    CHECK(dead[0].data == "payload");
    CHECK(record_of(dead[0]).at("reason") == "max-deliveries");
    CHECK(rig.memory->depth("orders").total() == 0);
}

// ---- the memory adapter on odd ids and delays ------------------------------------------------

TEST_CASE("hostile input: the memory adapter keeps messages with odd ids and delays, and refuses NaN and infinite delays") {
    HostileRig rig;
    Queue orders(rig.memory, "orders");
    const std::vector<std::string> odd_ids = {std::string("a\x1f" "b"), std::string("nul\0inside", 10), "\xff\xfe not utf-8",
                                              std::string(100000, 'x'), " ", "\n", "{\"id\":1}"};
    for (const auto& id : odd_ids) {
        Message m = job_of("odd");
        m.id = id;
        CHECK(orders.push(m) == id);
        CHECK(rig.memory->status(id).state == MessageState::ready);
    }
    const std::string fresh = orders.push(job_of("no id"));
    CHECK(fresh.size() == 32);

    for (double bad : {std::nan(""), std::numeric_limits<double>::infinity(), -std::numeric_limits<double>::infinity(),
                       -1.0, -1e-300}) {
        CAPTURE(bad);
        CHECK_THROWS_AS(orders.push(job_of(), Seconds{bad}), InvalidArgumentError);
        CHECK_THROWS_AS(rig.memory->push("orders", job_of(), Seconds{bad}), InvalidArgumentError);
        CHECK_THROWS_AS(rig.memory->push_batch({OutgoingMessage{"orders", job_of(), Seconds{bad}}}), InvalidArgumentError);
    }
    const std::string far = orders.push(job_of("far"), Seconds{1e300});
    const std::string tiny = orders.push(job_of("tiny"), Seconds{1e-300});
    const std::string negative_zero = orders.push(job_of("zero"), Seconds{-0.0});
    CHECK(rig.memory->status(far).state == MessageState::delayed);
    CHECK(rig.memory->status(negative_zero).state == MessageState::ready);

    // A worker handles every odd id (failing once each into the dead letters), and a waiting reserve
    // does not trip over a due time at the end of time.
    auto worker = rig.worker(rig.dispatcher_options());
    std::vector<std::string> seen;
    worker.on("job", [&](const Message& m, HandlerContext&) {
        seen.push_back(m.id);
        if (m.data == "odd") throw PermanentError("odd");
    });
    rig.clock->advance(Seconds{1});
    worker.run_until_idle();
    CHECK(seen.size() == odd_ids.size() + 3);
    CHECK(rig.memory->reserve({"orders"}, 10, std::chrono::milliseconds(5)).empty());
    CHECK(rig.memory->status(far).state == MessageState::delayed);
    CHECK(rig.memory->status(tiny).state == MessageState::not_found);

    auto dead = rig.memory->browse("orders:dlq", 0, 100);
    REQUIRE(dead.size() == odd_ids.size());
    for (std::size_t i = 0; i < odd_ids.size(); ++i) {
        CHECK(dead[i].id == odd_ids[i]);
        CHECK(record_of(dead[i]).at("id") == odd_ids[i]);
    }
    CHECK(rig.memory->remove("orders:dlq", odd_ids) == odd_ids.size());
    CHECK(rig.memory->depth("orders:dlq").total() == 0);

    // A release to the end of time, and a settle push there, are kept (and count as delayed).
    orders.push(job_of("released"));
    auto taken = rig.memory->reserve({"orders"}, 1, std::chrono::milliseconds(0));
    REQUIRE(taken.size() == 1);
    CHECK_THROWS_AS(rig.memory->release(taken[0], Seconds{std::nan("")}), InvalidArgumentError);
    Settlement nan_push;
    nan_push.pushes.push_back(OutgoingMessage{"orders", job_of(), Seconds{std::nan("")}});
    CHECK_THROWS_AS(rig.memory->settle(taken[0], std::move(nan_push)), InvalidArgumentError);
    rig.memory->release(taken[0], Seconds{1e308});
    CHECK(rig.memory->depth("orders").delayed == 2);
    CHECK(rig.memory->depth("orders").reserved == 0);
}
