// Yii's behavioural scenarios for the failure pipeline (reference §10), adapted to failpipe's
// decisions: the first exponential delay is delayInitial, an empty queue means the source channel,
// and the final behaviour dead-letters by default.
#include <doctest/doctest.h>

#include <cmath>
#include <set>

#include "test_support.hpp"

using namespace failpipe;
using failpipe::test::failure_meta;
using failpipe::test::failure_of;
using failpipe::test::make;
using failpipe::test::message_with_failure_meta;
using failpipe::test::RecordingNext;

namespace {

const std::string kResendKey = "failure-strategy-resend-attempts-";
const std::string kDelayAttemptsKey = "failure-strategy-exponential-delay-attempts-test";
const std::string kDelayKey = "failure-strategy-exponential-delay-delay-test";

FailureHandlingRequest run(const MiddlewareFailureInterface& middleware, Message message, const RecordingNext& next,
                           std::string channel = "q", ErrorClass error_class = ErrorClass::unknown) {
    return middleware.handle(FailureHandlingRequest(std::move(message), std::move(channel)), failure_of(error_class), next);
}

}  // namespace

TEST_CASE("send-again: acts while its counter is below maxAttempts, pushing to the same channel without delay") {
    SendAgainMiddleware middleware("", 2);
    RecordingNext next;
    for (int stored : {0, 1}) {
        auto result = run(middleware, message_with_failure_meta({{kResendKey, stored}}), next);
        REQUIRE(result.handled());
        CHECK(result.decision()->action == FailureAction::send_again);
        REQUIRE(result.pushes().size() == 1);
        CHECK(result.pushes()[0].channel == "q");
        CHECK(result.pushes()[0].delay.count() == 0.0);
        CHECK(failure_meta(result.pushes()[0].message).at(kResendKey) == stored + 1);
    }
    CHECK(next.calls == 0);
}

TEST_CASE("send-again: at or past maxAttempts it passes the failure on with the metadata unchanged") {
    SendAgainMiddleware middleware("", 2);
    for (int stored : {2, 5}) {
        RecordingNext next;
        auto result = run(middleware, message_with_failure_meta({{kResendKey, stored}}), next);
        CHECK(next.calls == 1);
        CHECK_FALSE(result.handled());
        CHECK(result.pushes().empty());
        CHECK(failure_meta(result.message()).at(kResendKey) == stored);
    }
}

TEST_CASE("send-again: a negative stored counter counts as zero") {
    SendAgainMiddleware middleware("", 2);
    for (int stored : {-1, -100}) {
        RecordingNext next;
        auto result = run(middleware, message_with_failure_meta({{kResendKey, stored}}), next);
        REQUIRE(result.pushes().size() == 1);
        CHECK(failure_meta(result.pushes()[0].message).at(kResendKey) == 1);
    }
}

TEST_CASE("send-again: maxAttempts 1 acts once, then passes its own output on") {
    SendAgainMiddleware middleware("once", 1);
    RecordingNext next;
    auto first = run(middleware, Message::create("job"), next);
    REQUIRE(first.handled());
    auto second = run(middleware, first.pushes()[0].message, next);
    CHECK_FALSE(second.handled());
    CHECK(next.calls == 1);
}

TEST_CASE("send-again: maxAttempts below 1 is refused with Yii's message") {
    CHECK_THROWS_WITH_AS(SendAgainMiddleware("x", 0), "maxAttempts parameter must be a positive integer, 0 given.",
                         InvalidArgumentError);
    CHECK_THROWS_WITH_AS(SendAgainMiddleware("x", -3), "maxAttempts parameter must be a positive integer, -3 given.",
                         InvalidArgumentError);
    CHECK_NOTHROW(SendAgainMiddleware("x", 1));
}

TEST_CASE("send-again: a configured queue is the target — an empty one means the failing channel") {
    RecordingNext next;
    auto elsewhere = run(SendAgainMiddleware("a", 1, "failed-messages"), Message::create("job"), next, "orders");
    CHECK(elsewhere.pushes().at(0).channel == "failed-messages");
    CHECK(elsewhere.decision()->to == "failed-messages");
    auto same = run(SendAgainMiddleware("a", 1, ""), Message::create("job"), next, "orders");
    CHECK(same.pushes().at(0).channel == "orders");
}

