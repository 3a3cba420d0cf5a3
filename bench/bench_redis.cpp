// End-to-end benchmark of failpipe on Redis. Run it through scripts/bench-redis.sh, which
// starts a throw-away redis-server on loopback, measures redis-benchmark's LPUSH on it for scale,
// and stops it.
//
// Scenarios, N messages each (FAILPIPE_BENCH_N, default 20,000), worker concurrency 1 and 16
// (16 Worker objects on 16 threads sharing one RedisAdapter), each consume scenario with the real
// failpipe::Worker in both settle modes: WorkerOptions::settle_per_batch = true (the default: one
// AdapterInterface::settle_batch call per reserved batch) and false (one settle call per message):
//   A   every message succeeds;
//   B   i % 10 == 0 fails on its first attempt only (TransientError, sent again at once), i % 100 == 1
//       always fails and ends in the dead letters after 3 attempts;
//   B'  as B, but the retry waits 1 ms (ExponentialDelay 0.001 s: through the delayed set);
//   C   push only: push_batch (bulk), push() one at a time from 1 thread and from 16 threads.
// After every consume run the counts are verified: every message's handler ran exactly as often as
// it should (A: once; B: twice for i % 10 == 0, three times for i % 100 == 1, else once), exactly
// N/100 dead letters, nothing left in the channel, no settle errors.
// Consume scenarios time from the first reserve to the last settle; the N messages are pushed
// before the clock starts.
//
// The summary at the end is a Markdown table: the median of the runs of each scenario, the range of
// their rates, the share of redis-benchmark's LPUSH rate, whether the target is met, server
// commands, round trips, client and server CPU and context switches per message. A failed
// verification marks its row FAILED and makes the program exit with 1.
//
// Environment: FAILPIPE_BENCH_REDIS_URL (required), FAILPIPE_BENCH_N, FAILPIPE_BENCH_ITERATIONS
// (runs per scenario, default 5), FAILPIPE_LPUSH_OPS (redis-benchmark's figure, for the share column).
#include <benchmark/benchmark.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#ifdef FAILPIPE_HAVE_REDIS

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <sstream>
#include <stop_token>
#include <thread>
#include <vector>

#include "failpipe/error.hpp"
#include "failpipe/exponential_delay_middleware.hpp"
#include "failpipe/failure_middleware_dispatcher.hpp"
#include "failpipe/metadata_keys.hpp"
#include "failpipe/redis/redis_adapter.hpp"
#include "failpipe/send_again_middleware.hpp"
#include "failpipe/worker.hpp"

