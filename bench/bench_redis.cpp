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
//
// With FAILPIPE_BENCH_CLUSTER_URL (scripts/bench-redis.sh --cluster) it runs instead A and B over
// shard groups (FAILPIPE_BENCH_GROUPS, default 6; message i in group i mod G; each group one
// RedisAdapter with key prefix `<prefix>:<group>`, so its keys carry the group's hash tag
// `{prefix:group}`; 16 workers spread over the groups, each reserving FAILPIPE_BENCH_BATCH
// deliveries per round trip, default 64), on the one Redis and on the cluster
// (their runs interleaved: one Redis, cluster, cluster, one Redis, ...) whose masters and slots FAILPIPE_BENCH_CLUSTER_MASTERS lists (`host:port=0-5460,... ...`). On the
// cluster the group names are chosen so that the groups go round the masters in turn
// (FAILPIPE_BENCH_GROUP_SPREAD=natural: g0, g1, ... wherever they hash). Each run diffs INFO
// commandstats and INFO cpu of every master; the summary gives each master's share of the commands
// and the masters' CPU per message, and a verdict per scenario: balanced within 20 % across the
// masters (with 6 or more groups), CPU per message on the cluster no more than on one Redis.
// FAILPIPE_BENCH_SYSCALLS=1 adds the masters' system calls per message, by call (perf stat, from
// outside the servers: bench/server_work.hpp), with the same run-by-run verdict.
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
#include <cmath>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <sstream>
#include <stdexcept>
#include <stop_token>
#include <thread>
#include <vector>

#include "failpipe/error.hpp"
#include "failpipe/exponential_delay_middleware.hpp"
#include "failpipe/failure_middleware_dispatcher.hpp"
#include "failpipe/hash_slot.hpp"
#include "failpipe/metadata_keys.hpp"
#include "failpipe/redis/redis_adapter.hpp"
#include "failpipe/send_again_middleware.hpp"
#include "failpipe/shard_groups.hpp"
#include "failpipe/worker.hpp"
#include "server_work.hpp"

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
    std::vector<std::uint64_t> master_commands;  // per master of the server under test (shard-group runs)
    std::vector<double> master_cpu;              // CPU seconds per master over the timed part (shard-group runs)
    std::map<std::string, std::uint64_t> syscalls;  // every master's, by call and "all" (FAILPIPE_BENCH_SYSCALLS)
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

/// Dead letters a consume run of @p kind over N = @p n messages must end with (i % 100 == 1).
std::uint64_t expected_dead(Kind kind, std::size_t n) { return kind == Kind::a ? 0 : (n + 98) / 100; }

/// What is wrong after a consume run ("" when nothing): the Worker's counts, how often each
/// message's handler ran (@p runs_of, N entries), runs of unknown messages, messages left in the
/// channel(s) and dead letters.
std::string verify_consume(Kind kind, std::size_t n, const failpipe::WorkerMetricsSnapshot& s,
                           const std::atomic<std::uint32_t>* runs_of, std::uint64_t strays, std::size_t left,
                           std::size_t dead_letters) {
    const std::uint64_t dead = expected_dead(kind, n);
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
    if (strays != 0) problems << " " << strays << " runs of unknown messages;";
    if (left != 0) problems << " channel not empty;";
    if (dead_letters != dead) problems << " " << dead_letters << " dead letters != " << dead << ";";
    return problems.str();
}

/// The handler of every consume scenario: counts the runs of message i in @p runs_of[i] (N
/// entries; @p strays counts others), and fails as scenario @p kind says.
failpipe::Handler scenario_handler(Kind kind, std::size_t n, std::atomic<std::uint32_t>* runs_of,
                                   std::atomic<std::uint64_t>& strays) {
    return [runs_of, &strays, n, kind](const Message& message, failpipe::HandlerContext&) {
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
    };
}

/// Waits until the workers have settled every one of @p n messages: the Worker counts a message
/// as succeeded or dead-lettered once its settle has returned. A settle error or @p give_up ends
/// the wait with a problem noted in @p m.
void await_settled(const failpipe::WorkerMetrics& metrics, std::size_t n, std::chrono::steady_clock::time_point give_up,
                   Measure& m) {
    for (;;) {
        auto s = metrics.snapshot();
        if (s.succeeded + s.dead_lettered >= n) return;
        if (s.settle_errors != 0) {
            m.problem = "settle errors";
            return;
        }
        if (std::chrono::steady_clock::now() > give_up) {
            m.problem = "timed out";
            return;
        }
        std::this_thread::sleep_for(200us);
    }
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
        worker->on("job", scenario_handler(kind, n, runs_of.get(), strays));
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
        await_settled(*metrics, n, give_up, m);
        m.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
        probe.stop(m);
    }  // stop and join the workers (not timed)
    probe.finish(m);

    m.problem += verify_consume(kind, n, metrics->snapshot(), runs_of.get(), strays.load(), adapter->depth("bench").total(),
                                adapter->depth("bench:dlq").total());
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

// ---- Shard groups on one Redis and on a Redis Cluster (scripts/bench-redis.sh --cluster) ----------

/// A master of the server under test and the hash slots it serves (one Redis: all of them).
struct Master {
    std::string address;                                     // host:port
    std::vector<std::pair<unsigned, unsigned>> slot_ranges;  // inclusive
    bool serves(std::uint16_t slot) const {
        return std::any_of(slot_ranges.begin(), slot_ranges.end(),
                           [slot](const auto& range) { return slot >= range.first && slot <= range.second; });
    }
};

