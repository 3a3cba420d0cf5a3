// Degradation: the AIMD levels with a manual clock, and the bound they put on concurrent handler calls.
#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <thread>

#include "failpipe/degradation.hpp"
#include "failpipe/failpipe.hpp"
#include "failpipe/memory/in_memory_adapter.hpp"
#include "failpipe/worker_pool.hpp"

using namespace std::chrono_literals;
using failpipe::Degradation;
using failpipe::DegradationOptions;
using failpipe::ManualClock;
using failpipe::Seconds;

namespace {

DegradationOptions aimd() {
    DegradationOptions options;
    options.enabled = true;
    options.failure_ratio = 0.5;
    options.window = Seconds{10.0};
    options.minimum_samples = 10;
    options.decrease_factor = 0.5;
    options.increase_step = 1;
    options.interval = Seconds{5.0};
    options.minimum_concurrency = 1;
    return options;
}

void record(Degradation& degradation, int count, bool failed) {
    for (int i = 0; i < count; ++i) degradation.record("pay", failed);
}

template <class Condition>
bool eventually(Condition condition, std::chrono::milliseconds bound = 10s) {
    const auto give_up = std::chrono::steady_clock::now() + bound;
    while (std::chrono::steady_clock::now() < give_up) {
        if (condition()) return true;
        std::this_thread::sleep_for(2ms);
    }
    return condition();
}

}  // namespace

TEST_CASE("degradation: a failing channel steps down multiplicatively, at most once per interval, never below the minimum") {
    auto clock = std::make_shared<ManualClock>();
    Degradation degradation({"pay", "mail"}, 8, aimd(), clock);
    CHECK(degradation.level("pay") == 8);

    record(degradation, 20, true);
    degradation.tick();
    CHECK(degradation.level("pay") == 4);
    degradation.tick();  // within the interval: no second step
    CHECK(degradation.level("pay") == 4);
    CHECK(degradation.level("mail") == 8);  // another channel is not touched

    clock->advance(Seconds{5.0});
    record(degradation, 20, true);
    degradation.tick();
    CHECK(degradation.level("pay") == 2);
    clock->advance(Seconds{5.0});
    degradation.tick();
    CHECK(degradation.level("pay") == 1);
    clock->advance(Seconds{5.0});
    record(degradation, 20, true);
    degradation.tick();
    CHECK(degradation.level("pay") == 1);  // the floor

    const auto snapshot = degradation.snapshot();
    REQUIRE(snapshot.size() == 2);
    CHECK(snapshot[0].channel == "pay");
    CHECK(snapshot[0].level == 1);
    CHECK(snapshot[0].maximum == 8);
    CHECK(snapshot[0].failure_ratio == doctest::Approx(1.0));
}

TEST_CASE("degradation: as successes return the level rises by the step per interval, up to the thread count") {
    auto clock = std::make_shared<ManualClock>();
    Degradation degradation({"pay"}, 4, aimd(), clock);
    record(degradation, 20, true);
    degradation.tick();
    clock->advance(Seconds{5.0});
    degradation.tick();
    REQUIRE(degradation.level("pay") == 1);

    // Failures age out of the window; successes come back.
    clock->advance(Seconds{11.0});
    std::vector<std::size_t> levels;
    for (int round = 0; round < 6; ++round) {
        record(degradation, 10, false);
        record(degradation, 2, true);  // a few failures, below the threshold
        degradation.tick();
        levels.push_back(degradation.level("pay"));
        clock->advance(Seconds{5.0});
    }
    CHECK(levels == std::vector<std::size_t>{2, 3, 4, 4, 4, 4});
}

TEST_CASE("degradation: fewer samples than the minimum never lower the level, and disabled changes nothing") {
    auto clock = std::make_shared<ManualClock>();
    Degradation few({"pay"}, 4, aimd(), clock);
    record(few, 9, true);
    few.tick();
    CHECK(few.level("pay") == 4);

    auto off = aimd();
    off.enabled = false;
    Degradation disabled({"pay"}, 4, off, clock);
    record(disabled, 100, true);
    disabled.tick();
    CHECK(disabled.level("pay") == 4);
}

TEST_CASE("degradation: only handler failures and successes are samples (poison, expired, released are not)") {
    auto clock = std::make_shared<ManualClock>();
    auto options = aimd();
    options.minimum_samples = 1;
    Degradation degradation({"pay"}, 4, options, clock);
    failpipe::DeliveryEvent event;
    event.channel = "pay";
    event.outcome = failpipe::Outcome::dead_lettered;
    event.poison = true;
    for (int i = 0; i < 10; ++i) degradation.on_delivery(event);
    event.poison = false;
    event.outcome = failpipe::Outcome::released;
    for (int i = 0; i < 10; ++i) degradation.on_delivery(event);
    degradation.tick();
    CHECK(degradation.snapshot()[0].samples == 0);
    CHECK(degradation.level("pay") == 4);

    event.outcome = failpipe::Outcome::retried;
    event.error_class = failpipe::ErrorClass::transient;
    for (int i = 0; i < 10; ++i) degradation.on_delivery(event);
    degradation.tick();
    CHECK(degradation.level("pay") == 2);
}

