// Redis-only behaviour: URLs and options, a server that goes away or stops answering, replies lost
// on the way back, poison, a worker killed mid-handler, a server restart, two workers on one channel,
// and the Yii guide's trace with its delays scaled down.
#include <doctest/doctest.h>

#include <fstream>
#include <map>
#include <mutex>
#include <numeric>
#include <set>
#include <stop_token>
#include <thread>

#include "failpipe/dead_letter_middleware.hpp"
#include "failpipe/exponential_delay_middleware.hpp"
#include "failpipe/failure_middleware_dispatcher.hpp"
#include "failpipe/metadata_keys.hpp"
#include "failpipe/send_again_middleware.hpp"
#include "failpipe/worker.hpp"
#include "redis_test_support.hpp"

using namespace std::chrono_literals;
using failpipe::ChannelDepth;
using failpipe::ConnectionError;
using failpipe::Delivery;
using failpipe::InvalidArgumentError;
using failpipe::Message;
using failpipe::OutgoingMessage;
using failpipe::RedisAdapter;
using failpipe::Seconds;
using failpipe::Settlement;
using failpipe::StaleDeliveryError;
using failpipe::TimeoutError;
namespace rt = failpipe::redis_test;

namespace {

Message job_message(nlohmann::json data, std::string id = {}) {
    Message message = Message::create("job", std::move(data));
    message.id = std::move(id);
    return message;
}

failpipe::Worker worker_over(std::shared_ptr<failpipe::AdapterInterface> adapter, std::vector<std::string> channels,
                             failpipe::FailureMiddlewareDispatcher dispatcher = failpipe::FailureMiddlewareDispatcher{},
                             std::size_t batch = 64) {
    failpipe::WorkerOptions options;
    options.channels = std::move(channels);
    options.batch_size = batch;
    options.max_backoff = 200ms;
    return failpipe::Worker(std::move(adapter), std::move(dispatcher), failpipe::Classifier{}, options);
}

RedisAdapter::Options adapter_options(const std::string& url, const std::string& prefix = rt::unique_prefix()) {
    RedisAdapter::Options options;
    options.url = url;
    options.key_prefix = prefix;
    return options;
}

}  // namespace

TEST_CASE("a bad URL is refused, and the error never shows the password") {
    for (const char* url : {"http://u:s3cret@127.0.0.1:6379", "redis://u:s3cret@127.0.0.1:notaport",
                            "redis://u:s3cret@127.0.0.1:70000", "redis://u:s3cret@:6379", "redis://u:s3cret@host:6379/x",
                            "redis://u:s3cret@host:6379/-1", "rediss://u:s3cret@host:6379", "redis://u:s3%zzet@host",
                            "redis://u:s3cret@[::1:6379", "redis://u:s3cret@host:6379?db=1", ""}) {
        CAPTURE(url);
        try {
            RedisAdapter adapter(adapter_options(url));
            FAIL("accepted");
        } catch (const InvalidArgumentError& e) {
            const std::string what = e.what();
            CHECK(what.find("s3cret") == std::string::npos);
            CHECK(what.find("s3%zzet") == std::string::npos);
            CHECK(what.find("invalid Redis URL") != std::string::npos);
        }
    }
}

TEST_CASE("good URLs are accepted without connecting, and shown without their password") {
    RedisAdapter plain(adapter_options("redis://cache.example"));
    CHECK(plain.endpoint() == "cache.example:6379/0");
    RedisAdapter full(adapter_options("redis://alice:p%40ss%3Aword@10.0.0.7:7000/3"));
    CHECK(full.endpoint() == "10.0.0.7:7000/3");
    CHECK(full.options().url == "redis://***@10.0.0.7:7000/3");
    RedisAdapter password_only(adapter_options("redis://:hunter2@127.0.0.1:6380"));
    CHECK(password_only.options().url.find("hunter2") == std::string::npos);
    RedisAdapter ipv6(adapter_options("redis://[::1]:6390/1"));
    CHECK(ipv6.endpoint() == "[::1]:6390/1");
}

