#include "config_runtime.hpp"

#include <cmath>
#include <optional>

#include "config_json.hpp"
#include "config_listen.hpp"
#include "failpipe/config_limits.hpp"
#include "failpipe/error.hpp"

namespace failpipe::detail {
namespace {

// `minimumSamples`: a billion deliveries in one window is a typo, not a setting.
constexpr long long kMaxSamples = 1'000'000'000;

// A number strictly between 0 and 1.
std::optional<double> optional_fraction(ConfigObjectReader& reader, std::string_view key) {
    auto value = reader.optional_number(key);
    if (!value || (*value > 0.0 && *value < 1.0)) return value;
    reader.fail(key, "expected a number > 0 and < 1, found " + describe(reader.json().at(std::string(key))));
    return std::nullopt;
}

}  // namespace

const std::vector<std::string>& worker_runtime_keys() {
    static const std::vector<std::string> keys{"threads", "shutdownGrace"};
    return keys;
}

const std::vector<std::string>& degradation_keys() {
    static const std::vector<std::string> keys{"enabled",      "failureRatio",  "window",   "minimumSamples",
                                               "decreaseFactor", "increaseStep", "interval", "minimumConcurrency"};
    return keys;
}

const std::vector<std::string>& http_keys() {
    static const std::vector<std::string> keys{"listen", "allowNonLoopback"};
    return keys;
}

void load_worker_runtime(ConfigObjectReader& worker, Config& config) {
    const auto max_threads = static_cast<long long>(WorkerPoolOptions::kMaxThreads);
    if (auto threads = worker.optional_integer_in("threads", 1, max_threads))
        config.pool.threads = static_cast<std::size_t>(*threads);
    if (auto grace = worker.optional_number("shutdownGrace")) {
        if (*grace >= 0.0 && *grace <= ConfigLimits::kMaxSeconds)
            config.pool.shutdown_grace = Seconds{*grace};
        else
            worker.fail("shutdownGrace", "expected a number of seconds >= 0 and <= 1e9 (0: stop without waiting for "
                                         "handlers in flight), found " +
                                             describe(worker.json().at("shutdownGrace")));
    }
}

void load_degradation(ConfigObjectReader& section, Config& config) {
    DegradationOptions& options = config.pool.degradation;
    const auto max_threads = static_cast<long long>(WorkerPoolOptions::kMaxThreads);
    if (auto enabled = optional_flag(section, "enabled")) options.enabled = *enabled;
    if (auto ratio = optional_fraction(section, "failureRatio")) options.failure_ratio = *ratio;
    if (auto window = section.optional_seconds("window")) options.window = Seconds{*window};
    if (auto samples = section.optional_integer_in("minimumSamples", 1, kMaxSamples))
        options.minimum_samples = static_cast<std::size_t>(*samples);
    if (auto factor = optional_fraction(section, "decreaseFactor")) options.decrease_factor = *factor;
    if (auto step = section.optional_integer_in("increaseStep", 1, max_threads))
        options.increase_step = static_cast<std::size_t>(*step);
    if (auto interval = section.optional_seconds("interval")) options.interval = Seconds{*interval};
    if (auto minimum = section.optional_integer_in("minimumConcurrency", 1, max_threads))
        options.minimum_concurrency = static_cast<std::size_t>(*minimum);
}

void load_http(ConfigObjectReader& section, Config& config) {
    const bool allow = optional_flag(section, "allowNonLoopback").value_or(false);
    config.http_allow_non_loopback = allow;
    if (auto address = read_listen(section, allow, "/metrics and /health")) config.http_listen = address;
}

}  // namespace failpipe::detail
