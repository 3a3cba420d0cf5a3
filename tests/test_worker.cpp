// The worker end to end over the in-memory adapter: settles, the outbox, poison, the final
// behaviours, the Yii guide's trace with a manual clock, and concurrent workers.
#include <doctest/doctest.h>

#include <failpipe/failpipe.hpp>
#include <failpipe/memory/in_memory_adapter.hpp>

#include <algorithm>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "test_support.hpp"

using namespace failpipe;
using failpipe::test::make;

namespace {

struct Rig {
    std::shared_ptr<ManualClock> clock = std::make_shared<ManualClock>();
    std::shared_ptr<InMemoryAdapter> adapter;
    explicit Rig(Seconds visibility = Seconds{30}) {
        InMemoryAdapter::Options options;
        options.clock = clock;
        options.visibility_timeout = visibility;
        adapter = std::make_shared<InMemoryAdapter>(options);
    }
    FailureMiddlewareDispatcher::Options dispatcher_options() const {
        FailureMiddlewareDispatcher::Options options;
        options.clock = clock;
        return options;
    }
    Worker worker(FailureMiddlewareDispatcher::Options options, std::vector<std::string> channels,
                  WorkerOptions worker_options = {}) const {
        worker_options.channels = std::move(channels);
        return Worker(adapter, FailureMiddlewareDispatcher(std::move(options)), Classifier{}, worker_options);
    }
};

Message job(std::string handler, nlohmann::json data = nullptr) { return Message::create(std::move(handler), std::move(data)); }

}  // namespace

TEST_CASE("worker: a handled message is acknowledged and gone") {
    Rig rig;
    auto worker = rig.worker(rig.dispatcher_options(), {"orders"});
    int handled = 0;
    worker.on("order", [&](const Message& m, HandlerContext& context) {
        CHECK(m.data.at("n") == 1);
        CHECK(context.channel() == "orders");
        CHECK(context.deliveries() == 1);
        ++handled;
    });
    std::string id = Queue(rig.adapter, "orders").push(job("order", {{"n", 1}}));
    CHECK(worker.run_until_idle() == 1);
    CHECK(handled == 1);
    CHECK(rig.adapter->depth("orders").total() == 0);
    CHECK(rig.adapter->status(id).state == MessageState::not_found);
    CHECK(worker.metrics().snapshot().succeeded == 1);
}

TEST_CASE("worker: the Yii guide's trace — 33 handler runs, exact delays, dead letter with history, others keep flowing") {
    Rig rig;
    auto options = rig.dispatcher_options();
    options.default_pipeline = {make<SendAgainMiddleware>("default-first-resend", 1),
                                make<SendAgainMiddleware>("default-second-resend", 1, "failed-messages")};
    options.pipelines["failed-messages"] = {make<ExponentialDelayMiddleware>("failed-messages", 30, 5, 60, 1.5)};
    auto worker = rig.worker(options, {"orders", "failed-messages"});

    int failing_runs = 0;
    int good = 0;
    std::vector<std::string> failing_channels;
    worker.on("order", [&](const Message& m, HandlerContext& context) {
        if (m.data.at("fail") == true) {
            ++failing_runs;
            failing_channels.push_back(context.channel());
            throw TransientError("payment gateway timeout");
        }
        ++good;
    });
    Queue orders(rig.adapter, "orders");
    const std::string id = orders.push(job("order", {{"fail", true}}));
    for (int i = 0; i < 50; ++i) orders.push(job("order", {{"fail", false}}));

    worker.run_until_idle();
    CHECK(failing_runs == 3);  // orders, orders again, failed-messages
    CHECK(good == 50);
    CHECK(rig.adapter->status(id).state == MessageState::delayed);
    CHECK(rig.adapter->status(id).channel == "failed-messages");

    double delay = 5;
    for (int k = 1; k <= 30; ++k) {
        CAPTURE(k);
        rig.clock->advance(Seconds{delay - 0.001});
        orders.push(job("order", {{"fail", false}}));
        worker.run_until_idle();
        CHECK(failing_runs == 2 + k);  // not due yet...
        CHECK(good == 50 + k);         // ...while the rest of the channel flows
        rig.clock->advance(Seconds{0.001});
        worker.run_until_idle();
        REQUIRE(failing_runs == 3 + k);
        delay = std::min(delay * 1.5, 60.0);
    }
    CHECK(failing_runs == 33);
    CHECK(failing_channels[0] == "orders");
    CHECK(failing_channels[1] == "orders");
    CHECK(failing_channels[2] == "failed-messages");
    CHECK(rig.adapter->depth("orders").total() == 0);
    CHECK(rig.adapter->depth("failed-messages").total() == 0);

    auto dead = rig.adapter->browse("failed-messages:dlq", 0, 10);
    REQUIRE(dead.size() == 1);
    CHECK(dead[0].id == id);
    CHECK(dead[0].data.at("fail") == true);
    const auto& record = dead[0].metadata.at("failpipe-dead-letter");
    CHECK(record.at("reason") == "failure");
    CHECK(record.at("attempts") == 33);
    CHECK(record.at("channel") == "failed-messages");
    CHECK(record.at("errorType") == "failpipe::TransientError");
    CHECK(record.at("errorMessage") == "payment gateway timeout");
    CHECK(record.at("errorClass") == "transient");
    CHECK(record.at("middleware") == "final");
    const auto& history = dead[0].metadata.at("failpipe-failure");
    CHECK(history.at("failure-strategy-resend-attempts-default-first-resend") == 1);
    CHECK(history.at("failure-strategy-resend-attempts-default-second-resend") == 1);
    CHECK(history.at("failure-strategy-exponential-delay-attempts-failed-messages") == 30);
    CHECK(history.at("failure-strategy-exponential-delay-delay-failed-messages") == 60.0);

    auto metrics = worker.metrics().snapshot();
    CHECK(metrics.failed == 33);
    CHECK(metrics.retried == 32);
    CHECK(metrics.dead_lettered == 1);
    CHECK(metrics.succeeded == 80);
}

