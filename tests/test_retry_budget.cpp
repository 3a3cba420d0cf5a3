// RetryBudget: first attempts and early retries per channel under a manual clock, and the
// dispatcher turning a retry past the budget into its middleware's maximum delay.
#include <doctest/doctest.h>

#include <failpipe/error.hpp>
#include <failpipe/retry_budget.hpp>

#include <memory>

#include "test_support.hpp"

using namespace failpipe;
using failpipe::test::failure_of;

namespace {

RetryBudgetOptions budget_options(double percent, std::uint32_t floor, double window = 60, double fallback = 30) {
    RetryBudgetOptions o;
    o.ratio_percent = percent;
    o.min_retries = floor;
    o.window = Seconds{window};
    o.fallback_delay = Seconds{fallback};
    return o;
}

DeliveryEvent first_attempt_on(std::string_view channel) {
    DeliveryEvent event;
    event.channel = channel;
    event.first_attempt = true;
    return event;
}

struct Pipeline {
    std::shared_ptr<ManualClock> clock = std::make_shared<ManualClock>();
    std::shared_ptr<RetryBudget> budget;
    FailureMiddlewareDispatcher dispatcher;

    Pipeline(RetryBudgetOptions options, FailurePipeline pipeline)
        : budget(std::make_shared<RetryBudget>(options, std::map<std::string, RetryBudgetOptions>{}, clock)),
          dispatcher(make(pipeline)) {}

    FailureMiddlewareDispatcher::Options make(FailurePipeline pipeline) {
        FailureMiddlewareDispatcher::Options o;
        o.default_pipeline = std::move(pipeline);
        o.clock = clock;
        o.retry_budget = budget;
        return o;
    }

    FailureHandlingRequest fail(Message message, const std::string& channel = "orders") {
        return dispatcher.dispatch(FailureHandlingRequest(std::move(message), channel), failure_of(ErrorClass::transient));
    }
};

Message fresh(const std::string& id) {
    Message m = Message::create("job");
    m.id = id;
    return m;
}

}  // namespace

TEST_CASE("retry budget: early retries are allowed up to ratio x first attempts in the window, with minRetries as a floor") {
    auto clock = std::make_shared<ManualClock>();
    RetryBudget budget(budget_options(10, 2), {}, clock);
    // A quiet channel: no first attempts, the floor still allows 2.
    CHECK(budget.try_retry("orders"));
    CHECK(budget.try_retry("orders"));
    CHECK_FALSE(budget.try_retry("orders"));
    for (int i = 0; i < 50; ++i) budget.on_delivery(first_attempt_on("orders"));
    // 10% of 50 = 5 retries in the window; 2 are already spent.
    CHECK(budget.try_retry("orders"));
    CHECK(budget.try_retry("orders"));
    CHECK(budget.try_retry("orders"));
    CHECK_FALSE(budget.try_retry("orders"));
    const auto s = budget.snapshot("orders");
    CHECK(s.first_attempts == 50);
    CHECK(s.retries == 5);
    CHECK(s.allowance == 5);
    CHECK(s.full);
    CHECK(s.exhausted);
    CHECK(s.denied_total == 2);
    CHECK(s.use == doctest::Approx(1.0));
}

TEST_CASE("retry budget: deliveries that are not first attempts, poison, expired and released ones do not grow it, channels are separate") {
    auto clock = std::make_shared<ManualClock>();
    RetryBudget budget(budget_options(100, 0), {{"payments", budget_options(50, 1)}}, clock);
    DeliveryEvent retry = first_attempt_on("orders");
    retry.first_attempt = false;
    DeliveryEvent poison = first_attempt_on("orders");
    poison.poison = true;
    DeliveryEvent released = first_attempt_on("orders");
    released.outcome = Outcome::released;  // an open breaker gave it back: not tried
    DeliveryEvent expired = first_attempt_on("orders");
    expired.expired = true;
    budget.on_delivery(retry);
    budget.on_delivery(poison);
    budget.on_delivery(released);
    budget.on_delivery(expired);
    CHECK(budget.snapshot("orders").first_attempts == 0);
    CHECK_FALSE(budget.try_retry("orders"));  // floor 0
    budget.on_delivery(first_attempt_on("payments"));
    budget.on_delivery(first_attempt_on("payments"));
    CHECK(budget.snapshot("payments").allowance == 1);  // max(1, 50% of 2)
    CHECK(budget.options_for("payments")->ratio_percent == 50);
    CHECK(budget.options_for("elsewhere")->ratio_percent == 100);

    RetryBudget only_payments(std::nullopt, {{"payments", budget_options(50, 0)}}, clock);
    CHECK(only_payments.options_for("orders") == nullptr);
    for (int i = 0; i < 100; ++i) CHECK(only_payments.try_retry("orders"));  // no budget there
    CHECK(only_payments.snapshot().empty());
}

