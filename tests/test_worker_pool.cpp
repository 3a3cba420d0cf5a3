// WorkerPool on the in-memory adapter: threads, delays that hold up nothing, stop and grace, and
// (in forked child processes) SIGINT/SIGTERM handling with its exit codes.
#include <doctest/doctest.h>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "failpipe/failpipe.hpp"
#include "failpipe/memory/in_memory_adapter.hpp"
#include "failpipe/shutdown_signals.hpp"
#include "failpipe/worker_pool.hpp"

using namespace std::chrono_literals;
using failpipe::InMemoryAdapter;
using failpipe::Message;
using failpipe::Seconds;
using failpipe::WorkerPool;

namespace {

template <class Condition>
bool eventually(Condition condition, std::chrono::milliseconds bound = 10s) {
    const auto give_up = std::chrono::steady_clock::now() + bound;
    while (std::chrono::steady_clock::now() < give_up) {
        if (condition()) return true;
        std::this_thread::sleep_for(2ms);
    }
    return condition();
}

failpipe::WorkerOptions worker_on(std::vector<std::string> channels, std::size_t batch = 8) {
    failpipe::WorkerOptions options;
    options.channels = std::move(channels);
    options.batch_size = batch;
    options.wait = 5ms;
    return options;
}

failpipe::WorkerPoolOptions threads(std::size_t count, Seconds grace = Seconds{10.0}) {
    failpipe::WorkerPoolOptions options;
    options.threads = count;
    options.shutdown_grace = grace;
    return options;
}

std::vector<std::string> push_jobs(failpipe::AdapterInterface& adapter, int count, const std::string& channel = "jobs") {
    std::vector<failpipe::OutgoingMessage> batch;
    for (int i = 0; i < count; ++i) batch.push_back({channel, Message::create("job", {{"n", i}}), Seconds{0.0}});
    return adapter.push_batch(std::move(batch));
}

std::set<std::string> ids_in(failpipe::AdapterInterface& adapter, const std::string& channel) {
    std::set<std::string> ids;
    for (const auto& message : adapter.browse(channel, 0, 100000)) ids.insert(message.id);
    return ids;
}

// A handler that blocks until the test opens its gate (bounded: it gives up after 20 s).
struct Gate {
    std::mutex mutex;
    std::condition_variable changed;
    bool open = false;
    int waiting = 0;
    void pass() {
        std::unique_lock lock(mutex);
        ++waiting;
        changed.notify_all();
        changed.wait_for(lock, 20s, [&] { return open; });
        --waiting;
    }
    void wait_for_waiting(int count) {
        std::unique_lock lock(mutex);
        changed.wait_for(lock, 10s, [&] { return waiting >= count; });
    }
    void unlock() {
        std::lock_guard lock(mutex);
        open = true;
        changed.notify_all();
    }
};

// Runs @p body in a forked child (single-threaded at the fork: the test process runs no threads
// between test cases) and returns its exit code, or 200 + the signal that ended it. The child gets
// SIGALRM after 30 s, so a hang fails the test instead of blocking it.
template <class Body>
int in_child(Body body) {
    const pid_t child = ::fork();
    REQUIRE(child >= 0);
    if (child == 0) {
        ::alarm(30);
        int code = 98;
        try {
            code = body();
        } catch (...) {
            code = 97;
        }
        std::_Exit(code);
    }
    int status = 0;
    REQUIRE(::waitpid(child, &status, 0) == child);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 200 + WTERMSIG(status);
}

// Sends @p signal to this process once @p ready holds (checked for at most 10 s), @p times times.
std::thread signal_when(std::function<bool()> ready, int signal, int times = 1) {
    return std::thread([ready = std::move(ready), signal, times] {
        eventually(ready);
        for (int i = 0; i < times; ++i) {
            ::kill(::getpid(), signal);
            std::this_thread::sleep_for(50ms);
        }
    });
}

}  // namespace

