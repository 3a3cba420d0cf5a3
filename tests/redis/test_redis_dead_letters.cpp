// DeadLetters over the Redis adapter: the shared checks (dead_letters_cases.hpp), and a replay
// process killed with SIGKILL half-way.
#include "../dead_letters_cases.hpp"

#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "redis_test_support.hpp"

namespace rt = failpipe::redis_test;
using namespace failpipe;
using namespace std::chrono_literals;

namespace {

struct RedisDeadLetterFixture {
    std::shared_ptr<AdapterInterface> make() { return rt::shared_server_adapter(Seconds{30.0}, rt::unique_prefix("dlq")); }
    void push_raw(AdapterInterface& adapter, const std::string& channel, std::string bytes) {
        dynamic_cast<RedisAdapter&>(adapter).push_raw(channel, std::move(bytes));
    }
};

}  // namespace

FAILPIPE_DEAD_LETTER_CASES(RedisDeadLetterFixture, "redis")

TEST_CASE("redis dead letters: a replay process killed with SIGKILL half-way loses and duplicates nothing") {
    const std::string url = rt::test_redis_url();
    const std::string prefix = rt::unique_prefix("dlq-kill");
    auto adapter = rt::shared_server_adapter(Seconds{30.0}, prefix);
    constexpr std::size_t kCount = 10'000;
    std::vector<OutgoingMessage> batch;
    for (std::size_t i = 0; i < kCount; ++i)
        batch.push_back(OutgoingMessage{"orders:dlq", dead_letter_cases::dead_letter_message({"m-" + std::to_string(i)}),
                                        Seconds{0.0}});
    adapter->push_batch(std::move(batch));

    const pid_t child = ::fork();
    REQUIRE(child >= 0);
    if (child == 0) {
        // The child replays at 2,000 a second (five seconds for all) over an adapter of its own.
        ::prctl(PR_SET_PDEATHSIG, SIGKILL);
        ::alarm(60);
        try {
            RedisAdapter::Options options;
            options.url = url;
            options.key_prefix = prefix;
            DeadLetters(std::make_shared<RedisAdapter>(options)).replay({.channel = "orders"}, ReplayOptions{.rate = 2000.0});
        } catch (...) {
            ::_exit(1);
        }
        ::_exit(0);
    }
    struct Reaper {  // the child dies with the test, whatever happens
        pid_t pid;
        ~Reaper() {
            if (pid <= 0) return;
            ::kill(pid, SIGKILL);
            ::waitpid(pid, nullptr, 0);
        }
    } reaper{child};
    REQUIRE(rt::eventually([&] { return adapter->depth("orders").ready >= 2000; }, 30s));
    ::kill(child, SIGKILL);
    int status = 0;
    REQUIRE(::waitpid(child, &status, 0) == child);
    reaper.pid = -1;
    CHECK(WIFSIGNALED(status));

    const auto moved = dead_letter_cases::census(*adapter, "orders");
    const auto left = dead_letter_cases::census(*adapter, "orders:dlq");
    INFO("replayed before the kill: " << moved.size());
    CHECK(moved.size() < kCount);  // it really died half-way
    CHECK(moved.size() + left.size() == kCount);
    for (std::size_t i = 0; i < kCount; ++i) {
        const std::string id = "m-" + std::to_string(i);
        const int times = (moved.count(id) ? moved.at(id) : 0) + (left.count(id) ? left.at(id) : 0);
        if (times != 1) FAIL_CHECK(id << " is there " << times << " times");
    }

    // The replay run again finishes the job: every message once in its channel, replayed once.
    const ReplayResult rest = DeadLetters(adapter).replay({.channel = "orders"});
    CHECK(rest.replayed.size() == left.size());
    const auto all = dead_letter_cases::census(*adapter, "orders");
    CHECK(all.size() == kCount);
    CHECK(std::all_of(all.begin(), all.end(), [](const auto& entry) { return entry.second == 1; }));
    CHECK(adapter->depth("orders:dlq").total() == 0);
    for (const auto& message : adapter->browse("orders", 0, 20))
        CHECK(message.metadata.at(std::string(metadata_keys::replays)) == 1);
}

TEST_CASE("redis dead letters: a broker that goes away during a replay: a clear error, and nothing lost or duplicated") {
    rt::RedisServer server;
    RedisAdapter::Options options;
    options.url = server.url();
    options.key_prefix = rt::unique_prefix("dlq-gone");
    options.connect_timeout = Seconds{0.5};
    options.command_timeout = Seconds{1.0};
    auto adapter = std::make_shared<RedisAdapter>(options);
    constexpr std::size_t kCount = 4000;
    std::vector<OutgoingMessage> batch;
    for (std::size_t i = 0; i < kCount; ++i)
        batch.push_back(OutgoingMessage{"orders:dlq", dead_letter_cases::dead_letter_message({"m-" + std::to_string(i)}),
                                        Seconds{0.0}});
    adapter->push_batch(std::move(batch));

    std::atomic<std::size_t> done{0};
    ReplayOptions replay{.rate = 2000.0};  // two seconds for all
    replay.progress = [&](std::size_t now, std::size_t) { done = now; };
    std::string error;
    std::thread replaying([&] {
        try {
            DeadLetters(adapter).replay({.channel = "orders"}, replay);
        } catch (const AdapterError& e) {
            error = e.what();
        }
    });
    REQUIRE(rt::eventually([&] { return done.load() >= 1000; }, 30s));
    server.stop(SIGKILL);
    replaying.join();
    INFO("replayed before the broker went away: " << done.load());
    CHECK(done.load() < kCount);
    CHECK_FALSE(error.empty());

    server.restart();  // AOF (appendfsync always): what it acknowledged is there
    const auto moved = dead_letter_cases::census(*adapter, "orders");
    const auto left = dead_letter_cases::census(*adapter, "orders:dlq");
    CHECK(moved.size() + left.size() == kCount);
    for (std::size_t i = 0; i < kCount; ++i) {
        const std::string id = "m-" + std::to_string(i);
        const int times = (moved.count(id) ? moved.at(id) : 0) + (left.count(id) ? left.at(id) : 0);
        if (times != 1) FAIL_CHECK(id << " is there " << times << " times");
    }
    // Run again, it finishes: every message once in orders.
    DeadLetters(adapter).replay({.channel = "orders"});
    CHECK(dead_letter_cases::census(*adapter, "orders").size() == kCount);
    CHECK(adapter->depth("orders:dlq").total() == 0);
}
