// What the worker does when things go wrong around the handler: a broker that goes away, a
// failure pipeline that breaks, slow handlers, poison bytes, swallowed exceptions.
#include <doctest/doctest.h>

#include <failpipe/failpipe.hpp>
#include <failpipe/memory/in_memory_adapter.hpp>

#include <sys/wait.h>
#include <unistd.h>

#include <thread>

#include "test_support.hpp"

using namespace failpipe;
using failpipe::test::FlakyAdapter;
using failpipe::test::make;

namespace {

Message job_for(std::string handler, nlohmann::json data = nullptr) { return Message::create(std::move(handler), std::move(data)); }

class DecidesWithoutPush final : public MiddlewareFailureInterface {
public:
    FailureHandlingRequest handle(FailureHandlingRequest request, const Failure&, const FailureHandlerInterface&) const override {
        request.decide(Decision{"forgetful", FailureAction::send_again, request.channel()});
        return request;
    }
    const std::string& id() const noexcept override { return id_; }
    std::string id_ = "forgetful";
};

class Throws final : public MiddlewareFailureInterface {
public:
    explicit Throws(bool standard) : standard_(standard) {}
    FailureHandlingRequest handle(FailureHandlingRequest, const Failure&, const FailureHandlerInterface&) const override {
        if (standard_) throw std::logic_error("middleware bug");
        throw 7;
    }
    const std::string& id() const noexcept override { return id_; }
    bool standard_;
    std::string id_ = "throws";
};

class StagesBadDelay final : public MiddlewareFailureInterface {
public:
    FailureHandlingRequest handle(FailureHandlingRequest request, const Failure&, const FailureHandlerInterface&) const override {
        std::string channel = request.channel();
        request.stage(OutgoingMessage{channel, request.take_message(), Seconds{-5}});
        request.decide(Decision{"bad-delay", FailureAction::delay, channel});
        return request;
    }
    const std::string& id() const noexcept override { return id_; }
    std::string id_ = "bad-delay";
};

}  // namespace

TEST_CASE("dispatcher: a middleware that decides but stages no push, or stages a bad one, is an error, not a loss") {
    FailureMiddlewareDispatcher::Options options;
    options.default_pipeline = {std::make_shared<DecidesWithoutPush>()};
    CHECK_THROWS_WITH_AS(FailureMiddlewareDispatcher(options).dispatch(FailureHandlingRequest(job_for("j"), "q"),
                                                                       failpipe::test::failure_of()),
                         "failure middleware \"forgetful\" decided send-again but staged no push: settling would lose "
                         "the message",
                         Error);
    options.default_pipeline = {std::make_shared<StagesBadDelay>()};
    CHECK_THROWS_AS(FailureMiddlewareDispatcher(options).dispatch(FailureHandlingRequest(job_for("j"), "q"),
                                                                  failpipe::test::failure_of()),
                    Error);
}

TEST_CASE("worker: a failure pipeline that breaks dead-letters the message with both errors (reason pipeline-error)") {
    for (auto middleware : std::vector<FailureMiddlewarePtr>{std::make_shared<DecidesWithoutPush>(), std::make_shared<Throws>(true),
                                                             std::make_shared<Throws>(false), std::make_shared<StagesBadDelay>()}) {
        CAPTURE(middleware->id());
        auto adapter = std::make_shared<InMemoryAdapter>();
        FailureMiddlewareDispatcher::Options options;
        options.default_pipeline = {middleware};
        Worker worker(adapter, FailureMiddlewareDispatcher(options), {}, {.channels = {"orders"}});
        worker.on("order", [](const Message&, HandlerContext&) { throw TransientError("gateway down"); });
        std::string id = Queue(adapter, "orders").push(job_for("order", {{"n", 1}}));
        CHECK_NOTHROW(worker.run_until_idle());
        auto dead = adapter->browse("orders:dlq", 0, 10);
        REQUIRE(dead.size() == 1);
        CHECK(dead[0].id == id);
        CHECK(dead[0].data == nlohmann::json{{"n", 1}});
        const auto& record = dead[0].metadata.at("failpipe-dead-letter");
        CHECK(record.at("reason") == "pipeline-error");
        CHECK(record.at("attempts") == 1);
        const std::string what = record.at("errorMessage");
        CHECK(what.find("gateway down") != std::string::npos);
        CHECK(what.find("the failure pipeline failed") != std::string::npos);
        CHECK(worker.metrics().snapshot().pipeline_errors == 1);
        CHECK(adapter->depth("orders").total() == 0);
    }
}