TEST_CASE("bad options are refused") {
    auto options = adapter_options("redis://127.0.0.1:6379");
    options.visibility_timeout = Seconds{0.0};
    CHECK_THROWS_AS(RedisAdapter{options}, InvalidArgumentError);
    options = adapter_options("redis://127.0.0.1:6379");
    options.command_timeout = Seconds{-1.0};
    CHECK_THROWS_AS(RedisAdapter{options}, InvalidArgumentError);
    options = adapter_options("redis://127.0.0.1:6379");
    options.key_prefix.clear();
    CHECK_THROWS_AS(RedisAdapter{options}, InvalidArgumentError);
    options = adapter_options("redis://127.0.0.1:6379");
    options.pool_size = 0;
    CHECK_THROWS_AS(RedisAdapter{options}, InvalidArgumentError);
}

TEST_CASE("no server: every operation fails with ConnectionError, naming the endpoint but not the password") {
    const int port = rt::free_port();
    auto options = adapter_options("redis://bob:s3cret@127.0.0.1:" + std::to_string(port));
    options.connect_timeout = Seconds{0.5};
    RedisAdapter adapter(options);
    auto check = [&](auto&& operation) {
        try {
            operation();
            FAIL("no error");
        } catch (const ConnectionError& e) {
            const std::string what = e.what();
            CHECK(what.find("127.0.0.1:" + std::to_string(port)) != std::string::npos);
            CHECK(what.find("s3cret") == std::string::npos);
        }
    };
    check([&] { adapter.ping(); });
    check([&] { adapter.push("c", job_message(1)); });
    check([&] { adapter.push_batch({OutgoingMessage{"c", job_message(1), Seconds{0.0}}}); });
    check([&] { adapter.reserve({"c"}, 10, 50ms); });
    check([&] { adapter.depth("c"); });
    check([&] { adapter.channels(); });
    Delivery fake;
    fake.channel = "c";
    fake.receipt = "1-0 1 id";
    check([&] { adapter.settle(fake, Settlement{}); });
}

TEST_CASE("the server goes away and comes back: errors meanwhile, nothing lost, the adapter reconnects by itself") {
    rt::RedisServer server;
    auto options = adapter_options(server.url());
    options.connect_timeout = Seconds{0.3};
    options.command_timeout = Seconds{1.0};
    RedisAdapter adapter(options);
    std::vector<std::string> ids;
    for (int i = 0; i < 5; ++i) ids.push_back(adapter.push("orders", job_message(i)));
    auto held = adapter.reserve({"orders"}, 2, 0ms);
    REQUIRE(held.size() == 2);

    server.stop(SIGKILL);
    CHECK_THROWS_AS(adapter.ping(), ConnectionError);
    CHECK_THROWS_AS(adapter.push("orders", job_message(99)), ConnectionError);
    CHECK_THROWS_AS(adapter.reserve({"orders"}, 10, 0ms), ConnectionError);
    CHECK_THROWS_AS(adapter.settle(held[0], Settlement{}), ConnectionError);

    server.restart();
    // The same adapter object, no reconnect call: the next operations connect again on their own.
    REQUIRE(rt::eventually([&] {
        try {
            adapter.ping();
            return true;
        } catch (const ConnectionError&) {
            return false;
        }
    }));
    CHECK(rt::eventually([&] {
        ChannelDepth depth = adapter.depth("orders");
        return depth.ready == 3 && depth.reserved == 2;
    }));
    // The settle that failed is sent again, as the worker does: it applies once.
    adapter.settle(held[0], Settlement{});
    adapter.settle(held[1], Settlement{});
    auto rest = adapter.reserve({"orders"}, 10, 0ms);
    CHECK(rest.size() == 3);
    for (auto& delivery : rest) adapter.settle(delivery, Settlement{});
    CHECK(adapter.depth("orders").total() == 0);
    CHECK(adapter.info("server").find("redis_version") != std::string::npos);
}

TEST_CASE("a server that stops answering: TimeoutError, then the adapter recovers") {
    rt::RedisServer server;
    auto options = adapter_options(server.url());
    options.command_timeout = Seconds{0.3};
    RedisAdapter adapter(options);
    adapter.push("c", job_message(1));
    server.pause();
    const auto started = std::chrono::steady_clock::now();
    CHECK_THROWS_AS(adapter.depth("c"), TimeoutError);
    CHECK_THROWS_AS(adapter.push("c", job_message(2)), TimeoutError);
    CHECK(std::chrono::steady_clock::now() - started < 5s);
    server.resume();
    CHECK(rt::eventually([&] { return adapter.depth("c").ready >= 1; }));
}