TEST_CASE("worker pool: N threads handle every message exactly once and a delayed message holds up nothing") {
    auto clock = std::make_shared<failpipe::ManualClock>();
    InMemoryAdapter::Options adapter_options;
    adapter_options.clock = clock;
    auto adapter = std::make_shared<InMemoryAdapter>(adapter_options);
    const std::string delayed = adapter->push("jobs", Message::create("job", {{"n", -1}}), Seconds{60.0});
    const auto ids = push_jobs(*adapter, 200);

    std::mutex mutex;
    std::map<std::string, int> handled;
    std::set<std::thread::id> thread_ids;
    WorkerPool pool(adapter, failpipe::FailureMiddlewareDispatcher{}, failpipe::Classifier{}, worker_on({"jobs"}, 4),
                    threads(4));
    pool.on("job", [&](const Message& message, failpipe::HandlerContext&) {
        std::this_thread::sleep_for(100us);
        std::lock_guard lock(mutex);
        ++handled[message.id];
        thread_ids.insert(std::this_thread::get_id());
    });
    pool.start();
    CHECK(eventually([&] { return pool.status().threads_alive == 4; }));
    REQUIRE(eventually([&] {
        std::lock_guard lock(mutex);
        return handled.size() == ids.size();
    }));
    {
        std::lock_guard lock(mutex);
        CHECK(handled.count(delayed) == 0);  // still waiting for its delay: it held up none of the 200
    }
    // Every handled message settled before the clock jumps past the visibility timeout: a batch
    // still being settled would be handed out again, as the broker must after that time.
    CHECK(eventually([&] { return adapter->depth("jobs").total() == 1; }));
    CHECK(adapter->depth("jobs").delayed == 1);
    clock->advance(Seconds{61.0});
    CHECK(eventually([&] {
        std::lock_guard lock(mutex);
        return handled.count(delayed) == 1;
    }));
    pool.request_stop();
    CHECK(pool.join_for(Seconds{10.0}));
    for (const auto& [id, times] : handled) CHECK(times == 1);
    CHECK(handled.size() == ids.size() + 1);
    CHECK(adapter->depth("jobs").total() == 0);
    CHECK(pool.metrics().succeeded.load() == ids.size() + 1);  // one WorkerMetrics shared by the threads
    CHECK(pool.status().threads_alive == 0);
}

TEST_CASE("worker pool: a stop lets handlers in flight finish and settles them, and hands back the rest at once") {
    auto adapter = std::make_shared<InMemoryAdapter>();  // 30 s visibility: a handed-back delivery is ready now
    const auto ids = push_jobs(*adapter, 50);
    Gate gate;
    std::mutex mutex;
    std::set<std::string> handled;
    WorkerPool pool(adapter, failpipe::FailureMiddlewareDispatcher{}, failpipe::Classifier{}, worker_on({"jobs"}, 10),
                    threads(2));
    pool.on("job", [&](const Message& message, failpipe::HandlerContext&) {
        gate.pass();
        std::lock_guard lock(mutex);
        handled.insert(message.id);
    });
    pool.start();
    gate.wait_for_waiting(2);  // each thread is in a handler, 9 more of its batch reserved
    REQUIRE(pool.status().handlers_running == 2);
    CHECK(adapter->depth("jobs").reserved == 20);
    pool.request_stop();
    gate.unlock();
    REQUIRE(pool.join_for(Seconds{10.0}));

    CHECK(handled.size() == 2);  // no handler started after the stop
    const auto depth = adapter->depth("jobs");
    CHECK(depth.reserved == 0);  // handed back at once, not after the visibility timeout
    CHECK(depth.ready == 48);
    std::set<std::string> accounted = ids_in(*adapter, "jobs");
    accounted.insert(handled.begin(), handled.end());
    CHECK(accounted == std::set<std::string>(ids.begin(), ids.end()));  // nothing lost
}

TEST_CASE("worker pool: when the grace period ends with a handler still running, join_for says which") {
    auto adapter = std::make_shared<InMemoryAdapter>();
    const auto ids = push_jobs(*adapter, 1);
    Gate gate;
    WorkerPool pool(adapter, failpipe::FailureMiddlewareDispatcher{}, failpipe::Classifier{}, worker_on({"jobs"}),
                    threads(2));
    pool.on("job", [&](const Message&, failpipe::HandlerContext&) { gate.pass(); });
    pool.start();
    gate.wait_for_waiting(1);
    pool.request_stop();
    CHECK_FALSE(pool.join_for(Seconds{0.1}));
    const auto running = pool.running_handlers();
    REQUIRE(running.size() == 1);
    CHECK(running[0].message_id == ids[0]);
    CHECK(running[0].channel == "jobs");
    CHECK(running[0].message_type == "job");
    CHECK(pool.status().stopping);
    gate.unlock();
    CHECK(pool.join_for(Seconds{10.0}));
    CHECK(adapter->depth("jobs").total() == 0);  // it finished after all, and was settled
}

TEST_CASE("worker pool: bad settings and late registrations are refused") {
    auto adapter = std::make_shared<InMemoryAdapter>();
    auto make = [&](failpipe::WorkerPoolOptions options) {
        WorkerPool pool(adapter, failpipe::FailureMiddlewareDispatcher{}, failpipe::Classifier{}, worker_on({"jobs"}),
                        options);
    };
    CHECK_THROWS_WITH_AS(make(threads(0)), doctest::Contains("threads"), failpipe::InvalidArgumentError);
    CHECK_THROWS_WITH_AS(make(threads(1, Seconds{-1.0})), doctest::Contains("shutdown_grace"),
                         failpipe::InvalidArgumentError);
    WorkerPool pool(adapter, failpipe::FailureMiddlewareDispatcher{}, failpipe::Classifier{}, worker_on({"jobs"}),
                    threads(1));
    pool.start();
    CHECK_THROWS_AS(pool.on("job", [](const Message&, failpipe::HandlerContext&) {}), failpipe::InvalidArgumentError);
    CHECK_THROWS_AS(pool.start(), failpipe::InvalidArgumentError);
}  // the destructor stops and joins

