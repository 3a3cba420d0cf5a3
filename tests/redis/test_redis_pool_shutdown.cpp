// Graceful shutdown on Redis: a service process (pool_worker.cpp, a WorkerPool run until a signal)
// is signalled under load, and the broker is audited afterwards: every pushed id handled or still
// in the broker, the exit code the one documented in docs/runtime.md.
#include <doctest/doctest.h>

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <string_view>
#include <vector>

#include "failpipe/failpipe.hpp"
#include "redis/redis_test_support.hpp"

namespace rt = failpipe::redis_test;
using namespace std::chrono_literals;
using failpipe::Message;
using failpipe::MessageState;
using failpipe::Seconds;

namespace {

struct Settings {
    std::string visibility = "30";
    std::string threads = "4";
    std::string batch = "8";
    std::string grace = "10";
    std::string handler_ms = "5";
    std::string startup_ms = "0";
};

// The service process, killed (SIGKILL) and reaped whatever the test does; its files removed.
class ServiceProcess {
public:
    ServiceProcess(const std::string& prefix, const Settings& settings) {
        const auto dir = std::filesystem::temp_directory_path();
        const std::string tag = std::to_string(::getpid()) + "-" + std::to_string(++counter());
        log_ = (dir / ("failpipe-pool-log-" + tag)).string();
        starting_ = (dir / ("failpipe-pool-starting-" + tag)).string();
        stderr_ = (dir / ("failpipe-pool-stderr-" + tag)).string();
        const std::string url = rt::test_redis_url();
        // Built before the fork: the child only calls async-signal-safe functions until exec.
        // The test runner silences the log (FAILPIPE_LOG_LEVEL=off); the service's log is checked.
        std::vector<std::string> environment;
        for (char** entry = environ; *entry != nullptr; ++entry)
            if (std::string_view(*entry).rfind("FAILPIPE_LOG_LEVEL=", 0) != 0) environment.emplace_back(*entry);
        environment.emplace_back("FAILPIPE_LOG_LEVEL=info");
        std::vector<char*> envp;
        for (auto& entry : environment) envp.push_back(entry.data());
        envp.push_back(nullptr);
        const std::vector<std::string> args{FAILPIPE_REDIS_POOL_WORKER, url, prefix, "jobs", settings.visibility,
                                            settings.threads, settings.batch, settings.grace, settings.handler_ms,
                                            log_, starting_, settings.startup_ms};
        std::vector<char*> argv;
        for (const auto& arg : args) argv.push_back(const_cast<char*>(arg.c_str()));
        argv.push_back(nullptr);
        const std::string error_file = stderr_;
        pid_ = ::fork();
        REQUIRE(pid_ >= 0);
        if (pid_ == 0) {
            ::prctl(PR_SET_PDEATHSIG, SIGKILL);
            const int err = ::open(error_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
            if (err >= 0) ::dup2(err, STDERR_FILENO);
            ::execve(FAILPIPE_REDIS_POOL_WORKER, argv.data(), envp.data());
            ::_exit(127);
        }
    }
    ~ServiceProcess() {
        if (!exit_code_) {
            ::kill(pid_, SIGKILL);
            ::waitpid(pid_, nullptr, 0);
        }
        std::error_code ignored;
        for (const auto& file : {log_, starting_, stderr_}) std::filesystem::remove(file, ignored);
    }
    ServiceProcess(const ServiceProcess&) = delete;
    ServiceProcess& operator=(const ServiceProcess&) = delete;

    void signal(int number) const { ::kill(pid_, number); }
    bool starting() const { return std::filesystem::exists(starting_); }

    // The exit code, or 200 + the signal that ended it; nullopt if it did not end within @p bound.
    std::optional<int> wait_exit(std::chrono::milliseconds bound) {
        rt::eventually(
            [&] {
                int status = 0;
                if (::waitpid(pid_, &status, WNOHANG) != pid_) return false;
                exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 200 + WTERMSIG(status);
                return true;
            },
            bound);
        return exit_code_;
    }

    // Ids of the "start <id>" or "done <id>" lines.
    std::set<std::string> ids(const std::string& kind) const {
        std::set<std::string> found;
        std::ifstream in(log_);
        std::string word;
        std::string id;
        while (in >> word >> id)
            if (word == kind) found.insert(id);
        return found;
    }

    std::string error_output() const {
        std::ifstream in(stderr_);
        std::stringstream text;
        text << in.rdbuf();
        return text.str();
    }

private:
    static int& counter() {
        static int value = 0;
        return value;
    }
    pid_t pid_ = -1;
    std::optional<int> exit_code_;
    std::string log_;
    std::string starting_;
    std::string stderr_;
};

std::vector<std::string> push_jobs(failpipe::AdapterInterface& adapter, int count) {
    std::vector<failpipe::OutgoingMessage> batch;
    for (int i = 0; i < count; ++i) batch.push_back({"jobs", Message::create("job", {{"n", i}}), Seconds{0.0}});
    return adapter.push_batch(std::move(batch));
}

// Every id is either handled ("done") or still in the broker; none is lost.
void check_nothing_lost(failpipe::AdapterInterface& adapter, const std::vector<std::string>& ids,
                        const std::set<std::string>& done) {
    std::size_t lost = 0;
    for (const auto& id : ids) {
        if (done.count(id) == 0 && adapter.status(id).state == MessageState::not_found) ++lost;
    }
    CHECK(lost == 0);
}

// A later worker (another process after a crash, say): handles what is left, at most @p bound.
std::set<std::string> drain(const std::shared_ptr<failpipe::AdapterInterface>& adapter, std::size_t expected,
                            std::map<std::string, std::uint32_t>& deliveries) {
    failpipe::WorkerOptions options;
    options.channels = {"jobs"};
    options.wait = 20ms;
    failpipe::Worker worker(adapter, failpipe::FailureMiddlewareDispatcher{}, failpipe::Classifier{}, options);
    std::set<std::string> handled;
    worker.on("job", [&](const Message& message, failpipe::HandlerContext& context) {
        handled.insert(message.id);
        deliveries[message.id] = context.deliveries();
    });
    rt::eventually(
        [&] {
            worker.run_until_idle(100);
            return handled.size() >= expected;
        },
        15s);
    return handled;
}

}  // namespace

TEST_CASE("redis pool: SIGTERM under load exits 0 within the grace period, settles what ran and hands back the rest") {
    const std::string prefix = rt::unique_prefix("pool-term");
    auto adapter = rt::shared_server_adapter(Seconds{30.0}, prefix);
    const auto ids = push_jobs(*adapter, 600);
    ServiceProcess service(prefix, Settings{});
    REQUIRE(rt::eventually([&] { return service.ids("done").size() >= 40; }, 20s));
    service.signal(SIGTERM);
    const auto code = service.wait_exit(20s);
    REQUIRE(code);
    CHECK(*code == 0);  // not 124: every handler in flight finished within the grace period

    const auto done = service.ids("done");
    CHECK(service.ids("start") == done);  // no handler was cut short
    CHECK(done.size() < ids.size());      // it did stop early
    check_nothing_lost(*adapter, ids, done);
    for (const auto& id : done) CHECK(adapter->status(id).state == MessageState::not_found);  // settled
    const auto depth = adapter->depth("jobs");
    CHECK(depth.reserved == 0);  // reserved and not started: handed back at once, not after 30 s
    CHECK(depth.ready + done.size() == ids.size());
}

TEST_CASE("redis pool: a second SIGTERM exits at once with 143, and a later worker gets the rest through the visibility timeout") {
    const std::string prefix = rt::unique_prefix("pool-twice");
    auto adapter = rt::shared_server_adapter(Seconds{1.0}, prefix);
    const auto ids = push_jobs(*adapter, 20);
    Settings settings;
    settings.visibility = "1";
    settings.threads = "2";
    settings.batch = "1";
    settings.grace = "60";
    settings.handler_ms = "20000";  // in flight until the process ends
    ServiceProcess service(prefix, settings);
    REQUIRE(rt::eventually([&] { return service.ids("start").size() == 2; }, 20s));
    service.signal(SIGTERM);
    // The second signal only after the service has taken the first (two close together may merge
    // into one pending signal, which is a single SIGTERM).
    REQUIRE(rt::eventually([&] { return service.error_output().find("SIGTERM received") != std::string::npos; }, 10s));
    service.signal(SIGTERM);
    const auto code = service.wait_exit(5s);  // at once, not after the 60 s grace
    REQUIRE(code);
    CHECK(*code == 128 + SIGTERM);
    CHECK(service.error_output().find("exiting at once") != std::string::npos);

    const auto in_flight = service.ids("start");
    CHECK(service.ids("done").empty());
    for (const auto& id : in_flight) CHECK(adapter->status(id).state == MessageState::reserved);
    check_nothing_lost(*adapter, ids, {});
    std::map<std::string, std::uint32_t> deliveries;
    const auto handled = drain(adapter, ids.size(), deliveries);
    CHECK(handled == std::set<std::string>(ids.begin(), ids.end()));
    for (const auto& id : in_flight) CHECK(deliveries[id] == 2);  // came back after the visibility timeout
    CHECK(adapter->depth("jobs").total() == 0);
}

TEST_CASE("redis pool: a handler still running when the grace period ends: exit 124, logged, and nothing lost") {
    const std::string prefix = rt::unique_prefix("pool-grace");
    auto adapter = rt::shared_server_adapter(Seconds{1.0}, prefix);
    const auto ids = push_jobs(*adapter, 6);
    Settings settings;
    settings.visibility = "1";
    settings.threads = "1";
    settings.batch = "3";
    settings.grace = "0.3";
    settings.handler_ms = "20000";
    ServiceProcess service(prefix, settings);
    REQUIRE(rt::eventually([&] { return service.ids("start").size() == 1; }, 20s));
    service.signal(SIGTERM);
    const auto code = service.wait_exit(10s);
    REQUIRE(code);
    CHECK(*code == failpipe::WorkerPool::kExitGraceExpired);
    const std::string running = *service.ids("start").begin();
    CHECK(service.error_output().find("handler of message " + running) != std::string::npos);

    std::map<std::string, std::uint32_t> deliveries;
    const auto handled = drain(adapter, ids.size(), deliveries);
    CHECK(handled == std::set<std::string>(ids.begin(), ids.end()));
    CHECK(adapter->depth("jobs").total() == 0);
}

TEST_CASE("redis pool: SIGTERM during start-up stops at once with 0 and reserves nothing") {
    const std::string prefix = rt::unique_prefix("pool-startup");
    auto adapter = rt::shared_server_adapter(Seconds{30.0}, prefix);
    const auto ids = push_jobs(*adapter, 10);
    Settings settings;
    settings.startup_ms = "1500";
    ServiceProcess service(prefix, settings);
    REQUIRE(rt::eventually([&] { return service.starting(); }, 10s));
    service.signal(SIGTERM);  // while it is still starting up
    const auto code = service.wait_exit(15s);
    REQUIRE(code);
    CHECK(*code == 0);
    CHECK(service.ids("start").empty());
    CHECK(adapter->depth("jobs").ready == ids.size());
    CHECK(service.error_output().find("during start-up") != std::string::npos);
}