TEST_CASE("a settle whose reply is lost is safe to send again: its pushes apply once") {
    rt::RedisServer server;
    rt::LosingProxy proxy(server.port());
    auto options = adapter_options(proxy.url());
    RedisAdapter adapter(options);
    // Pushed on a pooled connection: the settle below goes out on a connection that never answered.
    adapter.push_batch({OutgoingMessage{"in", job_message(1), Seconds{0.0}}});
    auto held = adapter.reserve({"in"}, 1, 0ms);
    REQUIRE(held.size() == 1);

    Settlement settlement;
    settlement.pushes.push_back(OutgoingMessage{"follow", job_message(2, "marker-first-try-lost"), Seconds{0.0}});
    settlement.pushes.push_back(OutgoingMessage{"follow-later", job_message(3), Seconds{5.0}});
    proxy.lose_reply_to("marker-first-try-lost");
    // A fresh connection: the adapter cannot tell a lost reply from a dead server, and says so.
    CHECK_THROWS_AS(adapter.settle(held[0], std::move(settlement)), ConnectionError);
    CHECK(proxy.lost());
    // The worker sends the same settlement again (it was left intact).
    REQUIRE(settlement.pushes.size() == 2);
    adapter.settle(held[0], std::move(settlement));
    CHECK(adapter.depth("in").total() == 0);
    CHECK(adapter.depth("follow").ready == 1);
    CHECK(adapter.depth("follow-later").delayed == 1);

    SUBCASE("on a connection that had worked before, the adapter sends it again by itself") {
        adapter.push("in", job_message(4));
        auto again = adapter.reserve({"in"}, 1, 0ms);
        REQUIRE(again.size() == 1);
        proxy.lose_reply_to("marker-second-try-lost");
        adapter.settle(again[0], Settlement{{OutgoingMessage{"follow", job_message(5, "marker-second-try-lost"), Seconds{0.0}}}});
        CHECK(proxy.lost());
        CHECK(adapter.depth("follow").ready == 2);
        CHECK(adapter.depth("in").total() == 0);
        CHECK_THROWS_AS(adapter.settle(again[0], Settlement{}), StaleDeliveryError);
    }
}

TEST_CASE("push_batch whose reply is lost on a used connection stores each message once") {
    rt::RedisServer server;
    rt::LosingProxy proxy(server.port());
    RedisAdapter adapter(adapter_options(proxy.url()));
    adapter.ping();  // the pooled connection has answered once: a cut is worth one more try
    std::vector<OutgoingMessage> batch;
    for (int i = 0; i < 2000; ++i) {
        batch.push_back(OutgoingMessage{"bulk", job_message(i, i == 700 ? "marker-batch" : ""), Seconds{0.0}});
    }
    proxy.lose_reply_to("marker-batch");
    auto ids = adapter.push_batch(batch);
    CHECK(proxy.lost());
    CHECK(ids.size() == 2000);
    CHECK(adapter.depth("bulk").ready == 2000);
}

TEST_CASE("push_batch to channels and delays that alternate stores each message where and when it was sent, in order") {
    auto adapter = rt::shared_server_adapter();
    std::vector<OutgoingMessage> batch;
    const std::vector<std::pair<std::string, double>> where{{"a", 0.0}, {"a", 0.0}, {"b", 0.0}, {"a", 60.0}, {"a", 0.0},
                                                            {"b", 0.0}, {"b", 60.0}, {"a", 0.0}};
    for (std::size_t i = 0; i < where.size(); ++i) {
        batch.push_back(OutgoingMessage{where[i].first, job_message(static_cast<int>(i)), Seconds{where[i].second}});
    }
    const auto ids = adapter->push_batch(batch);
    REQUIRE(ids.size() == where.size());
    CHECK(adapter->depth("a").ready == 4);
    CHECK(adapter->depth("a").delayed == 1);
    CHECK(adapter->depth("b").ready == 2);
    CHECK(adapter->depth("b").delayed == 1);
    for (std::size_t i = 0; i < where.size(); ++i) {
        const auto status = adapter->status(ids[i]);
        CHECK(status.channel == where[i].first);
        CHECK(status.state == (where[i].second > 0.0 ? failpipe::MessageState::delayed : failpipe::MessageState::ready));
    }
    const auto held = adapter->reserve({"a"}, 10, 0ms);
    std::vector<std::string> order;
    for (const auto& delivery : held) order.push_back(delivery.message.id);
    CHECK(order == std::vector<std::string>{ids[0], ids[1], ids[4], ids[7]});
}