TEST_CASE("worker: a settle whose connection broke is sent again and lands once") {
    auto memory = std::make_shared<InMemoryAdapter>();
    auto flaky = std::make_shared<FlakyAdapter>(memory);
    FailureMiddlewareDispatcher::Options options;
    options.default_pipeline = {make<SendAgainMiddleware>("again", 1)};
    Worker worker(flaky, FailureMiddlewareDispatcher(options), {}, {.channels = {"orders"}});
    int runs = 0;
    worker.on("order", [&](const Message&, HandlerContext& context) {
        context.push("receipts", job_for("receipt"));
        if (++runs == 1) throw TransientError("first try fails");
    });
    Queue(flaky, "orders").push(job_for("order"));
    flaky->fail_settles = 2;  // the retry's settle fails twice before it lands
    worker.run_until_idle(1);
    flaky->fail_settles = 2;  // and so does the success's
    worker.run_until_idle();
    CHECK(runs == 2);
    CHECK(flaky->settle_calls == 6);
    CHECK(memory->depth("receipts").ready == 1);
    CHECK(memory->depth("orders").total() == 0);
}

TEST_CASE("worker: when the broker stays away, the settle gives up with ConnectionError and the delivery comes back") {
    auto clock = std::make_shared<ManualClock>();
    auto memory = std::make_shared<InMemoryAdapter>(InMemoryAdapter::Options{Seconds{30}, clock});
    auto flaky = std::make_shared<FlakyAdapter>(memory);
    Worker worker(flaky, {}, {}, {.channels = {"orders"}, .settle_retry_for = std::chrono::milliseconds(100)});
    worker.on("order", [](const Message&, HandlerContext&) {});
    Queue(flaky, "orders").push(job_for("order"));
    flaky->fail_settles = 1000;
    CHECK_THROWS_AS(worker.run_until_idle(), ConnectionError);
    CHECK(memory->depth("orders").reserved == 1);
    clock->advance(Seconds{31});
    flaky->fail_settles = 0;
    CHECK(worker.run_until_idle() == 1);
    CHECK(memory->depth("orders").total() == 0);
    CHECK(worker.metrics().snapshot().succeeded == 1);
}

TEST_CASE("worker: run() survives a broker going away, resumes on its own, and stops when asked") {
    auto memory = std::make_shared<InMemoryAdapter>();
    auto flaky = std::make_shared<FlakyAdapter>(memory);
    flaky->fail_reserves = 3;
    Worker worker(flaky, {}, {}, {.channels = {"orders"}, .wait = std::chrono::milliseconds(5),
                                  .max_backoff = std::chrono::milliseconds(20)});
    std::atomic<int> handled{0};
    worker.on("order", [&](const Message&, HandlerContext&) { ++handled; });
    for (int i = 0; i < 10; ++i) Queue(memory, "orders").push(job_for("order"));
    {
        std::jthread thread([&](std::stop_token stop) { worker.run(stop); });
        auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
        while (handled.load() < 10 && std::chrono::steady_clock::now() < deadline) {
            std::this_thread::sleep_for(std::chrono::milliseconds(5));
        }
    }  // stop requested and joined here: a hang would time the test out
    CHECK(handled.load() == 10);
    CHECK(flaky->reserve_calls > 3);
    CHECK(memory->depth("orders").total() == 0);
}

TEST_CASE("worker: run() ends with MessageFailureError under rethrow, leaving the message with the broker") {
    auto memory = std::make_shared<InMemoryAdapter>();
    FailureMiddlewareDispatcher::Options options;
    options.final_behavior = FinalBehavior::rethrow;
    Worker worker(memory, FailureMiddlewareDispatcher(options), {}, {.channels = {"orders"}, .wait = std::chrono::milliseconds(5)});
    worker.on("order", [](const Message&, HandlerContext&) { throw std::runtime_error("nope"); });
    Queue(memory, "orders").push(job_for("order"));
    std::stop_source stop;
    CHECK_THROWS_AS(worker.run(stop.get_token()), MessageFailureError);
    CHECK(memory->depth("orders").reserved == 1);
}

