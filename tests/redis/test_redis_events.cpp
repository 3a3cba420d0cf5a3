// Releases, correlation ids and DeliveryEvents on Redis, with batched settles (settle_batch) and
// releases in the same batches.
#include <doctest/doctest.h>

#include <failpipe/failpipe.hpp>

#include <map>
#include <mutex>
#include <set>
#include <string>

#include "redis_test_support.hpp"

using namespace failpipe;
using namespace std::chrono_literals;

TEST_CASE("redis events: a batch mixing releases, failures and successes settles each right - correlation ids carry on") {
    auto adapter = redis_test::shared_server_adapter();
    FailureMiddlewareDispatcher::Options dispatcher;
    dispatcher.default_pipeline = {std::make_shared<SendAgainMiddleware>("again", 1, "orders:retry")};
    WorkerOptions options;
    options.channels = {"orders"};
    options.settle_per_batch = true;
    options.batch_size = 16;
    options.max_deliveries = 10;
    options.wait = 0ms;
    Worker worker(adapter, FailureMiddlewareDispatcher(dispatcher), Classifier{}, options);

    std::map<std::string, std::string> correlation_by_id;  // from the events
    std::set<std::string> wrong;
    worker.observe(make_delivery_observer([&](const DeliveryEvent& event) {
        auto [it, fresh] = correlation_by_id.emplace(std::string(event.message_id), std::string(event.correlation_id));
        if (!fresh && it->second != event.correlation_id) wrong.insert(it->first);
    }));
    std::map<int, int> releases;
    worker.on("order", [&](const Message& message, HandlerContext& context) {
        const int n = message.data.get<int>();
        context.push("receipts", Message::create("receipt", n));
        if (n % 3 == 0 && ++releases[n] <= 12) {
            context.release(Seconds{0.0}, "redis-test");
            return;
        }
        if (n % 3 == 1) throw TransientError("gateway timeout");
    });

    const Queue queue(adapter, "orders");
    std::map<std::string, std::string> pushed;  // id -> correlation id
    for (int i = 0; i < 9; ++i) {
        Message message = Message::create("order", i);
        if (i == 0) message.metadata[std::string(metadata_keys::correlation_id)] = "checkout-0";
        const std::string id = queue.push(std::move(message));
        pushed[id] = "";
    }
    for (const auto& message : adapter->browse("orders", 0, 20)) {
        pushed[message.id] = message.metadata.at(std::string(metadata_keys::correlation_id)).get<std::string>();
    }
    for (int round = 0; round < 40 && adapter->depth("orders").total() != 0; ++round) worker.run_until_idle(100);

    CHECK(adapter->depth("orders").total() == 0);
    CHECK(adapter->depth("orders:dlq").total() == 0);
    const auto metrics = worker.metrics().snapshot();
    CHECK(metrics.released == 36);
    CHECK(metrics.succeeded == 6);
    CHECK(metrics.retried == 3);
    CHECK(metrics.poison == 0);
    CHECK(metrics.dead_lettered == 0);
    CHECK(wrong.empty());
    for (const auto& [id, correlation] : pushed) CHECK(correlation_by_id[id] == correlation);
    CHECK(pushed.begin()->second.size() > 0);

    // The retries keep theirs; the follow-ups (only of the successes) inherit theirs.
    std::set<std::string> correlations;
    for (const auto& [id, correlation] : pushed) correlations.insert(correlation);
    CHECK(correlations.count("checkout-0") == 1);
    const auto retries = adapter->browse("orders:retry", 0, 20);
    CHECK(retries.size() == 3);
    for (const auto& message : retries) {
        CHECK(message.metadata.at(std::string(metadata_keys::correlation_id)) == pushed.at(message.id));
    }
    const auto receipts = adapter->browse("receipts", 0, 20);
    CHECK(receipts.size() == 6);
    for (const auto& message : receipts) {
        CHECK(correlations.count(message.metadata.at(std::string(metadata_keys::correlation_id)).get<std::string>()) == 1);
    }
}
