// Loops of dead-letter channels: refused at config load, and ended at run time for pipelines built
// in code (the message rests in the dead letters of the channel it failed on, its reason kept).
#include <doctest/doctest.h>

#include <failpipe/failpipe.hpp>
#include <failpipe/memory/in_memory_adapter.hpp>

#include "test_support.hpp"

using namespace failpipe;
using failpipe::test::config_issues;
using failpipe::test::contains;
using failpipe::test::make;
using nlohmann::json;

namespace {

json dead_letter_to(const std::string& queue, json on = nullptr) {
    json middleware = {{"type", "dead-letter"}, {"id", "to-" + queue}, {"queue", queue}};
    if (!on.is_null()) middleware["on"] = std::move(on);
    return middleware;
}

}  // namespace

TEST_CASE("config: two pipelines that dead-letter to each other are refused, naming the loop in order and the queue key") {
    const auto issues = config_issues({{"pipelines", {{"orders", json::array({dead_letter_to("audit")})}, {"audit", json::array({dead_letter_to("orders")})}}}});
    REQUIRE(issues.size() == 1);
    CHECK(issues[0].path == "/pipelines/audit/0/queue");
    INFO(issues[0].message);
    CHECK(contains(issues[0].message, "dead-letter loop \"audit\" -> \"orders\" -> \"audit\""));
    CHECK(contains(issues[0].message, "a message that keeps failing would be dead-lettered round it without end"));
    CHECK(contains(issues[0].message, "/pipelines/audit/0/queue sends the dead letters of \"audit\" to \"orders\""));
    CHECK(contains(issues[0].message, "/pipelines/orders/0/queue sends the dead letters of \"orders\" to \"audit\""));
}

TEST_CASE("config: a longer dead-letter loop, one through the final handler's C:dlq, and one through the default pipeline are refused") {
    SUBCASE("three channels") {
        const auto issues = config_issues({{"pipelines",
                                        {{"a", json::array({dead_letter_to("b")})},
                                         {"b", json::array({json{{"type", "send-again"}, {"id", "again"}, {"maxAttempts", 2}}, dead_letter_to("c")})},
                                         {"c", json::array({dead_letter_to("a")})}}}});
        REQUIRE(issues.size() == 1);
        CHECK(issues[0].path == "/pipelines/a/0/queue");
        CHECK(contains(issues[0].message, "\"a\" -> \"b\" -> \"c\" -> \"a\""));
    }
    SUBCASE("the final handler's dead letters are consumed and sent back") {
        const auto issues = config_issues({{"pipelines", {{"orders", json::array()}, {"orders:dlq", json::array({dead_letter_to("orders")})}}}});
        REQUIRE(issues.size() == 1);
        CHECK(issues[0].path == "/pipelines/orders:dlq/0/queue");
        CHECK(contains(issues[0].message, "\"orders\" -> \"orders:dlq\" -> \"orders\""));
        CHECK(contains(issues[0].message, "the dead letters of \"orders\" go to \"orders:dlq\" (\"orders\" + deadLetterSuffix)"));
    }
    SUBCASE("a worker channel without a pipeline runs the default one") {
        const auto issues = config_issues({{"defaultPipeline", json::array({dead_letter_to("orders")})},
                                       {"pipelines", {{"orders", json::array({dead_letter_to("review")})}}},
                                       {"worker", {{"channels", {"orders", "review"}}}}});
        REQUIRE(issues.size() == 1);
        CHECK(issues[0].path == "/pipelines/orders/0/queue");
        CHECK(contains(issues[0].message, "\"orders\" -> \"review\" -> \"orders\""));
        CHECK(contains(issues[0].message, "/defaultPipeline/0/queue sends the dead letters of \"review\" to \"orders\""));
    }
    SUBCASE("a loop for one error class only names it") {
        const auto issues = config_issues({{"pipelines", {{"a", json::array({dead_letter_to("b", json::array({"permanent"}))})}, {"b", json::array({dead_letter_to("a")})}}}});
        REQUIRE(issues.size() == 1);
        CHECK(contains(issues[0].message, "a message that keeps failing with a permanent error would be dead-lettered"));
    }
}

