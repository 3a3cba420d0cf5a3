#include "failpipe/health.hpp"

#include <algorithm>
#include <condition_variable>
#include <cstdio>
#include <cstdint>
#include <ctime>
#include <mutex>
#include <sstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "failpipe/error.hpp"
#include "metadata.hpp"

namespace failpipe {
namespace {

std::string plural(std::size_t n, std::string_view one, std::string_view many) {
    return std::to_string(n) + " " + std::string(n == 1 ? one : many);
}

std::string seconds_text(double s) {
    char buffer[32];
    std::snprintf(buffer, sizeof buffer, "%.3g s", s);
    return buffer;
}

void warn(HealthComponent& c, std::string reason) {
    c.status = std::max(c.status, HealthStatus::warning);
    c.reasons.push_back(std::move(reason));
}

HealthComponent broker_component(const BrokerHealthFacts& broker) {
    HealthComponent c{"broker", HealthStatus::healthy, {}};
    if (!broker.reachable) {
        c.status = HealthStatus::unhealthy;
        c.reasons.push_back("unreachable: " + broker.error);
    }
    return c;
}

HealthComponent dead_letters_component(const BrokerHealthFacts& broker, const HealthReport* previous) {
    HealthComponent c{"dead-letters", HealthStatus::healthy, {}};
    for (const auto& [channel, count] : broker.dead_letters) {
        std::size_t before = 0;
        bool known = false;
        if (previous != nullptr) {
            if (auto it = previous->dead_letters.find(channel); it != previous->dead_letters.end()) {
                before = it->second;
                known = true;
            } else {
                known = !previous->dead_letters.empty() || previous->component("dead-letters") != nullptr;
            }
        }
        if (count == 0) continue;
        std::string reason = channel + " holds " + plural(count, "dead letter", "dead letters");
        if (known && count > before) reason += " (" + std::to_string(count - before) + " more since the last check)";
        warn(c, std::move(reason));
    }
    return c;
}

std::vector<HealthComponent> runtime_components(const RuntimeHealthFacts& rt) {
    HealthComponent workers{"workers", HealthStatus::healthy, {}};
    if (rt.threads_alive == 0) {
        workers.status = HealthStatus::unhealthy;
        workers.reasons.push_back("no worker thread alive (0 of " + std::to_string(rt.threads_total) + ")");
    } else if (rt.threads_alive < rt.threads_total) {
        warn(workers, std::to_string(rt.threads_alive) + " of " + std::to_string(rt.threads_total) +
                          " worker threads alive");
    }
    HealthComponent breakers{"breakers", HealthStatus::healthy, {}};
    for (const auto& name : rt.open_breakers) warn(breakers, "breaker " + name + " is open");
    HealthComponent budget{"retry-budget", HealthStatus::healthy, {}};
    for (const auto& channel : rt.budget_exhausted_channels)
        warn(budget, "retry budget of channel " + channel + " is exhausted: failures wait their maximum delay");
    HealthComponent lateness{"retry-lateness", HealthStatus::healthy, {}};
    if (rt.retry_lateness_p99 && rt.retry_lateness_p99->count() > rt.retry_lateness_threshold.count())
        warn(lateness, "retry lateness p99 " + seconds_text(rt.retry_lateness_p99->count()) + " is above " +
                           seconds_text(rt.retry_lateness_threshold.count()));
    HealthComponent degradation{"degradation", HealthStatus::healthy, {}};
    for (const auto& d : rt.degraded_channels)
        warn(degradation, "channel " + d.channel + " runs at concurrency " + std::to_string(d.concurrency) + " of " +
                              std::to_string(d.max_concurrency));
    return {workers, breakers, budget, lateness, degradation};
}

std::optional<std::chrono::system_clock::time_point> parse_iso8601(const std::string& text) {
    std::tm tm{};
    int millis = 0;
    char z = 0;
    if (std::sscanf(text.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d.%3d%c", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
                    &tm.tm_min, &tm.tm_sec, &millis, &z) != 8 ||
        z != 'Z')
        return std::nullopt;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    const std::time_t t = timegm(&tm);
    return std::chrono::system_clock::from_time_t(t) + std::chrono::milliseconds(millis);
}

std::string dead_letter_channel(const std::string& channel, const std::string& suffix) {
    if (channel.size() > suffix.size() && channel.ends_with(suffix)) return channel;
    return channel + suffix;
}

BrokerHealthFacts probe_now(InspectionAdapter& adapter, const HealthOptions& options) {
    BrokerHealthFacts facts;
    const auto start = std::chrono::steady_clock::now();
    std::vector<std::string> dead_channels;
    if (options.channels.empty()) {
        for (const auto& name : adapter.channels())
            if (name.size() > options.dead_letter_suffix.size() && name.ends_with(options.dead_letter_suffix))
                dead_channels.push_back(name);
    } else {
        for (const auto& c : options.channels) dead_channels.push_back(dead_letter_channel(c, options.dead_letter_suffix));
    }
    for (const auto& channel : dead_channels) {
        const ChannelDepth d = adapter.depth(channel);
        facts.dead_letters[channel] = d.ready + d.delayed;
    }
    facts.reachable = true;
    facts.answered_in =
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start);
    return facts;
}

}  // namespace