TEST_CASE("worker: a batch stops starting handlers near the visibility timeout and gives the rest back") {
    auto memory = std::make_shared<InMemoryAdapter>();
    Worker worker(memory, {}, {}, {.channels = {"orders"}, .batch_size = 10, .visibility_timeout = Seconds{0.1}});
    int handled = 0;
    worker.on("order", [&](const Message&, HandlerContext&) {
        ++handled;
        std::this_thread::sleep_for(std::chrono::milliseconds(30));
    });
    for (int i = 0; i < 10; ++i) Queue(memory, "orders").push(job_for("order"));
    std::size_t processed = worker.run_once();
    CHECK(processed < 10);
    CHECK(processed >= 1);
    CHECK(handled == static_cast<int>(processed));
    CHECK(memory->depth("orders").ready == 10 - processed);  // released, not stuck until the timeout
    CHECK(memory->depth("orders").reserved == 0);
}

TEST_CASE("worker: binary poison bytes are kept exactly, in base64, and the record says so") {
    auto memory = std::make_shared<InMemoryAdapter>();
    Worker worker(memory, {}, {}, {.channels = {"orders"}});
    const std::string bytes("\x00\xff\xfe{bad", 7);
    memory->push_raw("orders", bytes);
    worker.run_until_idle();
    auto dead = memory->browse("orders:dlq", 0, 10);
    REQUIRE(dead.size() == 1);
    CHECK(dead[0].data == "AP/+e2JhZA==");
    CHECK(dead[0].metadata.at("failpipe-dead-letter").at("encoding") == "base64");
    CHECK(dead[0].metadata.at("failpipe-dead-letter").at("reason") == "poison");
}

TEST_CASE("worker: a message delivered exactly maxDeliveries times is still handled — one more and it is poison") {
    auto clock = std::make_shared<ManualClock>();
    auto memory = std::make_shared<InMemoryAdapter>(InMemoryAdapter::Options{Seconds{10}, clock});
    Worker worker(memory, {}, {}, {.channels = {"orders"}, .max_deliveries = 2});
    int runs = 0;
    worker.on("order", [&](const Message&, HandlerContext&) { ++runs; });
    Queue(memory, "orders").push(job_for("order"));
    REQUIRE(memory->reserve({"orders"}, 1, std::chrono::milliseconds(0)).size() == 1);  // a worker dies
    clock->advance(Seconds{11});
    worker.run_until_idle();  // second delivery == maxDeliveries: handled
    CHECK(runs == 1);
    CHECK(memory->depth("orders:dlq").total() == 0);
}

TEST_CASE("classifier: a message rule on a huge exception message neither crashes nor stalls") {
    Classifier classifier;
    classifier.add_message_pattern("deadlock.*timeout", ErrorClass::transient);
    const std::string huge = "deadlock " + std::string(200000, 'x') + " timeout";
    auto failure = [&] {
        try {
            throw std::runtime_error(huge);
        } catch (const std::exception& e) {
            return classifier.classify(e);
        }
    }();
    CHECK(failure.error_class == ErrorClass::unknown);  // the match lies past the first 512 bytes
    CHECK(failure.what.size() == huge.size());          // the message itself is kept whole
}

TEST_CASE("worker: follow-ups of a handler that threw are dropped even when a consume middleware swallows the error") {
    auto memory = std::make_shared<InMemoryAdapter>();
    Worker worker(memory, {}, {}, {.channels = {"orders"}});
    worker.use(make_consume_middleware([](const Message& m, HandlerContext& c, const ConsumeHandlerInterface& next) {
        try {
            next.handle(m, c);
        } catch (const std::exception&) {
            c.push("audit", Message::create("audit.failed"));  // the middleware's own push stays
        }
    }));
    worker.on("order", [](const Message&, HandlerContext& c) {
        c.push("emails", Message::create("email"));
        throw std::runtime_error("after staging");
    });
    Queue(memory, "orders").push(job_for("order"));
    worker.run_until_idle();
    CHECK(memory->depth("emails").total() == 0);
    CHECK(memory->depth("audit").total() == 1);
    CHECK(worker.metrics().snapshot().succeeded == 1);
}

