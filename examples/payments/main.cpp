// failpipe_payments — the main job: N payments through the Kafka module's non-blocking retry levels
// (payments → payments-retry-5s → payments-retry-15s → payments-retry-60s → dead letters) against a
// simulated payment gateway that times out, declines invalid cards and goes down for a while, with
// malformed messages and worker threads that crash on a message. At the end, an audit by id of
// every payment. What it simulates and how to read the report: docs/payments.md.
#include <failpipe/config.hpp>
#include <failpipe/dead_letters.hpp>
#include <failpipe/error.hpp>
#include <failpipe/fault_injection.hpp>
#include <failpipe/memory/in_memory_adapter.hpp>
#include <failpipe/metadata_keys.hpp>
#include <failpipe/circuit_breaker.hpp>
#include <failpipe/metrics.hpp>
#include <failpipe/worker.hpp>
#include <failpipe/shutdown_signals.hpp>
#include <failpipe/worker_pool.hpp>
#if FAILPIPE_HAVE_REDIS
#include <failpipe/redis/redis_adapter.hpp>

#include "private_redis.hpp"
#endif

#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <sys/ioctl.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <iostream>
#include <optional>
#include <random>
#include <stop_token>
#include <thread>

#include "options.hpp"
#include "report.hpp"
#include "simulation.hpp"
#include "tally.hpp"