TEST_CASE("poison bytes go to the dead letters with their bytes and the reason, and no handler runs") {
    auto adapter = rt::shared_server_adapter();
    const std::string bytes = "{\"this is\": not json";
    adapter->push_raw("mail", bytes);
    int runs = 0;
    auto worker = worker_over(adapter, {"mail"});
    worker.on("job", [&](const Message&, failpipe::HandlerContext&) { ++runs; });
    CHECK(worker.run_until_idle(10) == 1);
    CHECK(runs == 0);
    auto dead = adapter->browse("mail:dlq", 0, 10);
    REQUIRE(dead.size() == 1);
    CHECK(dead[0].data == bytes);
    CHECK(dead[0].metadata[std::string(failpipe::metadata_keys::dead_letter)]["reason"] == "poison");
    CHECK(adapter->depth("mail").total() == 0);
}

TEST_CASE("a worker killed with SIGKILL mid-handler: another worker handles its message after the visibility timeout") {
    const std::string url = rt::test_redis_url();
    const std::string prefix = rt::unique_prefix("sigkill");
    const Seconds visibility{1.0};
    auto adapter = rt::shared_server_adapter(visibility, prefix);
    const std::string id = adapter->push("jobs", job_message("precious"));

    const std::string started = (std::filesystem::temp_directory_path() / ("failpipe-started-" + std::to_string(::getpid()))).string();
    std::filesystem::remove(started);
    const std::string visibility_text = "1.0";
    pid_t child = ::fork();
    REQUIRE(child >= 0);
    if (child == 0) {
        ::prctl(PR_SET_PDEATHSIG, SIGKILL);  // never outlive the test process
        ::execl(FAILPIPE_REDIS_CRASH_WORKER, FAILPIPE_REDIS_CRASH_WORKER, url.c_str(), prefix.c_str(), "jobs",
                visibility_text.c_str(), started.c_str(), static_cast<char*>(nullptr));
        ::_exit(127);
    }
    struct Reaper {  // the child dies with the test, and its file goes, whatever happens
        pid_t pid;
        std::string file;
        ~Reaper() {
            ::kill(pid, SIGKILL);
            ::waitpid(pid, nullptr, 0);
            std::error_code ignored;
            std::filesystem::remove(file, ignored);
        }
    } reaper{child, started};

    REQUIRE(rt::eventually([&] { return std::filesystem::exists(started); }, 10s));
    std::string announced;
    std::ifstream(started) >> announced;
    CHECK(announced == id);
    ::kill(child, SIGKILL);
    const auto killed = std::chrono::steady_clock::now();
    CHECK(adapter->status(id).state == failpipe::MessageState::reserved);
    CHECK(adapter->reserve({"jobs"}, 1, 0ms).empty());  // still held by the dead worker

    std::vector<std::uint32_t> deliveries;
    auto survivor = worker_over(adapter, {"jobs"});
    survivor.on("job", [&](const Message& message, failpipe::HandlerContext& context) {
        CHECK(message.id == id);
        deliveries.push_back(context.deliveries());
    });
    REQUIRE(rt::eventually([&] { return survivor.run_until_idle(10) > 0 || !deliveries.empty(); }, 10s));
    const auto waited = std::chrono::steady_clock::now() - killed;
    CHECK(deliveries == std::vector<std::uint32_t>{2});
    CHECK(waited >= 500ms);  // not before the (1 s) visibility timeout, counted from the reservation
    CHECK(adapter->depth("jobs").total() == 0);
    CHECK(adapter->status(id).state == failpipe::MessageState::not_found);
}

