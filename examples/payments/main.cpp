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
#include <failpipe/degradation.hpp>
#include <failpipe/retry_budget.hpp>
#include <failpipe/metrics.hpp>
#include <failpipe/worker.hpp>
#include <failpipe/shutdown_signals.hpp>
#include <failpipe/worker_pool.hpp>
#if FAILPIPE_HAVE_HTTP
#include <failpipe/http/runtime_endpoints.hpp>
#endif
#if FAILPIPE_HAVE_DASHBOARD
#include <failpipe/dashboard/dashboard_server.hpp>
#endif
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/fmt/fmt.h>
#include <spdlog/spdlog.h>

#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdlib>
#include <iostream>
#include <optional>
#include <string>

#include "broker.hpp"
#include "live.hpp"
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

// Sets @p key of @p object to its library default when the document leaves it out, then scales it:
// a default (a breaker's 30 s openFor, say) is a real-time duration like a written one.
void scale_seconds(nlohmann::json& object, const char* key, failpipe::Seconds fallback, double scale) {
    if (!object.is_object()) return;
    if (!object.contains(key)) object[key] = fallback.count();
    if (object[key].is_number()) object[key] = object[key].get<double>() * scale;
}

// The config as written (real time), with every duration times the scale: the retry delays, the
// breakers' window/openFor/releaseDelay, the retry budgets' window/fallbackDelay, maxElapsed, the
// degradation window/interval (these also where the document leaves them at their defaults) and the
// visibility timeout.
failpipe::Config scaled_config(const failpipe::Config& real, double scale) {
    nlohmann::json document = real.document;
    auto scale_pipeline = [&](nlohmann::json& pipeline) {
        for (auto& middleware : pipeline) {
            for (const char* key : {"delayInitial", "delayMaximum"}) {
                if (middleware.contains(key) && middleware[key].is_number()) middleware[key] = middleware[key].get<double>() * scale;
            }
        }
    };
    if (document.contains("defaultPipeline")) scale_pipeline(document["defaultPipeline"]);
    if (document.contains("pipelines")) {
        for (auto& [channel, pipeline] : document["pipelines"].items()) scale_pipeline(pipeline);
    }
    if (document.contains("breakers")) {
        const failpipe::CircuitBreakerOptions defaults;
        for (auto& [name, breaker] : document["breakers"].items()) {
            scale_seconds(breaker, "window", defaults.window, scale);
            scale_seconds(breaker, "openFor", defaults.open_for, scale);
            scale_seconds(breaker, "releaseDelay", defaults.release_delay, scale);
        }
    }
    if (document.contains("retryBudget")) {
        const failpipe::RetryBudgetOptions defaults;
        for (auto& [channel, budget] : document["retryBudget"].items()) {
            scale_seconds(budget, "window", defaults.window, scale);
            scale_seconds(budget, "fallbackDelay", defaults.fallback_delay, scale);
        }
    }
    if (document.contains("maxElapsed")) {  // none by default: nothing to scale then
        auto& limit = document["maxElapsed"];
        if (limit.is_number()) limit = limit.get<double>() * scale;
        for (auto& [channel, seconds] : limit.items()) {
            if (limit.is_object() && seconds.is_number()) seconds = seconds.get<double>() * scale;
        }
    }
    if (document.contains("degradation")) {
        const failpipe::DegradationOptions defaults;
        scale_seconds(document["degradation"], "window", defaults.window, scale);
        scale_seconds(document["degradation"], "interval", defaults.interval, scale);
    }
    // No `worker` object: the defaults, as load_config would take them (then scaled like the rest).
    if (!document.contains("worker")) document["worker"] = nlohmann::json::object();
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

// A failure already explained on stderr; main returns its exit status.
struct Exit {
    int status;
};

[[noreturn]] void fail(const std::string& message, int status = 1);

#if FAILPIPE_HAVE_HTTP
// /metrics and /health of the run, on --listen (else the config's http.listen); none when neither says.
std::unique_ptr<failpipe::http::EndpointServer> serve_endpoints(const payments::Options& options,
                                                                const failpipe::Config& config, failpipe::WorkerPool& pool,
                                                                std::shared_ptr<failpipe::Metrics> metrics,
                                                                std::shared_ptr<failpipe::AdapterInterface> adapter,
                                                                const std::vector<std::string>& levels) {
    failpipe::http::RuntimeEndpointsOptions endpoints;
    if (!options.listen.empty()) {
        try {
            endpoints.listen = failpipe::ListenAddress::parse(options.listen);
        } catch (const failpipe::Error& e) {
            fail(std::string("--listen: ") + e.what(), 2);
        }
        if (!endpoints.listen.loopback()) fail("--listen: " + options.listen + " is not a loopback address", 2);
    } else if (config.http_listen) {
        endpoints.listen = *config.http_listen;
        endpoints.allow_non_loopback = config.http_allow_non_loopback;
    } else {
        return nullptr;
    }
    endpoints.channels = levels;
    endpoints.dead_letter_suffix = config.dispatcher.dead_letter_suffix;
    try {
        auto server = failpipe::http::serve_runtime(pool, std::move(metrics), std::move(adapter), endpoints);
        std::cerr << "failpipe_payments: serving http://" << server->address().to_string() << "/metrics and /health\n";
        return server;
    } catch (const failpipe::Error& e) {
        fail(e.what());
    }
}
#endif

#if FAILPIPE_HAVE_DASHBOARD
// The web dashboard of the run, on --dashboard (else the config's dashboard.listen); none when neither says.
std::unique_ptr<failpipe::dashboard::DashboardServer> serve_dashboard(const payments::Options& options,
                                                                      failpipe::Config config, failpipe::WorkerPool& pool,
                                                                      std::shared_ptr<failpipe::AdapterInterface> adapter,
                                                                      std::shared_ptr<const failpipe::Metrics> metrics) {
    if (!options.dashboard.empty()) {
        try {
            config.dashboard.listen = failpipe::ListenAddress::parse(options.dashboard);
        } catch (const failpipe::Error& e) {
            fail(std::string("--dashboard: ") + e.what(), 2);
        }
        if (!config.dashboard.listen->loopback()) fail("--dashboard: " + options.dashboard + " is not a loopback address", 2);
    }
    if (!config.dashboard.listen) return nullptr;
    try {
        auto server = failpipe::dashboard::serve_dashboard(pool, std::move(adapter), config, std::move(metrics));
        std::cerr << "failpipe_payments: dashboard on " << server->url();
        if (config.dashboard.token_file.empty() && !config.dashboard.read_only)
            std::cerr << "#token=" << server->token();
        std::cerr << "\n";
        return server;
    } catch (const failpipe::Error& e) {
        fail(e.what());
    }
}
#endif

[[noreturn]] void fail(const std::string& message, int status) {
    std::cerr << "failpipe_payments: " << message << "\n";
    throw Exit{status};
}

// worker.shutdownGrace ended with a handler still running (docs/runtime.md): name each, then end at
// once with 124 — a handler cannot be interrupted, and waiting for it would ignore the grace. No
// destructor runs after std::_Exit, so the private redis-server is stopped here.
[[noreturn]] void grace_expired(const failpipe::WorkerPool& pool, failpipe::Seconds grace, Broker& broker) {
    const auto still = pool.running_handlers();
    if (still.empty()) {
        std::cerr << "failpipe_payments: the grace period of " << grace.count()
                  << " s ended with a thread still settling (the broker is unreachable?); exiting with code "
                  << failpipe::WorkerPool::kExitGraceExpired << "\n";
    }
    for (const auto& running : still) {
        std::cerr << "failpipe_payments: the grace period of " << grace.count() << " s ended with the handler of message "
                  << running.message_id << " (type \"" << running.message_type << "\") on channel \"" << running.channel
                  << "\" still running for " << fmt::format("{:.1f}", running.running_for.count()) << " s on thread " << running.thread
                  << "; exiting with code " << failpipe::WorkerPool::kExitGraceExpired
                  << ": its delivery comes back after the visibility timeout\n";
    }
    std::cout.flush();
    std::cerr.flush();
    if (auto log = spdlog::get("failpipe")) log->flush();
#if FAILPIPE_HAVE_REDIS
    if (broker.server) broker.server->shutdown();
#else
    (void)broker;
#endif
    std::_Exit(failpipe::WorkerPool::kExitGraceExpired);
}

failpipe::Config load(const Options& options) {
    try {
        return scaled_config(failpipe::load_config_file(options.config), options.time_scale);
    } catch (const failpipe::ConfigError& e) {
        fail(options.config + " is not a valid config:\n" + e.what());
    }
}

// What a run ends with: its figures checked. Each way they could fail to add up is named.
std::vector<std::string> check_figures(const Audit& result, const failpipe::WorkerMetricsSnapshot& workers,
                                       const failpipe::SeriesSnapshot& library) {
    std::vector<std::string> problems;
    if (!result.accounted()) {
        // Said in full here: in --json mode there is no text above to point at.
        problems.push_back("not every payment is accounted for: " + std::to_string(result.lost) + " lost" +
                           (result.lost_sample.empty() ? "" : " (" + nlohmann::json(result.lost_sample).dump() + ")") + ", " +
                           std::to_string(result.in_both) + " both succeeded and dead-lettered, " +
                           std::to_string(result.dead_twice) + " dead-lettered more than once");
    }
    std::size_t by_reason = 0, by_group = 0, by_metrics = 0;
    for (const auto& [reason, count] : result.by_reason) by_reason += count;
    for (const auto& group : result.groups) by_group += group.count;
    for (const auto& [reason, count] : library.dead_lettered_by) by_metrics += count;
    const std::string found = std::to_string(result.dead_letter_entries);
    if (by_reason != result.dead_letter_entries || by_group != result.dead_letter_entries) {
        problems.push_back("dead letters by reason (" + std::to_string(by_reason) + ") or by cause (" +
                           std::to_string(by_group) + ") do not add up to the " + found + " found");
    }
    if (workers.dead_lettered != result.dead_letter_entries) {
        problems.push_back("the workers dead-lettered " + std::to_string(workers.dead_lettered) +
                           " messages, the dead-letter channels hold " + found);
    }
    if (by_metrics != result.dead_letter_entries) {
        problems.push_back("failpipe::Metrics counted " + std::to_string(by_metrics) +
                           " dead letters, the dead-letter channels hold " + found);
    }
    if (result.dead_letter_entries != result.dead_lettered + result.foreign_dead_letters) {
        problems.push_back("dead-letter entries (" + found +
                           ") are not one per dead-lettered payment plus the foreign ones");
    }
    return problems;
}

// Everything the report says, built once: the text is printed from it, so both always agree.
struct Outcomes {
    const Audit& audit;
    const Scenario& scenario;
    const Tally& tally;
    const std::vector<std::string>& levels;
    failpipe::WorkerMetricsSnapshot workers;
    failpipe::SeriesSnapshot library;
    failpipe::CircuitBreakerSnapshot breaker;
    std::uint64_t gateway_calls = 0;
    std::uint64_t crashes = 0;
};

nlohmann::json build_report(const Outcomes& o) {
    const Audit& a = o.audit;
    nlohmann::json report{{"produced", a.produced},         {"succeeded", a.succeeded},
                          {"deadLettered", a.dead_lettered}, {"lost", a.lost},
                          {"queued", a.queued},             {"held", a.held},
                          {"lostSample", a.lost_sample},    {"inBoth", a.in_both},
                          {"deadLetteredTwice", a.dead_twice}, {"duplicates", a.duplicates},
                          {"accounted", a.accounted()},     {"levels", o.levels}};
    report["scenario"] = {{"normal", o.scenario.count(Kind::normal)},
                          {"invalidCard", o.scenario.count(Kind::invalid)},
                          {"poison", o.scenario.count(Kind::poison)},
                          {"crash", o.scenario.count(Kind::crash)}};
    report["retriesByLevel"] = nlohmann::json::object();
    for (std::size_t i = 1; i < o.levels.size() && i < kLevels; ++i) report["retriesByLevel"][o.levels[i]] = o.tally.entered(i);
    nlohmann::json groups = nlohmann::json::array();
    for (const auto& group : a.groups) {
        groups.push_back({{"fingerprint", group.fingerprint},
                          {"count", group.count},
                          {"errorType", group.error_type},
                          {"sample", group.sample}});
    }
    report["deadLetters"] = {{"total", a.dead_letter_entries},
                             {"byReason", a.by_reason},
                             {"byChannel", a.by_channel},
                             {"groups", groups},
                             {"notFromThisRun", a.foreign_dead_letters}};
    report["released"] = o.workers.released;
    report["releaseRequests"] = o.breaker.rejected;
    report["releasedPayments"] = o.tally.released_payments();
    report["breaker"] = {{"openings", o.breaker.openings},
                         {"closings", o.breaker.closings},
                         {"state", failpipe::to_string(o.breaker.state)}};
    auto ms = [](double value) { return std::round(value * 1000.0) / 1000.0; };  // to the microsecond
    const auto latency = o.tally.latency_ms();
    const auto lateness = o.tally.lateness_ms();
    report["latencyMs"] = {{"p50", ms(latency.p50)}, {"p99", ms(latency.p99)}, {"samples", latency.samples}};
    report["retryLatenessMs"] = {{"p50", ms(lateness.p50)}, {"p99", ms(lateness.p99)}, {"samples", lateness.samples}};
    report["gatewayCalls"] = o.gateway_calls;
    report["crashes"] = o.crashes;
    const auto& w = o.workers;
    report["worker"] = {{"received", w.received}, {"succeeded", w.succeeded},         {"failed", w.failed},
                        {"retried", w.retried},   {"deadLettered", w.dead_lettered}, {"poison", w.poison},
                        {"released", w.released}, {"settleErrors", w.settle_errors}};
    report["foreignSucceeded"] = o.tally.foreign();
    // The library's Metrics, fed by the same DeliveryEvents as its Prometheus page.
    report["metrics"] = {{"retriedBy", o.library.retried_by},
                         {"deadLetteredBy", o.library.dead_lettered_by},
                         {"releasedBy", o.library.released_by}};
    return report;
}

// FAILPIPE_LOG_LEVEL in any case (spdlog's from_str turns any word it does not know, "WARN"
// included, into "off"); unset: errors only; another word: errors only, and a line says so.
spdlog::level::level_enum log_level_from_env() {
    const char* value = std::getenv("FAILPIPE_LOG_LEVEL");
    if (value == nullptr || *value == '\0') return spdlog::level::err;
    std::string name(value);
    std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    if (name == "off") return spdlog::level::off;
    const auto level = spdlog::level::from_str(name);
    if (level != spdlog::level::off) return level;
    std::cerr << "failpipe_payments: FAILPIPE_LOG_LEVEL is not a level (trace, debug, info, warn, error, critical, "
                 "off): logging errors only\n";
    return spdlog::level::err;
}

// On Redis, where the run's messages are, from the start: `failpipe inject` and `failpipe stats`
// can then be pointed at the running job.
void announce_redis(const nlohmann::json& info) {
    const std::string url = info.value("redisUrl", std::string{});
    const std::string prefix = info["redisPrefix"].get<std::string>();
    std::cerr << "failpipe_payments: Redis at " << url << ", key prefix " << prefix
              << " (to try it live: failpipe inject --redis '" << url << "' --prefix " << prefix
              << " --channel payments --kind transient --count 20)\n";
}

int run(const Options& options, const failpipe::ShutdownSignals& signals) {
    // failpipe logs through the spdlog logger "failpipe": errors only here (the report tells the
    // rest); FAILPIPE_LOG_LEVEL=warn shows every dead letter as it happens.
    auto log = std::make_shared<spdlog::logger>("failpipe", std::make_shared<spdlog::sinks::stderr_sink_mt>());
    log->set_level(log_level_from_env());
    spdlog::register_logger(log);

    const failpipe::Config config = load(options);
    const std::vector<std::string> levels = pipeline_order(config.document, config.worker.channels);
    if (levels.empty()) fail(options.config + ": worker.channels is empty (the retry levels)");
    // The gateway's breaker is config/payments.json's `breakers.gateway` (scaled like every duration).
    const auto breaker = config.breaker("gateway");
    if (!breaker) fail(options.config + " has no breakers.gateway");
    const std::size_t threads = options.threads != 0 ? options.threads : config.pool.threads;

    const Scenario scenario(options.messages, options.seed, options.invalid_rate, options.poison_rate, options.crash_rate);
    Broker broker;
    try {
        broker = open_broker(options, config, levels.front(), threads);
        require_empty(*broker.adapter, levels, config.dispatcher.dead_letter_suffix);
    } catch (const BadRedisUrl& e) {
        fail(e.what(), 2);
    } catch (const std::exception& e) {
        fail(e.what());
    }
    if (broker.info.contains("redisPrefix")) announce_redis(broker.info);
    auto adapter = std::make_shared<CrashingThreads>(broker.adapter, scenario, config.worker.max_deliveries);

    // The gateway and what the handler records.
    const auto start = SteadyClock::now();
    const auto outage_from = start + scaled(options.outage_at, options.time_scale);
    const Gateway gateway(scenario, options.fail_rate, scaled(0.02, options.time_scale), outage_from,
                          outage_from + scaled(options.outage_for, options.time_scale));
    Tally tally(options.messages);
    auto level_of = [&](const std::string& channel) -> std::size_t {
        const auto found = std::find(levels.begin(), levels.end(), channel);
        return found == levels.end() ? 0 : std::min<std::size_t>(static_cast<std::size_t>(found - levels.begin()), kLevels - 1);
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
                tally.arrived(static_cast<std::size_t>(n), level, level == 0 ? std::nullopt : lateness_ms(message));
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
#if FAILPIPE_HAVE_HTTP
    const auto endpoints = serve_endpoints(options, config, pool, metrics, broker.adapter, levels);
#else
    if (!options.listen.empty() || config.http_listen) fail("--listen: this build has no HTTP server (libcpp-httplib-dev)");
#endif
#if FAILPIPE_HAVE_DASHBOARD
    const auto dashboard = serve_dashboard(options, config, pool, broker.adapter, metrics);
#else
    if (!options.dashboard.empty() || config.dashboard.listen)
        fail("--dashboard: this build has no dashboard (libcpp-httplib-dev)");
#endif
    pool.start();
    try {
        produce(scenario, *adapter, broker.push_raw, levels.front());
    } catch (const failpipe::Error& e) {
        fail(std::string("could not push the payments: ") + e.what());
    }

    // Until every level is empty (nothing ready, delayed or held by a worker), the time is up, or a signal.
    const double scaled_run = options.time_scale * (80 + options.outage_at + options.outage_for +
                                                    config.worker.max_deliveries * 30.0);
    const auto timeout = options.timeout != 0
                             ? std::chrono::seconds(options.timeout)
                             : std::chrono::seconds(60 + static_cast<long long>(3 * scaled_run) +
                                                    static_cast<long long>(options.messages / 200));
    const Live live{options.messages, levels, *broker.adapter, pool, gateway, *breaker};
    const Ending ending = watch(live, !options.quiet && isatty(STDERR_FILENO), start, timeout, signals);
    pool.request_stop();  // no handler starts any more; each thread settles what it handled, hands back the rest
    if (!pool.join_for(config.pool.shutdown_grace)) grace_expired(pool, config.pool.shutdown_grace, broker);
    const double seconds = std::chrono::duration<double>(SteadyClock::now() - start).count();

    Audit result;
    try {
        result = audit(*broker.adapter, levels, tally, scenario, config.dispatcher.dead_letter_suffix, ending != Ending::finished);
    } catch (const failpipe::Error& e) {
        fail(std::string("could not read the dead letters: ") + e.what());
    }
    const Outcomes outcomes{result,
                            scenario,
                            tally,
                            levels,
                            pool.metrics().snapshot(),
                            metrics->snapshot().total(),
                            breaker->snapshot(),
                            gateway.calls(),
                            adapter->crashes()};
    nlohmann::json report = build_report(outcomes);
    auto problems = check_figures(result, outcomes.workers, outcomes.library);
    const std::string after = " after " + std::to_string(static_cast<long long>(seconds)) + " s";
    if (ending == Ending::timed_out) problems.push_back("timed out" + after + " with payments still waiting");
    if (ending == Ending::interrupted) {
        report["interruption"] = "stopped by signal " + std::to_string(signals.last_signal()) + after + " with " +
                                 std::to_string(result.queued) + " payments still queued" +
                                 (options.redis ? " (they wait at the broker)" : " (in memory: they end with this run)");
    }
    nlohmann::json run_info = broker.info;
    run_info.update({{"threads", threads},
                     {"seed", options.seed},
                     {"timeScale", options.time_scale},
                     {"failRate", options.fail_rate},
                     {"outageSeconds", options.outage_for * options.time_scale},
                     {"seconds", std::round(seconds * 1000.0) / 1000.0},
                     {"paymentsPerSecond", std::round(static_cast<double>(options.messages) / std::max(seconds, 0.001))},
                     {"timedOut", ending == Ending::timed_out},
                     {"interrupted", ending == Ending::interrupted}});
    report["run"] = run_info;
    report["problems"] = problems;
    report["ok"] = problems.empty() && ending == Ending::finished;

    if (options.json) {
        std::cout << report.dump() << std::endl;
    } else {
        print_report(report, std::cout);
    }
    if (!problems.empty()) return 1;
    return ending == Ending::interrupted ? failpipe::ShutdownSignals::exit_code_for(signals.last_signal()) : 0;
}

}  // namespace
}  // namespace payments

int main(int argc, char** argv) {
    const auto options = payments::parse_options(argc, argv);
    try {
        // First, before any thread: SIGINT/SIGTERM become a graceful stop (a second one exits at once).
        failpipe::ShutdownSignals signals;
        return payments::run(options, signals);
    } catch (const payments::Exit& exit) {
        return exit.status;
    } catch (const std::exception& e) {
        std::cerr << "failpipe_payments: " << e.what() << "\n";
        return 1;
    }
}
