// CircuitBreaker and CircuitBreakerMiddleware: the state machine under a manual clock, releases
// while open, which failures count, and concurrent calls.
#include <doctest/doctest.h>

#include <failpipe/circuit_breaker.hpp>
#include <failpipe/error.hpp>

#include <atomic>
#include <memory>
#include <stdexcept>
#include <thread>
#include <vector>

#include "test_support.hpp"

using namespace failpipe;

namespace {

struct Fixture {
    std::shared_ptr<ManualClock> clock = std::make_shared<ManualClock>();

    std::shared_ptr<CircuitBreaker> breaker(CircuitBreakerOptions options = {}) {
        return std::make_shared<CircuitBreaker>("gateway", options, clock);
    }
};

void fail(CircuitBreaker& breaker, int times, ErrorClass error_class = ErrorClass::transient) {
    for (int i = 0; i < times; ++i) {
        auto permit = breaker.acquire();
        REQUIRE(permit);
        permit.failure(error_class);
    }
}

void succeed(CircuitBreaker& breaker, int times) {
    for (int i = 0; i < times; ++i) {
        auto permit = breaker.acquire();
        REQUIRE(permit);
        permit.success();
    }
}

// The handler at the end of the consume pipeline: counts its calls, throws what it is told to.
class CountingHandler final : public ConsumeHandlerInterface {
public:
    mutable std::atomic<int> calls{0};
    std::function<void()> behaviour = [] {};
    void handle(const Message&, HandlerContext&) const override {
        ++calls;
        behaviour();
    }
};

struct TestDelivery {
    std::string channel = "payments";
    HandlerContext context{channel, 1};
};

Message payment() { return Message::create("payment", {{"amount", 10}}); }

}  // namespace

TEST_CASE("breaker: opens after failureThreshold counted failures within the window, and refuses calls while open") {
    Fixture f;
    CircuitBreakerOptions options;
    options.failure_threshold = 3;
    auto breaker = f.breaker(options);
    fail(*breaker, 2);
    CHECK(breaker->state() == BreakerState::closed);
    fail(*breaker, 1);
    CHECK(breaker->state() == BreakerState::open);
    CHECK_FALSE(breaker->acquire());
    CHECK_FALSE(breaker->acquire());
    const auto s = breaker->snapshot();
    CHECK(s.openings == 1);
    CHECK(s.rejected == 2);
    CHECK(s.failures == 3);
    CHECK(to_string(s.state) == "open");
}

TEST_CASE("breaker: failures older than the window no longer count") {
    Fixture f;
    CircuitBreakerOptions options;
    options.failure_threshold = 3;
    options.window = Seconds{10};
    auto breaker = f.breaker(options);
    fail(*breaker, 2);
    f.clock->advance(Seconds{8});
    CHECK(breaker->snapshot().window_failures == 2);  // still inside the window
    f.clock->advance(Seconds{3});                     // 11 s after the first two
    CHECK(breaker->snapshot().window_failures == 0);
    fail(*breaker, 2);
    CHECK(breaker->state() == BreakerState::closed);
    fail(*breaker, 1);
    CHECK(breaker->state() == BreakerState::open);
}

TEST_CASE("breaker: the ratio rule opens only once the window holds minimumCalls calls") {
    Fixture f;
    CircuitBreakerOptions options;
    options.failure_threshold.reset();
    options.failure_ratio_percent = 50;
    options.minimum_calls = 10;
    auto breaker = f.breaker(options);
    fail(*breaker, 5);  // 5 of 5 failed, but fewer than 10 calls
    CHECK(breaker->state() == BreakerState::closed);
    succeed(*breaker, 4);  // 5 of 9
    CHECK(breaker->state() == BreakerState::closed);
    succeed(*breaker, 1);  // 5 of 10: the last call was a success, nothing is checked on it
    CHECK(breaker->state() == BreakerState::closed);
    fail(*breaker, 1);  // 6 of 11 = 54.5% >= 50%
    CHECK(breaker->state() == BreakerState::open);
    CHECK(breaker->snapshot().openings == 1);
}

TEST_CASE("breaker: below the ratio it stays closed however many calls fail") {
    Fixture f;
    CircuitBreakerOptions options;
    options.failure_threshold.reset();
    options.failure_ratio_percent = 50;
    options.minimum_calls = 4;
    auto breaker = f.breaker(options);
    for (int i = 0; i < 100; ++i) {  // 1 failure in 3 calls: 33%
        succeed(*breaker, 2);
        fail(*breaker, 1);
    }
    CHECK(breaker->state() == BreakerState::closed);
    CHECK(breaker->snapshot().failures == 100);
}