TEST_CASE("worker pool: SIGTERM under load stops cleanly with exit code 0 and nothing lost") {
    const int code = in_child([] {
        failpipe::ShutdownSignals signals;
        auto adapter = std::make_shared<InMemoryAdapter>();
        const auto ids = push_jobs(*adapter, 2000);
        std::mutex mutex;
        std::set<std::string> handled;
        WorkerPool pool(adapter, failpipe::FailureMiddlewareDispatcher{}, failpipe::Classifier{}, worker_on({"jobs"}),
                        threads(3));
        pool.on("job", [&](const Message& message, failpipe::HandlerContext&) {
            std::this_thread::sleep_for(1ms);
            std::lock_guard lock(mutex);
            handled.insert(message.id);
        });
        auto killer = signal_when(
            [&] {
                std::lock_guard lock(mutex);
                return handled.size() >= 30;
            },
            SIGTERM);
        const int rc = pool.run_until_signalled(signals);
        killer.join();
        if (rc != 0) return 10;
        const auto depth = adapter->depth("jobs");
        if (depth.reserved != 0) return 11;            // reserved-not-started was handed back
        if (handled.size() == ids.size()) return 12;   // it did stop early
        std::set<std::string> accounted = ids_in(*adapter, "jobs");
        if (accounted.size() != depth.ready) return 13;
        accounted.insert(handled.begin(), handled.end());
        if (accounted != std::set<std::string>(ids.begin(), ids.end())) return 14;  // nothing lost
        return 0;
    });
    CHECK(code == 0);
}

TEST_CASE("worker pool: a second signal exits at once with 128 + the signal number") {
    const int code = in_child([] {
        failpipe::ShutdownSignals signals;
        auto adapter = std::make_shared<InMemoryAdapter>();
        push_jobs(*adapter, 10);
        WorkerPool pool(adapter, failpipe::FailureMiddlewareDispatcher{}, failpipe::Classifier{}, worker_on({"jobs"}),
                        threads(2, Seconds{60.0}));
        pool.on("job", [](const Message&, failpipe::HandlerContext&) { std::this_thread::sleep_for(20s); });
        auto killer = signal_when([&] { return pool.status().handlers_running == 2; }, SIGINT, 2);
        pool.run_until_signalled(signals);
        killer.join();
        return 1;  // not reached: the second signal ends the process
    });
    CHECK(code == 128 + SIGINT);
}

TEST_CASE("worker pool: a handler still running when the grace period ends exits with 124") {
    const int code = in_child([] {
        failpipe::ShutdownSignals signals;
        auto adapter = std::make_shared<InMemoryAdapter>();
        push_jobs(*adapter, 10);
        WorkerPool pool(adapter, failpipe::FailureMiddlewareDispatcher{}, failpipe::Classifier{}, worker_on({"jobs"}),
                        threads(1, Seconds{0.2}));
        pool.on("job", [](const Message&, failpipe::HandlerContext&) { std::this_thread::sleep_for(20s); });
        auto killer = signal_when([&] { return pool.status().handlers_running == 1; }, SIGTERM);
        pool.run_until_signalled(signals);
        killer.join();
        return 1;  // not reached
    });
    CHECK(code == WorkerPool::kExitGraceExpired);
}

TEST_CASE("worker pool: SIGTERM during start-up stops at once with 0, before anything is reserved") {
    const int code = in_child([] {
        failpipe::ShutdownSignals signals;
        ::kill(::getpid(), SIGTERM);  // arrives while the program is still setting up
        if (!signals.wait_for(1, 5s)) return 20;
        auto adapter = std::make_shared<InMemoryAdapter>();
        const auto ids = push_jobs(*adapter, 10);
        std::atomic<int> handled{0};
        WorkerPool pool(adapter, failpipe::FailureMiddlewareDispatcher{}, failpipe::Classifier{}, worker_on({"jobs"}),
                        threads(2));
        pool.on("job", [&](const Message&, failpipe::HandlerContext&) { ++handled; });
        if (pool.run_until_signalled(signals) != 0) return 21;
        if (handled.load() != 0) return 22;
        if (adapter->depth("jobs").ready != ids.size()) return 23;
        return 0;
    });
    CHECK(code == 0);
}