/// Where a shard-group run goes: one Redis, or a Redis Cluster and its masters.
struct Target {
    std::string label;  // "one Redis", "cluster" or kMastersInTurn
    std::string url;
    std::vector<Master> masters;
    bool cluster = false;
    bool in_turn = false;  // the cluster's groups run master by master, not all at once
};
/// The label of the cluster's runs that load one master at a time.
constexpr const char* kMastersInTurn = "cluster, masters in turn";

/// `host:port` of a `redis://[user:password@]host:port[/db]` URL.
std::string address_of(std::string url) {
    if (url.rfind("redis://", 0) == 0) url.erase(0, 8);
    if (auto at = url.rfind('@'); at != std::string::npos) url.erase(0, at + 1);
    if (auto slash = url.find('/'); slash != std::string::npos) url.erase(slash);
    return url;
}

/// FAILPIPE_BENCH_CLUSTER_MASTERS as scripts/bench-redis.sh writes it from `CLUSTER NODES`:
/// `host:port=0-5460 host:port=5461-10922,12000 ...` (a master, `=`, its slots, comma-separated).
std::vector<Master> parse_masters(const std::string& text) {
    std::vector<Master> masters;
    std::istringstream entries(text);
    std::string entry;
    while (entries >> entry) {
        const auto equals = entry.find('=');
        if (equals == std::string::npos) throw std::invalid_argument("no '=' in master entry '" + entry + "'");
        Master master{entry.substr(0, equals), {}};
        std::istringstream ranges(entry.substr(equals + 1));
        std::string range;
        while (std::getline(ranges, range, ',')) {
            if (range.empty()) continue;
            const auto dash = range.find('-');
            const unsigned first = static_cast<unsigned>(std::stoul(range.substr(0, dash)));
            const unsigned last = dash == std::string::npos ? first : static_cast<unsigned>(std::stoul(range.substr(dash + 1)));
            master.slot_ranges.emplace_back(first, last);
        }
        masters.push_back(std::move(master));
    }
    return masters;
}

const Target& one_redis_target() {
    // FAILPIPE_BENCH_ONE_REDIS_LABEL: "one Redis + replica" when the script gave it one.
    static const Target target{env("FAILPIPE_BENCH_ONE_REDIS_LABEL", "one Redis"), redis_url(), {Master{address_of(redis_url()), {{0u, failpipe::kClusterSlots - 1u}}}}, false};
    return target;
}
const Target& cluster_target() {
    static const Target target = [] {
        Target t{"cluster", env("FAILPIPE_BENCH_CLUSTER_URL"), parse_masters(env("FAILPIPE_BENCH_CLUSTER_MASTERS")), true};
        // A node that has never met another one lists itself as ":port": it is on the seed's host.
        const std::string seed = address_of(t.url);
        for (Master& master : t.masters) {
            if (master.address.rfind(':', 0) == 0) master.address = seed.substr(0, seed.rfind(':')) + master.address;
        }
        return t;
    }();
    return target;
}
/// The cluster, its groups run one master after another (run_groups).
const Target& cluster_in_turn_target() {
    static const Target target = [] {
        Target t = cluster_target();
        t.label = kMastersInTurn;
        t.in_turn = true;
        return t;
    }();
    return target;
}
bool cluster_mode() { return !env("FAILPIPE_BENCH_CLUSTER_URL").empty(); }

std::size_t group_count() {
    static const std::size_t g = std::max<std::size_t>(1, std::stoul(env("FAILPIPE_BENCH_GROUPS", "6")));
    return g;
}
/// Deliveries each worker of the shard-group runs reserves per round trip (FAILPIPE_BENCH_BATCH;
/// default 64, WorkerOptions::batch_size's default).
std::size_t group_batch_size() {
    static const std::size_t b = std::max<std::size_t>(1, std::stoul(env("FAILPIPE_BENCH_BATCH", "64")));
    return b;
}
/// FAILPIPE_BENCH_GROUP_SPREAD=natural: groups g0, g1, ... wherever their slots fall; else
/// (balanced) names chosen so that the groups go round the masters in turn.
bool natural_spread() { return env("FAILPIPE_BENCH_GROUP_SPREAD") == "natural"; }

/// The key prefix of the shard-group runs; each run uses channels of its own under it.
const std::string& group_prefix() {
    static const std::string prefix = "bench:" + std::to_string(::getpid());
    return prefix;
}

struct Placement {
    std::string name;      // the group's name
    std::uint16_t slot;    // the slot of its hash tag {prefix:name}
    std::size_t master;    // index in Target::masters (masters.size(): no master serves it)
};

std::size_t master_of(const Target& target, std::uint16_t slot) {
    for (std::size_t m = 0; m < target.masters.size(); ++m) {
        if (target.masters[m].serves(slot)) return m;
    }
    return target.masters.size();
}