namespace {

using namespace std::chrono_literals;
using failpipe::Message;
using failpipe::OutgoingMessage;
using failpipe::RedisAdapter;
using failpipe::Seconds;

std::string env(const char* name, const char* fallback = "") {
    const char* value = std::getenv(name);
    return value != nullptr && *value != '\0' ? value : fallback;
}

const std::string& redis_url() {
    static const std::string url = env("FAILPIPE_BENCH_REDIS_URL");
    return url;
}
std::size_t message_count() {
    static const std::size_t n = std::stoul(env("FAILPIPE_BENCH_N", "20000"));
    return n;
}
int iterations() {
    static const int k = std::stoi(env("FAILPIPE_BENCH_ITERATIONS", "5"));
    return k;
}

std::shared_ptr<RedisAdapter> fresh_adapter() {
    static std::atomic<int> counter{0};
    RedisAdapter::Options options;
    options.url = redis_url();
    options.key_prefix = "bench:" + std::to_string(::getpid()) + ":" + std::to_string(counter++);
    options.pool_size = 20;
    return std::make_shared<RedisAdapter>(options);
}

/// Sum of `calls` over INFO commandstats, and the calls by command. Commands run inside scripts
/// count too: this is the work the server does, not the round trips.
std::map<std::string, std::uint64_t> command_stats(RedisAdapter& adapter) {
    std::map<std::string, std::uint64_t> calls;
    std::istringstream lines(adapter.info("commandstats"));
    std::string line;
    while (std::getline(lines, line)) {
        if (line.rfind("cmdstat_", 0) != 0) continue;
        auto colon = line.find(':');
        auto equals = line.find("calls=");
        if (colon == std::string::npos || equals == std::string::npos) continue;
        calls[line.substr(8, colon - 8)] = std::stoull(line.substr(equals + 6));
    }
    return calls;
}

/// CPU seconds the server has used (INFO cpu: used_cpu_user + used_cpu_sys).
double server_cpu(RedisAdapter& adapter) {
    std::istringstream lines(adapter.info("cpu"));
    std::string line;
    double total = 0;
    while (std::getline(lines, line)) {
        if (line.rfind("used_cpu_user:", 0) == 0 || line.rfind("used_cpu_sys:", 0) == 0) {
            total += std::stod(line.substr(line.find(':') + 1));
        }
    }
    return total;
}

struct ClientUsage {
    double cpu = 0;                 // user + system seconds of this process, every thread
    std::uint64_t switches = 0;     // voluntary + involuntary context switches
};
ClientUsage client_usage() {
    rusage usage{};
    ::getrusage(RUSAGE_SELF, &usage);
    auto seconds = [](const timeval& tv) { return static_cast<double>(tv.tv_sec) + static_cast<double>(tv.tv_usec) / 1e6; };
    return {seconds(usage.ru_utime) + seconds(usage.ru_stime),
            static_cast<std::uint64_t>(usage.ru_nvcsw) + static_cast<std::uint64_t>(usage.ru_nivcsw)};
}

struct Measure {
    double seconds = 0;
    double client_cpu = 0;          // CPU seconds of the benchmark process over the timed part
    double server_cpu = 0;          // CPU seconds of redis-server over the timed part
    std::uint64_t switches = 0;     // context switches of the benchmark process
    std::uint64_t messages = 0;
    std::uint64_t client_commands = 0;   // commands the adapter sent (a script call counts once)
    std::uint64_t server_commands = 0;   // commands the server ran, those inside scripts included
    std::map<std::string, std::uint64_t> by_command;
    std::string problem;  // a failed verification
};

class Probe {
public:
    explicit Probe(RedisAdapter& adapter)
        : adapter_(adapter), stats_(adapter.stats()), calls_(command_stats(adapter)), server_cpu_(server_cpu(adapter)),
          usage_(client_usage()) {}
    /// Call right when the timed part ends.
    void stop(Measure& m) {
        ClientUsage usage = client_usage();
        m.client_cpu = usage.cpu - usage_.cpu;
        m.switches = usage.switches - usage_.switches;
        m.server_cpu = server_cpu(adapter_) - server_cpu_;
    }
    void finish(Measure& m) {
        auto stats = adapter_.stats();
        auto calls = command_stats(adapter_);
        m.client_commands = stats.commands - stats_.commands - 3;  // the INFOs: commandstats, cpu, cpu
        for (auto& [name, count] : calls) {
            std::uint64_t delta = count - calls_[name];
            if (name == "info") delta -= 3;  // the earlier INFOs are counted by the last one
            if (delta == 0) continue;
            m.by_command[name] = delta;
            m.server_commands += delta;
        }
    }

private:
    RedisAdapter& adapter_;
    RedisAdapter::Stats stats_;
    std::map<std::string, std::uint64_t> calls_;
    double server_cpu_;
    ClientUsage usage_;
};

enum class Kind { a, b, b_delay };

failpipe::FailureMiddlewareDispatcher dispatcher_for(Kind kind) {
    failpipe::FailureMiddlewareDispatcher::Options options;
    if (kind == Kind::b) {
        options.default_pipeline = {std::make_shared<failpipe::SendAgainMiddleware>("retry", 2)};
    } else if (kind == Kind::b_delay) {
        options.default_pipeline = {std::make_shared<failpipe::ExponentialDelayMiddleware>("retry", 2, 0.001, 0.001, 1.0)};
    }
    return failpipe::FailureMiddlewareDispatcher(std::move(options));
}

Measure run_consume(Kind kind, int concurrency, bool per_batch) {
    const std::size_t n = message_count();
    auto adapter = fresh_adapter();
    {
        std::vector<OutgoingMessage> batch;
        batch.reserve(n);
        for (std::size_t i = 0; i < n; ++i) {
            batch.push_back(OutgoingMessage{"bench", Message::create("job", {{"i", i}}), Seconds{0.0}});
        }
        adapter->push_batch(std::move(batch));
    }
    auto metrics = std::make_shared<failpipe::WorkerMetrics>();
    // Handler runs per message, to check that each one ran exactly as often as it should.
    std::unique_ptr<std::atomic<std::uint32_t>[]> runs_of(new std::atomic<std::uint32_t>[n]);
    for (std::size_t i = 0; i < n; ++i) runs_of[i].store(0, std::memory_order_relaxed);
    std::atomic<std::uint64_t> strays{0};  // runs with an index outside [0, n)
    std::vector<std::unique_ptr<failpipe::Worker>> workers;
    for (int w = 0; w < concurrency; ++w) {
        failpipe::WorkerOptions options;
        options.channels = {"bench"};
        options.batch_size = 64;
        options.settle_per_batch = per_batch;
        auto worker = std::make_unique<failpipe::Worker>(adapter, dispatcher_for(kind), failpipe::Classifier{}, options);
        worker->share_metrics(metrics);
        worker->on("job", [&runs_of, &strays, n, kind](const Message& message, failpipe::HandlerContext&) {
            const auto i = message.data["i"].get<std::uint64_t>();
            if (i < n) {
                runs_of[i].fetch_add(1, std::memory_order_relaxed);
            } else {
                strays.fetch_add(1, std::memory_order_relaxed);
            }
            if (kind == Kind::a) return;
            if (i % 100 == 1) throw failpipe::TransientError("always fails");
            if (i % 10 == 0 && !message.metadata.contains(std::string(failpipe::metadata_keys::failure))) {
                throw failpipe::TransientError("fails once");
            }
        });
        workers.push_back(std::move(worker));
    }

    Measure m;
    m.messages = n;
    Probe probe(*adapter);
    const auto started = std::chrono::steady_clock::now();
    const auto give_up = started + 120s;
    {
        std::vector<std::jthread> threads;
        for (auto& worker : workers) threads.emplace_back([w = worker.get()](std::stop_token stop) { w->run(stop); });
        // The Worker counts a message as succeeded or dead-lettered once its settle has returned.
        for (;;) {
            auto s = metrics->snapshot();
            if (s.succeeded + s.dead_lettered >= n) break;
            if (s.settle_errors != 0) {
                m.problem = "settle errors";
                break;
            }
            if (std::chrono::steady_clock::now() > give_up) {
                m.problem = "timed out";
                break;
            }
            std::this_thread::sleep_for(200us);
        }
        m.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
        probe.stop(m);
    }  // stop and join the workers (not timed)
    probe.finish(m);

    auto s = metrics->snapshot();
    const std::uint64_t dead = kind == Kind::a ? 0 : (n + 98) / 100;  // i % 100 == 1 for i < n
    const std::uint64_t once = kind == Kind::a ? 0 : (n + 9) / 10;    // i % 10 == 0
    std::ostringstream problems;
    if (s.succeeded != n - dead) problems << " succeeded " << s.succeeded << " != " << n - dead << ";";
    if (s.dead_lettered != dead) problems << " dead-lettered " << s.dead_lettered << " != " << dead << ";";
    if (s.retried != once + 2 * dead) problems << " retried " << s.retried << " != " << once + 2 * dead << ";";
    if (s.settle_errors != 0) problems << " settle errors " << s.settle_errors << ";";
    std::size_t wrong = 0;
    std::size_t first_wrong = n;
    for (std::size_t i = 0; i < n; ++i) {
        std::uint32_t expected = 1;
        if (kind != Kind::a && i % 100 == 1) expected = 3;
        if (kind != Kind::a && i % 10 == 0) expected = 2;
        if (runs_of[i].load(std::memory_order_relaxed) != expected) {
            if (wrong++ == 0) first_wrong = i;
        }
    }
    if (wrong != 0) {
        problems << " " << wrong << " messages ran a wrong number of times (first: i = " << first_wrong << ", "
                 << runs_of[first_wrong].load() << " runs);";
    }
    if (strays.load() != 0) problems << " " << strays.load() << " runs of unknown messages;";
    if (adapter->depth("bench").total() != 0) problems << " channel not empty;";
    const std::size_t dead_letters = adapter->depth("bench:dlq").total();
    if (dead_letters != dead) problems << " " << dead_letters << " dead letters != " << dead << ";";
    if (!problems.str().empty()) m.problem += problems.str();
    return m;
}

enum class PushKind { bulk, single, single_concurrent };

Measure run_push(PushKind kind, int concurrency) {
    const std::size_t n = message_count();
    auto adapter = fresh_adapter();
    adapter->ping();
    Measure m;
    m.messages = n;
    std::vector<Message> messages;
    messages.reserve(n);
    for (std::size_t i = 0; i < n; ++i) messages.push_back(Message::create("job", {{"i", i}}));
    Probe probe(*adapter);
    const auto started = std::chrono::steady_clock::now();
    if (kind == PushKind::bulk) {
        std::vector<OutgoingMessage> batch;
        batch.reserve(n);
        for (auto& message : messages) batch.push_back(OutgoingMessage{"bench", std::move(message), Seconds{0.0}});
        adapter->push_batch(std::move(batch));
    } else {
        std::vector<std::jthread> threads;
        for (int t = 0; t < concurrency; ++t) {
            threads.emplace_back([&, t] {
                for (std::size_t i = static_cast<std::size_t>(t); i < n; i += static_cast<std::size_t>(concurrency)) {
                    adapter->push("bench", std::move(messages[i]));
                }
            });
        }
    }
    m.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    probe.stop(m);
    probe.finish(m);
    if (adapter->depth("bench").ready != n) m.problem = "not every message arrived";
    return m;
}

struct Row {
    std::string scenario;  // A, B, B', C ...
    std::string what;      // its description
    std::string settle;    // "batch", "message" or "-"
    int concurrency;
    double target;         // msgs/s the target (0: none)
    std::vector<Measure> runs;
    bool ran = false;      // selected by --benchmark_filter
    std::string problem;   // a failed verification (the row then shows no figures)
};
std::vector<Row>& rows() {
    static std::vector<Row> all;
    return all;
}

template <class Run>
void register_scenario(Row row, Run run) {
    std::string name = row.scenario + "/" + (row.settle == "-" ? row.what : "settle:" + row.settle) +
                       "/concurrency:" + std::to_string(row.concurrency);
    for (char& c : name) {
        if (c == ' ' || c == '(' || c == ')') c = '_';
    }
    rows().push_back(std::move(row));
    const std::size_t index = rows().size() - 1;
    benchmark::RegisterBenchmark(name.c_str(),
                                 [index, run, name](benchmark::State& state) {
                                     std::uint64_t messages = 0, client = 0, server = 0;
                                     rows()[index].ran = true;
                                     for (auto _ : state) {
                                         Measure m = run();
                                         if (!m.problem.empty()) {
                                             rows()[index].problem = m.problem;
                                             state.SkipWithError(("verification failed:" + m.problem).c_str());
                                             std::fprintf(stderr, "bench_redis: %s: verification failed:%s\n",
                                                          name.c_str(), m.problem.c_str());
                                             break;
                                         }
                                         state.SetIterationTime(m.seconds);
                                         messages += m.messages;
                                         client += m.client_commands;
                                         server += m.server_commands;
                                         rows()[index].runs.push_back(std::move(m));
                                     }
                                     state.counters["msgs/s"] = benchmark::Counter(static_cast<double>(messages), benchmark::Counter::kIsRate);
                                     if (messages != 0) {
                                         state.counters["client_cmds/msg"] = static_cast<double>(client) / static_cast<double>(messages);
                                         state.counters["server_cmds/msg"] = static_cast<double>(server) / static_cast<double>(messages);
                                     }
                                 })
        ->Iterations(iterations())
        ->UseManualTime()
        ->Unit(benchmark::kMillisecond);
}

std::string thousands(double value) {
    std::string digits = std::to_string(static_cast<long long>(value + 0.5));
    std::string out;
    for (std::size_t i = 0; i < digits.size(); ++i) {
        if (i != 0 && (digits.size() - i) % 3 == 0) out += ',';
        out += digits[i];
    }
    return out;
}

/// Prints @p cells as one row of a Markdown table, each padded to its column's width.
void print_cells(const std::vector<std::string>& cells, const std::vector<int>& widths, const std::vector<bool>& right) {
    std::printf("|");
    for (std::size_t i = 0; i < cells.size(); ++i) {
        if (right[i]) {
            std::printf(" %*s |", widths[i], cells[i].c_str());
        } else {
            std::printf(" %-*s |", widths[i], cells[i].c_str());
        }
    }
    std::printf("\n");
}

void print_summary() {
    const double lpush = std::atof(env("FAILPIPE_LPUSH_OPS", "0").c_str());
    std::printf("\nfailpipe on Redis at %s: N = %zu per run, %d runs each (median run shown, range of msgs/s beside it)\n",
                redis_url().c_str(), message_count(), iterations());
    if (lpush > 0) {
        std::printf("redis-benchmark -c 16 -P 16 -t lpush on the same server in the same run: %s ops/s\n",
                    thousands(lpush).c_str());
    }
    std::printf("%u cores online; redis-server and this benchmark share them\n\n",
                std::thread::hardware_concurrency());

    const std::vector<std::string> head = {"scenario", "settle", "conc", "msgs/s", "range", "of LPUSH", "target",
                                           "srv cmds/msg", "sent cmds/msg", "cli us/msg", "srv us/msg", "cswitch/msg"};
    const std::vector<bool> right = {false, false, true, true, true, true, false, true, true, true, true, true};
    std::vector<std::vector<std::string>> table;
    for (const Row& row : rows()) {
        if (!row.ran) continue;
        std::vector<std::string> cells = {row.scenario + " " + row.what, row.settle, std::to_string(row.concurrency)};
        if (!row.problem.empty() || row.runs.empty()) {
            cells.insert(cells.end(), {"FAILED", "", "", "", "", "", "", "", ""});
            table.push_back(std::move(cells));
            continue;
        }
        std::vector<const Measure*> sorted;
        for (const auto& m : row.runs) sorted.push_back(&m);
        std::sort(sorted.begin(), sorted.end(), [](const Measure* a, const Measure* b) { return a->seconds > b->seconds; });
        const Measure& median = *sorted[sorted.size() / 2];
        auto rate_of = [](const Measure& m) { return static_cast<double>(m.messages) / m.seconds; };
        const double rate = rate_of(median);
        const double per = static_cast<double>(median.messages);
        char buffer[64];
        auto fixed = [&buffer](const char* format, double value) {
            std::snprintf(buffer, sizeof buffer, format, value);
            return std::string(buffer);
        };
        cells.push_back(thousands(rate));
        cells.push_back(sorted.size() > 1 ? thousands(rate_of(*sorted.front()) / 1000) + "k-" +
                                                thousands(rate_of(*sorted.back()) / 1000) + "k"
                                          : "-");
        cells.push_back(lpush > 0 ? fixed("%.1f %%", 100.0 * rate / lpush) : "-");
        cells.push_back(row.target > 0 ? std::string(rate >= row.target ? "met" : "MISSED") + " (>= " +
                                             thousands(row.target / 1000) + "k)"
                                       : "");
        cells.push_back(fixed("%.2f", static_cast<double>(median.server_commands) / per));
        cells.push_back(fixed("%.3f", static_cast<double>(median.client_commands) / per));
        cells.push_back(fixed("%.1f", 1e6 * median.client_cpu / per));
        cells.push_back(fixed("%.1f", 1e6 * median.server_cpu / per));
        cells.push_back(fixed("%.2f", static_cast<double>(median.switches) / per));
        table.push_back(std::move(cells));
    }
    std::vector<int> widths(head.size(), 0);
    for (std::size_t i = 0; i < head.size(); ++i) widths[i] = static_cast<int>(head[i].size());
    for (const auto& cells : table) {
        for (std::size_t i = 0; i < cells.size(); ++i) widths[i] = std::max(widths[i], static_cast<int>(cells[i].size()));
    }
    print_cells(head, widths, right);
    std::printf("|");
    for (std::size_t i = 0; i < head.size(); ++i) {
        std::printf(" %s%s |", std::string(static_cast<std::size_t>(widths[i] - (right[i] ? 1 : 0)), '-').c_str(),
                    right[i] ? ":" : "");
    }
    std::printf("\n");
    for (const auto& cells : table) print_cells(cells, widths, right);

    std::printf("\nsettle: batch = WorkerOptions::settle_per_batch true (default; one settle_batch call per reserved\n"
                "batch of up to 64), message = false (one settle call per delivery). Per message: srv cmds = commands\n"
                "redis-server ran (INFO commandstats deltas, those inside scripts included); sent cmds = commands\n"
                "the adapter sent (a script call counts once; pipelined commands count one each); cli/srv us = CPU microseconds of this process (every\n"
                "thread) / of redis-server; cswitch = context switches of this process. Wall-clock rates move with\n"
                "other load on the machine; the CPU columns much less.\n");
    for (const Row& row : rows()) {
        if (!row.problem.empty()) {
            std::printf("\nFAILED %s %s [%s] c%d: verification failed:%s\n", row.scenario.c_str(), row.what.c_str(),
                        row.settle.c_str(), row.concurrency, row.problem.c_str());
        }
    }
    std::printf("\nServer commands per message, by command (median run of each scenario):\n");
    for (const Row& row : rows()) {
        if (!row.problem.empty() || row.runs.empty()) continue;
        std::vector<const Measure*> sorted;
        for (const auto& m : row.runs) sorted.push_back(&m);
        std::sort(sorted.begin(), sorted.end(), [](const Measure* a, const Measure* b) { return a->seconds > b->seconds; });
        const Measure& m = *sorted[sorted.size() / 2];
        std::printf("  %s %s [%s] c%d:", row.scenario.c_str(), row.what.c_str(), row.settle.c_str(), row.concurrency);
        std::vector<std::pair<std::uint64_t, std::string>> order;
        for (auto& [name, count] : m.by_command) order.emplace_back(count, name);
        std::sort(order.rbegin(), order.rend());
        for (auto& [count, name] : order) {
            const double per = static_cast<double>(count) / static_cast<double>(m.messages);
            if (per >= 0.005) std::printf(" %s %.2f", name.c_str(), per);
        }
        std::printf("\n");
    }
    std::printf("\nTargets: A >= 100,000 msgs/s, B >= 70,000 msgs/s, C bulk >= 150,000 pushes/s.\n");
}

}  // namespace