TEST_CASE("a redis-server restart with appendonly yes loses no acknowledged message, and the worker resumes on its own") {
    rt::RedisServer server;
    auto options = adapter_options(server.url());
    options.connect_timeout = Seconds{0.2};
    options.command_timeout = Seconds{1.0};
    options.visibility_timeout = Seconds{2.0};
    auto adapter = std::make_shared<RedisAdapter>(options);
    constexpr int kMessages = 400;
    std::vector<OutgoingMessage> batch;
    for (int i = 0; i < kMessages; ++i) batch.push_back(OutgoingMessage{"orders", job_message(i), Seconds{0.0}});
    const auto ids = adapter->push_batch(std::move(batch));  // acknowledged: all of them must survive

    std::mutex mutex;
    std::map<std::string, int> handled;
    auto worker = worker_over(adapter, {"orders"}, failpipe::FailureMiddlewareDispatcher{}, 16);
    worker.on("job", [&](const Message& message, failpipe::HandlerContext&) {
        std::this_thread::sleep_for(1ms);
        std::lock_guard lock(mutex);
        ++handled[message.id];
    });
    auto count = [&] {
        std::lock_guard lock(mutex);
        return handled.size();
    };
    {
        std::jthread running([&](std::stop_token stop) { worker.run(stop); });
        REQUIRE(rt::eventually([&] { return count() >= 100; }, 20s));
        server.stop(SIGKILL);  // a crash, not a shutdown: only what the AOF holds survives
        std::this_thread::sleep_for(300ms);
        server.restart();
        CHECK(rt::eventually([&] { return count() == static_cast<std::size_t>(kMessages); }, 30s));
    }
    std::lock_guard lock(mutex);
    std::size_t repeats = 0;
    for (const auto& id : ids) {
        CAPTURE(id);
        CHECK(handled.count(id) == 1);
        if (handled.count(id) != 0) repeats += static_cast<std::size_t>(handled[id] - 1);
    }
    CHECK(repeats <= 16);  // at least once: only deliveries in flight at the crash may run twice
    CHECK(adapter->depth("orders").total() == 0);
}

TEST_CASE("two workers on one channel handle every message exactly once") {
    const std::string prefix = rt::unique_prefix("two");
    auto first_adapter = rt::shared_server_adapter(Seconds{30.0}, prefix);
    auto second_adapter = rt::shared_server_adapter(Seconds{30.0}, prefix);  // as if in another process
    constexpr int kMessages = 3000;
    std::vector<OutgoingMessage> batch;
    for (int i = 0; i < kMessages; ++i) batch.push_back(OutgoingMessage{"shared", job_message(i), Seconds{0.0}});
    first_adapter->push_batch(std::move(batch));

    std::mutex mutex;
    std::map<std::string, int> handled;
    std::atomic<int> by_first{0}, by_second{0};
    auto first = worker_over(first_adapter, {"shared"}, failpipe::FailureMiddlewareDispatcher{}, 16);
    auto second = worker_over(second_adapter, {"shared"}, failpipe::FailureMiddlewareDispatcher{}, 16);
    auto record = [&](std::atomic<int>& mine) {
        return [&](const Message& message, failpipe::HandlerContext&) {
            ++mine;
            std::lock_guard lock(mutex);
            ++handled[message.id];
        };
    };
    first.on("job", record(by_first));
    second.on("job", record(by_second));
    {
        std::jthread one([&](std::stop_token stop) { first.run(stop); });
        std::jthread two([&](std::stop_token stop) { second.run(stop); });
        CHECK(rt::eventually([&] { return by_first + by_second >= kMessages; }, 30s));
    }
    CHECK(by_first + by_second == kMessages);
    CHECK(by_first > 0);
    CHECK(by_second > 0);
    CHECK(handled.size() == static_cast<std::size_t>(kMessages));
    for (const auto& [id, times] : handled) {
        if (times != 1) CHECK_MESSAGE(times == 1, id);
    }
    CHECK(first_adapter->depth("shared").total() == 0);
}