TEST_CASE("worker: follow-ups pushed by a handler are published only when it succeeds (outbox)") {
    Rig rig;
    auto options = rig.dispatcher_options();
    options.default_pipeline = {make<SendAgainMiddleware>("again", 1)};
    auto worker = rig.worker(options, {"orders"});
    int runs = 0;
    worker.on("order", [&](const Message&, HandlerContext& context) {
        context.push("emails", job("email", {{"to", "a@example.com"}}));
        context.push("audit", job("audit"), Seconds{10});
        if (++runs == 1) throw TransientError("flaky");
    });
    Queue(rig.adapter, "orders").push(job("order"));
    worker.run_until_idle();
    CHECK(runs == 2);
    CHECK(rig.adapter->depth("emails").ready == 1);  // once, not twice
    CHECK(rig.adapter->depth("audit").delayed == 1);
    auto emails = rig.adapter->browse("emails", 0, 10);
    REQUIRE(emails.size() == 1);
    CHECK_FALSE(emails[0].id.empty());
}

TEST_CASE("worker: a handler's bad follow-up push fails the delivery instead of breaking the settle") {
    Rig rig;
    auto worker = rig.worker(rig.dispatcher_options(), {"orders"});
    worker.on("order", [&](const Message&, HandlerContext& context) { context.push("", job("x")); });
    Queue(rig.adapter, "orders").push(job("order"));
    worker.run_until_idle();
    auto dead = rig.adapter->browse("orders:dlq", 0, 10);
    REQUIRE(dead.size() == 1);
    CHECK(dead[0].metadata.at("failpipe-dead-letter").at("errorType") == "failpipe::InvalidArgumentError");
}

TEST_CASE("worker: undecodable bytes go to the dead letters with the reason, the handler never runs") {
    Rig rig;
    auto worker = rig.worker(rig.dispatcher_options(), {"orders"});
    int runs = 0;
    worker.on("order", [&](const Message&, HandlerContext&) { ++runs; });
    rig.adapter->push_raw("orders", "{\"handler\": 12, garbage");
    Queue(rig.adapter, "orders").push(job("order"));
    worker.run_until_idle();
    CHECK(runs == 1);
    auto dead = rig.adapter->browse("orders:dlq", 0, 10);
    REQUIRE(dead.size() == 1);
    CHECK(dead[0].data == "{\"handler\": 12, garbage");  // the bytes as they came
    const auto& record = dead[0].metadata.at("failpipe-dead-letter");
    CHECK(record.at("reason") == "poison");
    CHECK(record.at("errorClass") == "permanent");
    CHECK(record.at("errorMessage").get<std::string>().find("undecodable") != std::string::npos);
    CHECK(worker.metrics().snapshot().poison == 1);
}

