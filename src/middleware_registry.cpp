// The middleware registry and the factories of the built-in types.
//
// The factories repeat the constructors' parameter checks (Yii's, in Yii's order) so that a bad
// value is reported at its own JSON path with what was expected; the constructors still check, and
// the loader turns anything they throw into an issue at the middleware's path.
#include "failpipe/middleware_registry.hpp"

#include <string>
#include <utility>

#include "failpipe/config.hpp"
#include "failpipe/dead_letter_middleware.hpp"
#include "failpipe/exponential_delay_middleware.hpp"
#include "failpipe/jitter.hpp"
#include "failpipe/send_again_middleware.hpp"

namespace failpipe {
namespace {

// The value as written, for "found ...": invalid UTF-8 is shown replaced, not thrown.
std::string found(const MiddlewareParams& params, std::string_view key) {
    return params.json().at(std::string(key)).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

// Keeps the checks of one numeric parameter in one line at the call site.
bool require(MiddlewareParams& params, bool condition, std::string_view key, const std::string& expected) {
    if (!condition) params.fail(key, "expected " + expected + ", found " + found(params, key));
    return condition;
}

// Beyond Yii's checks: counts and delays a broker and a worker can live with (docs/config.md, "Limits").
const std::string kAttemptsLimit = std::to_string(ConfigLimits::kMaxAttempts);
constexpr const char* kSecondsLimit = "1e9";

bool attempts_at_most(MiddlewareParams& params, long long value) {
    return require(params, value <= ConfigLimits::kMaxAttempts, "maxAttempts", "an integer <= " + kAttemptsLimit);
}

bool seconds_at_most(MiddlewareParams& params, double value, std::string_view key) {
    return require(params, value <= ConfigLimits::kMaxSeconds, key, std::string("a number <= ") + kSecondsLimit + " (seconds)");
}

FailureMiddlewarePtr make_send_again(MiddlewareParams& params) {
    params.allow_keys({"id", "maxAttempts", "queue", "on"});
    auto id = params.required_string("id");
    auto max_attempts = params.required_integer("maxAttempts");
    if (max_attempts && require(params, *max_attempts >= 1, "maxAttempts", "an integer >= 1"))
        attempts_at_most(params, *max_attempts);
    auto queue = params.optional_string("queue");
    auto on = params.error_classes("on");
    if (!params.ok()) return nullptr;
    return std::make_shared<SendAgainMiddleware>(std::move(id), *max_attempts, queue.value_or(std::string{}), on);
}

FailureMiddlewarePtr make_exponential_delay(MiddlewareParams& params) {
    params.allow_keys(
        {"id", "maxAttempts", "delayInitial", "delayMaximum", "exponent", "queue", "jitter", "seed", "on"});
    auto id = params.required_string("id");
    auto max_attempts = params.required_integer("maxAttempts");
    auto delay_initial = params.required_number("delayInitial");
    auto delay_maximum = params.required_number("delayMaximum");
    auto exponent = params.required_number("exponent");
    if (max_attempts && require(params, *max_attempts > 0, "maxAttempts", "an integer > 0"))
        attempts_at_most(params, *max_attempts);
    const bool initial_ok = delay_initial && require(params, *delay_initial > 0, "delayInitial", "a number > 0") &&
                            seconds_at_most(params, *delay_initial, "delayInitial");
    if (delay_maximum && initial_ok) {
        auto initial_text = found(params, "delayInitial");
        if (require(params, *delay_maximum >= *delay_initial, "delayMaximum",
                    "a number >= delayInitial (" + initial_text + ")"))
            seconds_at_most(params, *delay_maximum, "delayMaximum");
    }
    if (exponent) require(params, *exponent > 0, "exponent", "a number > 0");

    ExponentialDelayMiddleware::Options options;
    options.queue = params.optional_string("queue").value_or(std::string{});
    options.on = params.error_classes("on");
    if (auto jitter_name = params.optional_string("jitter")) {
        if (auto jitter = parse_jitter(*jitter_name)) {
            options.jitter = *jitter;
        } else {
            std::string message =
                "expected \"none\", \"full\", \"equal\" or \"decorrelated\", found " + found(params, "jitter");
            if (auto near = nearest_word(*jitter_name, {"none", "full", "equal", "decorrelated"}))
                message += "; did you mean \"" + *near + "\"?";
            params.fail("jitter", std::move(message));
        }
    }
    if (auto seed = params.optional_unsigned("seed")) options.random = std::make_shared<RandomSource>(*seed);
    if (!params.ok()) return nullptr;
    return std::make_shared<ExponentialDelayMiddleware>(std::move(id), *max_attempts, *delay_initial, *delay_maximum,
                                                        *exponent, std::move(options));
}

FailureMiddlewarePtr make_dead_letter(MiddlewareParams& params) {
    params.allow_keys({"id", "queue", "on"});
    auto id = params.required_string("id");
    auto queue = params.optional_string("queue");
    auto on = params.error_classes("on");
    if (!params.ok()) return nullptr;
    return std::make_shared<DeadLetterMiddleware>(std::move(id), queue.value_or(std::string{}), on,
                                                  params.dead_letter_suffix(), params.clock());
}

}  // namespace

MiddlewareRegistry MiddlewareRegistry::with_builtins() {
    MiddlewareRegistry registry;
    registry.add(SendAgainMiddleware::kType, make_send_again);
    registry.add(ExponentialDelayMiddleware::kType, make_exponential_delay);
    registry.add(DeadLetterMiddleware::kType, make_dead_letter);
    return registry;
}

MiddlewareRegistry& MiddlewareRegistry::add(std::string type, Factory factory) {
    if (type.empty()) throw InvalidArgumentError("MiddlewareRegistry::add: the type name must not be empty");
    if (!factory) throw InvalidArgumentError("MiddlewareRegistry::add: no factory given for type \"" + type + "\"");
    factories_.insert_or_assign(std::move(type), std::move(factory));
    return *this;
}

bool MiddlewareRegistry::contains(std::string_view type) const { return factories_.find(type) != factories_.end(); }

std::vector<std::string> MiddlewareRegistry::types() const {
    std::vector<std::string> names;
    names.reserve(factories_.size());
    for (const auto& entry : factories_) names.push_back(entry.first);
    return names;
}

const MiddlewareRegistry::Factory* MiddlewareRegistry::find(std::string_view type) const {
    auto it = factories_.find(type);
    return it == factories_.end() ? nullptr : &it->second;
}

}  // namespace failpipe