/// The groups of every run on @p target. On a cluster (balanced spread) group k goes to master
/// k mod M: it is named g<k>, or g<k>-<j> for the first j whose hash tag `{prefix:g<k>-<j>}` is in
/// that master's slots, as a team would name its groups to spread them. Elsewhere g0, g1, ...
const std::vector<Placement>& placements(const Target& target) {
    static std::map<std::string, std::vector<Placement>> cache;
    auto [it, added] = cache.try_emplace(target.label);
    if (!added) return it->second;
    for (std::size_t k = 0; k < group_count(); ++k) {
        const std::size_t wanted = k % target.masters.size();
        std::string name = "g" + std::to_string(k);
        for (int j = 1; target.cluster && !natural_spread() && j < 100000; ++j) {
            if (master_of(target, failpipe::shard_slot(group_prefix(), name)) == wanted) break;
            name = "g" + std::to_string(k) + "-" + std::to_string(j);
        }
        const std::uint16_t slot = failpipe::shard_slot(group_prefix(), name);
        it->second.push_back(Placement{name, slot, master_of(target, slot)});
    }
    return it->second;
}

/// FAILPIPE_BENCH_SYSCALLS: each run counts the masters' system calls with perf stat.
bool counting_syscalls() { return !env("FAILPIPE_BENCH_SYSCALLS").empty(); }

/// INFO of every master of a target: the commands each ran and its CPU seconds; with
/// FAILPIPE_BENCH_SYSCALLS its system calls from construction to syscalls(). Each master is asked through an adapter of its own, given
/// that master's URL and a key prefix in its slots, so the INFO reaches that master whether or not
/// the adapter routes by slot.
class MasterProbe {
public:
    struct Sample {
        std::map<std::string, std::uint64_t> calls;
        double cpu = 0;
    };

    explicit MasterProbe(const Target& target) {
        for (const Master& master : target.masters) {
            RedisAdapter::Options options;
            options.url = "redis://" + master.address;
            options.pool_size = 1;
            for (int j = 0;; ++j) {
                options.key_prefix = "bench-probe-" + std::to_string(j);
                if (master.serves(failpipe::cluster_hash_slot("{" + options.key_prefix + "}"))) break;
            }
            adapters_.push_back(std::make_unique<RedisAdapter>(options));
            pids_.push_back(checked_pid(*adapters_.back(), master.address));
        }
        if (counting_syscalls()) {
            for (long pid : pids_) syscalls_.push_back(std::make_unique<failpipe::bench::SyscallCounter>(pid));
        }
    }
    std::vector<Sample> sample() {
        std::vector<Sample> samples;
        for (auto& adapter : adapters_) samples.push_back(Sample{command_stats(*adapter), server_cpu(*adapter)});
        return samples;
    }
    /// The masters' system calls since the probe was made, by call (none unless counting them);
    /// stops counting.
    std::map<std::string, std::uint64_t> syscalls() {
        std::map<std::string, std::uint64_t> counts;
        for (auto& counter : syscalls_) {
            for (const auto& [call, count] : counter->stop()) counts[call] += count;
        }
        syscalls_.clear();
        return counts;
    }

private:
    /// The master's process id, from INFO server. Each master's figures must come from that master:
    /// were every INFO answered by one node, the masters would look perfectly balanced.
    static long checked_pid(RedisAdapter& adapter, const std::string& address) {
        const std::string wanted = "tcp_port:" + address.substr(address.rfind(':') + 1);
        std::istringstream lines(adapter.info("server"));
        std::string line;
        long pid = -1;
        bool port_seen = false;
        while (std::getline(lines, line)) {
            if (!line.empty() && line.back() == '\r') line.pop_back();
            if (line.rfind("process_id:", 0) == 0) pid = std::stol(line.substr(11));
            if (line.rfind("tcp_port:", 0) != 0) continue;
            if (line != wanted) throw std::runtime_error("the INFO meant for master " + address + " came from a server with " + line);
            port_seen = true;
        }
        if (!port_seen) throw std::runtime_error("INFO server of master " + address + " has no tcp_port");
        if (pid <= 0) throw std::runtime_error("INFO server of master " + address + " has no process_id");
        return pid;
    }

    std::vector<std::unique_ptr<RedisAdapter>> adapters_;
    std::vector<long> pids_;
    std::vector<std::unique_ptr<failpipe::bench::SyscallCounter>> syscalls_;
};

/// Why pushing to group @p group failed, with what it means on a cluster.
std::string push_problem(const Target& target, const Placement& group, const std::exception& e) {
    std::string problem = " pushing to group " + group.name + " (hash slot " + std::to_string(group.slot) + ") on " +
                          target.label + " failed: " + e.what();
    const std::string what = e.what();
    if (target.cluster && (what.find("MOVED") != std::string::npos || what.find("CROSSSLOT") != std::string::npos)) {
        problem += " -- this build's RedisAdapter does not follow a Redis Cluster's slot map (MOVED/CROSSSLOT): "
                   "the cluster runs need an adapter that routes by hash slot (docs/cluster.md)";
    }
    return problem;
}