TEST_CASE("config: dead-letter chains that end, retry rings and the self-queue are accepted") {
    // A chain: the last channel is not consumed, so its dead letters rest.
    CHECK_NOTHROW(load_config({{"pipelines", {{"a", json::array({dead_letter_to("b")})}, {"b", json::array({dead_letter_to("c")})}}}}));
    // Retries between two channels end: their counters travel with the message.
    CHECK_NOTHROW(load_config({{"pipelines",
                                {{"a", json::array({json{{"type", "send-again"}, {"id", "to-b"}, {"maxAttempts", 3}, {"queue", "b"}}})},
                                 {"b", json::array({json{{"type", "send-again"}, {"id", "to-a"}, {"maxAttempts", 3}, {"queue", "a"}}})}}}}));
    // Filters that never meet: permanent errors go a -> b, transient ones b -> a; nothing goes round.
    CHECK_NOTHROW(load_config(
        {{"pipelines", {{"a", json::array({dead_letter_to("b", json::array({"permanent"}))})}, {"b", json::array({dead_letter_to("a", json::array({"transient"}))})}}}}));
    // A queue naming the failing channel itself rests in its C:dlq (the self-loop rule).
    CHECK_NOTHROW(load_config({{"pipelines", {{"a", json::array({dead_letter_to("a")})}}}}));
    // Channels the config does not say are consumed are taken to rest: the default pipeline alone is no loop.
    CHECK_NOTHROW(load_config({{"defaultPipeline", json::array({dead_letter_to("orders")})}, {"pipelines", {{"orders", json::array({dead_letter_to("review")})}}}}));
}

TEST_CASE("worker: pipelines built in code that dead-letter to each other end the loop - the message rests in a dead-letter channel, reason kept") {
    auto adapter = std::make_shared<InMemoryAdapter>();
    FailureMiddlewareDispatcher::Options options;
    options.pipelines["orders"] = {make<DeadLetterMiddleware>("to-audit", "audit")};
    options.pipelines["audit"] = {make<DeadLetterMiddleware>("to-orders", "orders")};
    WorkerOptions worker_options;
    worker_options.channels = {"orders", "audit"};
    Worker worker(adapter, FailureMiddlewareDispatcher(std::move(options)), Classifier{}, worker_options);
    int runs = 0;
    worker.on("order", [&](const Message&, HandlerContext&) {
        ++runs;
        throw PermanentError("order 42 is malformed");
    });
    const std::string id = Queue(adapter, "orders").push(Message::create("order", {{"n", 42}}));
    for (int round = 0; round < 50 && runs <= 20; ++round) worker.run_until_idle(5);
    // Hops 1..8 go round (orders, audit, orders, ...); the 9th dead letter rests in orders:dlq.
    CHECK(runs == DeadLetterMiddleware::kMaxHops + 1);
    CHECK(adapter->depth("orders").total() == 0);
    CHECK(adapter->depth("audit").total() == 0);
    const auto dead = adapter->browse("orders:dlq", 0, 10);
    REQUIRE(dead.size() == 1);
    CHECK(dead[0].id == id);
    CHECK(dead[0].data.at("n") == 42);
    const json& record = dead[0].metadata.at("failpipe-dead-letter");
    CHECK(record.at("reason") == "failure");
    CHECK(record.at("errorMessage") == "order 42 is malformed");
    CHECK(record.at("middleware") == "to-audit");
    CHECK(record.at("hops") == DeadLetterMiddleware::kMaxHops + 1);
    CHECK(dead[0].metadata.at("failpipe-dead-letter-hops") == DeadLetterMiddleware::kMaxHops + 1);
    INFO(record.at("note"));
    CHECK(contains(record.at("note").get<std::string>(), "a loop of dead-letter channels; it rests in orders:dlq instead of going on to audit"));
    CHECK(worker.metrics().snapshot().dead_lettered == static_cast<std::uint64_t>(DeadLetterMiddleware::kMaxHops + 1));
}

TEST_CASE("dead-letter middleware: a hop count forged by a producer cannot move a dead letter anywhere but the failing channel's dead letters") {
    for (const json& forged : {json(1'000'000), json("12"), json(-5), json("x"), json::array()}) {
        CAPTURE(forged.dump());
        Message message = Message::create("job", 1);
        message.id = "m-1";
        message.metadata["failpipe-dead-letter-hops"] = forged;
        auto result = DeadLetterMiddleware("park", "audit")
                          .handle(FailureHandlingRequest(std::move(message), "orders"), test::failure_of(),
                                  test::RecordingNext{});
        REQUIRE(result.pushes().size() == 1);
        const bool looped = forged == json(1'000'000) || forged == json("12");  // read as counts, like every counter
        CHECK(result.pushes()[0].channel == (looped ? "orders:dlq" : "audit"));
        CHECK(result.pushes()[0].message.metadata.at("failpipe-dead-letter").at("reason") == "failure");
    }
}