TEST_CASE("breaker: permanent failures (an invalid card) do not trip it, and count as the dependency answering") {
    Fixture f;
    CircuitBreakerOptions options;
    options.failure_threshold = 2;
    auto breaker = f.breaker(options);
    fail(*breaker, 50, ErrorClass::permanent);
    CHECK(breaker->state() == BreakerState::closed);
    CHECK(breaker->snapshot().successes == 50);
    fail(*breaker, 1, ErrorClass::unknown);
    fail(*breaker, 1, ErrorClass::transient);
    CHECK(breaker->state() == BreakerState::open);
}

TEST_CASE("breaker: `on` chooses which classes count") {
    Fixture f;
    CircuitBreakerOptions options;
    options.failure_threshold = 1;
    options.on = ErrorClassSet{ErrorClass::transient};
    auto breaker = f.breaker(options);
    fail(*breaker, 5, ErrorClass::unknown);
    CHECK(breaker->state() == BreakerState::closed);
    fail(*breaker, 1, ErrorClass::transient);
    CHECK(breaker->state() == BreakerState::open);
}

TEST_CASE("breaker: after openFor it is half-open - the probes succeeding close it") {
    Fixture f;
    CircuitBreakerOptions options;
    options.failure_threshold = 1;
    options.open_for = Seconds{30};
    options.half_open_probes = 2;
    auto breaker = f.breaker(options);
    fail(*breaker, 1);
    f.clock->advance(Seconds{29.9});
    CHECK(breaker->state() == BreakerState::open);
    CHECK_FALSE(breaker->acquire());
    f.clock->advance(Seconds{0.1});
    CHECK(breaker->state() == BreakerState::half_open);

    auto first = breaker->acquire();
    auto second = breaker->acquire();
    REQUIRE(first);
    REQUIRE(second);
    CHECK(first.probe());
    CHECK_FALSE(breaker->acquire());  // both probes are out: the rest are refused
    first.success();
    CHECK(breaker->state() == BreakerState::half_open);
    second.success();
    CHECK(breaker->state() == BreakerState::closed);
    const auto s = breaker->snapshot();
    CHECK(s.closings == 1);
    CHECK(s.window_failures == 0);  // closing starts a fresh window
    CHECK(breaker->acquire());
}

TEST_CASE("breaker: a half-open probe that fails opens it again for another openFor") {
    Fixture f;
    CircuitBreakerOptions options;
    options.failure_threshold = 1;
    options.open_for = Seconds{10};
    auto breaker = f.breaker(options);
    fail(*breaker, 1);
    f.clock->advance(Seconds{10});
    auto probe = breaker->acquire();
    REQUIRE(probe);
    probe.failure(ErrorClass::transient);
    CHECK(breaker->state() == BreakerState::open);
    CHECK(breaker->snapshot().openings == 2);
    f.clock->advance(Seconds{9});
    CHECK_FALSE(breaker->acquire());
    f.clock->advance(Seconds{1});
    CHECK(breaker->acquire());
}

TEST_CASE("breaker: a probe dropped without a result frees its slot, and a late result of a call from before the opening moves nothing") {
    Fixture f;
    CircuitBreakerOptions options;
    options.failure_threshold = 1;
    options.open_for = Seconds{5};
    auto breaker = f.breaker(options);
    auto slow = breaker->acquire();  // let through while closed
    fail(*breaker, 1);
    f.clock->advance(Seconds{5});
    {
        auto probe = breaker->acquire();
        REQUIRE(probe);
        CHECK_FALSE(breaker->acquire());
    }  // released, not tried
    auto probe = breaker->acquire();
    REQUIRE(probe);
    slow.failure(ErrorClass::transient);  // from the closed period: not a probe
    CHECK(breaker->state() == BreakerState::half_open);
    probe.success();
    CHECK(breaker->state() == BreakerState::closed);
}

TEST_CASE("breaker: settings out of range are refused") {
    CircuitBreakerOptions options;
    options.failure_threshold = 0;
    CHECK_THROWS_AS(CircuitBreaker("b", options), InvalidArgumentError);
    options = {};
    options.failure_threshold.reset();
    CHECK_THROWS_AS(CircuitBreaker("b", options), InvalidArgumentError);  // no rule at all
    options = {};
    options.failure_ratio_percent = 101;
    CHECK_THROWS_AS(CircuitBreaker("b", options), InvalidArgumentError);
    options.failure_ratio_percent = -1;
    CHECK_THROWS_AS(CircuitBreaker("b", options), InvalidArgumentError);
    options = {};
    options.window = Seconds{std::numeric_limits<double>::infinity()};
    CHECK_THROWS_AS(CircuitBreaker("b", options), InvalidArgumentError);
    options = {};
    options.half_open_probes = 0;
    CHECK_THROWS_AS(CircuitBreaker("b", options), InvalidArgumentError);
    CHECK_THROWS_AS(CircuitBreaker("", {}), InvalidArgumentError);
}

