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
using nlohmann::json;

namespace {

struct Rig {
    std::shared_ptr<ManualClock> clock = std::make_shared<ManualClock>();
    std::shared_ptr<InMemoryAdapter> memory;
    Rig() {
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

Message job(nlohmann::json data = nullptr) { return Message::create("job", std::move(data)); }

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

const json& record_of(const Message& message) { return message.metadata.at("failpipe-dead-letter"); }

std::string error_text(const json& record) { return record.at("errorMessage").get<std::string>(); }

/// Runs the worker and the clock until nothing is left in "orders", at most @p rounds times.
void drain(Rig& rig, Worker& worker, int rounds = 60) {
    for (int i = 0; i < rounds && rig.memory->depth("orders").total() != 0; ++i) {
        worker.run_until_idle(1000);
        rig.clock->advance(Seconds{100000});
    }
}

}  // namespace

// ---- defect 5: nesting depth ---------------------------------------------------------------

TEST_CASE("hostile input: JSON nested 100,000 levels deep is poison — dead-lettered with its bytes, the handler never runs") {
    Rig rig;
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
    Queue(rig.memory, "orders").push(job("fine"));
    drain(rig, worker);

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
    Rig rig;
    Queue orders(rig.memory, "orders");
    for (std::size_t levels : {kMaxMessageDepth + 1, std::size_t{100000}}) {
        CAPTURE(levels);
        CHECK_THROWS_WITH_AS(orders.push(job(nested(levels))), doctest::Contains("nested deeper than 128 levels"),
                             InvalidArgumentError);
        Message deep_meta = job();
        deep_meta.metadata["trace"] = nested(levels);
        CHECK_THROWS_WITH_AS(orders.push(deep_meta), doctest::Contains("metadata"), InvalidArgumentError);
        CHECK_THROWS_AS(rig.memory->push("orders", job(nested(levels))), InvalidArgumentError);
        std::vector<OutgoingMessage> batch;
        batch.push_back(OutgoingMessage{"orders", job("fine"), Seconds{0}});
        batch.push_back(OutgoingMessage{"orders", job(nested(levels)), Seconds{0}});
        CHECK_THROWS_AS(rig.memory->push_batch(std::move(batch)), InvalidArgumentError);
        CHECK_THROWS_AS(encode_message(job(nested(levels))), InvalidArgumentError);
        HandlerContext context("orders", 1);
        CHECK_THROWS_AS(context.push("audit", job(nested(levels))), InvalidArgumentError);
        CHECK(context.staged().empty());
    }
    CHECK(rig.memory->depth("orders").total() == 0);  // a refused batch pushes nothing
}

TEST_CASE("hostile input: a message nested exactly at the limit works end to end, retried and dead-lettered") {
    Rig rig;
    auto options = rig.dispatcher_options();
    options.default_pipeline = {make<SendAgainMiddleware>("again", 1),
                                make<ExponentialDelayMiddleware>("later", 1, 1.0, 10.0, 2.0)};
    auto worker = rig.worker(options);
    const json data = nested(kMaxMessageDepth);
    Message message = job(data);
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
    drain(rig, worker);

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
        Rig rig;
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
        Message message = job();
        message.metadata["failpipe-failure"] = {{again_key, value},       {backoff_attempts, value},
                                                {backoff_delay, value},   {jitter_attempts, value},
                                                {jitter_delay, value},    {jitter_applied, value},
                                                {"failures", value}};
        Queue(rig.memory, "orders").push(message);
        drain(rig, worker, 3 * kMaxRuns);

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

TEST_CASE("hostile input: a failure count of INT64_MAX saturates; the dead letter never shows a negative count") {
    constexpr auto kMax = std::numeric_limits<std::int64_t>::max();
    for (const json& failures : {json(kMax), json(std::numeric_limits<std::uint64_t>::max()), json(1e300), json(-5),
                                 json(std::numeric_limits<std::int64_t>::min())}) {
        CAPTURE(failures.dump());
        Rig rig;
        auto worker = rig.worker(rig.dispatcher_options());
        worker.on("job", [](const Message&, HandlerContext&) { throw PermanentError("no"); });
        Message message = job();
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
    Rig rig;
    auto options = rig.dispatcher_options();
    options.default_pipeline = {std::make_shared<ThrowingMiddleware>()};
    auto worker = rig.worker(options);
    worker.on("job", [](const Message&, HandlerContext&) { throw PermanentError("no"); });
    Message message = job();
    message.metadata["failpipe-failure"] = {{"failures", std::numeric_limits<std::int64_t>::max()}};
    Queue(rig.memory, "orders").push(message);
    worker.run_until_idle();
    auto dead = rig.memory->browse("orders:dlq", 0, 10);
    REQUIRE(dead.size() == 1);
    CHECK(record_of(dead[0]).at("reason") == "pipeline-error");
    CHECK(record_of(dead[0]).at("attempts") == std::numeric_limits<std::int64_t>::max());
}