TEST_CASE("worker: a message that keeps crashing its workers is dead-lettered after maxDeliveries") {
    Rig rig(Seconds{30});
    WorkerOptions worker_options;
    worker_options.max_deliveries = 3;
    auto worker = rig.worker(rig.dispatcher_options(), {"orders"}, worker_options);
    int runs = 0;
    worker.on("order", [&](const Message&, HandlerContext&) { ++runs; });
    std::string id = Queue(rig.adapter, "orders").push(job("order"));
    // Three workers reserve it and "die" before settling.
    for (int i = 0; i < 3; ++i) {
        auto taken = rig.adapter->reserve({"orders"}, 1, std::chrono::milliseconds(0));
        REQUIRE(taken.size() == 1);
        CHECK(taken[0].deliveries == static_cast<std::uint32_t>(i + 1));
        rig.clock->advance(Seconds{31});
    }
    worker.run_until_idle();
    CHECK(runs == 0);
    auto dead = rig.adapter->browse("orders:dlq", 0, 10);
    REQUIRE(dead.size() == 1);
    CHECK(dead[0].id == id);
    CHECK(dead[0].metadata.at("failpipe-dead-letter").at("reason") == "max-deliveries");
    CHECK(dead[0].metadata.at("failpipe-dead-letter").at("deliveries") == 4);
}

TEST_CASE("worker: an unknown handler is a permanent failure handled by the pipeline (not a crash)") {
    Rig rig;
    auto options = rig.dispatcher_options();
    options.default_pipeline = {make<SendAgainMiddleware>("only-transient", 5, "", ErrorClassSet{ErrorClass::transient})};
    auto worker = rig.worker(options, {"orders"});
    Queue(rig.adapter, "orders").push(job("nobody-handles-this"));
    worker.run_until_idle();
    auto dead = rig.adapter->browse("orders:dlq", 0, 10);
    REQUIRE(dead.size() == 1);
    CHECK(dead[0].metadata.at("failpipe-dead-letter").at("errorType") == "failpipe::NoHandlerError");
    CHECK(dead[0].metadata.at("failpipe-dead-letter").at("errorClass") == "permanent");
}

TEST_CASE("worker: under `rethrow` the worker throws and the delivery stays with the broker, to come back") {
    Rig rig(Seconds{30});
    auto options = rig.dispatcher_options();
    options.final_behavior = FinalBehavior::rethrow;
    auto worker = rig.worker(options, {"orders"});
    worker.on("order", [](const Message&, HandlerContext&) { throw std::runtime_error("Test exception."); });
    Message message = job("order");
    message.id = "m-42";
    Queue(rig.adapter, "orders").push(message);
    Queue(rig.adapter, "orders").push(job("order"));
    CHECK_THROWS_WITH_AS(worker.run_until_idle(),
                         "Processing of message #m-42 on channel \"orders\" is stopped because of an exception:\nTest exception.",
                         MessageFailureError);
    CHECK(rig.adapter->depth("orders").reserved == 1);  // the failed one, unsettled
    CHECK(rig.adapter->depth("orders").ready == 1);     // the rest of the batch went back at once
    rig.clock->advance(Seconds{31});
    rig.adapter->reclaim();
    CHECK(rig.adapter->depth("orders").ready == 2);
    CHECK(rig.adapter->depth("orders:dlq").total() == 0);
}

TEST_CASE("worker: under `drop` the message is acknowledged, counted, and not dead-lettered") {
    Rig rig;
    auto options = rig.dispatcher_options();
    options.final_behavior = FinalBehavior::drop;
    auto worker = rig.worker(options, {"orders"});
    worker.on("order", [](const Message&, HandlerContext&) { throw std::runtime_error("x"); });
    Queue(rig.adapter, "orders").push(job("order"));
    worker.run_until_idle();
    CHECK(worker.metrics().snapshot().dropped == 1);
    CHECK(rig.adapter->depth("orders").total() == 0);
    CHECK(rig.adapter->depth("orders:dlq").total() == 0);
}

TEST_CASE("worker: a handler throwing something that is not a std::exception is handled, not a crash") {
    Rig rig;
    auto worker = rig.worker(rig.dispatcher_options(), {"orders"});
    worker.on("order", [](const Message&, HandlerContext&) { throw 42; });
    Queue(rig.adapter, "orders").push(job("order"));
    CHECK_NOTHROW(worker.run_until_idle());
    auto dead = rig.adapter->browse("orders:dlq", 0, 10);
    REQUIRE(dead.size() == 1);
    CHECK(dead[0].metadata.at("failpipe-dead-letter").at("errorType") == "int");
}

