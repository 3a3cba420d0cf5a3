// End-to-end benchmark of failpipe on Redis (issue 3). Run it through scripts/bench-redis.sh, which
// starts a throw-away redis-server on loopback, measures redis-benchmark's LPUSH on it for scale,
// and stops it.
//
// Scenarios, N messages each (FAILPIPE_BENCH_N, default 20,000), worker concurrency 1 and 16
// (16 Worker objects on 16 threads sharing one RedisAdapter):
//   A   every message succeeds;
//   B   i % 10 == 0 fails on its first attempt only (TransientError, sent again at once), i % 100 == 1
//       always fails and ends in the dead letters after 3 attempts; the counts are verified;
//   B'  as B, but the retry waits 1 ms (ExponentialDelay 0.001 s: through the delayed set);
//   C   push only: push_batch (bulk), push() one at a time from 1 thread and from 16 threads.
// Consume scenarios time from the first reserve to the last settle; the N messages are pushed
// before the clock starts.
//
// Environment: FAILPIPE_BENCH_REDIS_URL (required), FAILPIPE_BENCH_N, FAILPIPE_BENCH_ITERATIONS
// (default 3), FAILPIPE_LPUSH_OPS (redis-benchmark's figure, for the share column).
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
    static const int k = std::stoi(env("FAILPIPE_BENCH_ITERATIONS", "3"));
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
    std::uint64_t write_round_trips = 0;
    std::uint64_t write_operations = 0;
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
        m.write_round_trips = stats.write_round_trips - stats_.write_round_trips;
        m.write_operations = stats.write_operations - stats_.write_operations;
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

/// Emulates a Worker that settles each reserved batch in one call (the AdapterInterface::settle_batch
/// proposed in docs/redis.md): the settles Worker::process makes are held, then sent together through
/// RedisAdapter::settle_batch right before this worker's next reserve. One per worker (one thread).
class BatchSettling final : public failpipe::AdapterInterface {
public:
    BatchSettling(std::shared_ptr<RedisAdapter> inner, std::atomic<std::int64_t>& unsent, std::atomic<std::uint64_t>& failed)
        : inner_(std::move(inner)), unsent_(unsent), failed_(failed) {}
    ~BatchSettling() override {
        try {
            flush();
        } catch (...) {
        }
    }

    std::string push(const std::string& channel, Message message, Seconds delay) override {
        return inner_->push(channel, std::move(message), delay);
    }
    std::vector<std::string> push_batch(std::vector<OutgoingMessage> messages) override {
        return inner_->push_batch(std::move(messages));
    }
    std::vector<failpipe::Delivery> reserve(const std::vector<std::string>& channels, std::size_t max,
                                            std::chrono::milliseconds wait) override {
        flush();
        return inner_->reserve(channels, max, wait);
    }
    void settle(const failpipe::Delivery& delivery, failpipe::Settlement&& settlement) override {
        failpipe::Delivery held;  // what a settle needs: the worker's copy goes away after process()
        held.channel = delivery.channel;
        held.receipt = delivery.receipt;
        held.message.id = delivery.message.id;
        held_.emplace_back(std::move(held), std::move(settlement));
        unsent_.fetch_add(1, std::memory_order_relaxed);
    }
    void release(const failpipe::Delivery& delivery, Seconds delay) override {
        flush();
        inner_->release(delivery, delay);
    }
    std::size_t reclaim() override { return inner_->reclaim(); }
    failpipe::MessageStatus status(const std::string& id) override { return inner_->status(id); }
    failpipe::ChannelDepth depth(const std::string& channel) override { return inner_->depth(channel); }
    std::vector<Message> browse(const std::string& channel, std::size_t offset, std::size_t limit) override {
        return inner_->browse(channel, offset, limit);
    }
    std::size_t remove(const std::string& channel, const std::vector<std::string>& ids) override {
        return inner_->remove(channel, ids);
    }
    std::vector<std::string> channels() override { return inner_->channels(); }

private:
    void flush() {
        if (held_.empty()) return;
        std::vector<RedisAdapter::SettleItem> items;
        items.reserve(held_.size());
        for (auto& [delivery, settlement] : held_) items.push_back({&delivery, &settlement});
        auto outcomes = inner_->settle_batch(std::move(items));
        for (auto& outcome : outcomes) {
            if (outcome) failed_.fetch_add(1, std::memory_order_relaxed);
        }
        unsent_.fetch_sub(static_cast<std::int64_t>(held_.size()), std::memory_order_relaxed);
        held_.clear();
    }

