// One worker process of the chaos test (started, SIGKILLed and restarted by failpipe_chaos): it runs
// failpipe::Worker threads over a RedisAdapter, with a handler that fails at random and that appends
// the id of every message it handled successfully to a file of its own, with one write(2), before it
// returns. SIGTERM ends it gracefully (exit 0). See docs/chaos.md.
//
// usage: failpipe_chaos_worker --url URL --prefix PREFIX --config FILE --record FILE --stats FILE
//            --seed N --rng-seed N [--threads N] [--handler-us N] [--flaky-percent N] [--settle per-batch|per-message]
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <random>
#include <stdexcept>
#include <stop_token>
#include <string>
#include <thread>
#include <vector>

#include "chaos_common.hpp"
#include "failpipe/config.hpp"
#include "failpipe/error.hpp"
#include "failpipe/redis/redis_adapter.hpp"
#include "failpipe/worker.hpp"

namespace {

using namespace failpipe;

struct Arguments {
    std::string url, prefix, config, record, stats;
    std::uint64_t seed = 0;
    std::uint64_t rng_seed = 0;
    unsigned threads = 2;
    unsigned handler_us = 0;
    unsigned flaky_percent = 20;
    bool settle_per_batch = true;
};

[[noreturn]] void usage(const char* why) {
    std::fprintf(stderr, "failpipe_chaos_worker: %s\n", why);
    std::exit(2);
}

Arguments parse(int argc, char** argv) {
    std::map<std::string, std::string> values;
    for (int i = 1; i < argc; i += 2) {
        if (i + 1 >= argc) usage("every option needs a value");
        values[argv[i]] = argv[i + 1];
    }
    auto take = [&](const char* name) -> std::string {
        auto found = values.find(name);
        if (found == values.end()) usage((std::string("missing ") + name).c_str());
        return found->second;
    };
    auto number = [&](const char* name, unsigned long long fallback) {
        auto found = values.find(name);
        return found == values.end() ? fallback : std::stoull(found->second);
    };
    Arguments a;
    a.url = take("--url");
    a.prefix = take("--prefix");
    a.config = take("--config");
    a.record = take("--record");
    a.stats = take("--stats");
    a.seed = std::stoull(take("--seed"));
    a.rng_seed = std::stoull(take("--rng-seed"));
    a.threads = static_cast<unsigned>(number("--threads", 2));
    a.handler_us = static_cast<unsigned>(number("--handler-us", 0));
    a.flaky_percent = static_cast<unsigned>(number("--flaky-percent", 20));
    const std::string settle = values.count("--settle") ? values["--settle"] : "per-batch";
    if (settle != "per-batch" && settle != "per-message") usage("--settle is per-batch or per-message");
    a.settle_per_batch = settle == "per-batch";
    if (a.threads == 0 || a.threads > 64) usage("--threads is 1..64");
    return a;
}

// Appends @p line with a single write(2): the kernel keeps it even if this process is SIGKILLed an
// instant later, and O_APPEND keeps the lines of concurrent threads whole.
void append_line(int fd, const std::string& line) {
    const ssize_t written = ::write(fd, line.data(), line.size());
    if (written != static_cast<ssize_t>(line.size())) {
        // Not recorded means not handled: fail the message so it is retried.
        throw std::runtime_error(std::string("chaos: cannot record a handled id: ") + std::strerror(errno));
    }
}

Handler make_handler(const Arguments& args, int record_fd, std::uint64_t thread_seed) {
    auto rng = std::make_shared<std::mt19937_64>(thread_seed);
    return [&args, record_fd, rng](const Message& message, HandlerContext&) {
        const auto index = chaos::index_of(message.id);
        if (!index) throw PermanentError("chaos: not a chaos message id");
        switch (chaos::fate_of(args.seed, *index)) {
            case chaos::Fate::permanent:
                throw PermanentError("chaos: permanent failure");
            case chaos::Fate::always_transient:
                throw TransientError("chaos: transient failure, every attempt");
            case chaos::Fate::flaky:
                if ((*rng)() % 100 < args.flaky_percent) throw TransientError("chaos: transient failure");
                break;
        }
        if (args.handler_us > 0) {
            std::this_thread::sleep_for(std::chrono::microseconds((*rng)() % (2 * args.handler_us + 1)));
        }
        append_line(record_fd, message.id + "\n");
    };
}

// Overwrites the stats file with the metrics so far (a killed process leaves its last snapshot).
void write_stats(int fd, const WorkerMetricsSnapshot& s) {
    char line[256];
    const int n = std::snprintf(line, sizeof line, "succeeded=%llu failed=%llu dead_lettered=%llu settle_errors=%llu\n",
                                static_cast<unsigned long long>(s.succeeded), static_cast<unsigned long long>(s.failed),
                                static_cast<unsigned long long>(s.dead_lettered),
                                static_cast<unsigned long long>(s.settle_errors));
    if (n <= 0) return;
    if (::pwrite(fd, line, static_cast<std::size_t>(n), 0) == n) {
        if (::ftruncate(fd, n) != 0) return;
    }
}

}  // namespace