TEST_CASE("the Yii guide trace on Redis: 33 handler runs, then the dead letters") {
    auto adapter = rt::shared_server_adapter();
    using failpipe::ExponentialDelayMiddleware;
    using failpipe::SendAgainMiddleware;
    failpipe::FailureMiddlewareDispatcher::Options options;
    options.default_pipeline = {std::make_shared<SendAgainMiddleware>("default-first-resend", 1),
                                std::make_shared<SendAgainMiddleware>("default-second-resend", 1, "failed-messages")};
    // The guide's (5 s, 60 s, 1.5) scaled down 500 times.
    options.pipelines["failed-messages"] = {
        std::make_shared<ExponentialDelayMiddleware>("failed-messages", 30, 0.01, 0.12, 1.5)};
    auto worker = worker_over(adapter, {"yii-queue", "failed-messages"}, failpipe::FailureMiddlewareDispatcher(options));
    std::vector<std::chrono::steady_clock::time_point> runs;
    std::mutex mutex;
    worker.on("job", [&](const Message&, failpipe::HandlerContext&) {
        {
            std::lock_guard lock(mutex);
            runs.push_back(std::chrono::steady_clock::now());
        }
        throw std::runtime_error("E");
    });
    const std::string id = adapter->push("yii-queue", job_message("guide"));
    {
        std::jthread running([&](std::stop_token stop) { worker.run(stop); });
        CHECK(rt::eventually([&] { return adapter->depth("failed-messages:dlq").ready == 1; }, 30s));
    }
    std::lock_guard lock(mutex);
    CHECK(runs.size() == 33);
    auto dead = adapter->browse("failed-messages:dlq", 0, 10);
    REQUIRE(dead.size() == 1);
    CHECK(dead[0].id == id);
    const auto& record = dead[0].metadata[std::string(failpipe::metadata_keys::dead_letter)];
    CHECK(record["channel"] == "failed-messages");
    CHECK(record["attempts"] == 33);
    CHECK(record["errorMessage"] == "E");
    // Delays are due by the server's clock and never early: runs 3..33 are 30 delays apart.
    const double expected = 0.01 + 0.015 + 0.0225 + 0.03375 + 0.050625 + 0.0759375 + 0.11390625 + 23 * 0.12;
    REQUIRE(runs.size() >= 33);
    const double spent = std::chrono::duration<double>(runs[32] - runs[2]).count();
    CHECK(spent >= expected - 0.002);
    CHECK(spent < expected + 10.0);
    CHECK(adapter->depth("yii-queue").total() == 0);
    CHECK(adapter->depth("failed-messages").total() == 0);
}

TEST_CASE("settle_batch settles each delivery on its own, in one round trip") {
    auto adapter = rt::shared_server_adapter();
    for (int i = 0; i < 4; ++i) adapter->push("in", job_message(i));
    auto held = adapter->reserve({"in"}, 4, 0ms);
    REQUIRE(held.size() == 4);
    adapter->settle(held[1], Settlement{});  // settled already: stale in the batch
    std::vector<Settlement> settlements(4);
    settlements[0].pushes.push_back(OutgoingMessage{"next", job_message("from-0"), Seconds{0.0}});
    settlements[1].pushes.push_back(OutgoingMessage{"next", job_message("from-1, never"), Seconds{0.0}});
    settlements[3].pushes.push_back(OutgoingMessage{"later", job_message("from-3"), Seconds{30.0}});
    std::vector<RedisAdapter::SettleItem> items;
    for (std::size_t i = 0; i < 4; ++i) items.push_back({&held[i], &settlements[i]});
    const auto before = adapter->stats().commands;
    auto outcomes = adapter->settle_batch(items);
    CHECK(adapter->stats().commands - before == 1);
    REQUIRE(outcomes.size() == 4);
    CHECK_FALSE(outcomes[0]);
    REQUIRE(outcomes[1]);
    CHECK_THROWS_AS(std::rethrow_exception(outcomes[1]), StaleDeliveryError);
    CHECK_FALSE(outcomes[2]);
    CHECK_FALSE(outcomes[3]);
    CHECK_FALSE(settlements[0].pushes[0].message.id.empty());  // ids given in place
    CHECK(adapter->depth("in").total() == 0);
    CHECK(adapter->depth("next").ready == 1);
    CHECK(adapter->depth("later").delayed == 1);
    CHECK(adapter->settle_batch({}).empty());
}

TEST_CASE("settle_batch whose reply is lost applies each settle once") {
    rt::RedisServer server;
    rt::LosingProxy proxy(server.port());
    RedisAdapter adapter(adapter_options(proxy.url()));
    for (int i = 0; i < 3; ++i) adapter.push("in", job_message(i));
    auto held = adapter.reserve({"in"}, 3, 0ms);  // its pooled connection has answered: one more try is made
    REQUIRE(held.size() == 3);
    std::vector<Settlement> settlements(3);
    for (std::size_t i = 0; i < 3; ++i) {
        settlements[i].pushes.push_back(
            OutgoingMessage{"next", job_message(static_cast<int>(i), "batch-marker-" + std::to_string(i)), Seconds{0.0}});
    }
    std::vector<RedisAdapter::SettleItem> items;
    for (std::size_t i = 0; i < 3; ++i) items.push_back({&held[i], &settlements[i]});
    proxy.lose_reply_to("batch-marker-1");
    auto outcomes = adapter.settle_batch(items);
    CHECK(proxy.lost());
    for (auto& outcome : outcomes) CHECK_FALSE(outcome);
    CHECK(adapter.depth("in").total() == 0);
    CHECK(adapter.depth("next").ready == 3);
}