TEST_CASE("worker: consume middlewares wrap the handler in order — one that throws fails the delivery") {
    Rig rig;
    auto worker = rig.worker(rig.dispatcher_options(), {"orders"});
    std::vector<std::string> trace;
    worker.use(make_consume_middleware([&](const Message& m, HandlerContext& c, const ConsumeHandlerInterface& next) {
        trace.push_back("outer>");
        next.handle(m, c);
        trace.push_back("<outer");
    }));
    worker.use(make_consume_middleware([&](const Message& m, HandlerContext& c, const ConsumeHandlerInterface& next) {
        if (m.data == "expired") throw PermanentError("message TTL passed");
        trace.push_back("inner>");
        next.handle(m, c);
    }));
    worker.on("order", [&](const Message&, HandlerContext&) { trace.push_back("handler"); });
    Queue(rig.adapter, "orders").push(job("order", "fresh"));
    Queue(rig.adapter, "orders").push(job("order", "expired"));
    worker.run_until_idle();
    CHECK(trace == std::vector<std::string>{"outer>", "inner>", "handler", "<outer", "outer>"});
    auto dead = rig.adapter->browse("orders:dlq", 0, 10);
    REQUIRE(dead.size() == 1);
    CHECK(dead[0].metadata.at("failpipe-dead-letter").at("errorMessage") == "message TTL passed");
}

TEST_CASE("worker: a settle refused as stale (visibility timeout ran out mid-handler) loses nothing") {
    Rig rig(Seconds{5});
    auto worker = rig.worker(rig.dispatcher_options(), {"orders"});
    int runs = 0;
    worker.on("order", [&](const Message&, HandlerContext&) {
        if (++runs == 1) {
            rig.clock->advance(Seconds{6});  // the handler is slower than the visibility timeout
            rig.adapter->reclaim();
        }
    });
    Queue(rig.adapter, "orders").push(job("order"));
    worker.run_until_idle();
    CHECK(runs == 2);  // redelivered and handled: at least once
    CHECK(worker.metrics().snapshot().settle_errors == 1);
    CHECK(rig.adapter->depth("orders").total() == 0);
}

TEST_CASE("worker: bad construction arguments are refused with clear errors") {
    auto adapter = std::make_shared<InMemoryAdapter>();
    CHECK_THROWS_WITH_AS(Worker(nullptr, {}, {}, {.channels = {"a"}}), "Worker: the adapter must not be null",
                         InvalidArgumentError);
    CHECK_THROWS_WITH_AS(Worker(adapter, {}, {}, {}), "Worker: name at least one channel to consume", InvalidArgumentError);
    CHECK_THROWS_AS(Worker(adapter, {}, {}, {.channels = {""}}), InvalidArgumentError);
    CHECK_THROWS_AS(Worker(adapter, {}, {}, {.channels = {"a"}, .batch_size = 0}), InvalidArgumentError);
    Worker worker(adapter, {}, {}, {.channels = {"a"}});
    CHECK_THROWS_AS(worker.on("x", nullptr), InvalidArgumentError);
    CHECK_THROWS_AS(worker.use(nullptr), InvalidArgumentError);
}

TEST_CASE("worker: four concurrent workers on one channel handle 20,000 messages exactly once") {
    auto adapter = std::make_shared<InMemoryAdapter>();
    constexpr int kMessages = 20000;
    std::vector<Message> batch;
    Queue orders(adapter, "orders");
    for (int i = 0; i < kMessages; ++i) orders.push(job("order", i));

    auto metrics = std::make_shared<WorkerMetrics>();
    std::mutex mutex;
    std::map<int, int> seen;
    std::vector<std::jthread> threads;
    for (int t = 0; t < 4; ++t) {
        threads.emplace_back([&] {
            Worker worker(adapter, {}, {}, {.channels = {"orders"}, .batch_size = 16});
            worker.share_metrics(metrics);
            worker.on("order", [&](const Message& m, HandlerContext&) {
                std::lock_guard lock(mutex);
                ++seen[m.data.get<int>()];
            });
            auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
            while (metrics->succeeded.load() < kMessages && std::chrono::steady_clock::now() < deadline) {
                worker.run_until_idle(1000);
            }
        });
    }
    threads.clear();
    CHECK(seen.size() == kMessages);
    bool all_once = std::all_of(seen.begin(), seen.end(), [](const auto& kv) { return kv.second == 1; });
    CHECK(all_once);
    CHECK(metrics->succeeded.load() == kMessages);
    CHECK(adapter->depth("orders").total() == 0);
}