TEST_CASE("send-again: counters of the wrong type are read tolerantly (PHP casts)") {
    SendAgainMiddleware middleware("", 3);
    RecordingNext next;
    struct Case {
        nlohmann::json stored;
        int expected_after;
    };
    for (const auto& [stored, expected] : std::vector<Case>{{"2", 3}, {"1.9", 2}, {1.9, 2}, {"abc", 1}, {true, 2},
                                                           {nullptr, 1}, {nlohmann::json::array(), 1},
                                                           {nlohmann::json::object(), 1}}) {
        auto result = run(middleware, message_with_failure_meta({{kResendKey, stored}}), next);
        REQUIRE(result.pushes().size() == 1);
        CHECK(failure_meta(result.pushes()[0].message).at(kResendKey) == expected);
    }
    CHECK(next.calls == 0);
}

TEST_CASE("exponential-delay: the first delay is delayInitial, then each is the last times the exponent, capped") {
    ExponentialDelayMiddleware middleware("test", 2, 1, 5, 2);
    RecordingNext next;
    struct Case {
        nlohmann::json meta;
        double delay;
        long long attempts;
    };
    for (const auto& c : std::vector<Case>{
             {nlohmann::json::object(), 1, 1},
             {{{kDelayKey, 1}, {kDelayAttemptsKey, 1}}, 2, 2},
             {{{kDelayKey, 2}, {kDelayAttemptsKey, 1}}, 4, 2},
             {{{kDelayKey, 4}, {kDelayAttemptsKey, 1}}, 5, 2},
             {{{kDelayKey, 100}, {kDelayAttemptsKey, 1}}, 5, 2},
             {{{kDelayKey, 0}, {kDelayAttemptsKey, 1}}, 1, 2},
             {{{kDelayKey, -3}, {kDelayAttemptsKey, 1}}, 1, 2},
             {{{kDelayKey, "abc"}, {kDelayAttemptsKey, 1}}, 1, 2},
         }) {
        CAPTURE(c.meta.dump());
        auto result = run(middleware, message_with_failure_meta(c.meta), next);
        REQUIRE(result.pushes().size() == 1);
        const auto& push = result.pushes()[0];
        CHECK(push.delay.count() == c.delay);
        CHECK(result.decision()->action == FailureAction::delay);
        CHECK(failure_meta(push.message).at(kDelayKey) == c.delay);
        CHECK(failure_meta(push.message).at(kDelayAttemptsKey) == c.attempts);
    }
    CHECK(next.calls == 0);
}

TEST_CASE("exponential-delay: with everything at 1 it stores both keys and delays by 1") {
    ExponentialDelayMiddleware middleware("test", 1, 1, 1, 1);
    RecordingNext next;
    auto result = run(middleware, Message::create("job"), next);
    REQUIRE(result.pushes().size() == 1);
    CHECK(result.pushes()[0].delay.count() == 1.0);
    CHECK(failure_meta(result.pushes()[0].message).contains(kDelayKey));
    CHECK(failure_meta(result.pushes()[0].message).contains(kDelayAttemptsKey));
}

TEST_CASE("exponential-delay: past maxAttempts it calls next exactly once and pushes nothing") {
    ExponentialDelayMiddleware middleware("test", 1, 1, 1, 1);
    RecordingNext next;
    auto result = run(middleware, message_with_failure_meta({{kDelayAttemptsKey, 2}}), next);
    CHECK(next.calls == 1);
    CHECK(result.pushes().empty());
}

TEST_CASE("exponential-delay: a negative stored attempt count counts as zero (Yii would grant extra attempts)") {
    ExponentialDelayMiddleware middleware("test", 1, 1, 1, 1);
    RecordingNext next;
    auto result = run(middleware, message_with_failure_meta({{kDelayAttemptsKey, -2}}), next);
    REQUIRE(result.pushes().size() == 1);
    CHECK(failure_meta(result.pushes()[0].message).at(kDelayAttemptsKey) == 1);
    // Its one attempt used, it passes on: the message bought no extra retries.
    auto again = run(middleware, result.take_pushes()[0].message, next);
    CHECK(again.pushes().empty());
    CHECK(next.calls == 1);
}