TEST_CASE("retry budget: the window slides, so a spent budget recovers") {
    auto clock = std::make_shared<ManualClock>();
    RetryBudget budget(budget_options(50, 0, 10), {}, clock);
    for (int i = 0; i < 4; ++i) budget.record_first_attempt("orders");
    CHECK(budget.try_retry("orders"));
    CHECK(budget.try_retry("orders"));
    CHECK_FALSE(budget.try_retry("orders"));
    clock->advance(Seconds{10});  // everything left the window
    CHECK_FALSE(budget.snapshot("orders").exhausted);
    CHECK_FALSE(budget.try_retry("orders"));  // and no first attempts in the new window either
    for (int i = 0; i < 2; ++i) budget.record_first_attempt("orders");
    CHECK(budget.try_retry("orders"));
}

TEST_CASE("retry budget: options out of range are refused") {
    CHECK_THROWS_AS(RetryBudget(budget_options(0, 1)), InvalidArgumentError);
    CHECK_THROWS_AS(RetryBudget(budget_options(100.5, 1)), InvalidArgumentError);
    CHECK_THROWS_AS(RetryBudget(budget_options(-5, 1)), InvalidArgumentError);
    CHECK_THROWS_AS(RetryBudget(budget_options(std::nan(""), 1)), InvalidArgumentError);
    CHECK_THROWS_AS(RetryBudget(budget_options(10, 1, 0)), InvalidArgumentError);
    CHECK_THROWS_AS(RetryBudget(budget_options(10, 1, 60, 0)), InvalidArgumentError);
    CHECK_THROWS_AS(RetryBudget(std::nullopt, {{"", budget_options(10, 1)}}), InvalidArgumentError);
    CHECK_NOTHROW(RetryBudget(budget_options(100, 0)));
}

TEST_CASE("retry budget: past the budget an exponential-delay retry waits delayMaximum, marked, never dead-lettered") {
    Pipeline p(budget_options(10, 1),
               {test::make<ExponentialDelayMiddleware>("backoff", 3, 1.0, 60.0, 2.0), test::make<DeadLetterMiddleware>("dlq")});
    auto first = p.fail(fresh("a"));  // within the floor: the schedule's 1 s
    REQUIRE(first.decision());
    CHECK(first.decision()->delay.count() == doctest::Approx(1.0));
    CHECK_FALSE(first.decision()->budget_exhausted);

    auto second = p.fail(fresh("b"));  // the floor of 1 is spent
    REQUIRE(second.decision());
    const Decision& d = *second.decision();
    CHECK(d.action == FailureAction::delay);
    CHECK(d.middleware == "backoff");
    CHECK(d.budget_exhausted);
    CHECK(d.delay.count() == doctest::Approx(60.0));
    CHECK(d.base_delay.count() == doctest::Approx(1.0));  // what the schedule said
    CHECK(d.note.find("retry budget of channel \"orders\" spent") != std::string::npos);
    REQUIRE(second.pushes().size() == 1);
    CHECK(second.pushes()[0].channel == "orders");
    CHECK(second.pushes()[0].message.id == "b");
    CHECK(second.pushes()[0].delay.count() == doctest::Approx(60.0));
    // The history of the retried message says so too.
    const auto& history = second.pushes()[0].message.metadata.at("failpipe-history");
    CHECK(history.back().at("delay").get<double>() == doctest::Approx(60.0));
    CHECK(p.budget->snapshot("orders").denied_total == 1);

    // However long the storm lasts, every failure is retried (at the maximum) until maxAttempts.
    Message m = second.pushes()[0].message;
    for (int i = 0; i < 2; ++i) {
        auto next = p.fail(std::move(m));
        REQUIRE(next.decision());
        CHECK(next.decision()->action == FailureAction::delay);
        CHECK(next.decision()->delay.count() == doctest::Approx(60.0));
        m = next.pushes()[0].message;
    }
    auto last = p.fail(std::move(m));
    CHECK(last.decision()->action == FailureAction::dead_letter);
    CHECK(last.decision()->middleware == "dlq");  // maxAttempts ran out, not the budget
    CHECK_FALSE(last.decision()->budget_exhausted);
}

TEST_CASE("retry budget: send-again past the budget waits the fallbackDelay") {
    Pipeline p(budget_options(10, 0, 60, 45), {test::make<SendAgainMiddleware>("again", 5)});
    auto result = p.fail(fresh("a"));
    REQUIRE(result.decision());
    CHECK(result.decision()->middleware == "again");
    CHECK(result.decision()->action == FailureAction::delay);
    CHECK(result.decision()->budget_exhausted);
    CHECK(result.pushes().at(0).delay.count() == doctest::Approx(45.0));
    CHECK(result.pushes().at(0).message.id == "a");
}

TEST_CASE("retry budget: a retry already at its maximum delay is not early, so it neither spends nor is denied") {
    Pipeline p(budget_options(10, 0), {test::make<ExponentialDelayMiddleware>("flat", 5, 10.0, 10.0, 1.0)});
    for (int i = 0; i < 3; ++i) {
        auto result = p.fail(fresh("m" + std::to_string(i)));
        CHECK_FALSE(result.decision()->budget_exhausted);
        CHECK(result.decision()->delay.count() == doctest::Approx(10.0));
    }
    CHECK(p.budget->snapshot("orders").denied_total == 0);
}