int main(int argc, char** argv) {
    if (redis_url().empty()) {
        std::fprintf(stderr, "bench_redis: set FAILPIPE_BENCH_REDIS_URL (scripts/bench-redis.sh does)\n");
        return 2;
    }
    // Dead letters are logged as warnings; 200 per B run would only add noise here.
    spdlog::stderr_color_mt("failpipe")->set_level(spdlog::level::err);

    struct Consume {
        const char* scenario;
        const char* what;
        Kind kind;
        double target;
    };
    for (const Consume& c : {Consume{"A", "all succeed", Kind::a, 100000},
                             Consume{"B", "10% fail once, 1% dead", Kind::b, 70000},
                             Consume{"B'", "as B, retry after 1 ms", Kind::b_delay, 70000}}) {
        for (bool per_batch : {true, false}) {
            for (int concurrency : {1, 16}) {
                register_scenario(Row{c.scenario, c.what, per_batch ? "batch" : "message", concurrency, c.target, {}, false, {}},
                                  [kind = c.kind, concurrency, per_batch] { return run_consume(kind, concurrency, per_batch); });
            }
        }
    }
    register_scenario(Row{"C", "push_batch (bulk)", "-", 1, 150000, {}, false, {}}, [] { return run_push(PushKind::bulk, 1); });
    register_scenario(Row{"C", "push() one at a time", "-", 1, 0, {}, false, {}}, [] { return run_push(PushKind::single, 1); });
    register_scenario(Row{"C", "push() one at a time", "-", 16, 0, {}, false, {}},
                      [] { return run_push(PushKind::single_concurrent, 16); });

    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    print_summary();
    // A failed verification fails the run (and scripts/bench-redis.sh with it).
    for (const Row& row : rows()) {
        if (!row.problem.empty()) return 1;
    }
    return 0;
}

#else  // FAILPIPE_HAVE_REDIS

int main() {
    std::fprintf(stderr, "bench_redis: failpipe was built without the Redis adapter (FAILPIPE_WITH_REDIS=OFF or no hiredis)\n");
    return 2;
}

#endif