TEST_CASE("worker: concurrent workers with failures lose nothing: retried ones succeed, hopeless ones are dead letters") {
    auto adapter = std::make_shared<InMemoryAdapter>();
    FailureMiddlewareDispatcher::Options options;
    options.default_pipeline = {make<SendAgainMiddleware>("retry", 2)};
    FailureMiddlewareDispatcher dispatcher(options);
    constexpr int kMessages = 5000;
    Queue orders(adapter, "orders");
    for (int i = 0; i < kMessages; ++i) orders.push(job("order", i));

    auto metrics = std::make_shared<WorkerMetrics>();
    std::mutex mutex;
    std::map<int, int> succeeded;
    std::map<int, int> attempts;
    std::vector<std::jthread> threads;
    for (int t = 0; t < 3; ++t) {
        threads.emplace_back([&] {
            Worker worker(adapter, dispatcher, {}, {.channels = {"orders"}, .batch_size = 8});
            worker.share_metrics(metrics);
            worker.on("order", [&](const Message& m, HandlerContext&) {
                int n = m.data.get<int>();
                std::lock_guard lock(mutex);
                int attempt = ++attempts[n];
                if (n % 100 == 1) throw std::runtime_error("always fails");
                if (n % 10 == 0 && attempt == 1) throw TransientError("fails once");
                ++succeeded[n];
            });
            auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
            while (metrics->succeeded.load() + metrics->dead_lettered.load() < kMessages &&
                   std::chrono::steady_clock::now() < deadline) {
                worker.run_until_idle(500);
            }
        });
    }
    threads.clear();
    const int hopeless = kMessages / 100;
    CHECK(succeeded.size() == static_cast<std::size_t>(kMessages - hopeless));
    CHECK(std::all_of(succeeded.begin(), succeeded.end(), [](const auto& kv) { return kv.second == 1; }));
    CHECK(adapter->depth("orders:dlq").ready == static_cast<std::size_t>(hopeless));
    CHECK(attempts[1] == 3);  // first run + 2 send-again
    CHECK(adapter->depth("orders").total() == 0);
}

TEST_CASE("queue: pushes to its channel with a delay — refuses a null adapter, an empty channel and bad delays") {
    Rig rig;
    Queue orders(rig.adapter, "orders");
    std::string id = orders.push(job("order"), Seconds{2.5});
    CHECK(rig.adapter->status(id).state == MessageState::delayed);
    CHECK(rig.adapter->status(id).channel == "orders");
    rig.clock->advance(Seconds{2.5});
    CHECK(rig.adapter->reserve({"orders"}, 10, std::chrono::milliseconds(0)).size() == 1);
    CHECK_THROWS_AS(Queue(nullptr, "orders"), InvalidArgumentError);
    CHECK_THROWS_AS(Queue(rig.adapter, ""), InvalidArgumentError);
    CHECK_THROWS_AS(orders.push(job("order"), Seconds{-1}), InvalidArgumentError);
    CHECK_THROWS_AS(orders.push(job("order"), Seconds{std::nan("")}), InvalidArgumentError);
    CHECK(rig.adapter->depth("orders").total() == 1);  // nothing was pushed by the refused calls
}

TEST_CASE("worker: a message over maxMessageBytes that arrives is dead-lettered as poison with its bytes, its handler never runs") {
    auto clock = std::make_shared<ManualClock>();
    InMemoryAdapter::Options adapter_options;
    adapter_options.clock = clock;
    adapter_options.max_message_bytes = 256;
    auto adapter = std::make_shared<InMemoryAdapter>(adapter_options);
    Message big = job("order", std::string(1000, 'x'));
    big.id = "big-1";
    const std::string bytes = encode_message(big);
    adapter->push_raw("orders", bytes);  // as a foreign producer would: no limit on the way in
    Worker worker(adapter, FailureMiddlewareDispatcher(FailureMiddlewareDispatcher::Options{}), Classifier{},
                  {.channels = {"orders"}});
    int runs = 0;
    worker.on("order", [&](const Message&, HandlerContext&) { ++runs; });
    worker.run_until_idle();
    CHECK(runs == 0);
    auto dead = adapter->browse("orders:dlq", 0, 10);
    REQUIRE(dead.size() == 1);
    CHECK(dead[0].id == "big-1");
    CHECK(dead[0].data == bytes);  // every byte kept
    const auto& record = dead[0].metadata.at("failpipe-dead-letter");
    CHECK(record.at("reason") == "poison");
    CHECK(record.at("errorMessage").get<std::string>().find(std::to_string(bytes.size()) +
                                                            " bytes, more than maxMessageBytes 256") != std::string::npos);
    CHECK(adapter->depth("orders").total() == 0);
}