TEST_CASE("exponential-delay: Yii's parameter checks, in Yii's order") {
    CHECK_NOTHROW(ExponentialDelayMiddleware("t", 1, 0.001, 1, 0.01));
    CHECK_NOTHROW(ExponentialDelayMiddleware("t", 2147483647, 2147483647, 2147483647, 2147483647));
    CHECK_NOTHROW(ExponentialDelayMiddleware("t", 1, 3, 3, 1));
    CHECK_THROWS_WITH_AS(ExponentialDelayMiddleware("t", 0, 1, 1, 1),
                         "maxAttempts parameter must be a positive integer, 0 given.", InvalidArgumentError);
    CHECK_THROWS_WITH_AS(ExponentialDelayMiddleware("t", 1, 0, 1, 1),
                         "delayInitial parameter must be a positive finite number, 0 given.", InvalidArgumentError);
    CHECK_THROWS_WITH_AS(ExponentialDelayMiddleware("t", 1, 1, 0, 1),
                         "delayMaximum parameter must not be less than delayInitial (1), 0 given.", InvalidArgumentError);
    CHECK_THROWS_WITH_AS(ExponentialDelayMiddleware("t", 1, 1, 1, 0),
                         "exponent parameter must be a positive finite number, 0 given.", InvalidArgumentError);
    CHECK_THROWS_AS(ExponentialDelayMiddleware("t", 1, NAN, 1, 1), InvalidArgumentError);
    CHECK_THROWS_AS(ExponentialDelayMiddleware("t", 1, 1, INFINITY, 1), InvalidArgumentError);
    // maxAttempts is checked before the delays, as in Yii.
    CHECK_THROWS_WITH_AS(ExponentialDelayMiddleware("t", 0, 0, 0, 0),
                         "maxAttempts parameter must be a positive integer, 0 given.", InvalidArgumentError);
}

TEST_CASE("exponential-delay: an exponent below 1 makes the delays shrink") {
    ExponentialDelayMiddleware middleware("test", 3, 4, 10, 0.5);
    RecordingNext next;
    Message message = Message::create("job");
    std::vector<double> delays;
    for (int i = 0; i < 3; ++i) {
        auto result = run(middleware, message, next);
        REQUIRE(result.pushes().size() == 1);
        delays.push_back(result.pushes()[0].delay.count());
        message = result.pushes()[0].message;
    }
    CHECK(delays == std::vector<double>{4, 2, 1});
}

TEST_CASE("exponential-delay: the guide's schedule (5, 60, 1.5) matches repeated multiplication to the last digit") {
    ExponentialDelayMiddleware middleware("failed-messages", 30, 5, 60, 1.5);
    RecordingNext next;
    Message message = Message::create("job");
    double expected = 5;
    for (int k = 1; k <= 30; ++k) {
        auto result = run(middleware, message, next, "failed-messages");
        REQUIRE(result.pushes().size() == 1);
        CHECK(result.pushes()[0].delay.count() == expected);
        message = result.pushes()[0].message;
        expected = std::min(expected * 1.5, 60.0);
    }
    auto exhausted = run(middleware, message, next, "failed-messages");
    CHECK_FALSE(exhausted.handled());
    CHECK(next.calls == 1);
}

TEST_CASE("jitter: every kind draws over its whole range and never beyond its bounds or delayMaximum") {
    for (Jitter jitter : {Jitter::full, Jitter::equal, Jitter::decorrelated}) {
        CAPTURE(to_string(jitter));
        ExponentialDelayMiddleware::Options options;
        options.jitter = jitter;
        options.random = std::make_shared<RandomSource>(42);
        ExponentialDelayMiddleware middleware("j", 12, 0.5, 8, 2, options);
        RecordingNext next;
        double lowest_ratio = 1e9;   // delay / the top of its range, over all draws
        double highest_ratio = -1;
        for (int trial = 0; trial < 200; ++trial) {
            Message message = Message::create("job");
            double previous_applied = 0.5;
            for (int k = 1; k <= 12; ++k) {
                auto result = run(middleware, message, next);
                REQUIRE(result.pushes().size() == 1);
                const auto& d = *result.decision();
                const double delay = result.pushes()[0].delay.count();
                const double base = d.base_delay.count();
                CHECK(d.jittered);
                CHECK(delay <= 8.0);
                double top = base;
                double bottom = 0;
                if (jitter == Jitter::equal) bottom = base / 2;
                if (jitter == Jitter::decorrelated) {
                    // AWS's decorrelated jitter, computed here independently of the middleware.
                    top = std::min(8.0, 3 * previous_applied);
                    bottom = 0.5;
                    previous_applied = delay;
                }
                CHECK(delay >= bottom);
                CHECK(delay <= top);
                lowest_ratio = std::min(lowest_ratio, (delay - bottom) / (top - bottom));
                highest_ratio = std::max(highest_ratio, (delay - bottom) / (top - bottom));
                message = result.pushes()[0].message;
            }
        }
        // 2,400 uniform draws cover their range: a jitter stuck at one end would fail here.
        CHECK(lowest_ratio < 0.01);
        CHECK(highest_ratio > 0.99);
    }
}