    std::shared_ptr<RedisAdapter> inner_;
    std::atomic<std::int64_t>& unsent_;
    std::atomic<std::uint64_t>& failed_;
    std::vector<std::pair<failpipe::Delivery, failpipe::Settlement>> held_;
};

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
    std::atomic<std::uint64_t> runs{0};
    std::atomic<std::int64_t> unsent{0};
    std::atomic<std::uint64_t> batch_failures{0};
    std::vector<std::unique_ptr<failpipe::Worker>> workers;
    for (int w = 0; w < concurrency; ++w) {
        failpipe::WorkerOptions options;
        options.channels = {"bench"};
        options.batch_size = 64;
        std::shared_ptr<failpipe::AdapterInterface> facade = adapter;
        if (per_batch) facade = std::make_shared<BatchSettling>(adapter, unsent, batch_failures);
        auto worker = std::make_unique<failpipe::Worker>(facade, dispatcher_for(kind), failpipe::Classifier{}, options);
        worker->share_metrics(metrics);
        worker->on("job", [&runs, kind](const Message& message, failpipe::HandlerContext&) {
            runs.fetch_add(1, std::memory_order_relaxed);
            if (kind == Kind::a) return;
            const auto i = message.data["i"].get<std::uint64_t>();
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
        for (;;) {
            auto s = metrics->snapshot();
            if (s.succeeded + s.dead_lettered >= n && unsent.load() == 0) break;
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
    const std::uint64_t expected_runs = n + once + 2 * dead;
    std::ostringstream problems;
    if (s.succeeded != n - dead) problems << " succeeded " << s.succeeded << " != " << n - dead << ";";
    if (s.dead_lettered != dead) problems << " dead-lettered " << s.dead_lettered << " != " << dead << ";";
    if (runs.load() != expected_runs) problems << " handler runs " << runs.load() << " != " << expected_runs << ";";
    if (s.retried != once + 2 * dead) problems << " retried " << s.retried << " != " << once + 2 * dead << ";";
    if (s.settle_errors != 0 || batch_failures.load() != 0) {
        problems << " settle errors " << s.settle_errors + batch_failures.load() << ";";
    }
    if (adapter->depth("bench").total() != 0) problems << " channel not empty;";
    if (kind != Kind::a && adapter->depth("bench:dlq").ready != dead) problems << " dead letters != " << dead << ";";
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
    std::string name;
    int concurrency;
    std::vector<Measure> runs;
};
std::vector<Row>& rows() {
    static std::vector<Row> all;
    return all;
}

template <class Run>
void register_scenario(const std::string& name, int concurrency, Run run) {
    rows().push_back(Row{name, concurrency, {}});
    const std::size_t row = rows().size() - 1;
    benchmark::RegisterBenchmark((name + "/concurrency:" + std::to_string(concurrency)).c_str(),
                                 [row, run](benchmark::State& state) {
                                     std::uint64_t messages = 0, client = 0, server = 0;
                                     for (auto _ : state) {
                                         Measure m = run();
                                         if (!m.problem.empty()) {
                                             state.SkipWithError(("verification failed:" + m.problem).c_str());
                                             break;
                                         }
                                         state.SetIterationTime(m.seconds);
                                         messages += m.messages;
                                         client += m.client_commands;
                                         server += m.server_commands;
                                         rows()[row].runs.push_back(std::move(m));
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

void print_summary() {
    const double lpush = std::atof(env("FAILPIPE_LPUSH_OPS", "0").c_str());
    std::printf("\nfailpipe on Redis at %s: N = %zu per run, %d runs each (median shown)\n", redis_url().c_str(),
                message_count(), iterations());
    if (lpush > 0) {
        std::printf("redis-benchmark -c 16 -P 16 -t lpush on the same server in the same run: %.0f ops/s\n", lpush);
    }
    std::printf("\n%-42s %4s %9s %7s %8s %8s %8s %8s %8s %8s\n", "scenario", "conc", "msgs/s", "share", "cli cmd",
                "srv cmd", "ops/trip", "cli us", "srv us", "cswitch");
    for (const Row& row : rows()) {
        if (row.runs.empty()) {
            std::printf("%-42s %4d %9s\n", row.name.c_str(), row.concurrency, "(failed)");
            continue;
        }
        std::vector<const Measure*> sorted;
        for (const auto& m : row.runs) sorted.push_back(&m);
        std::sort(sorted.begin(), sorted.end(), [](const Measure* a, const Measure* b) { return a->seconds < b->seconds; });
        const Measure& median = *sorted[sorted.size() / 2];
        const double rate = static_cast<double>(median.messages) / median.seconds;
        const double per = static_cast<double>(median.messages);
        char share[32] = "-";
        if (lpush > 0) std::snprintf(share, sizeof share, "%.1f%%", 100.0 * rate / lpush);
        char trips[32] = "-";
        if (median.write_round_trips != 0) {
            std::snprintf(trips, sizeof trips, "%.1f",
                          static_cast<double>(median.write_operations) / static_cast<double>(median.write_round_trips));
        }
        std::printf("%-42s %4d %9.0f %7s %8.2f %8.2f %8s %8.2f %8.2f %8.2f\n", row.name.c_str(), row.concurrency, rate,
                    share, static_cast<double>(median.client_commands) / per,
                    static_cast<double>(median.server_commands) / per, trips, 1e6 * median.client_cpu / per,
                    1e6 * median.server_cpu / per, static_cast<double>(median.switches) / per);
    }
    std::printf("\nPer message: cli/srv cmd = commands sent by the adapter / run by the server (inside scripts too);\n"
                "ops/trip = settles carried per script call; cli/srv us = CPU microseconds of this process / of\n"
                "redis-server; cswitch = context switches of this process. CPU figures do not depend on other load.\n");
    std::printf("\nServer commands per message, by command (median run of each scenario):\n");
    for (const Row& row : rows()) {
        if (row.runs.empty()) continue;
        const Measure& m = row.runs[row.runs.size() / 2];
        std::printf("  %s/c%d:", row.name.c_str(), row.concurrency);
        std::vector<std::pair<std::uint64_t, std::string>> order;
        for (auto& [name, count] : m.by_command) order.emplace_back(count, name);
        std::sort(order.rbegin(), order.rend());
        for (auto& [count, name] : order) {
            const double per = static_cast<double>(count) / static_cast<double>(m.messages);
            if (per >= 0.005) std::printf(" %s %.2f", name.c_str(), per);
        }
        std::printf("\n");
    }
    std::printf("\nTargets (issue 3): A >= 100000 msgs/s, B >= 70000 msgs/s, C bulk >= 150000 pushes/s.\n");
}

}  // namespace

int main(int argc, char** argv) {
    if (redis_url().empty()) {
        std::fprintf(stderr, "bench_redis: set FAILPIPE_BENCH_REDIS_URL (scripts/bench-redis.sh does)\n");
        return 2;
    }
    // Dead letters are logged as warnings; 200 per B run would only add noise here.
    spdlog::stderr_color_mt("failpipe")->set_level(spdlog::level::err);

    // "settle/msg": the Worker as it is, one settle round trip per message (concurrent ones combined).
    // "settle/batch": the proposed Worker that settles each reserved batch in one call.
    for (bool per_batch : {false, true}) {
        const std::string mode = per_batch ? " [settle/batch]" : " [settle/msg]";
        for (int concurrency : {1, 16}) {
            register_scenario("A  all succeed" + mode, concurrency,
                              [=] { return run_consume(Kind::a, concurrency, per_batch); });
        }
        for (int concurrency : {1, 16}) {
            register_scenario("B  10% fail once, 1% dead" + mode, concurrency,
                              [=] { return run_consume(Kind::b, concurrency, per_batch); });
        }
        for (int concurrency : {1, 16}) {
            register_scenario("B' as B, retry after 1 ms" + mode, concurrency,
                              [=] { return run_consume(Kind::b_delay, concurrency, per_batch); });
        }
    }
    register_scenario("C  push_batch (bulk)", 1, [] { return run_push(PushKind::bulk, 1); });
    register_scenario("C  push() one at a time", 1, [] { return run_push(PushKind::single, 1); });
    register_scenario("C  push() one at a time", 16, [] { return run_push(PushKind::single_concurrent, 16); });

    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    print_summary();
    return 0;
}

#else  // FAILPIPE_HAVE_REDIS

int main() {
    std::fprintf(stderr, "bench_redis: failpipe was built without the Redis adapter (FAILPIPE_WITH_REDIS=OFF or no hiredis)\n");
    return 2;
}

#endif