TEST_CASE("retry budget: once the budget recovers, retries follow the schedule again where it left off") {
    Pipeline p(budget_options(50, 0, 60), {test::make<ExponentialDelayMiddleware>("backoff", 5, 2.0, 100.0, 2.0)});
    p.budget->record_first_attempt("orders");
    p.budget->record_first_attempt("orders");  // 50% of 2: one early retry
    auto r1 = p.fail(fresh("a"));
    CHECK(r1.decision()->delay.count() == doctest::Approx(2.0));
    auto r2 = p.fail(r1.pushes()[0].message);  // second attempt: 4 s by the schedule, but spent
    CHECK(r2.decision()->budget_exhausted);
    CHECK(r2.pushes()[0].delay.count() == doctest::Approx(100.0));
    p.clock->advance(Seconds{100});  // the retry runs; the window has slid past everything
    p.budget->record_first_attempt("orders");
    p.budget->record_first_attempt("orders");
    auto r3 = p.fail(r2.pushes()[0].message);
    CHECK_FALSE(r3.decision()->budget_exhausted);
    CHECK(r3.decision()->delay.count() == doctest::Approx(8.0));  // third step of 2, 4, 8
}

TEST_CASE("retry budget: retries on a retry level's own channel are charged to the channel the message first failed on") {
    Pipeline p(budget_options(50, 0), {});
    FailureMiddlewareDispatcher::Options o;
    o.clock = p.clock;
    o.retry_budget = p.budget;
    o.pipelines["orders"] = {test::make<ExponentialDelayMiddleware>("to-level-1", 1, 5.0, 60.0, 2.0,
                                                                     ExponentialDelayOptions{"orders.retry", {}, {}, {}})};
    o.pipelines["orders.retry"] = {test::make<ExponentialDelayMiddleware>("level-1", 3, 15.0, 60.0, 2.0)};
    FailureMiddlewareDispatcher dispatcher(o);
    for (int i = 0; i < 4; ++i) p.budget->record_first_attempt("orders");  // allowance 2
    auto a = dispatcher.dispatch(FailureHandlingRequest(fresh("a"), "orders"), failure_of(ErrorClass::transient));
    CHECK(a.pushes()[0].channel == "orders.retry");
    auto b = dispatcher.dispatch(FailureHandlingRequest(a.pushes()[0].message, "orders.retry"), failure_of());
    CHECK_FALSE(b.decision()->budget_exhausted);
    auto c = dispatcher.dispatch(FailureHandlingRequest(b.pushes()[0].message, "orders.retry"), failure_of());
    CHECK(c.decision()->budget_exhausted);
    CHECK(c.pushes()[0].delay.count() == doctest::Approx(60.0));
    CHECK(p.budget->snapshot("orders").retries == 2);
    CHECK(p.budget->snapshot("orders.retry").first_attempts == 0);
}

TEST_CASE("retry budget: explain shows the schedule without spending the budget") {
    Pipeline p(budget_options(10, 0), {test::make<ExponentialDelayMiddleware>("backoff", 3, 1.0, 60.0, 2.0)});
    ExplainOptions options;
    options.channel = "orders";
    const auto steps = explain(p.dispatcher, options);
    REQUIRE(steps.size() == 4);
    CHECK(steps[0].decision.delay.count() == doctest::Approx(1.0));
    CHECK(steps[1].decision.delay.count() == doctest::Approx(2.0));
    CHECK_FALSE(steps[1].decision.budget_exhausted);
    CHECK(p.budget->snapshot().empty());
}

TEST_CASE("retry budget: made-up origin channels share one budget past kMaxTrackedChannels - memory bounded, no fresh allowance each") {
    auto clock = std::make_shared<ManualClock>();
    RetryBudget budget(budget_options(20, 2), {{"orders", budget_options(20, 5)}}, clock);
    budget.record_first_attempt("orders");
    // A producer writes a new failpipe-origin channel into every message it sends.
    for (std::size_t i = 0; i < RetryBudget::kMaxTrackedChannels; ++i) budget.record_first_attempt("made-up-" + std::to_string(i));
    int allowed = 0;
    for (int i = 0; i < 5000; ++i) allowed += budget.try_retry("more-" + std::to_string(i)) ? 1 : 0;
    CHECK(allowed == 2);  // the shared budget's floor, not 2 for each of 5000 channels
    CHECK(budget.snapshot().size() <= RetryBudget::kMaxTrackedChannels + 2);
    CHECK(budget.snapshot(RetryBudget::kOtherChannels).denied_total == 4998);
    // A channel with options of its own keeps its own budget.
    for (int i = 0; i < 5; ++i) CHECK(budget.try_retry("orders"));
    CHECK_FALSE(budget.try_retry("orders"));
}