TEST_CASE("degradation: a bad setting is refused with its name") {
    auto options = aimd();
    options.decrease_factor = 1.0;
    CHECK_THROWS_WITH_AS(options.validate(), doctest::Contains("decreaseFactor"), failpipe::InvalidArgumentError);
    options = aimd();
    options.failure_ratio = 0.0;
    CHECK_THROWS_WITH_AS(options.validate(), doctest::Contains("failureRatio"), failpipe::InvalidArgumentError);
}

TEST_CASE("degradation: permits bound how many threads take a channel at once") {
    auto clock = std::make_shared<ManualClock>();
    Degradation degradation({"pay", "mail"}, 3, aimd(), clock);
    record(degradation, 20, true);
    degradation.tick();  // pay: 3 -> 1
    REQUIRE(degradation.level("pay") == 1);
    const std::vector<std::string> both{"pay", "mail"};
    CHECK(degradation.acquire(both, 0ms) == both);
    CHECK(degradation.acquire(both, 0ms) == std::vector<std::string>{"mail"});  // pay's only permit is taken
    degradation.release({"pay"});
    CHECK(degradation.acquire({"pay"}, 0ms) == std::vector<std::string>{"pay"});
}

TEST_CASE("degradation: in a pool, a sick channel at level 1 never has two handler calls at once") {
    auto adapter = std::make_shared<failpipe::InMemoryAdapter>();
    failpipe::WorkerOptions worker;
    worker.channels = {"sick", "ok"};
    worker.batch_size = 4;
    worker.wait = 5ms;
    failpipe::WorkerPoolOptions options;
    options.threads = 4;
    options.degradation = aimd();
    options.degradation.interval = Seconds{1.0};
    auto clock = std::make_shared<ManualClock>();
    failpipe::WorkerPool pool(adapter, failpipe::FailureMiddlewareDispatcher{}, failpipe::Classifier{}, worker, options,
                              clock);

    // The failures that make it sick (what the pool's observer records from DeliveryEvents).
    for (int i = 0; i < 20; ++i) pool.degradation().record("sick", true);
    pool.degradation().tick();
    clock->advance(Seconds{1.0});
    pool.degradation().tick();
    REQUIRE(pool.degradation().level("sick") == 1);
    REQUIRE(pool.degradation().level("ok") == 4);

    std::atomic<int> concurrent{0};
    std::atomic<int> most{0};
    std::atomic<int> calls{0};
    std::atomic<int> ok_calls{0};
    pool.on("charge", [&](const failpipe::Message&, failpipe::HandlerContext&) {
        const int now = ++concurrent;
        int seen = most.load();
        while (now > seen && !most.compare_exchange_weak(seen, now)) {
        }
        std::this_thread::sleep_for(2ms);
        --concurrent;
        ++calls;
        throw failpipe::TransientError("gateway timeout");
    });
    pool.on("note", [&](const failpipe::Message&, failpipe::HandlerContext&) { ++ok_calls; });
    constexpr int kSick = 40;
    constexpr int kOk = 40;
    for (int i = 0; i < kSick; ++i) adapter->push("sick", failpipe::Message::create("charge", {{"n", i}}));
    for (int i = 0; i < kOk; ++i) adapter->push("ok", failpipe::Message::create("note", {{"n", i}}));
    pool.start();
    REQUIRE(eventually([&] { return calls.load() == kSick && ok_calls.load() == kOk; }));
    pool.request_stop();
    CHECK(pool.join_for(Seconds{10.0}));
    CHECK(most.load() == 1);
    CHECK(adapter->depth("sick:dlq").total() == kSick);  // every call accounted for
}

TEST_CASE("degradation: in a pool, the workers' own delivery events lower a failing channel's level and successes raise it") {
    auto adapter = std::make_shared<failpipe::InMemoryAdapter>();
    failpipe::WorkerOptions worker;
    worker.channels = {"pay"};
    worker.batch_size = 4;
    worker.wait = 5ms;
    failpipe::WorkerPoolOptions options;
    options.threads = 4;
    options.degradation = aimd();
    options.degradation.minimum_samples = 20;
    auto clock = std::make_shared<ManualClock>();
    failpipe::WorkerPool pool(adapter, failpipe::FailureMiddlewareDispatcher{}, failpipe::Classifier{}, worker, options,
                              clock);
    std::atomic<int> calls{0};
    pool.on("charge", [&](const failpipe::Message& message, failpipe::HandlerContext&) {
        ++calls;
        if (message.data.at("fail").get<bool>()) throw failpipe::TransientError("gateway timeout");
    });
    auto push = [&](int count, bool fail) {
        for (int i = 0; i < count; ++i) adapter->push("pay", failpipe::Message::create("charge", {{"fail", fail}}));
    };
    pool.start();

    push(20, true);
    REQUIRE(eventually([&] { return calls.load() == 20; }));
    // The pool ticks on every round: the 20 failures (its own observer's samples) lower the level once.
    CHECK(eventually([&] { return pool.degradation().level("pay") == 2; }));
    CHECK(pool.status().channels.at(0).failure_ratio == doctest::Approx(1.0));

    clock->advance(Seconds{11.0});  // the failures leave the window
    for (int round = 0; round < 4 && pool.degradation().level("pay") < 4; ++round) {
        push(20, false);
        REQUIRE(eventually([&] { return calls.load() == 40 + 20 * round; }));
        clock->advance(Seconds{5.0});
        pool.degradation().tick();
    }
    CHECK(pool.degradation().level("pay") == 4);
    pool.request_stop();
    CHECK(pool.join_for(Seconds{10.0}));
}
