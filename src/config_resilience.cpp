// `breakers` and `retryBudget`: circuit breakers by name and retry budgets by channel. Each value is
// checked where it is written (its JSON pointer, what was expected), then the objects are built.
#include "config_resilience.hpp"

#include <cmath>
#include <set>
#include <utility>

#include "config_bounds.hpp"
#include "config_issues.hpp"
#include "config_json.hpp"
#include "failpipe/circuit_breaker.hpp"
#include "failpipe/config_limits.hpp"
#include "failpipe/retry_budget.hpp"

namespace failpipe::detail {
namespace {

using nlohmann::json;

constexpr std::size_t kMaxBreakers = 1000;
constexpr std::size_t kMaxBreakerNameBytes = 256;
constexpr std::size_t kMaxMessageTypes = 1000;
constexpr long long kMaxCount = 1'000'000'000;
constexpr long long kMaxProbes = 1000;

// A percentage: 0 < p <= 100 (50 means half; 0.5 means half a percent).
std::optional<double> percentage(ConfigObjectReader& reader, std::string_view key) {
    auto value = reader.optional_number(key);
    if (!value) return std::nullopt;
    if (!(*value > 0) || *value > 100) {
        reader.fail(key, "expected a percentage > 0 and <= 100 (50 means half), found " +
                             describe(reader.json().at(std::string(key))));
        return std::nullopt;
    }
    return value;
}

// A delay that may be 0: 0 <= s <= 1e9.
std::optional<double> delay_seconds(ConfigObjectReader& reader, std::string_view key) {
    auto value = reader.optional_number(key);
    if (!value) return std::nullopt;
    if (!(*value >= 0) || *value > ConfigLimits::kMaxSeconds) {
        reader.fail(key, "expected a number of seconds >= 0 and <= 1e9, found " +
                             describe(reader.json().at(std::string(key))));
        return std::nullopt;
    }
    return value;
}

std::optional<std::string> breaker_name_problem(const std::string& name) {
    if (name.empty()) return "expected a non-empty breaker name, found \"\"";
    if (name.size() > kMaxBreakerNameBytes)
        return "expected a breaker name of at most " + std::to_string(kMaxBreakerNameBytes) + " bytes, found one of " +
               std::to_string(name.size()) + " bytes";
    return std::nullopt;
}

// `messageTypes`: absent = every type; [] = none (a breaker that handlers use by name only).
// Nothing when absent; false in `ok` when refused.
std::optional<std::set<std::string>> message_types(ConfigObjectReader& reader, const SectionContext& context, bool& ok) {
    std::set<std::string> types;
    const json* value = find_value(reader.json(), "messageTypes");
    if (!value) return std::nullopt;
    const std::string path = child_path(reader.path(), "messageTypes");
    if (!value->is_array()) {
        reader.fail("messageTypes", "expected an array of message type names, found " + describe(*value));
        ok = false;
        return std::nullopt;
    }
    if (value->size() > kMaxMessageTypes) {
        reader.fail("messageTypes", too_many(kMaxMessageTypes, "message types", value->size()));
        ok = false;
        return std::nullopt;
    }
    for (std::size_t i = 0; i < value->size(); ++i) {
        const json& item = (*value)[i];
        if (!item.is_string() || item.get_ref<const std::string&>().empty()) {
            context.add(child_path(path, i), "expected a non-empty message type name, found " + describe(item));
            ok = false;
        } else if (!types.insert(item.get<std::string>()).second) {
            context.add(child_path(path, i), "duplicate message type " + quote_json(item.get_ref<const std::string&>()));
            ok = false;
        }
    }
    return types;
}

std::shared_ptr<CircuitBreakerMiddleware> load_breaker(const std::string& name, const json& value,
                                                       const std::string& path, const SectionContext& context,
                                                       const Config& config) {
    if (!value.is_object()) {
        context.add(path, "expected an object of breaker settings, found " + describe(value));
        return nullptr;
    }
    reject_unknown_keys(value, path, breaker_keys(), context.issues, context.dropped);
    ConfigObjectReader reader = context.reader(value, path);
    CircuitBreakerOptions options;
    bool types_ok = true;
    auto types = message_types(reader, context, types_ok);
    auto threshold = reader.optional_integer_in("failureThreshold", 1, kMaxCount);
    auto ratio = percentage(reader, "failureRatio");
    if (ratio) {
        options.failure_ratio_percent = *ratio;
        // With only a ratio, the count rule is off; both: whichever trips first.
        if (!find_value(value, "failureThreshold")) options.failure_threshold.reset();
    } else if (find_value(value, "minimumCalls") && !find_value(value, "failureRatio")) {
        reader.fail("minimumCalls", "expected only with \"failureRatio\" (it is the ratio rule's minimum), found " +
                                        describe(value.at("minimumCalls")));
    }
    if (threshold) options.failure_threshold = static_cast<std::uint32_t>(*threshold);
    if (auto calls = reader.optional_integer_in("minimumCalls", 1, kMaxCount))
        options.minimum_calls = static_cast<std::uint32_t>(*calls);
    if (auto probes = reader.optional_integer_in("halfOpenProbes", 1, kMaxProbes))
        options.half_open_probes = static_cast<std::uint32_t>(*probes);
    if (auto window = reader.optional_seconds("window")) options.window = Seconds{*window};
    if (auto open_for = reader.optional_seconds("openFor")) options.open_for = Seconds{*open_for};
    if (auto delay = delay_seconds(reader, "releaseDelay")) options.release_delay = Seconds{*delay};
    if (find_value(value, "on")) options.on = reader.error_classes("on");
    if (!reader.ok() || !types_ok) return nullptr;
    try {
        auto breaker = std::make_shared<CircuitBreaker>(name, options, context.clock);
        return std::make_shared<CircuitBreakerMiddleware>(std::move(breaker), std::move(types), config.classifier);
    } catch (const Error& e) {
        reader.fail("", e.what());
        return nullptr;
    }
}

std::optional<RetryBudgetOptions> load_budget(const json& value, const std::string& path, const SectionContext& context) {
    if (!value.is_object()) {
        context.add(path, "expected an object of retry budget settings, found " + describe(value));
        return std::nullopt;
    }
    reject_unknown_keys(value, path, retry_budget_keys(), context.issues, context.dropped);
    ConfigObjectReader reader = context.reader(value, path);
    RetryBudgetOptions options;
    if (!find_value(value, "ratio"))
        reader.fail("", "missing required key \"ratio\" (expected a percentage of first attempts > 0 and <= 100)");
    if (auto ratio = percentage(reader, "ratio")) options.ratio_percent = *ratio;
    if (auto window = reader.optional_seconds("window")) options.window = Seconds{*window};
    if (auto floor = reader.optional_integer_in("minRetries", 0, kMaxCount))
        options.min_retries = static_cast<std::uint32_t>(*floor);
    if (auto fallback = reader.optional_seconds("fallbackDelay")) options.fallback_delay = Seconds{*fallback};
    if (!reader.ok()) return std::nullopt;
    return options;
}

}  // namespace

ConfigObjectReader SectionContext::reader(const json& object, std::string path) const {
    ConfigObjectReader reader(object, std::move(path), issues, "", clock);
    IssueCap::attach(reader, dropped);
    return reader;
}

void SectionContext::add(std::string path, std::string message) const {
    if (has_room(issues, dropped)) issues.push_back({std::move(path), std::move(message)});
}

const std::vector<std::string>& breaker_keys() {
    static const std::vector<std::string> keys{"messageTypes", "failureThreshold", "window",       "failureRatio", "minimumCalls",
                                               "openFor",      "halfOpenProbes",   "releaseDelay", "on"};
    return keys;
}

const std::vector<std::string>& retry_budget_keys() {
    static const std::vector<std::string> keys{"ratio", "window", "minRetries", "fallbackDelay"};
    return keys;
}

void load_breakers(const json& value, const SectionContext& context, Config& config) {
    const std::string path = "/breakers";
    if (!value.is_object()) {
        context.add(path, "expected an object of circuit breakers by name, found " + describe(value));
        return;
    }
    if (value.size() > kMaxBreakers) {
        context.add(path, too_many(kMaxBreakers, "breakers", value.size()));
        return;
    }
    for (const auto& [name, settings] : value.items()) {
        const std::string breaker_path = child_path(path, name);
        if (auto problem = breaker_name_problem(name)) {
            context.add(breaker_path, *problem);
            continue;
        }
        if (auto breaker = load_breaker(name, settings, breaker_path, context, config))
            config.breakers.push_back(std::move(breaker));
    }
}

void load_retry_budget(const json& value, const SectionContext& context, Config& config) {
    const std::string path = "/retryBudget";
    if (!value.is_object()) {
        context.add(path, "expected an object of retry budgets (\"default\" and/or by channel name), found " +
                              describe(value));
        return;
    }
    if (value.size() > ConfigLimits::kMaxPipelines + 1) {
        context.add(path, too_many(ConfigLimits::kMaxPipelines + 1, "retry budgets", value.size()));
        return;
    }
    std::optional<RetryBudgetOptions> defaults;
    std::map<std::string, RetryBudgetOptions> channels;
    bool ok = true;
    for (const auto& [channel, settings] : value.items()) {
        const std::string budget_path = child_path(path, channel);
        if (channel != "default") {
            if (auto problem = channel_name_problem(channel)) {
                context.add(budget_path, *problem);
                ok = false;
                continue;
            }
        }
        if (settings.is_null()) continue;
        auto options = load_budget(settings, budget_path, context);
        if (!options) {
            ok = false;
        } else if (channel == "default") {
            defaults = *options;
        } else {
            channels.emplace(channel, *options);
        }
    }
    if (!ok || (!defaults && channels.empty())) return;
    try {
        config.retry_budget = std::make_shared<RetryBudget>(defaults, std::move(channels), context.clock);
        config.dispatcher.retry_budget = config.retry_budget;
    } catch (const Error& e) {
        context.add(path, e.what());
    }
}

}  // namespace failpipe::detail