TEST_CASE("breaker middleware: while open a delivery is released until the open period ends plus a spread, by breaker:<name>, and the handler is not called") {
    Fixture f;
    CircuitBreakerOptions options;
    options.failure_threshold = 2;
    options.release_delay = Seconds{7.5};
    CircuitBreakerMiddleware middleware(f.breaker(options), std::set<std::string>{"payment"});
    CountingHandler handler;
    handler.behaviour = [] { throw TransientError("gateway timeout"); };
    for (int i = 0; i < 2; ++i) {
        TestDelivery d;
        CHECK_THROWS_AS(middleware.handle(payment(), d.context, handler), TransientError);  // rethrown unchanged
        CHECK_FALSE(d.context.released());
    }
    CHECK(handler.calls == 2);
    CHECK(middleware.breaker()->state() == BreakerState::open);

    TestDelivery d;
    CHECK_NOTHROW(middleware.handle(payment(), d.context, handler));
    CHECK(handler.calls == 2);
    REQUIRE(d.context.released());
    // Open for 30 s from now: released for the rest of it, plus up to release_delay of spread.
    const double delay = d.context.released()->delay.count();
    CHECK(delay >= 30.0);
    CHECK(delay <= 37.5);
    CHECK(d.context.released()->by == "breaker:gateway");

    // Later in the open period the release shrinks with what is left of it.
    f.clock->advance(Seconds{20});
    TestDelivery later;
    middleware.handle(payment(), later.context, handler);
    REQUIRE(later.context.released());
    CHECK(later.context.released()->delay.count() >= 10.0);
    CHECK(later.context.released()->delay.count() <= 17.5);
}

TEST_CASE("breaker middleware: the longest openFor and releaseDelay the config allows still release - never a failure") {
    Fixture f;
    CircuitBreakerOptions options;
    options.failure_threshold = 1;
    options.open_for = Seconds{1e9};       // each at the config's limit, so their sum is beyond it
    options.release_delay = Seconds{1e9};
    CircuitBreakerMiddleware middleware(f.breaker(options), std::set<std::string>{"payment"});
    CountingHandler handler;
    handler.behaviour = [] { throw TransientError("gateway timeout"); };
    TestDelivery first;
    CHECK_THROWS_AS(middleware.handle(payment(), first.context, handler), TransientError);
    REQUIRE(middleware.breaker()->state() == BreakerState::open);
    for (int i = 0; i < 20; ++i) {
        TestDelivery d;
        CHECK_NOTHROW(middleware.handle(payment(), d.context, handler));
        REQUIRE(d.context.released());
        CHECK(d.context.released()->delay.count() <= 1e9);
    }
    CHECK(handler.calls == 1);
}

TEST_CASE("breaker: release delays are spread, so released deliveries do not come back together") {
    Fixture f;
    CircuitBreakerOptions options;
    options.failure_threshold = 1;
    options.release_delay = Seconds{10};
    auto breaker = f.breaker(options);
    fail(*breaker, 1);
    REQUIRE(breaker->state() == BreakerState::open);
    std::set<long> distinct;
    for (int i = 0; i < 50; ++i) {
        const double delay = breaker->release_delay().count();
        CHECK(delay >= 30.0);
        CHECK(delay <= 40.0);
        distinct.insert(static_cast<long>(delay * 1000));
    }
    CHECK(distinct.size() > 25);
}

TEST_CASE("breaker middleware: other message types pass untouched, even while it is open") {
    Fixture f;
    CircuitBreakerOptions options;
    options.failure_threshold = 1;
    CircuitBreakerMiddleware middleware(f.breaker(options), std::set<std::string>{"payment"});
    CountingHandler failing;
    failing.behaviour = [] { throw std::runtime_error("down"); };
    TestDelivery first;
    CHECK_THROWS(middleware.handle(payment(), first.context, failing));
    REQUIRE(middleware.breaker()->state() == BreakerState::open);

    CountingHandler handler;
    TestDelivery d;
    middleware.handle(Message::create("refund"), d.context, handler);
    CHECK(handler.calls == 1);
    CHECK_FALSE(d.context.released());
    CHECK(middleware.applies_to("payment"));
    CHECK_FALSE(middleware.applies_to("refund"));
    CHECK(CircuitBreakerMiddleware(f.breaker(), {}).applies_to("anything"));
}