/// A consume run over @p groups of @p target: @p n messages, message i in group i mod G, each
/// group one RedisAdapter whose key prefix is `<prefix>:<group>` (so its keys carry the group's
/// hash tag `{prefix:group}`, as failpipe::shard_hash_tag names it), @p concurrency workers spread
/// over the groups in turn (at least one per group), settling per reserved batch.
Measure run_groups(Kind kind, const Target& target, int concurrency, const std::vector<Placement>& groups, std::size_t n) {
    static std::atomic<int> run_counter{0};
    const std::string channel = "bench" + std::to_string(run_counter++);
    const std::size_t g = groups.size();
    const int workers_total = std::max(concurrency, static_cast<int>(g));
    std::vector<std::shared_ptr<RedisAdapter>> adapters;
    for (const Placement& group : groups) {
        RedisAdapter::Options options;
        options.url = target.url;
        options.key_prefix = group_prefix() + ":" + group.name;
        options.pool_size = static_cast<std::size_t>(workers_total) / g + 2;
        if ("{" + options.key_prefix + "}" != failpipe::shard_hash_tag(group_prefix(), group.name)) {
            throw std::logic_error("the key prefix of group " + group.name + " is not its shard hash tag");
        }
        adapters.push_back(std::make_shared<RedisAdapter>(options));
    }
    Measure m;
    m.messages = n;
    for (std::size_t k = 0; k < g; ++k) {
        std::vector<OutgoingMessage> batch;
        for (std::size_t i = k; i < n; i += g) batch.push_back(OutgoingMessage{channel, Message::create("job", {{"i", i}}), Seconds{0.0}});
        try {
            adapters[k]->push_batch(std::move(batch));
        } catch (const std::exception& e) {
            m.problem = push_problem(target, groups[k], e);
            return m;
        }
    }
    auto metrics = std::make_shared<failpipe::WorkerMetrics>();
    std::unique_ptr<std::atomic<std::uint32_t>[]> runs_of(new std::atomic<std::uint32_t>[n]);
    for (std::size_t i = 0; i < n; ++i) runs_of[i].store(0, std::memory_order_relaxed);
    std::atomic<std::uint64_t> strays{0};
    std::vector<std::unique_ptr<failpipe::Worker>> workers;
    for (int w = 0; w < workers_total; ++w) {
        failpipe::WorkerOptions options;
        options.channels = {channel};
        options.batch_size = group_batch_size();
        auto worker = std::make_unique<failpipe::Worker>(adapters[static_cast<std::size_t>(w) % g], dispatcher_for(kind),
                                                         failpipe::Classifier{}, options);
        worker->share_metrics(metrics);
        worker->on("job", scenario_handler(kind, n, runs_of.get(), strays));
        workers.push_back(std::move(worker));
    }

    MasterProbe probe(target);
    auto client_stats = [&adapters] {
        std::uint64_t commands = 0;
        for (auto& adapter : adapters) commands += adapter->stats().commands;
        return commands;
    };
    const auto before = probe.sample();
    const std::uint64_t commands_before = client_stats();
    const ClientUsage usage_before = client_usage();
    const auto started = std::chrono::steady_clock::now();
    std::vector<MasterProbe::Sample> after;
    {
        std::vector<std::jthread> threads;
        for (auto& worker : workers) threads.emplace_back([w = worker.get()](std::stop_token stop) { w->run(stop); });
        await_settled(*metrics, n, started + 120s, m);
        m.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
        const ClientUsage usage = client_usage();
        m.client_cpu = usage.cpu - usage_before.cpu;
        m.switches = usage.switches - usage_before.switches;
        m.client_commands = client_stats() - commands_before;
        after = probe.sample();
        m.syscalls = probe.syscalls();
    }  // stop and join the workers (not timed)
    for (std::size_t i = 0; i < after.size(); ++i) {
        std::uint64_t commands = 0;
        for (auto& [name, count] : after[i].calls) {
            if (name == "info") continue;  // the probes' own
            const auto prior = before[i].calls.find(name);
            const std::uint64_t delta = count - (prior == before[i].calls.end() ? 0 : prior->second);
            if (delta == 0) continue;
            m.by_command[name] += delta;
            commands += delta;
        }
        m.master_commands.push_back(commands);
        m.master_cpu.push_back(after[i].cpu - before[i].cpu);
        m.server_commands += commands;
        m.server_cpu += after[i].cpu - before[i].cpu;
    }

    std::size_t left = 0, dead_letters = 0;
    for (auto& adapter : adapters) {
        left += adapter->depth(channel).total();
        dead_letters += adapter->depth(channel + ":dlq").total();
    }
    m.problem += verify_consume(kind, n, metrics->snapshot(), runs_of.get(), strays.load(), left, dead_letters);
    return m;
}

/// Adds each of @p part to the same one of @p total (which grows to @p part's size).
template <typename T>
void add_each(std::vector<T>& total, const std::vector<T>& part) {
    total.resize(std::max(total.size(), part.size()), T{});
    for (std::size_t i = 0; i < part.size(); ++i) total[i] += part[i];
}

/// Adds the figures of @p part, a run on one master's groups, to @p total.
void add_part(Measure& total, const Measure& part) {
    total.seconds += part.seconds;
    total.client_cpu += part.client_cpu;
    total.server_cpu += part.server_cpu;
    total.switches += part.switches;
    total.messages += part.messages;
    total.client_commands += part.client_commands;
    total.server_commands += part.server_commands;
    for (const auto& [name, count] : part.by_command) total.by_command[name] += count;
    for (const auto& [call, count] : part.syscalls) total.syscalls[call] += count;
    add_each(total.master_commands, part.master_commands);
    add_each(total.master_cpu, part.master_cpu);
    total.problem += part.problem;
}