TEST_CASE("dead-letter middleware built in code follows the dispatcher's suffix unless given its own") {
    FailureMiddlewareDispatcher::Options options;
    options.dead_letter_suffix = ".dead";
    options.default_pipeline = {make<DeadLetterMiddleware>("dl")};
    auto result = FailureMiddlewareDispatcher(options).dispatch(FailureHandlingRequest(job_for("j"), "orders"),
                                                                failpipe::test::failure_of());
    CHECK(result.pushes().at(0).channel == "orders.dead");
    options.default_pipeline = {make<DeadLetterMiddleware>("dl", "", ErrorClassSet{}, "#parked")};
    result = FailureMiddlewareDispatcher(options).dispatch(FailureHandlingRequest(job_for("j"), "orders"),
                                                           failpipe::test::failure_of());
    CHECK(result.pushes().at(0).channel == "orders#parked");
}

TEST_CASE("config: rethrow with maxDeliveries 0 is refused (a failing message would come back forever)") {
    CHECK_THROWS_WITH_AS(parse_config(R"({"final": "rethrow", "worker": {"maxDeliveries": 0}})"),
                         "/worker/maxDeliveries: expected an integer >= 1 when \"final\" is \"rethrow\" (with 0 a message "
                         "that always fails would be redelivered forever), found 0",
                         ConfigError);
    CHECK_NOTHROW(parse_config(R"({"final": "rethrow", "worker": {"maxDeliveries": 3}})"));
}

TEST_CASE("message ids: a forked child draws new ids, not its parent's") {
    int pipe_fds[2];
    REQUIRE(pipe(pipe_fds) == 0);
    pid_t child = fork();
    REQUIRE(child >= 0);
    if (child == 0) {
        std::string id = generate_message_id();
        ssize_t written = write(pipe_fds[1], id.data(), id.size());
        _exit(written == static_cast<ssize_t>(id.size()) ? 0 : 1);
    }
    std::string parent_id = generate_message_id();
    char buffer[64] = {};
    ssize_t got = read(pipe_fds[0], buffer, sizeof buffer);
    int status = 0;
    waitpid(child, &status, 0);
    close(pipe_fds[0]);
    close(pipe_fds[1]);
    REQUIRE(got == 32);
    std::string child_id(buffer, 32);
    CHECK(child_id != parent_id);
    CHECK(child_id.substr(0, 16) != parent_id.substr(0, 16));
}

TEST_CASE("queue and outbox refuse metadata that is not an object, so nothing is silently dropped") {
    auto memory = std::make_shared<InMemoryAdapter>();
    Message message = job_for("order");
    message.metadata = "trace-id";
    CHECK_THROWS_AS(Queue(memory, "orders").push(message), InvalidArgumentError);
    const std::string channel = "orders";
    HandlerContext context(channel, 1);
    CHECK_THROWS_AS(context.push("emails", message), InvalidArgumentError);
    CHECK(memory->depth("orders").total() == 0);
}

namespace {
// A foreign exception type whose what() breaks the contract and returns a null pointer.
struct NullWhat final : std::exception {
    const char* what() const noexcept override { return nullptr; }
};
}  // namespace

TEST_CASE("worker: an exception whose what() is a null pointer is a failure like any other - retried, then dead-lettered") {
    auto adapter = std::make_shared<InMemoryAdapter>();
    FailureMiddlewareDispatcher::Options options;
    options.default_pipeline = {make<SendAgainMiddleware>("again", 1)};
    Worker worker(adapter, FailureMiddlewareDispatcher(std::move(options)), Classifier{},
                  {.channels = {"orders"}, .wait = std::chrono::milliseconds(0)});
    int runs = 0;
    worker.on("order", [&](const Message&, HandlerContext&) {
        ++runs;
        throw NullWhat{};
    });
    const std::string id = adapter->push("orders", job_for("order"));
    CHECK_NOTHROW(worker.run_until_idle());
    CHECK(runs == 2);
    auto dead = adapter->browse("orders:dlq", 0, 10);
    REQUIRE(dead.size() == 1);
    CHECK(dead[0].id == id);
    CHECK(dead[0].metadata.at("failpipe-dead-letter").at("errorMessage") == "");
    CHECK(adapter->depth("orders").total() == 0);
}