TEST_CASE("jitter: the same seed reproduces the same delays, another seed does not") {
    auto schedule = [](std::uint64_t seed) {
        ExponentialDelayMiddleware::Options options;
        options.jitter = Jitter::full;
        options.random = std::make_shared<RandomSource>(seed);
        ExponentialDelayMiddleware middleware("j", 10, 1, 100, 2, options);
        RecordingNext next;
        Message message = Message::create("job");
        std::vector<double> delays;
        for (int k = 0; k < 10; ++k) {
            auto result = run(middleware, message, next);
            delays.push_back(result.pushes().at(0).delay.count());
            message = result.pushes()[0].message;
        }
        return delays;
    };
    CHECK(schedule(7) == schedule(7));
    CHECK(schedule(7) != schedule(8));
}

TEST_CASE("jitter: the un-jittered schedule goes on underneath, so the cap is reached on time") {
    ExponentialDelayMiddleware::Options options;
    options.jitter = Jitter::full;
    options.random = std::make_shared<RandomSource>(1);
    ExponentialDelayMiddleware middleware("j", 6, 1, 10, 2, options);
    RecordingNext next;
    Message message = Message::create("job");
    std::vector<double> bases;
    for (int k = 0; k < 6; ++k) {
        auto result = run(middleware, message, next);
        bases.push_back(result.decision()->base_delay.count());
        message = result.pushes().at(0).message;
    }
    CHECK(bases == std::vector<double>{1, 2, 4, 8, 10, 10});
}

TEST_CASE("isolation: two middlewares with different ids keep separate counters — the same id shares one") {
    FailureMiddlewareDispatcher::Options options;
    options.default_pipeline = {make<SendAgainMiddleware>("a", 1), make<SendAgainMiddleware>("b", 1)};
    options.final_behavior = FinalBehavior::rethrow;
    FailureMiddlewareDispatcher dispatcher(options);
    Message message = Message::create("job");
    auto first = dispatcher.dispatch(FailureHandlingRequest(message, "q"), failure_of());
    CHECK(first.decision()->middleware == "a");
    auto second = dispatcher.dispatch(FailureHandlingRequest(first.pushes().at(0).message, "q"), failure_of());
    CHECK(second.decision()->middleware == "b");
    CHECK(failure_meta(second.pushes().at(0).message).at(kResendKey + "a") == 1);
    auto third = dispatcher.dispatch(FailureHandlingRequest(second.pushes().at(0).message, "q"), failure_of());
    CHECK(third.decision()->action == FailureAction::rethrow);

    auto shared = dispatcher.with_pipelines({make<SendAgainMiddleware>("a", 1), make<SendAgainMiddleware>("a", 1)}, {});
    auto s1 = shared.dispatch(FailureHandlingRequest(message, "q"), failure_of());
    auto s2 = shared.dispatch(FailureHandlingRequest(s1.pushes().at(0).message, "q"), failure_of());
    CHECK(s2.decision()->action == FailureAction::rethrow);
}

TEST_CASE("full stack: five send-again and an exponential delay of 2 handle 7 failures — the 8th reaches the final") {
    FailureMiddlewareDispatcher::Options options;
    for (int i = 1; i <= 5; ++i) options.default_pipeline.push_back(make<SendAgainMiddleware>("s" + std::to_string(i), 1));
    options.default_pipeline.push_back(make<ExponentialDelayMiddleware>("e", 2, 1, 10, 2));
    options.final_behavior = FinalBehavior::rethrow;
    FailureMiddlewareDispatcher dispatcher(options);
    Message message = Message::create("job");
    int pushes = 0;
    for (int i = 1; i <= 7; ++i) {
        auto result = dispatcher.dispatch(FailureHandlingRequest(message, "q"), failure_of());
        REQUIRE(result.pushes().size() == 1);
        ++pushes;
        message = result.pushes()[0].message;
    }
    CHECK(pushes == 7);
    auto last = dispatcher.dispatch(FailureHandlingRequest(message, "q"), failure_of());
    CHECK(last.decision()->action == FailureAction::rethrow);
    CHECK(last.pushes().empty());
    CHECK(failure_meta(last.message()).at("failures") == 8);
}

