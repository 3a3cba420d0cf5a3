// The built-in middleware types, each registered in ONE row of builtin_middlewares() below: its
// config name, its parameter names (the loader refuses any other key, and a test checks them
// against config/schema.json), its factory, and how the dispatcher recognises an instance.
//
// The factories repeat the constructors' parameter checks (Yii's, in Yii's order) so that a bad
// value is reported at its own JSON path with what was expected; the constructors still check, and
// the loader turns anything they throw into an issue at the middleware's path.
#include "builtin_middlewares.hpp"

#include <memory>
#include <string>
#include <utility>

#include "failpipe/config_limits.hpp"
#include "failpipe/dead_letter_middleware.hpp"
#include "failpipe/exponential_delay_middleware.hpp"
#include "failpipe/jitter.hpp"
#include "failpipe/send_again_middleware.hpp"

namespace failpipe::detail {
namespace {

// The value as written, for "found ...": invalid UTF-8 is shown replaced, not thrown.
std::string found(const ConfigObjectReader& params, std::string_view key) {
    return params.json().at(std::string(key)).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

// Keeps the checks of one numeric parameter in one line at the call site.
bool require(ConfigObjectReader& params, bool condition, std::string_view key, const std::string& expected) {
    if (!condition) params.fail(key, "expected " + expected + ", found " + found(params, key));
    return condition;
}

// Beyond Yii's checks: counts and delays a broker and a worker can live with (docs/config.md, "Limits").
const std::string kAttemptsLimit = std::to_string(ConfigLimits::kMaxAttempts);
constexpr const char* kSecondsLimit = "1e9";

bool attempts_at_most(ConfigObjectReader& params, long long value) {
    return require(params, value <= ConfigLimits::kMaxAttempts, "maxAttempts", "an integer <= " + kAttemptsLimit);
}

bool seconds_at_most(ConfigObjectReader& params, double value, std::string_view key) {
    return require(params, value <= ConfigLimits::kMaxSeconds, key, std::string("a number <= ") + kSecondsLimit + " (seconds)");
}

FailureMiddlewarePtr make_send_again(ConfigObjectReader& params) {
    auto id = params.required_string("id");
    auto max_attempts = params.required_integer("maxAttempts");
    if (max_attempts && require(params, *max_attempts >= 1, "maxAttempts", "an integer >= 1"))
        attempts_at_most(params, *max_attempts);
    auto queue = params.optional_string("queue");
    auto on = params.error_classes("on");
    if (!params.ok()) return nullptr;
    return std::make_shared<SendAgainMiddleware>(std::move(id), *max_attempts, queue.value_or(std::string{}), on);
}

FailureMiddlewarePtr make_exponential_delay(ConfigObjectReader& params) {
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

FailureMiddlewarePtr make_dead_letter(ConfigObjectReader& params) {
    auto id = params.required_string("id");
    auto queue = params.optional_string("queue");
    auto on = params.error_classes("on");
    if (!params.ok()) return nullptr;
    return std::make_shared<DeadLetterMiddleware>(std::move(id), queue.value_or(std::string{}), on,
                                                  params.dead_letter_suffix(), params.clock());
}

template <class Middleware>
bool is_a(const MiddlewareFailureInterface& middleware) {
    return dynamic_cast<const Middleware*>(&middleware) != nullptr;
}

// A row of the table: the type name comes from the class, so the two cannot disagree.
template <class Middleware>
BuiltinMiddleware builtin(std::vector<std::string_view> parameters,
                          FailureMiddlewarePtr (*build)(ConfigObjectReader&)) {
    return {Middleware::kType, std::move(parameters), build, &is_a<Middleware>};
}

}  // namespace

const std::vector<BuiltinMiddleware>& builtin_middlewares() {
    static const std::vector<BuiltinMiddleware> table{
        builtin<SendAgainMiddleware>({"id", "maxAttempts", "queue", "on"}, make_send_again),
        builtin<ExponentialDelayMiddleware>(
            {"id", "maxAttempts", "delayInitial", "delayMaximum", "exponent", "queue", "jitter", "seed", "on"},
            make_exponential_delay),
        builtin<DeadLetterMiddleware>({"id", "queue", "on"}, make_dead_letter),
    };
    return table;
}

void register_builtins(MiddlewareRegistry& registry) {
    for (const BuiltinMiddleware& row : builtin_middlewares()) {
        registry.add(std::string(row.type), [&row](ConfigObjectReader& params) {
            params.allow_keys(std::span<const std::string_view>(row.parameters));
            return row.build(params);
        });
    }
}

bool is_builtin_middleware(const MiddlewareFailureInterface& middleware) {
    for (const BuiltinMiddleware& row : builtin_middlewares())
        if (row.is_instance(middleware)) return true;
    return false;
}

}  // namespace failpipe::detail