TEST_CASE("shutdown signals: counted in order, and the mask is restored afterwards") {
    const int code = in_child([] {
        sigset_t before;
        ::pthread_sigmask(SIG_SETMASK, nullptr, &before);
        {
            failpipe::ShutdownSignals signals(failpipe::ShutdownSignals::SecondSignal::record);
            if (signals.count() != 0) return 30;
            ::kill(::getpid(), SIGTERM);
            if (!signals.wait_for(1, 5s) || signals.last_signal() != SIGTERM) return 31;
            ::kill(::getpid(), SIGINT);
            if (!signals.wait_for(2, 5s) || signals.last_signal() != SIGINT) return 32;
            try {
                failpipe::ShutdownSignals second;
                return 33;  // a second instance must be refused
            } catch (const failpipe::Error&) {
            }
        }
        sigset_t after;
        ::pthread_sigmask(SIG_SETMASK, nullptr, &after);
        if (sigismember(&after, SIGTERM) != sigismember(&before, SIGTERM)) return 34;
        return 0;
    });
    CHECK(code == 0);
}

TEST_CASE("worker pool: from a config it uses the breakers and the retry budget, and reports them with its threads and levels") {
    const auto config = failpipe::load_config(nlohmann::json::parse(R"({
        "worker": {"channels": ["pay"], "threads": 3, "waitMs": 5},
        "breakers": {"gateway": {"messageTypes": ["payment"], "failureThreshold": 2, "window": 60, "openFor": 600}},
        "retryBudget": {"default": {"ratio": 20}},
        "defaultPipeline": [{"type": "send-again", "id": "again", "maxAttempts": 100}]
    })"));
    auto adapter = std::make_shared<InMemoryAdapter>();
    WorkerPool pool(adapter, config);
    std::atomic<int> calls{0};
    pool.on("payment", [&](const Message&, failpipe::HandlerContext&) {
        ++calls;
        throw failpipe::TransientError("gateway timeout");
    });
    adapter->push("pay", Message::create("payment", {{"amount", 1}}));
    adapter->push("pay", Message::create("payment", {{"amount", 2}}));
    pool.start();
    REQUIRE(eventually([&] { return pool.health_facts().open_breakers == std::vector<std::string>{"gateway"}; }));
    CHECK(eventually([&] { return pool.status().threads_alive == 3; }));

    const auto facts = pool.health_facts();
    CHECK(facts.threads_alive == 3);
    CHECK(facts.threads_total == 3);
    CHECK(facts.degraded_channels.empty());  // degradation is off: full level
    failpipe::PrometheusWriter writer;
    pool.write_gauges(writer);
    const std::string page = writer.str();
    CHECK(page.find("failpipe_worker_threads{state=\"alive\"} 3") != std::string::npos);
    CHECK(page.find("failpipe_channel_concurrency{channel=\"pay\"} 3") != std::string::npos);
    CHECK(page.find("failpipe_breaker_state{breaker=\"gateway\",state=\"open\"} 1") != std::string::npos);
    CHECK(page.find("failpipe_breaker_openings_total{breaker=\"gateway\"} 1") != std::string::npos);
    CHECK(page.find("failpipe_retry_budget_use{channel=\"pay\"}") != std::string::npos);

    // While the breaker is open the payments are released (not failed): both still in the broker.
    pool.request_stop();
    CHECK(pool.join_for(Seconds{10.0}));
    CHECK(adapter->depth("pay").total() == 2);
    CHECK(adapter->depth("pay:dlq").total() == 0);
}

TEST_CASE("worker pool: under rethrow each failing message is left with the broker and the thread goes straight on - no backoff per failure") {
    auto adapter = std::make_shared<InMemoryAdapter>();
    failpipe::FailureMiddlewareDispatcher::Options options;
    options.final_behavior = failpipe::FinalBehavior::rethrow;
    WorkerPool pool(adapter, failpipe::FailureMiddlewareDispatcher(options), failpipe::Classifier{}, worker_on({"jobs"}, 1),
                    threads(1));
    std::atomic<int> runs{0};
    pool.on("job", [&](const Message&, failpipe::HandlerContext&) {
        ++runs;
        throw std::runtime_error("no");
    });
    push_jobs(*adapter, 20);
    pool.start();
    // Each rethrow left the thread asleep for a growing backoff (50 ms doubling to 5 s): twenty
    // failing messages took over a minute, one every 5 s in the end.
    CHECK(eventually([&] { return runs.load() >= 20; }, 5s));
    pool.request_stop();
    CHECK(pool.join_for(Seconds{10.0}));
    CHECK(adapter->depth("jobs").reserved == 20);  // each stays with the broker until its visibility timeout
}