TEST_CASE("selection: a channel's own non-empty pipeline, else the default — never both") {
    FailureMiddlewareDispatcher::Options options;
    options.pipelines["q1"] = {make<SendAgainMiddleware>("m", 1, "from-m")};
    options.default_pipeline = {make<SendAgainMiddleware>("d", 1, "from-d")};
    FailureMiddlewareDispatcher dispatcher(options);
    CHECK(dispatcher.dispatch(FailureHandlingRequest(Message::create("j"), "q1"), failure_of()).decision()->to == "from-m");
    CHECK(dispatcher.dispatch(FailureHandlingRequest(Message::create("j"), "zzz"), failure_of()).decision()->to == "from-d");

    // q1's own middleware has used its attempt: the default does not step in, the final does.
    auto once = dispatcher.dispatch(FailureHandlingRequest(Message::create("j"), "q1"), failure_of());
    auto twice = dispatcher.dispatch(FailureHandlingRequest(once.pushes().at(0).message, "q1"), failure_of());
    CHECK(twice.decision()->middleware == "final");
    CHECK(twice.decision()->to == "q1:dlq");

    auto empty_q1 = dispatcher.with_pipelines(options.default_pipeline, {{"q1", {}}});
    CHECK(empty_q1.dispatch(FailureHandlingRequest(Message::create("j"), "q1"), failure_of()).decision()->to == "from-d");

    FailureMiddlewareDispatcher bare;
    auto result = bare.dispatch(FailureHandlingRequest(Message::create("j"), "zzz"), failure_of());
    CHECK(result.decision()->action == FailureAction::dead_letter);
    CHECK(result.pushes().at(0).channel == "zzz:dlq");
}

TEST_CASE("final behaviours: dead-letter records the failure, drop stages nothing, rethrow stages nothing") {
    auto clock = std::make_shared<ManualClock>();
    FailureMiddlewareDispatcher::Options options;
    options.clock = clock;
    options.dead_letter_suffix = ".dead";
    Message message = Message::create("job", {{"order", 7}});
    message.id = "abc";
    message.metadata["trace"] = "t-1";
    Failure failure{nullptr, "failpipe::PermanentError", "card declined", ErrorClass::permanent};

    auto dead = FailureMiddlewareDispatcher(options).dispatch(FailureHandlingRequest(message, "payments"), failure);
    REQUIRE(dead.pushes().size() == 1);
    const auto& parked = dead.pushes()[0];
    CHECK(parked.channel == "payments.dead");
    CHECK(parked.message.id == "abc");
    CHECK(parked.message.data == nlohmann::json{{"order", 7}});
    CHECK(parked.message.metadata.at("trace") == "t-1");
    const auto& record = parked.message.metadata.at("failpipe-dead-letter");
    CHECK(record.at("reason") == "failure");
    CHECK(record.at("errorType") == "failpipe::PermanentError");
    CHECK(record.at("errorMessage") == "card declined");
    CHECK(record.at("errorClass") == "permanent");
    CHECK(record.at("time") == "2026-01-01T00:00:00.000Z");
    CHECK(record.at("attempts") == 1);
    CHECK(record.at("channel") == "payments");
    CHECK(record.at("id") == "abc");
    CHECK(record.at("middleware") == "final");

    options.final_behavior = FinalBehavior::drop;
    auto dropped = FailureMiddlewareDispatcher(options).dispatch(FailureHandlingRequest(message, "payments"), failure);
    CHECK(dropped.decision()->action == FailureAction::drop);
    CHECK(dropped.pushes().empty());

    options.final_behavior = FinalBehavior::rethrow;
    auto rethrown = FailureMiddlewareDispatcher(options).dispatch(FailureHandlingRequest(message, "payments"), failure);
    CHECK(rethrown.decision()->action == FailureAction::rethrow);
    CHECK(rethrown.pushes().empty());
    CHECK(rethrown.message().id == "abc");
}

TEST_CASE("on filter: permanent errors straight to the dead letters, transient ones retried with backoff") {
    FailureMiddlewareDispatcher::Options options;
    options.default_pipeline = {
        make<DeadLetterMiddleware>("permanent", "", ErrorClassSet{ErrorClass::permanent}),
        make<ExponentialDelayMiddleware>("backoff", 3, 1, 10, 2,
                                         ExponentialDelayMiddleware::Options{"", {ErrorClass::transient}, Jitter::none, nullptr}),
    };
    FailureMiddlewareDispatcher dispatcher(options);
    auto permanent = dispatcher.dispatch(FailureHandlingRequest(Message::create("j"), "orders"), failure_of(ErrorClass::permanent));
    CHECK(permanent.decision()->middleware == "permanent");
    CHECK(permanent.pushes().at(0).channel == "orders:dlq");
    auto transient = dispatcher.dispatch(FailureHandlingRequest(Message::create("j"), "orders"), failure_of(ErrorClass::transient));
    CHECK(transient.decision()->action == FailureAction::delay);
    CHECK(transient.pushes().at(0).channel == "orders");
    auto unknown = dispatcher.dispatch(FailureHandlingRequest(Message::create("j"), "orders"), failure_of(ErrorClass::unknown));
    CHECK(unknown.decision()->middleware == "final");
}