/// A consume run of @p target over its shard groups: every group at once, or (Target::in_turn) the
/// groups of one master after another, each master's share of the N messages in a run of its own,
/// the others idle: what the masters cost when none of them waits for a core another one holds.
Measure run_groups(Kind kind, const Target& target, int concurrency) {
    const auto& groups = placements(target);
    const std::size_t n = message_count();
    if (!target.in_turn) return run_groups(kind, target, concurrency, groups, n);
    Measure total;
    std::size_t given = 0;
    for (std::size_t master = 0; master < target.masters.size(); ++master) {
        std::vector<Placement> own;
        for (const Placement& group : groups) {
            if (group.master == master) own.push_back(group);
        }
        if (own.empty()) continue;
        given += own.size();
        // Message i of the whole run is in group i mod G: this master's groups hold about n * own / G.
        const std::size_t share = n * own.size() / groups.size();
        add_part(total, run_groups(kind, target, concurrency, own, share));
        if (!total.problem.empty()) return total;
    }
    if (given != groups.size()) total.problem = " some groups are on no master of the cluster;";
    return total;
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
    std::string on;        // shard-group runs: "one Redis" or "cluster" ("" for the others)
    std::size_t groups = 0;
};
std::vector<Row>& rows() {
    static std::vector<Row> all;
    return all;
}

/// The benchmark name of @p row (spaces and brackets made underscores).
std::string benchmark_name(const Row& row) {
    std::string name = row.scenario + "/" +
                       (!row.on.empty() ? row.on + "/groups:" + std::to_string(row.groups)
                        : row.settle == "-" ? row.what
                                            : "settle:" + row.settle) +
                       "/concurrency:" + std::to_string(row.concurrency);
    for (char& c : name) {
        if (c == ' ' || c == '(' || c == ')' || c == ',') c = '_';
    }
    return name;
}