namespace payments {
namespace {

using SteadyClock = std::chrono::steady_clock;

std::chrono::nanoseconds scaled(double real_seconds, double scale) {
    return std::chrono::nanoseconds(static_cast<std::int64_t>(real_seconds * scale * 1e9));
}

// The visibility timeout never goes below this, however small the time scale: a worker thread on a
// busy machine must settle its batch within it, or healthy payments would come back as if crashed.
constexpr double kMinVisibilitySeconds = 0.5;

// The config as written (real time), with every delay and the visibility timeout times the scale.
failpipe::Config scaled_config(const failpipe::Config& real, double scale) {
    nlohmann::json document = real.document;
    auto scale_pipeline = [&](nlohmann::json& pipeline) {
        for (auto& middleware : pipeline) {
            for (const char* key : {"delayInitial", "delayMaximum"}) {
                if (middleware.contains(key)) middleware[key] = middleware[key].get<double>() * scale;
            }
        }
    };
    if (document.contains("defaultPipeline")) scale_pipeline(document["defaultPipeline"]);
    if (document.contains("pipelines")) {
        for (auto& [channel, pipeline] : document["pipelines"].items()) scale_pipeline(pipeline);
    }
    if (document.contains("breakers")) {
        for (auto& [name, breaker] : document["breakers"].items()) {
            for (const char* key : {"window", "openFor", "releaseDelay"}) {
                if (breaker.contains(key)) breaker[key] = breaker[key].get<double>() * scale;
            }
        }
    }
    if (document.contains("degradation")) {
        for (const char* key : {"window", "interval"}) {
            if (document["degradation"].contains(key)) document["degradation"][key] = document["degradation"][key].get<double>() * scale;
        }
    }
    auto& worker = document["worker"];
    const double visibility = worker.value("visibilityTimeout", 30.0);
    worker["visibilityTimeout"] = std::max(kMinVisibilitySeconds, visibility * scale);
    return failpipe::load_config(document);
}

// The retry levels in pipeline order: the consumed channel no middleware sends to comes first, then
// each level's retry target (the `queue` of its delaying middleware). The workers may consume them in
// another order (config/payments.json lists the retries first).
std::vector<std::string> pipeline_order(const nlohmann::json& document, const std::vector<std::string>& channels) {
    const auto pipelines = document.value("pipelines", nlohmann::json::object());
    auto next_of = [&](const std::string& channel) -> std::string {
        if (!pipelines.contains(channel)) return {};
        for (const auto& middleware : pipelines[channel]) {
            if (middleware.value("type", "") != "dead-letter" && middleware.contains("queue") &&
                middleware["queue"].is_string()) {
                return middleware["queue"].get<std::string>();
            }
        }
        return {};
    };
    std::string first;
    for (const auto& channel : channels) {
        const bool targeted = std::any_of(channels.begin(), channels.end(), [&](const std::string& other) { return next_of(other) == channel; });
        if (!targeted) {
            first = channel;
            break;
        }
    }
    std::vector<std::string> order;
    for (std::string at = first; !at.empty() && order.size() < channels.size(); at = next_of(at)) {
        if (std::find(channels.begin(), channels.end(), at) == channels.end() ||
            std::find(order.begin(), order.end(), at) != order.end()) {
            break;
        }
        order.push_back(at);
    }
    return order.size() == channels.size() ? order : channels;
}

std::string redacted(const std::string& url) {
    const auto at = url.find('@');
    const auto scheme = url.find("://");
    if (at == std::string::npos || scheme == std::string::npos) return url;
    return url.substr(0, scheme + 3) + "***" + url.substr(at);
}

// The payment messages, and the poison ones as raw bytes, pushed in order.
void produce(const Scenario& scenario, failpipe::AdapterInterface& adapter,
             const std::function<void(const std::string&)>& push_raw, const std::string& channel) {
    std::vector<failpipe::OutgoingMessage> batch;
    auto flush = [&] {
        if (!batch.empty()) adapter.push_batch(std::move(batch));
        batch.clear();
    };
    for (std::size_t i = 0; i < scenario.size(); ++i) {
        const std::size_t n = i + 1;
        const bool invalid = scenario.kind(i) == Kind::invalid;
        nlohmann::json data{{"payment", n},
                            {"amount", 100 + static_cast<long long>(scenario.draw(i, 99) * 99900)},
                            {"currency", "EUR"},
                            {"card", invalid ? "4000000000000002" : "4111111111111111"}};
        if (scenario.kind(i) == Kind::poison) {
            flush();
            // Cut mid-object: the bytes are no message. The payment number stays readable in them.
            push_raw(R"({"handler": "payment.charge", "data": {"payment": )" + std::to_string(n) + R"(, "amount": 12)");
            continue;
        }
        auto message = failpipe::Message::create("payment.charge", std::move(data));
        message.metadata["correlationId"] = "payment-" + std::to_string(n);
        batch.push_back({channel, std::move(message)});
        if (batch.size() == 1000) flush();
    }
    flush();
}

// How late a retried payment arrived on its level: now − its due time (metadata `failpipe-due-at`,
// stamped by the worker on the delayed push).
std::optional<double> lateness_ms(const failpipe::Message& message) {
    if (!message.metadata.is_object()) return std::nullopt;
    const auto due = message.metadata.find(failpipe::metadata_keys::due_at);
    if (due == message.metadata.end() || !due->is_number_integer()) return std::nullopt;
    const auto now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                            std::chrono::system_clock::now().time_since_epoch())
                            .count();
    return static_cast<double>(std::max<long long>(0, now_ms - due->get<long long>()));
}

// One line, redrawn in place, on a terminal only.
class Progress {
public:
    explicit Progress(bool live) : live_(live) {}
    void draw(std::string line) {
        if (!live_) return;
        // A line longer than the terminal would wrap, and \r would redraw only its last part.
        winsize size{};
        if (::ioctl(STDERR_FILENO, TIOCGWINSZ, &size) == 0 && size.ws_col > 1 && line.size() >= size.ws_col) {
            line.resize(size.ws_col - 1);
        }
        std::fprintf(stderr, "\r\033[2K%s", line.c_str());
        std::fflush(stderr);
    }
    void finish() {
        if (!live_) return;
        std::fputs("\n", stderr);
        std::fflush(stderr);
    }

private:
    bool live_;
};

// `new` for the first level, `5s` for `payments-retry-5s`: the live line must fit a terminal.
std::string short_name(const std::vector<std::string>& levels, std::size_t i) {
    if (i == 0) return "new";
    const std::string prefix = levels.front() + "-retry-";
    return levels[i].rfind(prefix, 0) == 0 ? levels[i].substr(prefix.size()) : levels[i];
}

std::string grouped(std::uint64_t value) {
    std::string digits = std::to_string(value);
    for (int i = static_cast<int>(digits.size()) - 3; i > 0; i -= 3) digits.insert(static_cast<std::size_t>(i), ",");
    return digits;
}

int run(const Options& options, const failpipe::ShutdownSignals& signals) {
    // failpipe logs through the spdlog logger "failpipe": errors only here (the report tells the
    // rest); FAILPIPE_LOG_LEVEL=warn shows every dead letter as it happens.
    auto log = std::make_shared<spdlog::logger>("failpipe", std::make_shared<spdlog::sinks::stderr_sink_mt>());
    const char* log_level = std::getenv("FAILPIPE_LOG_LEVEL");
    log->set_level(log_level != nullptr ? spdlog::level::from_str(log_level) : spdlog::level::err);
    spdlog::register_logger(log);

    failpipe::Config config;
    try {
        config = scaled_config(failpipe::load_config_file(options.config), options.time_scale);
    } catch (const failpipe::ConfigError& e) {
        std::cerr << "failpipe_payments: " << options.config << " is not a valid config:\n" << e.what() << "\n";
        return 1;
    }
    const std::vector<std::string> levels = pipeline_order(config.document, config.worker.channels);
    if (levels.empty()) {
        std::cerr << "failpipe_payments: " << options.config << ": worker.channels is empty (the retry levels)\n";
        return 1;
    }

    const Scenario scenario(options.messages, options.seed, options.invalid_rate, options.poison_rate, options.crash_rate);

    // The broker.
    std::shared_ptr<failpipe::AdapterInterface> broker;
    std::function<void(const std::string&)> push_raw;
    const std::size_t threads = options.threads != 0 ? options.threads : config.pool.threads;
    nlohmann::json run_info{{"threads", threads},       {"seed", options.seed},
                            {"timeScale", options.time_scale},  {"failRate", options.fail_rate},
                            {"outageSeconds", options.outage_for * options.time_scale}};
#if FAILPIPE_HAVE_REDIS
    std::unique_ptr<PrivateRedis> private_redis;
#endif
    try {
        if (!options.redis) {
            failpipe::InMemoryAdapter::Options memory;
            memory.visibility_timeout = config.visibility_timeout;
            memory.max_message_bytes = config.max_message_bytes;
            auto adapter = std::make_shared<failpipe::InMemoryAdapter>(memory);
            push_raw = [adapter, channel = levels.front()](const std::string& bytes) { adapter->push_raw(channel, bytes); };
            broker = adapter;
            run_info["adapter"] = "the in-memory adapter";
        } else {
#if FAILPIPE_HAVE_REDIS
            failpipe::RedisAdapter::Options redis;
            if (options.redis_url.empty()) {
                private_redis = std::make_unique<PrivateRedis>();
                redis.url = private_redis->url();
            } else {
                redis.url = options.redis_url;
            }
            // A prefix of its own every run: old keys of earlier runs never meet this one.
            redis.key_prefix = options.prefix.empty()
                                   ? "failpipe-payments-" + failpipe::generate_message_id().substr(0, 12)
                                   : options.prefix;
            redis.visibility_timeout = config.visibility_timeout;
            redis.max_message_bytes = config.max_message_bytes;
            redis.pool_size = threads + 4;
            auto adapter = std::make_shared<failpipe::RedisAdapter>(redis);
            try {
                adapter->ping();
            } catch (const failpipe::ConnectionError& e) {
                std::cerr << "failpipe_payments: cannot reach Redis at " << redacted(redis.url) << ": " << e.what()
                          << "\n(without a URL, --redis starts a redis-server of its own)\n";
                return 1;
            }
            push_raw = [adapter, channel = levels.front()](const std::string& bytes) { adapter->push_raw(channel, bytes); };
            broker = adapter;
            run_info["adapter"] = private_redis ? "a private redis-server (" + redis.url + ", pid " +
                                                      std::to_string(private_redis->pid()) + ")"
                                                : "Redis at " + redacted(redis.url);
            run_info["redisPrefix"] = redis.key_prefix;
            run_info["privateRedis"] = private_redis != nullptr;
#else
            std::cerr << "failpipe_payments: --redis: this build has no Redis adapter (libhiredis-dev)\n";
            return 2;
#endif
        }
    } catch (const std::exception& e) {
        std::cerr << "failpipe_payments: " << e.what() << "\n";
        return 1;
    }
    // The audit reads the dead-letter channels: they must start empty (a --prefix of an earlier run).
    try {
        for (const auto& level_channel : levels) {
            for (const auto& name : {level_channel, level_channel + config.dispatcher.dead_letter_suffix}) {
                if (const auto held = broker->depth(name).total(); held != 0) {
                    std::cerr << "failpipe_payments: channel \"" << name << "\" already holds " << held
                              << " messages (an earlier run under this --prefix?): give another --prefix, or none "
                                 "for a new one\n";
                    return 1;
                }
            }
        }
    } catch (const failpipe::Error& e) {
        std::cerr << "failpipe_payments: " << e.what() << "\n";
        return 1;
    }
    auto adapter = std::make_shared<CrashingThreads>(broker, scenario, config.worker.max_deliveries);

    // The gateway, its breaker, and what the handler records.
    const auto start = SteadyClock::now();
    const auto outage_from = start + scaled(options.outage_at, options.time_scale);
    Gateway gateway(scenario, options.fail_rate, scaled(0.02, options.time_scale), outage_from,
                    outage_from + scaled(options.outage_for, options.time_scale));
    Tally tally(options.messages);
    // The gateway's breaker is config/payments.json's `breakers.gateway` (scaled like every duration).
    const auto breaker = config.breaker("gateway");
    if (!breaker) {
        std::cerr << "failpipe_payments: " << options.config << " has no breakers.gateway\n";
        return 1;
    }

    auto level_of = [&](const std::string& channel) -> std::size_t {
        for (std::size_t i = 0; i < levels.size() && i < kLevels; ++i) {
            if (levels[i] == channel) return i;
        }
        return 0;
    };
    auto charge = [&](const failpipe::Message& message, failpipe::HandlerContext& context) {
        // `failpipe inject` messages fail as their header asks (crashes are taken by CrashingThreads).
        failpipe::apply_injected_fault(message, [] { throw std::logic_error("injected crash reached the handler"); });
        const long long n = payment_number(message.data);
        if (n < 1 || static_cast<std::size_t>(n) > options.messages) {
            tally.foreign_succeeded();
            return;
        }
        gateway.charge(static_cast<std::size_t>(n - 1), level_of(context.channel()));
        tally.succeeded(static_cast<std::size_t>(n));
    };

    // Outermost: a payment's first delivery on a level is its retry into that level; how late it
    // came after its due time is measured here, before the breaker may hold it back.
    auto arrivals = failpipe::make_consume_middleware(
        [&](const failpipe::Message& message, failpipe::HandlerContext& context,
            const failpipe::ConsumeHandlerInterface& next) {
            const long long n = payment_number(message.data);
            if (n >= 1 && static_cast<std::size_t>(n) <= options.messages) {
                const std::size_t level = level_of(context.channel());
                tally.arrived(static_cast<std::size_t>(n), level,
                              level == 0 ? std::nullopt : lateness_ms(message));
            }
            next.handle(message, context);
        });

    // The runtime: a WorkerPool of N threads, each with its own failpipe::Worker, sharing the
    // adapter, the pipelines, the breaker and the observers.
    failpipe::WorkerOptions worker_options = config.worker;
    worker_options.wait = std::chrono::milliseconds(20);
    failpipe::WorkerPoolOptions pool_options = config.pool;
    pool_options.threads = threads;
    failpipe::WorkerPool pool(adapter, config.make_dispatcher(), config.classifier, worker_options, pool_options);
    pool.use(arrivals);
    for (const auto& middleware : config.breakers) pool.use(middleware);
    pool.use(tally.timing_middleware());
    pool.on("payment.charge", charge);
    auto metrics = std::make_shared<failpipe::Metrics>();
    pool.observe(metrics);
    pool.observe(failpipe::make_delivery_observer([&](const failpipe::DeliveryEvent& event) {
        if (event.outcome == failpipe::Outcome::released) tally.released(std::string(event.message_id));
    }));
    pool.start();

    try {
        produce(scenario, *adapter, push_raw, levels.front());
    } catch (const failpipe::Error& e) {
        std::cerr << "failpipe_payments: could not push the payments: " << e.what() << "\n";
        return 1;
    }

    // Until every level is empty (nothing ready, delayed or held by a worker), or the time is up.
    const double scaled_run = options.time_scale * (80 + options.outage_at + options.outage_for +
                                                    config.worker.max_deliveries * 30.0);
    const auto timeout = options.timeout != 0
                             ? std::chrono::seconds(options.timeout)
                             : std::chrono::seconds(60 + static_cast<long long>(3 * scaled_run) +
                                                    static_cast<long long>(options.messages / 200));
    Progress progress(!options.quiet && isatty(STDERR_FILENO));
    bool timed_out = false;
    bool interrupted = false;
    // The counters are read before the broker's depths: a payment that finishes in between is in
    // neither, so "done" and "queued" never add up to more than were produced.
    auto rate_from = std::make_pair(SteadyClock::now(), std::uint64_t{0});
    double rate = 0;
    for (;;) {
        // Settled figures (the worker counts once the broker confirmed): a payment counted here has
        // left its level.
        const auto m = pool.metrics().snapshot();
        const std::uint64_t ok = m.succeeded;
        const std::uint64_t released = m.released;
        const std::uint64_t done = ok + m.dead_lettered;
        std::size_t waiting = 0, in_flight = 0;
        std::vector<std::size_t> per_level;
        try {
            for (const auto& level_channel : levels) {
                const auto depth = broker->depth(level_channel);
                per_level.push_back(depth.total());
                waiting += depth.total();
                in_flight += depth.reserved;
            }
        } catch (const failpipe::Error& e) {
            log->error("depth: {}", e.what());
            per_level.assign(levels.size(), 0);
            waiting = 1;  // unknown: keep waiting
        }
        const auto now = SteadyClock::now();
        if (now - rate_from.first >= std::chrono::seconds(1)) {
            rate = static_cast<double>(done - rate_from.second) / std::chrono::duration<double>(now - rate_from.first).count();
            rate_from = {now, done};
        }
        std::string line = grouped(done) + "/" + grouped(options.messages) + " done (" + grouped(ok) + " ok, " +
                           grouped(m.dead_lettered) + " dead) | queued:";
        for (std::size_t i = 0; i < levels.size(); ++i) line += " " + short_name(levels, i) + " " + grouped(per_level[i]);
        line += " | in flight " + grouped(in_flight) + " | released " + grouped(released) + " | " +
                grouped(static_cast<std::uint64_t>(rate)) + "/s | gateway " + (gateway.down() ? "DOWN" : "up") +
                ", breaker " + std::string(failpipe::to_string(breaker->state()));
        progress.draw(line);
        if (waiting == 0) break;
        if (now - start > timeout) {
            timed_out = true;
            break;
        }
        if (signals.wait_for(1, std::chrono::milliseconds(100))) {
            interrupted = true;
            break;
        }
    }
    pool.request_stop();  // no handler starts any more; each thread settles what it handled, hands back the rest
    if (!pool.join_for(config.pool.shutdown_grace)) {
        log->error("handlers still running after the grace period of {} s; waiting for them", config.pool.shutdown_grace.count());
        pool.join();
    }
    progress.finish();
    const double seconds = std::chrono::duration<double>(SteadyClock::now() - start).count();

    Audit result;
    try {
        result = audit(*broker, levels, tally, config.dispatcher.dead_letter_suffix, interrupted || timed_out);
    } catch (const failpipe::Error& e) {
        std::cerr << "failpipe_payments: could not read the dead letters: " << e.what() << "\n";
        return 1;
    }

    // The report, built once: the text is printed from it, so both always agree.
    const auto m = pool.metrics().snapshot();
    const auto latency = tally.latency_ms();
    const auto lateness = tally.lateness_ms();
    nlohmann::json report;
    report["produced"] = result.produced;
    report["succeeded"] = result.succeeded;
    report["deadLettered"] = result.dead_lettered;
    report["lost"] = result.lost;
    report["queued"] = result.queued;
    report["held"] = result.held;
    report["lostSample"] = result.lost_sample;
    report["inBoth"] = result.in_both;
    report["deadLetteredTwice"] = result.dead_twice;
    report["duplicates"] = result.duplicates;
    report["accounted"] = result.accounted();
    report["scenario"] = {{"normal", scenario.count(Kind::normal)},
                          {"invalidCard", scenario.count(Kind::invalid)},
                          {"poison", scenario.count(Kind::poison)},
                          {"crash", scenario.count(Kind::crash)}};
    report["retriesByLevel"] = nlohmann::json::object();
    for (std::size_t i = 1; i < levels.size() && i < kLevels; ++i) report["retriesByLevel"][levels[i]] = tally.entered(i);
    nlohmann::json groups = nlohmann::json::array();
    for (const auto& group : result.groups) {
        groups.push_back({{"fingerprint", group.fingerprint},
                          {"count", group.count},
                          {"errorType", group.error_type},
                          {"sample", group.sample}});
    }
    report["deadLetters"] = {{"total", result.dead_letter_entries},
                             {"byReason", result.by_reason},
                             {"byChannel", result.by_channel},
                             {"groups", groups},
                             {"notFromThisRun", result.foreign_dead_letters}};
    report["released"] = m.released;
    const auto breaker_now = breaker->snapshot();
    report["releaseRequests"] = breaker_now.rejected;
    report["releasedPayments"] = tally.released_payments();
    report["levels"] = levels;
    report["breaker"] = {{"openings", breaker_now.openings},
                         {"closings", breaker_now.closings},
                         {"state", failpipe::to_string(breaker_now.state)}};
    auto ms = [](double value) { return std::round(value * 1000.0) / 1000.0; };  // to the microsecond
    report["latencyMs"] = {{"p50", ms(latency.p50)}, {"p99", ms(latency.p99)}, {"samples", latency.samples}};
    report["retryLatenessMs"] = {{"p50", ms(lateness.p50)}, {"p99", ms(lateness.p99)}, {"samples", lateness.samples}};
    report["gatewayCalls"] = gateway.calls();
    report["crashes"] = adapter->crashes();
    report["worker"] = {{"received", m.received},   {"succeeded", m.succeeded}, {"failed", m.failed},
                        {"retried", m.retried},     {"deadLettered", m.dead_lettered}, {"poison", m.poison},
                        {"released", m.released}, {"settleErrors", m.settle_errors}};
    report["foreignSucceeded"] = tally.foreign();
    // The library's Metrics (fed by the same DeliveryEvents as Prometheus would be): by middleware, reason, releaser.
    const auto library = metrics->snapshot().total();
    report["metrics"] = {{"retriedBy", library.retried_by},
                         {"deadLetteredBy", library.dead_lettered_by},
                         {"releasedBy", library.released_by}};
    run_info["seconds"] = std::round(seconds * 1000.0) / 1000.0;
    run_info["paymentsPerSecond"] = std::round(static_cast<double>(options.messages) / std::max(seconds, 0.001));
    run_info["timedOut"] = timed_out;
    run_info["interrupted"] = interrupted;
    report["run"] = run_info;

    // The figures must add up; each way they could not is named.
    std::vector<std::string> problems;
    if (timed_out) problems.push_back("timed out after " + std::to_string(static_cast<long long>(seconds)) + " s with payments still waiting");
    if (!result.accounted()) problems.push_back("not every payment is accounted for (see above)");
    if (interrupted) {
        report["interruption"] = "stopped by signal " + std::to_string(signals.last_signal()) + " after " +
                                 std::to_string(static_cast<long long>(seconds)) + " s with " +
                                 std::to_string(result.queued) + " payments still queued" +
                                 (options.redis ? " (they wait at the broker)" : " (in memory: they end with this run)");
    }
    std::size_t by_reason = 0, by_group = 0;
    for (const auto& [reason, count] : result.by_reason) by_reason += count;
    for (const auto& group : result.groups) by_group += group.count;
    if (by_reason != result.dead_letter_entries || by_group != result.dead_letter_entries) {
        problems.push_back("dead letters by reason (" + std::to_string(by_reason) + ") or by cause (" +
                           std::to_string(by_group) + ") do not add up to the " +
                           std::to_string(result.dead_letter_entries) + " found");
    }
    if (m.dead_lettered != result.dead_letter_entries) {
        problems.push_back("the workers dead-lettered " + std::to_string(m.dead_lettered) + " messages, the dead-letter channels hold " +
                           std::to_string(result.dead_letter_entries));
    }
    std::uint64_t by_metrics = 0;
    for (const auto& [reason, count] : library.dead_lettered_by) by_metrics += count;
    if (by_metrics != result.dead_letter_entries) {
        problems.push_back("failpipe::Metrics counted " + std::to_string(by_metrics) +
                           " dead letters, the dead-letter channels hold " + std::to_string(result.dead_letter_entries));
    }
    if (result.dead_letter_entries != result.dead_lettered + result.foreign_dead_letters) {
        problems.push_back("dead-letter entries (" + std::to_string(result.dead_letter_entries) +
                           ") are not one per dead-lettered payment plus the foreign ones");
    }
    report["problems"] = problems;
    report["ok"] = problems.empty() && !interrupted;

    if (options.json) {
        std::cout << report.dump() << std::endl;
    } else {
        print_report(report, std::cout);
    }
    if (interrupted && problems.empty()) return failpipe::ShutdownSignals::exit_code_for(signals.last_signal());
    return problems.empty() ? 0 : 1;
}

}  // namespace
}  // namespace payments

int main(int argc, char** argv) {
    const auto options = payments::parse_options(argc, argv);
    try {
        // First, before any thread: SIGINT/SIGTERM become a graceful stop (a second one exits at once).
        failpipe::ShutdownSignals signals;
        return payments::run(options, signals);
    } catch (const std::exception& e) {
        std::cerr << "failpipe_payments: " << e.what() << "\n";
        return 1;
    }
}