TEST_CASE("worker: a message that grows past maxMessageBytes through its retries is dead-lettered whole, never lost") {
    auto clock = std::make_shared<ManualClock>();
    InMemoryAdapter::Options adapter_options;
    adapter_options.clock = clock;
    Message order = job("order", std::string(200, 'x'));
    order.id = "grows";
    // Room for the message as pushed, not for the failure history a retry adds to its metadata.
    adapter_options.max_message_bytes = encode_message(order).size() + 16;
    auto adapter = std::make_shared<InMemoryAdapter>(adapter_options);
    FailureMiddlewareDispatcher::Options options;
    options.clock = clock;
    options.default_pipeline = {make<SendAgainMiddleware>("retry", 5)};
    Worker worker(adapter, FailureMiddlewareDispatcher(std::move(options)), Classifier{}, {.channels = {"orders"}});
    int runs = 0;
    worker.on("order", [&](const Message&, HandlerContext&) {
        ++runs;
        throw std::runtime_error("down");
    });
    adapter->push("orders", order);
    worker.run_until_idle();
    CHECK(runs == 1);  // the retry is too big to be handled again
    auto dead = adapter->browse("orders:dlq", 0, 10);
    REQUIRE(dead.size() == 1);
    CHECK(dead[0].metadata.at("failpipe-dead-letter").at("reason") == "poison");
    const Message kept = decode_message(dead[0].data.get<std::string>());  // the retry as it was, whole
    CHECK(kept.id == "grows");
    CHECK(kept.data == order.data);
    CHECK(adapter->depth("orders").total() == 0);
}

TEST_CASE("worker: a busy first channel does not starve the others - each reserve starts at the next channel in turn") {
    Rig rig;
    WorkerOptions worker_options;
    worker_options.batch_size = 2;
    auto worker = rig.worker(rig.dispatcher_options(), {"busy", "quiet", "rare"}, worker_options);
    std::vector<std::string> seen;
    worker.on("job", [&](const Message&, HandlerContext& context) { seen.push_back(context.channel()); });
    for (int i = 0; i < 50; ++i) Queue(rig.adapter, "busy").push(job("job"));
    Queue(rig.adapter, "quiet").push(job("job"));
    Queue(rig.adapter, "rare").push(job("job"));
    // Three rounds of two: with "earlier channels first" every round would drain "busy" only.
    for (int round = 0; round < 3; ++round) worker.run_once();
    CHECK(seen.size() == 6);
    CHECK(std::count(seen.begin(), seen.end(), "quiet") == 1);
    CHECK(std::count(seen.begin(), seen.end(), "rare") == 1);
    CHECK(rig.adapter->depth("busy").ready == 46);
}

TEST_CASE("worker: a dead-letter middleware whose queue is the channel the message failed on does not loop it - it goes to the channel's dead letters") {
    Rig rig;
    auto options = rig.dispatcher_options();
    // As a default pipeline it cannot be refused at load: "orders" may be another channel's queue.
    options.default_pipeline = {make<DeadLetterMiddleware>("park", "orders")};
    auto worker = rig.worker(std::move(options), {"orders"});
    int runs = 0;
    worker.on("order", [&](const Message&, HandlerContext&) {
        ++runs;
        throw std::runtime_error("declined");
    });
    const std::string id = Queue(rig.adapter, "orders").push(job("order"));
    worker.run_until_idle(50);
    CHECK(runs == 1);  // handled once, not again and again
    CHECK(rig.adapter->depth("orders").total() == 0);
    auto dead = rig.adapter->browse("orders:dlq", 0, 10);
    REQUIRE(dead.size() == 1);
    CHECK(dead[0].id == id);
    CHECK(dead[0].metadata.at("failpipe-dead-letter").at("middleware") == "park");
    CHECK(dead[0].metadata.at("failpipe-dead-letter").at("reason") == "failure");
}