int main(int argc, char** argv) {
    // Should the runner die (a ctest timeout), this process goes with it.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    const pid_t runner = ::getppid();
    if (runner == 1) return 3;

    const Arguments args = parse(argc, argv);

    // SIGTERM and SIGINT are taken by sigwait below; threads inherit the blocked mask. (The runner
    // starts this program with them blocked already, so an early SIGTERM waits here too.)
    sigset_t stop_signals;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGTERM);
    sigaddset(&stop_signals, SIGINT);
    pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

    const int record_fd = ::open(args.record.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    const int stats_fd = ::open(args.stats.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    if (record_fd < 0 || stats_fd < 0) {
        std::perror("failpipe_chaos_worker: open");
        return 2;
    }

    try {
        const Config config = load_config_file(args.config);
        RedisAdapter::Options options;
        options.url = args.url;
        options.key_prefix = args.prefix;
        options.visibility_timeout = config.visibility_timeout;
        options.max_message_bytes = config.max_message_bytes;
        options.connect_timeout = Seconds{0.5};
        options.command_timeout = Seconds{3.0};
        options.pool_size = args.threads + 2;
        auto adapter = std::make_shared<RedisAdapter>(options);

        WorkerOptions worker_options = config.worker;
        worker_options.visibility_timeout = config.visibility_timeout;
        worker_options.settle_per_batch = args.settle_per_batch;
        worker_options.max_backoff = std::chrono::milliseconds(500);

        auto metrics = std::make_shared<WorkerMetrics>();
        std::vector<std::unique_ptr<Worker>> workers;
        for (unsigned t = 0; t < args.threads; ++t) {
            auto worker = std::make_unique<Worker>(adapter, config.make_dispatcher(), config.classifier, worker_options);
            worker->share_metrics(metrics);
            worker->on(std::string(chaos::handler_name), make_handler(args, record_fd, chaos::mix(args.rng_seed, t)));
            workers.push_back(std::move(worker));
        }

        std::stop_source stop;
        std::vector<std::jthread> threads;
        for (auto& worker : workers) {
            threads.emplace_back([&worker, token = stop.get_token()] { worker->run(token); });
        }
        std::jthread reporter([&](std::stop_token own) {
            while (!own.stop_requested()) {
                write_stats(stats_fd, metrics->snapshot());
                std::this_thread::sleep_for(std::chrono::milliseconds(200));
            }
        });

        int signal_number = 0;
        sigwait(&stop_signals, &signal_number);
        stop.request_stop();
        for (auto& thread : threads) thread.join();
        reporter.request_stop();
        reporter.join();
        write_stats(stats_fd, metrics->snapshot());
    } catch (const std::exception& e) {
        std::fprintf(stderr, "failpipe_chaos_worker: %s\n", e.what());
        return 1;
    }
    ::close(record_fd);
    ::close(stats_fd);
    return 0;
}