namespace {

// Custom middlewares for the order test: each changes the message and calls next.
class SetData final : public MiddlewareFailureInterface {
public:
    FailureHandlingRequest handle(FailureHandlingRequest request, const Failure& failure,
                                  const FailureHandlerInterface& next) const override {
        request.message().data = "from m1";
        return next.handle(std::move(request), failure);
    }
    const std::string& id() const noexcept override { return id_; }
    std::string id_ = "m1";
};

class SetHandlerAndResend final : public MiddlewareFailureInterface {
public:
    FailureHandlingRequest handle(FailureHandlingRequest request, const Failure&, const FailureHandlerInterface&) const override {
        request.message().handler = "from m2";
        std::string channel = request.channel();
        request.stage(OutgoingMessage{channel, request.take_message(), Seconds{0.0}});
        request.decide(Decision{"m2", FailureAction::send_again, channel});
        return request;
    }
    const std::string& id() const noexcept override { return id_; }
    std::string id_ = "m2";
};

class Swallow final : public MiddlewareFailureInterface {
public:
    FailureHandlingRequest handle(FailureHandlingRequest request, const Failure&, const FailureHandlerInterface&) const override {
        return request;  // neither acts nor calls next
    }
    const std::string& id() const noexcept override { return id_; }
    std::string id_ = "swallow";
};

}  // namespace

TEST_CASE("custom middlewares run in configured order and see each other's changes") {
    FailureMiddlewareDispatcher::Options options;
    options.default_pipeline = {std::make_shared<SetData>(), std::make_shared<SetHandlerAndResend>()};
    auto result = FailureMiddlewareDispatcher(options).dispatch(FailureHandlingRequest(Message::create("j"), "q"), failure_of());
    REQUIRE(result.pushes().size() == 1);
    CHECK(result.pushes()[0].message.data == "from m1");
    CHECK(result.pushes()[0].message.handler == "from m2");
}

TEST_CASE("a custom middleware that neither acts nor calls next cannot lose the message: the final handler runs") {
    FailureMiddlewareDispatcher::Options options;
    options.default_pipeline = {std::make_shared<Swallow>(), make<SendAgainMiddleware>("never", 1)};
    auto result = FailureMiddlewareDispatcher(options).dispatch(FailureHandlingRequest(Message::create("j"), "q"), failure_of());
    CHECK(result.decision()->middleware == "final");
    CHECK(result.pushes().at(0).channel == "q:dlq");
}

TEST_CASE("failure metadata: a non-object value is read as empty, and other keys are kept") {
    Message message = Message::create("j");
    message.metadata["failpipe-failure"] = "garbage";
    message.metadata["user"] = {{"tenant", 3}};
    RecordingNext next;
    auto result = run(SendAgainMiddleware("x", 1), message, next);
    REQUIRE(result.pushes().size() == 1);
    const auto& meta = result.pushes()[0].message.metadata;
    CHECK(meta.at("failpipe-failure").at(kResendKey + "x") == 1);
    CHECK(meta.at("user").at("tenant") == 3);

    Message not_object = Message::create("j");
    not_object.metadata = "oops";
    auto dispatched = FailureMiddlewareDispatcher().dispatch(FailureHandlingRequest(not_object, "q"), failure_of());
    CHECK(dispatched.pushes().at(0).message.metadata.at("failpipe-dead-letter").at("attempts") == 1);
}

TEST_CASE("dispatcher: null middlewares and an empty dead-letter suffix are refused") {
    FailureMiddlewareDispatcher::Options options;
    options.default_pipeline = {nullptr};
    CHECK_THROWS_AS(FailureMiddlewareDispatcher{options}, InvalidArgumentError);
    FailureMiddlewareDispatcher::Options suffix;
    suffix.dead_letter_suffix = "";
    CHECK_THROWS_AS(FailureMiddlewareDispatcher{suffix}, InvalidArgumentError);
}