std::string_view to_string(HealthStatus status) noexcept {
    switch (status) {
        case HealthStatus::warning: return "warning";
        case HealthStatus::unhealthy: return "unhealthy";
        case HealthStatus::healthy: break;
    }
    return "healthy";
}

int exit_code(HealthStatus status) noexcept { return static_cast<int>(status); }

const HealthComponent* HealthReport::component(std::string_view name) const noexcept {
    for (const auto& c : components)
        if (c.name == name) return &c;
    return nullptr;
}

std::string HealthReport::to_json() const {
    nlohmann::ordered_json doc;
    doc["status"] = to_string(status);
    doc["checkedAt"] = detail::iso8601_utc(checked_at);
    nlohmann::ordered_json list = nlohmann::ordered_json::array();
    for (const auto& c : components) {
        nlohmann::ordered_json item;
        item["name"] = c.name;
        item["status"] = to_string(c.status);
        item["reasons"] = c.reasons;
        list.push_back(std::move(item));
    }
    doc["components"] = std::move(list);
    nlohmann::ordered_json dead = nlohmann::ordered_json::object();
    for (const auto& [channel, count] : dead_letters) dead[channel] = count;
    doc["deadLetters"] = std::move(dead);
    return doc.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

std::string HealthReport::to_text() const {
    std::ostringstream out;
    out << to_string(status) << '\n';
    std::size_t width = 0;
    for (const auto& c : components) width = std::max(width, c.name.size());
    for (const auto& c : components) {
        out << "  " << c.name << std::string(width - c.name.size() + 2, ' ') << to_string(c.status) << '\n';
        for (const auto& r : c.reasons) out << "    - " << r << '\n';
    }
    return out.str();
}

HealthReport HealthReport::from_json(std::string_view json) {
    HealthReport report;
    try {
        const auto doc = nlohmann::json::parse(json);
        const std::string status = doc.at("status").get<std::string>();
        if (status == "healthy") report.status = HealthStatus::healthy;
        else if (status == "warning") report.status = HealthStatus::warning;
        else if (status == "unhealthy") report.status = HealthStatus::unhealthy;
        else throw InvalidArgumentError("unknown status \"" + status + "\"");
        const auto at = parse_iso8601(doc.at("checkedAt").get<std::string>());
        if (!at) throw InvalidArgumentError("checkedAt is not YYYY-MM-DDTHH:MM:SS.mmmZ");
        report.checked_at = *at;
        for (const auto& [channel, count] : doc.at("deadLetters").items())
            report.dead_letters[channel] = count.get<std::size_t>();
        for (const auto& c : doc.at("components")) {
            HealthComponent component;
            component.name = c.at("name").get<std::string>();
            component.reasons = c.at("reasons").get<std::vector<std::string>>();
            const auto s = c.at("status").get<std::string>();
            component.status = s == "unhealthy" ? HealthStatus::unhealthy
                               : s == "warning" ? HealthStatus::warning
                                                : HealthStatus::healthy;
            report.components.push_back(std::move(component));
        }
    } catch (const InvalidArgumentError& e) {
        throw InvalidArgumentError(std::string("not a health report: ") + e.what());
    } catch (const nlohmann::json::exception& e) {
        // The parser's words without its "[json.exception.out_of_range.403] " tag.
        std::string_view what = e.what();
        if (const auto tag = what.find("] "); !what.empty() && what.front() == '[' && tag != std::string_view::npos) {
            what.remove_prefix(tag + 2);
        }
        throw InvalidArgumentError("not a health report: " + std::string(what));
    }
    return report;
}

namespace {

void check_probe(const std::shared_ptr<InspectionAdapter>& adapter, const HealthOptions& options) {
    if (!adapter) throw InvalidArgumentError("probe_broker: null adapter");
    if (options.channels.empty()) require_capabilities(adapter->capabilities(), {Capability::channels, Capability::depth}, "probe_broker");
    else require_capabilities(adapter->capabilities(), {Capability::depth}, "probe_broker");
    if (options.dead_letter_suffix.empty()) throw InvalidArgumentError("probe_broker: empty dead-letter suffix");
    // Above 1e9 s (and infinity) a wait's deadline would overflow the clock.
    if (!(options.timeout.count() > 0.0) || options.timeout.count() > 1e9)
        throw InvalidArgumentError("probe_broker: the timeout must be > 0 and at most 1e9 s, found " +
                                   seconds_text(options.timeout.count()));
}

// A broker failure is an answer (unreachable), never an exception out of a probe's thread.
BrokerHealthFacts probe_caught(InspectionAdapter& adapter, const HealthOptions& options) {
    BrokerHealthFacts facts;
    try {
        facts = probe_now(adapter, options);
    } catch (const std::exception& e) {
        facts = BrokerHealthFacts{};
        facts.error = e.what();
    } catch (...) {
        facts = BrokerHealthFacts{};
        facts.error = "unknown error";
    }
    return facts;
}

BrokerHealthFacts no_answer(Seconds timeout) {
    BrokerHealthFacts late;
    late.error = "no answer within " + seconds_text(timeout.count());
    return late;
}

}  // namespace

BrokerHealthFacts probe_broker(std::shared_ptr<InspectionAdapter> adapter, const HealthOptions& options) {
    check_probe(adapter, options);
    // The state outlives this call when the broker hangs: the thread finishes on its own later.
    struct State {
        std::mutex mutex;
        std::condition_variable done_cv;
        bool done = false;
        BrokerHealthFacts facts;
    };
    auto state = std::make_shared<State>();
    std::thread([state, adapter = std::move(adapter), options] {
        BrokerHealthFacts facts = probe_caught(*adapter, options);
        std::lock_guard lock(state->mutex);
        state->facts = std::move(facts);
        state->done = true;
        state->done_cv.notify_all();
    }).detach();
    std::unique_lock lock(state->mutex);
    if (!state->done_cv.wait_for(lock, std::chrono::duration<double>(options.timeout), [&] { return state->done; }))
        return no_answer(options.timeout);
    return state->facts;
}

// Probes are numbered: `requested` is the last one asked for, `completed` the last one answered;
// requested > completed means one is pending or in flight, and a caller then waits for it.
struct BrokerProbe::State {
    std::shared_ptr<InspectionAdapter> adapter;
    HealthOptions options;
    std::mutex mutex;
    std::condition_variable cv;
    std::uint64_t requested = 0;
    std::uint64_t completed = 0;
    std::chrono::steady_clock::time_point started{};  // when the last probe was asked for
    BrokerHealthFacts latest;
    bool stopping = false;
    std::thread thread;

    void run() {
        std::unique_lock lock(mutex);
        for (;;) {
            cv.wait(lock, [&] { return stopping || requested > completed; });
            if (stopping) return;
            const std::uint64_t number = requested;
            lock.unlock();
            BrokerHealthFacts facts = probe_caught(*adapter, options);
            lock.lock();
            latest = std::move(facts);
            completed = number;
            cv.notify_all();
        }
    }
};

BrokerProbe::BrokerProbe(std::shared_ptr<InspectionAdapter> adapter, HealthOptions options)
    : state_(std::make_unique<State>()) {
    check_probe(adapter, options);
    state_->adapter = std::move(adapter);
    state_->options = std::move(options);
    state_->thread = std::thread([state = state_.get()] { state->run(); });
}

BrokerProbe::~BrokerProbe() {
    {
        std::lock_guard lock(state_->mutex);
        state_->stopping = true;
    }
    state_->cv.notify_all();
    state_->thread.join();
}

BrokerHealthFacts BrokerProbe::probe() {
    State& s = *state_;
    const auto now = std::chrono::steady_clock::now();
    std::unique_lock lock(s.mutex);
    const bool in_flight = s.requested > s.completed;
    if (!in_flight) {
        ++s.requested;
        s.started = now;
        s.cv.notify_all();
    }
    const std::uint64_t awaited = s.requested;
    if (s.cv.wait_for(lock, std::chrono::duration<double>(s.options.timeout), [&] { return s.completed >= awaited; }))
        return s.latest;
    BrokerHealthFacts late = no_answer(s.options.timeout);
    if (in_flight) {
        const double waiting = std::chrono::duration<double>(std::chrono::steady_clock::now() - s.started).count();
        late.error += " (a probe has been waiting " + seconds_text(waiting) + " for the broker)";
    }
    return late;
}

HealthReport evaluate_health(const BrokerHealthFacts* broker, const RuntimeHealthFacts* runtime,
                             const HealthReport* previous, std::chrono::system_clock::time_point now) {
    HealthReport report;
    report.checked_at = now;
    if (broker != nullptr) {
        report.components.push_back(broker_component(*broker));
        if (broker->reachable) {
            report.components.push_back(dead_letters_component(*broker, previous));
            report.dead_letters = broker->dead_letters;
        }
    }
    if (runtime != nullptr)
        for (auto& c : runtime_components(*runtime)) report.components.push_back(std::move(c));
    for (const auto& c : report.components) report.status = std::max(report.status, c.status);
    return report;
}

HealthReport check_health(std::shared_ptr<InspectionAdapter> adapter, const HealthOptions& options,
                          const RuntimeHealthFacts* runtime, const HealthReport* previous) {
    const BrokerHealthFacts broker = probe_broker(std::move(adapter), options);
    return evaluate_health(&broker, runtime, previous);
}

}  // namespace failpipe
