// The test header of `failpipe inject` (fault_injection.hpp): a handler that calls
// apply_injected_fault() fails as the header asks, and the pipeline treats each failure by its class.
#include <doctest/doctest.h>

#include <failpipe/fault_injection.hpp>

#include <chrono>
#include <failpipe/memory/in_memory_adapter.hpp>
#include <map>

#include "test_support.hpp"

using namespace failpipe;

namespace {

Message injected(InjectedFaultSpec spec) {
    Message message = Message::create("job", {{"n", 1}});
    message.metadata[std::string(kInjectMetadataKey)] = injected_fault_header(spec);
    return message;
}

Message with_header(nlohmann::json header) {
    Message message = Message::create("job", {{"n", 1}});
    message.metadata[std::string(kInjectMetadataKey)] = std::move(header);
    return message;
}

}  // namespace

TEST_CASE("fault injection: a message without the header is left alone") {
    CHECK_NOTHROW(apply_injected_fault(Message::create("job", {{"n", 1}})));
    CHECK_FALSE(injected_fault(Message::create("job", nullptr)).has_value());
}

TEST_CASE("fault injection: transient and permanent throw errors the classifier puts in those classes") {
    const Classifier classifier;
    for (auto [kind, expected] : {std::pair{InjectedFault::transient, ErrorClass::transient},
                                  std::pair{InjectedFault::permanent, ErrorClass::permanent}}) {
        CAPTURE(to_string(kind));
        try {
            apply_injected_fault(injected({kind}));
            FAIL("no exception");
        } catch (const std::exception&) {
            CHECK(classifier.classify(std::current_exception()).error_class == expected);
        }
    }
}

TEST_CASE("fault injection: slow sleeps as long as the header says, then returns") {
    const auto start = std::chrono::steady_clock::now();
    CHECK_NOTHROW(apply_injected_fault(injected({InjectedFault::slow, Seconds{0.05}})));
    CHECK(std::chrono::steady_clock::now() - start >= std::chrono::milliseconds(50));
}

TEST_CASE("fault injection: crash calls the caller's crash action") {
    int crashes = 0;
    apply_injected_fault(injected({InjectedFault::crash}), [&] { ++crashes; });
    CHECK(crashes == 1);
}

TEST_CASE("fault injection: a malformed header is a permanent failure that says what is wrong") {
    for (auto [header, text] : {std::pair{nlohmann::json("transient"), "expected an object"},
                                std::pair{nlohmann::json{{"kind", "explode"}}, "unknown kind \"explode\""},
                                std::pair{nlohmann::json{{"kind", "poison"}}, "unknown kind \"poison\""},
                                std::pair{nlohmann::json{{"kind", 3}}, "\"kind\" must be a string"},
                                std::pair{nlohmann::json{{"kind", "slow"}, {"seconds", -1}}, "\"seconds\" must be"}}) {
        CAPTURE(header.dump());
        CHECK_THROWS_WITH_AS(apply_injected_fault(with_header(header)), doctest::Contains(text), InjectedPermanentError);
    }
}

TEST_CASE("fault injection: through a worker, transient is retried, permanent and poison are dead-lettered, slow succeeds") {
    auto adapter = std::make_shared<InMemoryAdapter>();
    auto config = parse_config(R"({
        "defaultPipeline": [
            {"type": "dead-letter", "id": "permanent", "on": ["permanent"]},
            {"type": "send-again", "id": "again", "maxAttempts": 1}
        ]
    })");
    Worker worker(adapter, config.make_dispatcher(), config.classifier, {.channels = {"jobs"}});
    int handled = 0;
    worker.on("job", [&](const Message& message, HandlerContext&) {
        apply_injected_fault(message);
        ++handled;
    });
    adapter->push("jobs", injected({InjectedFault::transient}));
    adapter->push("jobs", injected({InjectedFault::permanent}));
    adapter->push("jobs", injected({InjectedFault::slow, Seconds{0.01}}));
    adapter->push_raw("jobs", R"({"handler": "job", "data": {"failpipe-inject": "poison")");
    worker.run_until_idle();

    CHECK(handled == 1);  // the slow one
    const auto snapshot = worker.metrics().snapshot();
    CHECK(snapshot.retried == 1);  // the transient one, once
    CHECK(snapshot.dead_lettered == 3);
    std::map<std::string, std::string> reasons;  // errorClass → reason
    for (const auto& dead : adapter->browse("jobs:dlq", 0, 10)) {
        const auto& record = dead.metadata.at("failpipe-dead-letter");
        reasons[record.at("errorClass").get<std::string>()] += record.at("reason").get<std::string>() + " ";
    }
    CHECK(reasons["transient"] == "failure ");
    CHECK(reasons["permanent"] == "failure poison ");
}