TEST_CASE("breaker middleware: a permanent failure is classified, rethrown and does not trip it") {
    Fixture f;
    CircuitBreakerOptions options;
    options.failure_threshold = 1;
    CircuitBreakerMiddleware middleware(f.breaker(options));
    CountingHandler handler;
    handler.behaviour = [] { throw PermanentError("invalid card"); };
    for (int i = 0; i < 10; ++i) {
        TestDelivery d;
        CHECK_THROWS_AS(middleware.handle(payment(), d.context, handler), PermanentError);
    }
    CHECK(handler.calls == 10);
    CHECK(middleware.breaker()->state() == BreakerState::closed);
}

TEST_CASE("breaker middleware: a classifier rule decides what counts, and a non-std exception counts as unknown") {
    Fixture f;
    CircuitBreakerOptions options;
    options.failure_threshold = 2;
    Classifier classifier;
    classifier.add_message_pattern("card", ErrorClass::permanent);
    CircuitBreakerMiddleware middleware(f.breaker(options), {}, classifier);
    CountingHandler card;
    card.behaviour = [] { throw std::runtime_error("bad card"); };
    CountingHandler odd;
    odd.behaviour = [] { throw 42; };
    for (int i = 0; i < 5; ++i) {
        TestDelivery d;
        CHECK_THROWS(middleware.handle(payment(), d.context, card));
    }
    CHECK(middleware.breaker()->state() == BreakerState::closed);
    for (int i = 0; i < 2; ++i) {
        TestDelivery d;
        CHECK_THROWS_AS(middleware.handle(payment(), d.context, odd), int);
    }
    CHECK(middleware.breaker()->state() == BreakerState::open);
}

TEST_CASE("breaker middleware: a half-open probe the handler released itself decides nothing") {
    Fixture f;
    CircuitBreakerOptions options;
    options.failure_threshold = 1;
    options.open_for = Seconds{1};
    CircuitBreakerMiddleware middleware(f.breaker(options));
    CountingHandler failing;
    failing.behaviour = [] { throw TransientError("down"); };
    TestDelivery first;
    CHECK_THROWS(middleware.handle(payment(), first.context, failing));
    f.clock->advance(Seconds{1});

    class Releasing final : public ConsumeHandlerInterface {
    public:
        void handle(const Message&, HandlerContext& context) const override { context.release(Seconds{1}, "rate-limit"); }
    } releasing;
    TestDelivery d;
    middleware.handle(payment(), d.context, releasing);
    CHECK(d.context.released()->by == "rate-limit");
    CHECK(middleware.breaker()->state() == BreakerState::half_open);
    CountingHandler ok;
    TestDelivery probe;
    middleware.handle(payment(), probe.context, ok);  // the slot was freed: this one is the probe
    CHECK(ok.calls == 1);
    CHECK(middleware.breaker()->state() == BreakerState::closed);
}

TEST_CASE("breaker: concurrent calls from several threads: every call is recorded once, and half-open lets exactly the probes through") {
    Fixture f;
    CircuitBreakerOptions options;
    options.failure_threshold = 1000000;  // never opens on failures below
    options.half_open_probes = 3;
    auto breaker = f.breaker(options);
    constexpr int kThreads = 4;
    constexpr int kCalls = 2000;
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
        threads.emplace_back([&, t] {
            for (int i = 0; i < kCalls; ++i) {
                auto permit = breaker->acquire();
                if ((i + t) % 2 == 0) permit.success(); else permit.failure(ErrorClass::transient);
            }
        });
    }
    for (auto& thread : threads) thread.join();
    auto s = breaker->snapshot();
    CHECK(s.successes + s.failures == kThreads * kCalls);
    CHECK(s.window_calls == kThreads * kCalls);
    CHECK(s.state == BreakerState::closed);

    // Open it, let openFor pass, then race for the probes: exactly three get through.
    CircuitBreakerOptions one;
    one.failure_threshold = 1;
    one.half_open_probes = 3;
    auto small = f.breaker(one);
    fail(*small, 1);
    f.clock->advance(one.open_for);
    std::atomic<int> admitted{0};
    std::vector<CircuitBreaker::Permit> held[kThreads];
    threads.clear();
    for (int t = 0; t < kThreads; ++t) {
        threads.emplace_back([&, t] {
            for (int i = 0; i < 100; ++i) {
                auto permit = small->acquire();
                if (permit) {
                    ++admitted;
                    held[t].push_back(std::move(permit));
                }
            }
        });
    }
    for (auto& thread : threads) thread.join();
    CHECK(admitted == 3);
    CHECK(small->snapshot().rejected == kThreads * 100 - 3);
    for (auto& permits : held)
        for (auto& permit : permits) permit.success();
    CHECK(small->state() == BreakerState::closed);
}