/// Registers @p count runs of @p run, named @p name, as one Google Benchmark whose measures go to
/// rows()[@p index] (several registrations may feed one row).
template <class Run>
void register_runs(std::size_t index, const std::string& name, int count, Run run) {
    benchmark::RegisterBenchmark(name.c_str(),
                                 [index, run, name](benchmark::State& state) {
                                     std::uint64_t messages = 0, client = 0, server = 0;
                                     rows()[index].ran = true;
                                     for (auto _ : state) {
                                         if (!rows()[index].problem.empty()) {
                                             state.SkipWithError("an earlier run of this row failed its verification");
                                             break;
                                         }
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
        ->Iterations(count)
        ->UseManualTime()
        ->Unit(benchmark::kMillisecond);
}

/// Adds @p row and registers its iterations() runs.
template <class Run>
void register_scenario(Row row, Run run) {
    const std::string name = benchmark_name(row);
    rows().push_back(std::move(row));
    register_runs(rows().size() - 1, name, iterations(), run);
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

/// One line of "Server commands per message, by command": the median run of @p row, labelled
/// `[<label>]`; nothing for a row that failed or did not run.
void print_by_command(const Row& row, const std::string& label,
                      const std::map<std::string, std::uint64_t> Measure::*counts = &Measure::by_command,
                      const char* format = " %s %.2f", double least = 0.005) {
    if (!row.problem.empty() || row.runs.empty()) return;
    std::vector<const Measure*> sorted;
    for (const auto& m : row.runs) sorted.push_back(&m);
    std::sort(sorted.begin(), sorted.end(), [](const Measure* a, const Measure* b) { return a->seconds > b->seconds; });
    const Measure& m = *sorted[sorted.size() / 2];
    std::printf("  %s %s [%s] c%d:", row.scenario.c_str(), row.what.c_str(), label.c_str(), row.concurrency);
    std::vector<std::pair<std::uint64_t, std::string>> order;
    for (auto& [name, count] : m.*counts) order.emplace_back(count, name);
    std::sort(order.rbegin(), order.rend());
    for (auto& [count, name] : order) {
        const double per = static_cast<double>(count) / static_cast<double>(m.messages);
        if (per >= least) std::printf(format, name.c_str(), per);
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
    for (const Row& row : rows()) print_by_command(row, row.settle);
    std::printf("\nTargets: A >= 100,000 msgs/s, B >= 70,000 msgs/s, C bulk >= 150,000 pushes/s.\n");
}


/// The median of @p values (the upper one of an even count).
double median_of(std::vector<double> values) {
    std::sort(values.begin(), values.end());
    return values.empty() ? 0.0 : values[values.size() / 2];
}

/// A figure of one run, per message, of every master together.
using PerMessage = double (*)(const Measure&);
double cpu_per_message(const Measure& m) { return m.server_cpu / static_cast<double>(m.messages); }
double syscalls_per_message(const Measure& m) {
    const auto all = m.syscalls.find("all");
    return all == m.syscalls.end() ? 0.0 : static_cast<double>(all->second) / static_cast<double>(m.messages);
}

/// @p figure of each run of @p row, and their median.
std::vector<double> figure_of_runs(const Row& row, PerMessage figure) {
    std::vector<double> per;
    for (const Measure& m : row.runs) per.push_back(figure(m));
    return per;
}
double median_per_message(const Row& row, PerMessage figure) { return median_of(figure_of_runs(row, figure)); }

/// @p figure of each run of @p row over that of the run of @p base in the same round (runs of one
/// round follow each other: a machine that speeds up or slows down weighs on both).
std::vector<double> paired_ratios(const Row& row, const Row& base, PerMessage figure) {
    const std::vector<double> of_row = figure_of_runs(row, figure), of_base = figure_of_runs(base, figure);
    std::vector<double> ratios;
    for (std::size_t k = 0; k < std::min(of_row.size(), of_base.size()); ++k) ratios.push_back(of_row[k] / of_base[k]);
    return ratios;
}

/// The geometric mean of @p ratios and its 95 % confidence interval (Student's t over their
/// logarithms): how far apart two sides are, and how sure the runs make it, on a machine whose
/// single runs move by tens of per cent.
struct RatioInterval {
    double mean = 1, low = 1, high = 1;
};
RatioInterval ratio_interval(const std::vector<double>& ratios) {
    const std::size_t n = ratios.size();
    if (n < 2) return {ratios.empty() ? 1.0 : ratios[0], 0.0, 0.0};
    double sum = 0, squares = 0;
    for (double r : ratios) sum += std::log(r);
    const double mean = sum / static_cast<double>(n);
    for (double r : ratios) squares += (std::log(r) - mean) * (std::log(r) - mean);
    const double error = std::sqrt(squares / static_cast<double>(n - 1) / static_cast<double>(n));
    // t(0.975, n - 1) for 1 ... 30 degrees of freedom, then the normal's 1.96.
    static constexpr double kT[] = {12.71, 4.30, 3.18, 2.78, 2.57, 2.45, 2.36, 2.31, 2.26, 2.23, 2.20, 2.18, 2.16, 2.14, 2.13,
                                    2.12, 2.11, 2.10, 2.09, 2.09, 2.08, 2.07, 2.07, 2.06, 2.06, 2.06, 2.05, 2.05, 2.05, 2.04};
    const double t = n - 1 <= std::size(kT) ? kT[n - 2] : 1.96;
    return {std::exp(mean), std::exp(mean - t * error), std::exp(mean + t * error)};
}

/// "; <what>/msg cluster <= <one Redis>: yes (medians ..., run by run ...)" for @p figure, shown
/// multiplied by @p scale in @p unit.
void print_per_message_verdict(const char* what, const Row& cluster, const Row& single, PerMessage figure, double scale,
                               const char* unit, int decimals = 1) {
    const double on_cluster = median_per_message(cluster, figure), on_one = median_per_message(single, figure);
    const std::vector<double> ratios = paired_ratios(cluster, single, figure);
    const double ratio = median_of(ratios);
    std::printf("; %s/msg cluster <= %s: %s (medians %.*f%s vs %.*f%s, %+.0f %%; run by run %+.0f %%, from %+.0f to %+.0f %%)",
                what, single.on.c_str(), ratio <= 1.0 ? "yes" : "no", decimals, scale * on_cluster, unit, decimals,
                scale * on_one, unit,
                100.0 * (on_cluster / on_one - 1.0), 100.0 * (ratio - 1.0),
                100.0 * (*std::min_element(ratios.begin(), ratios.end()) - 1.0),
                100.0 * (*std::max_element(ratios.begin(), ratios.end()) - 1.0));
    if (ratios.size() >= 2) {
        const RatioInterval interval = ratio_interval(ratios);
        std::printf(" [mean of the ratios %+.1f %%, 95 %% interval %+.1f to %+.1f %%]", 100.0 * (interval.mean - 1.0),
                    100.0 * (interval.low - 1.0), 100.0 * (interval.high - 1.0));
    }
}

/// Commands per master over every run of @p row, and the largest distance of one from their mean,
/// as a fraction of the mean.
std::pair<std::vector<std::uint64_t>, double> master_spread(const Row& row) {
    std::vector<std::uint64_t> totals;
    for (const Measure& m : row.runs) {
        totals.resize(std::max(totals.size(), m.master_commands.size()), 0);
        for (std::size_t i = 0; i < m.master_commands.size(); ++i) totals[i] += m.master_commands[i];
    }
    double mean = 0;
    for (auto total : totals) mean += static_cast<double>(total);
    mean /= static_cast<double>(std::max<std::size_t>(1, totals.size()));
    double worst = 0;
    for (auto total : totals) worst = std::max(worst, std::abs(static_cast<double>(total) - mean) / std::max(mean, 1.0));
    return {totals, worst};
}

void print_groups(const Target& target) {
    std::printf("%s at %s: %zu master(s);", target.label.c_str(), target.url.c_str(), target.masters.size());
    if (!target.cluster) {
        std::printf(" groups ");
        for (const Placement& p : placements(target)) std::printf("%s%s", p.name.c_str(), &p == &placements(target).back() ? "\n" : ", ");
        return;
    }
    std::printf(" groups (hash tag {%s:<group>}, %s spread):\n", group_prefix().c_str(), natural_spread() ? "natural" : "balanced");
    for (std::size_t m = 0; m <= target.masters.size(); ++m) {
        std::string names;
        for (const Placement& p : placements(target)) {
            if (p.master == m) names += (names.empty() ? "" : ", ") + p.name + " (slot " + std::to_string(p.slot) + ")";
        }
        if (m == target.masters.size() && names.empty()) break;
        std::printf("  %-21s %s\n", m < target.masters.size() ? target.masters[m].address.c_str() : "(no master)",
                    names.empty() ? "-" : names.c_str());
    }
}

/// The summary of `scripts/bench-redis.sh --cluster`: the table of the shard-group runs on one Redis
/// and on the cluster, then a verdict per scenario.
void print_cluster_summary() {
    std::printf("\nfailpipe with %zu shard groups on one Redis and on a Redis Cluster: N = %zu per run (message i in\n"
                "group i mod %zu), %d runs each, one Redis and cluster in turn (median run shown, range of msgs/s\n"
                "beside it), batches of %zu, settle per reserved batch\n",
                group_count(), message_count(), group_count(), iterations(), group_batch_size());
    print_groups(one_redis_target());
    print_groups(cluster_target());
    std::printf("%u cores online; every redis-server (cluster replicas included) and this benchmark share them\n\n",
                std::thread::hardware_concurrency());

    std::vector<std::string> head = {"scenario", "on", "groups", "conc", "msgs/s", "range", "srv cmds/msg",
                                     "sent cmds/msg", "cli us/msg", "srv us/msg"};
    if (counting_syscalls()) head.push_back("srv syscalls/msg");
    head.insert(head.end(), {"commands per master", "max off mean"});
    std::vector<bool> right(head.size(), true);
    right[0] = right[1] = right[head.size() - 2] = false;
    std::vector<std::vector<std::string>> table;
    char buffer[64];
    auto fixed = [&buffer](const char* format, double value) {
        std::snprintf(buffer, sizeof buffer, format, value);
        return std::string(buffer);
    };
    for (const Row& row : rows()) {
        if (!row.ran || row.on.empty()) continue;
        std::vector<std::string> cells = {row.scenario + " " + row.what, row.on, std::to_string(row.groups),
                                          std::to_string(row.concurrency)};
        if (!row.problem.empty() || row.runs.empty()) {
            cells.push_back("FAILED");
            cells.resize(head.size());
            table.push_back(std::move(cells));
            continue;
        }
        std::vector<const Measure*> sorted;
        for (const auto& m : row.runs) sorted.push_back(&m);
        std::sort(sorted.begin(), sorted.end(), [](const Measure* a, const Measure* b) { return a->seconds > b->seconds; });
        const Measure& median = *sorted[sorted.size() / 2];
        auto rate_of = [](const Measure& m) { return static_cast<double>(m.messages) / m.seconds; };
        const double per = static_cast<double>(median.messages);
        cells.push_back(thousands(rate_of(median)));
        cells.push_back(sorted.size() > 1 ? thousands(rate_of(*sorted.front()) / 1000) + "k-" +
                                                thousands(rate_of(*sorted.back()) / 1000) + "k"
                                          : "-");
        cells.push_back(fixed("%.2f", static_cast<double>(median.server_commands) / per));
        cells.push_back(fixed("%.3f", static_cast<double>(median.client_commands) / per));
        cells.push_back(fixed("%.1f", 1e6 * median.client_cpu / per));
        cells.push_back(fixed("%.1f", 1e6 * median_per_message(row, cpu_per_message)));
        if (counting_syscalls()) cells.push_back(fixed("%.3f", median_per_message(row, syscalls_per_message)));
        auto [totals, worst] = master_spread(row);
        std::uint64_t sum = 0;
        for (auto total : totals) sum += total;
        std::string shares;
        for (auto total : totals) {
            shares += (shares.empty() ? "" : " / ") + fixed("%.1f %%", 100.0 * static_cast<double>(total) / static_cast<double>(std::max<std::uint64_t>(sum, 1)));
        }
        cells.push_back(shares);
        cells.push_back(totals.size() > 1 ? fixed("%.1f %%", 100.0 * worst) : "-");
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

    std::printf("\nPer message (median run; srv us/msg: the median over the runs): srv cmds = commands the masters ran\n"
                "(INFO commandstats of every master, diffed over the timed part, scripts' commands included, the probes'\n"
                "INFO left out); sent cmds = commands the adapters sent; cli us = CPU microseconds of this process;\n"
                "srv us = used_cpu_sys + used_cpu_user of every master, diffed (replicas not counted; a master's\n"
                "feed to its replica is). Commands per master: each master's share of every run's commands together;\n"
                "max off mean: the largest distance of one master's commands from the masters' mean.\n");
    if (counting_syscalls()) {
        std::printf("srv syscalls = system calls the masters made, every thread (perf stat -e raw_syscalls:sys_enter\n"
                    "-p <master>, from just before the run to its end; by call below).\n");
    }
    for (const Row& row : rows()) {
        if (!row.on.empty() && !row.problem.empty()) {
            std::printf("\nFAILED %s %s on %s: verification failed:%s\n", row.scenario.c_str(), row.what.c_str(),
                        row.on.c_str(), row.problem.c_str());
        }
    }
    std::printf("\nServer commands per message, by command (median run of each scenario, every master):\n");
    for (const Row& row : rows()) {
        if (!row.on.empty()) print_by_command(row, row.on);
    }
    if (counting_syscalls()) {
        std::printf("\nServer system calls per message, by call (median run of each scenario, every master; all = every call):\n");
        for (const Row& row : rows()) {
            if (!row.on.empty()) print_by_command(row, row.on, &Measure::syscalls, " %s %.4f", 0.0);
        }
    }
    std::printf("\nVerdicts (balanced: every master within 20 %% of the masters' mean, with %zu groups%s;\n"
                "CPU: the masters' CPU per message on the cluster no more than on %s, run by run: the median of the\n"
                "ratios of the cluster's run to the one Redis's run of the same round, with their range; in brackets\n"
                "their geometric mean and its 95 %% confidence interval (Student's t over the logarithms)):\n",
                group_count(), group_count() < 6 ? ", fewer than the 6 the target asks for" : "",
                one_redis_target().label.c_str());
    for (const Row& cluster : rows()) {
        if ((cluster.on != "cluster" && cluster.on != kMastersInTurn) || !cluster.ran) continue;
        const Row* single = nullptr;
        for (const Row& row : rows()) {
            if (row.on == one_redis_target().label && row.scenario == cluster.scenario && row.concurrency == cluster.concurrency) single = &row;
        }
        std::printf("  %s %s, conc %d, %s: ", cluster.scenario.c_str(), cluster.what.c_str(), cluster.concurrency,
                    cluster.on == kMastersInTurn ? "masters in turn" : "all masters at once");
        if (!cluster.problem.empty() || cluster.runs.empty()) {
            std::printf("no verdict: the cluster runs FAILED (above)\n");
            continue;
        }
        auto [totals, worst] = master_spread(cluster);
        std::printf("balance within 20 %% across %zu masters: %s (largest %.1f %% off the mean)", totals.size(),
                    worst <= 0.20 && group_count() >= 6 ? "yes" : "no", 100.0 * worst);
        if (single == nullptr || !single->ran || !single->problem.empty() || single->runs.empty()) {
            std::printf("; CPU/msg cluster <= %s: no verdict (its runs did not run or FAILED)\n",
                        one_redis_target().label.c_str());
            continue;
        }
        print_per_message_verdict("CPU", cluster, *single, cpu_per_message, 1e6, " us");
        if (counting_syscalls()) print_per_message_verdict("syscalls", cluster, *single, syscalls_per_message, 1.0, "", 3);
        std::printf("\n");
    }
    std::printf("\nAll masters at once: the groups of every master run together, as in production; on a machine\n"
                "with fewer cores than the cluster has redis-servers (%u here, for %zu masters and their replicas),\n"
                "the masters take turns on the cores and each starts its turn with caches another one filled.\n"
                "Masters in turn: each master's groups run alone, the other masters idle: what the cluster's\n"
                "masters cost per message when none of them waits for a core another one holds, as on a\n"
                "deployment whose masters have cores of their own.\n",
                std::thread::hardware_concurrency(), cluster_target().masters.size());
}

/// `scripts/bench-redis.sh --cluster`: A and B over the shard groups, on one Redis and on the
/// cluster in turn, then print_cluster_summary().
int run_cluster_comparison(int argc, char** argv) {
    try {
        if (cluster_target().masters.empty()) throw std::invalid_argument("it is empty");
    } catch (const std::exception& e) {
        std::fprintf(stderr, "bench_redis: FAILPIPE_BENCH_CLUSTER_MASTERS (the cluster's masters and their slots, "
                             "`host:port=0-5460 ...`; scripts/bench-redis.sh --cluster sets it) is not usable: %s\n", e.what());
        return 2;
    }
    constexpr int concurrency = 16;
    struct Consume {
        const char* scenario;
        const char* what;
        Kind kind;
    };
    // One row per scenario and target; their runs interleaved, one Redis, the cluster and the
    // cluster master by master in turn (which goes first rotating), so that a machine that slows
    // down or speeds up during the benchmark weighs on every side alike.
    constexpr int kSides = 3;
    std::vector<std::pair<std::size_t, std::function<Measure()>>> pairs[kSides];
    for (const Consume& c : {Consume{"A", "all succeed", Kind::a}, Consume{"B", "10% fail once, 1% dead", Kind::b}}) {
        std::size_t side = 0;
        for (const Target* target : {&one_redis_target(), &cluster_target(), &cluster_in_turn_target()}) {
            rows().push_back(Row{c.scenario, c.what, "batch", concurrency, 0, {}, false, {}, target->label, group_count()});
            pairs[side++].emplace_back(rows().size() - 1, [kind = c.kind, target] {
                try {
                    return run_groups(kind, *target, concurrency);
                } catch (const std::exception& e) {
                    Measure m;
                    m.problem = std::string(" on ") + target->label + ": " + e.what();
                    return m;
                }
            });
        }
    }
    for (int round = 1; round <= iterations(); ++round) {
        for (std::size_t s = 0; s < pairs[0].size(); ++s) {
            for (int k = 0; k < kSides; ++k) {
                const auto& [index, run] = pairs[(round + k) % kSides][s];
                register_runs(index, benchmark_name(rows()[index]) + "/round:" + std::to_string(round), 1, run);
            }
        }
    }
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    print_cluster_summary();
    for (const Row& row : rows()) {
        if (!row.problem.empty()) return 1;
    }
    return 0;
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
    if (cluster_mode()) return run_cluster_comparison(argc, argv);
    for (const Consume& c : {Consume{"A", "all succeed", Kind::a, 100000},
                             Consume{"B", "10% fail once, 1% dead", Kind::b, 70000},
                             Consume{"B'", "as B, retry after 1 ms", Kind::b_delay, 70000}}) {
        for (bool per_batch : {true, false}) {
            for (int concurrency : {1, 16}) {
                register_scenario(Row{c.scenario, c.what, per_batch ? "batch" : "message", concurrency, c.target, {}, false, {}, {}, 0},
                                  [kind = c.kind, concurrency, per_batch] { return run_consume(kind, concurrency, per_batch); });
            }
        }
    }
    register_scenario(Row{"C", "push_batch (bulk)", "-", 1, 150000, {}, false, {}, {}, 0}, [] { return run_push(PushKind::bulk, 1); });
    register_scenario(Row{"C", "push() one at a time", "-", 1, 0, {}, false, {}, {}, 0}, [] { return run_push(PushKind::single, 1); });
    register_scenario(Row{"C", "push() one at a time", "-", 16, 0, {}, false, {}, {}, 0},
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
