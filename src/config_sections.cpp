// The loader: checks and builds a parsed document, one top-level key at a time. The keys it knows,
// and when each is read, are the rows of Loader::sections(); a key's reader is a member function.
#include "config_sections.hpp"

#include <chrono>
#include <cstdint>
#include <limits>
#include <optional>
#include <regex>
#include <set>
#include <utility>

#include "config_bounds.hpp"
#include "config_cycles.hpp"
#include "config_groups.hpp"
#include "config_issues.hpp"
#include "config_json.hpp"
#include "config_dashboard.hpp"
#include "config_runtime.hpp"
#include "config_resilience.hpp"
#include "failpipe/config_limits.hpp"
#include "failpipe/dead_letter_middleware.hpp"
#include "failpipe/channel_suffixes.hpp"
#include "failpipe/expiry.hpp"
#include "failpipe/failure_record.hpp"
#include "failpipe/message.hpp"

namespace failpipe::detail {
namespace {

// The largest `deadLetters.maxCount` accepted (a billion: larger is a typo, not a cap).
constexpr long long kMaxRetainedDeadLetters = 1'000'000'000;

using nlohmann::json;

const std::vector<std::string>& final_behavior_names() {
    static const std::vector<std::string> names{"dead-letter", "rethrow", "drop"};
    return names;
}

// When a top-level key is read. A later phase may use what an earlier one set (dead-letter
// middlewares are built with the suffix); settings come before sections so that their single
// issues are kept even when a section reports more than kMaxKeptIssues. Within a phase, rows are
// read in table order.
enum class Phase { first, settings, sections };

class Loader {
public:
    // One top-level key: its name, when it is read, and its reader (called only when the key is
    // present and not null).
    struct Section {
        const char* key;
        Phase phase;
        void (Loader::*load)(ConfigObjectReader& top, const json& value, Config& config);
    };

    // Every top-level key, in the order "expected one of" lists them.
    static const std::vector<Section>& sections();

    Loader(const MiddlewareRegistry& registry, std::shared_ptr<const Clock> clock)
        : registry_(registry), clock_(std::move(clock)) {}

    // Checks and builds @p document (nested at most ConfigLimits::kMaxDepth: checked by the caller).
    // Problems are left in issues() and dropped().
    Config load(const json& document) {
        Config config;
        if (!document.is_object()) {
            issues_.push_back({"", "expected a JSON object at the top level, found " + describe(document)});
            return config;
        }
        config.document = document;
        reject_unknown_keys(document, "", top_level_keys(), issues_, &dropped_);
        ConfigObjectReader top = params_of(document, "");
        for (Phase phase : {Phase::first, Phase::settings, Phase::sections}) {
            for (const Section& section : sections()) {
                if (section.phase != phase) continue;
                if (const json* value = find_value(document, section.key)) (this->*section.load)(top, *value, config);
            }
        }
        check_combinations(document, config);
        config.dispatcher.dead_letter_suffix = suffix_;
        config.dispatcher.clock = clock_;
        // On whole pipelines only: a refused middleware would hide or invent a loop.
        if (issues_.empty() && dropped_ == 0) check_dead_letter_loops(config, issues_);
        derive_groups(named_groups_, context(), issues_.empty() && dropped_ == 0, config);  // needs the suffix
        return config;
    }

    std::vector<ConfigIssue>& issues() { return issues_; }
    std::size_t dropped() const { return dropped_; }

private:
    ConfigObjectReader params_of(const json& object, std::string path) {
        ConfigObjectReader params(object, std::move(path), issues_, suffix_, clock_);
        IssueCap::attach(params, &dropped_);
        return params;
    }

    void add(ConfigIssue issue) {
        if (has_room(issues_, &dropped_)) issues_.push_back(std::move(issue));
    }

    // A section that is an object of settings: refused (with what it should be) when it is not an
    // object; its unknown keys refused with the nearest of @p keys.
    std::optional<ConfigObjectReader> section_object(const json& value, const std::string& path, const char* what,
                                                     const std::vector<std::string>& keys) {
        if (!value.is_object()) {
            add({path, std::string("expected an object of ") + what + ", found " + describe(value)});
            return std::nullopt;
        }
        reject_unknown_keys(value, path, keys, issues_, &dropped_);
        return params_of(value, path);
    }

    // --- top-level settings ------------------------------------------------------------------

    void load_schema_reference(ConfigObjectReader& top, const json& /*value*/, Config& /*config*/) {
        (void)top.optional_string("$schema");  // only its type is checked: it is for editors
    }

    void load_dead_letter_suffix(ConfigObjectReader& top, const json& /*value*/, Config& /*config*/) {
        if (auto suffix = top.optional_string("deadLetterSuffix")) {
            if (suffix->empty())
                top.fail("deadLetterSuffix",
                         "expected a non-empty string (an empty suffix would dead-letter a message into the "
                         "channel it failed on), found \"\"");
            else if (auto clash = dead_letter_suffix_clash(*suffix))  // the rule DeadLetters applies too
                top.fail("deadLetterSuffix", "expected " + *clash + ", found " + describe(json(*suffix)));
            else
                suffix_ = *suffix;
        }
    }

    void load_final(ConfigObjectReader& top, const json& value, Config& config) {
        auto behavior = value.is_string() ? parse_final_behavior(value.get_ref<const std::string&>()) : std::nullopt;
        if (behavior)
            config.dispatcher.final_behavior = *behavior;
        else
            top.fail("final", bad_choice(value, final_behavior_names()));
    }

    // A number for every channel, or {"default": s, "<channel>": s}. In both forms 0 means no limit
    // (in the object it lifts the default for that channel), as in the dispatcher's options.
    void load_max_elapsed(ConfigObjectReader& top, const json& value, Config& config) {
        auto limit = [](const json& seconds) -> std::optional<double> {
            if (!seconds.is_number() || !(seconds.get<double>() >= 0) || seconds.get<double>() > ConfigLimits::kMaxSeconds)
                return std::nullopt;
            return seconds.get<double>();
        };
        const std::string expected = "expected a number of seconds >= 0 and <= 1e9 (0: no limit), found ";
        if (!value.is_object()) {
            if (auto seconds = limit(value)) {
                if (*seconds > 0) config.dispatcher.default_max_elapsed = Seconds{*seconds};
            } else {
                top.fail("maxElapsed", expected + describe(value) + " (or an object: channel to seconds)");
            }
            return;
        }
        ConfigObjectReader limits = params_of(value, "/maxElapsed");
        if (value.size() > ConfigLimits::kMaxPipelines + 1) {
            top.fail("maxElapsed", too_many(ConfigLimits::kMaxPipelines + 1, "limits", value.size()));
            return;
        }
        for (const auto& [channel, seconds] : value.items()) {
            const auto parsed = limit(seconds);
            if (!parsed) {
                limits.fail(channel, expected + describe(seconds));
                continue;
            }
            if (channel == "default") {
                if (*parsed > 0) config.dispatcher.default_max_elapsed = Seconds{*parsed};
            } else if (auto problem = channel_name_problem(channel)) {
                limits.fail(channel, *problem);
            } else {
                config.dispatcher.max_elapsed[channel] = Seconds{*parsed};
            }
        }
    }

    void load_max_message_bytes(ConfigObjectReader& top, const json& /*value*/, Config& config) {
        if (auto limit = top.optional_integer_in("maxMessageBytes", 0, static_cast<long long>(kMaxMessageBytesLimit)))
            config.max_message_bytes = static_cast<std::size_t>(*limit);
    }

    void load_dead_letters(ConfigObjectReader& /*top*/, const json& value, Config& config) {
        auto section = section_object(value, "/deadLetters", "dead-letter settings", dead_letters_keys());
        if (!section) return;
        if (auto limit = section->optional_integer_in("historyLimit", 0, static_cast<long long>(kMaxHistoryLimit)))
            config.dispatcher.history_limit = static_cast<std::size_t>(*limit);
        // Retention: the worker evicts the oldest dead letters beyond these caps, counted and logged.
        if (auto count = section->optional_integer_in("maxCount", 1, kMaxRetainedDeadLetters))
            config.worker.dead_letter_retention.max_count = static_cast<std::size_t>(*count);
        if (auto age = section->optional_seconds("maxAge")) config.worker.dead_letter_retention.max_age = Seconds{*age};
    }

    // Rules that span sections, checked once every section is read.
    void check_combinations(const json& document, const Config& config) {
        if (config.dispatcher.final_behavior == FinalBehavior::rethrow && config.worker.max_deliveries == 0 &&
            find_value(document, "worker") != nullptr) {
            // Under rethrow a failing message goes back to the broker; only maxDeliveries ends that.
            add({"/worker/maxDeliveries",
                 "expected an integer >= 1 when \"final\" is \"rethrow\" (with 0 a message that always "
                 "fails would be redelivered forever), found 0"});
        }
    }

    // --- pipelines ---------------------------------------------------------------------------

    void load_default_pipeline(ConfigObjectReader& /*top*/, const json& value, Config& config) {
        config.dispatcher.default_pipeline = load_pipeline(value, "/defaultPipeline");
    }

    FailurePipeline load_pipeline(const json& value, const std::string& path) {
        FailurePipeline pipeline;
        if (!value.is_array()) {
            add({path, "expected an array of middlewares, found " + describe(value)});
            return pipeline;
        }
        if (value.size() > ConfigLimits::kMaxPipelineLength) {
            add({path, too_many(ConfigLimits::kMaxPipelineLength, "middlewares in a pipeline", value.size())});
            return pipeline;
        }
        middlewares_ += value.size();
        if (middlewares_ > ConfigLimits::kMaxMiddlewares) {
            add({path, "expected at most " + std::to_string(ConfigLimits::kMaxMiddlewares) +
                           " middlewares in all pipelines together, found more by this pipeline"});
            return pipeline;
        }
        for (std::size_t i = 0; i < value.size(); ++i) {
            if (auto middleware = load_middleware(value[i], child_path(path, i)))
                pipeline.push_back(std::move(middleware));
        }
        return pipeline;
    }

    void load_pipelines(ConfigObjectReader& /*top*/, const json& value, Config& config) {
        const std::string path = "/pipelines";
        if (!value.is_object()) {
            add({path, "expected an object of pipelines by channel name, found " + describe(value)});
            return;
        }
        if (value.size() > ConfigLimits::kMaxPipelines) {
            add({path, too_many(ConfigLimits::kMaxPipelines, "pipelines", value.size())});
            return;
        }
        for (auto it = value.begin(); it != value.end(); ++it) {
            const std::string pipeline_path = child_path(path, it.key());
            if (auto problem = channel_name_problem(it.key())) {
                add({pipeline_path, *problem});
                continue;
            }
            config.dispatcher.pipelines[it.key()] = load_pipeline(it.value(), pipeline_path);
        }
    }

    // The id keys the middleware's counters in the message metadata; "" is no key anyone means. For
    // every type, built-in or custom; whether an id may be absent is the type's factory's to say.
    static void refuse_empty_id(ConfigObjectReader& params) {
        const json* id = find_value(params.json(), "id");
        if (id != nullptr && id->is_string() && id->get_ref<const std::string&>().empty())
            params.fail("id", "expected a non-empty string (the key of the middleware's counters in the message "
                              "metadata), found \"\"");
    }

    FailureMiddlewarePtr load_middleware(const json& value, const std::string& path) {
        if (!value.is_object()) {
            add({path, "expected a middleware object, found " + describe(value)});
            return nullptr;
        }
        ConfigObjectReader params = params_of(value, path);
        const auto known = registry_.types();
        auto type_it = value.find("type");
        if (type_it == value.end()) {
            params.fail("", "missing required key \"type\" (expected one of " + list_of(known) + ")");
            return nullptr;
        }
        if (!type_it->is_string()) {
            params.fail("type",
                        "expected a middleware type (one of " + list_of(known) + "), found " + describe(*type_it));
            return nullptr;
        }
        const auto& type = type_it->get_ref<const std::string&>();
        const MiddlewareRegistry::Factory* factory = registry_.find(type);
        if (!factory) {
            params.fail("type", "unknown middleware type " + quote_json(type) + suggestion(type, known) +
                                    " (known types: " + list_of(known) + ")");
            return nullptr;
        }

        refuse_empty_id(params);
        FailureMiddlewarePtr middleware;
        try {
            middleware = (*factory)(params);
        } catch (const ConfigError& e) {
            // A custom factory may throw its own issues; their paths are taken relative to the middleware.
            for (const auto& issue : e.issues()) add({path + issue.path, issue.message});
            return nullptr;
        } catch (const Error& e) {
            // Constructors check their parameters too (InvalidArgumentError); a custom type's checks
            // surface here, at the middleware's path.
            params.fail("", e.what());
            return nullptr;
        }
        if (!params.ok()) return nullptr;
        if (!middleware) {
            params.fail("", "the factory of middleware type " + quote_json(type) + " built nothing");
            return nullptr;
        }
        return middleware;
    }

    // --- classification ----------------------------------------------------------------------

    void load_classification(ConfigObjectReader& /*top*/, const json& value, Config& config) {
        Classifier& classifier = config.classifier;
        const std::string path = "/classification";
        if (!value.is_array()) {
            add({path, "expected an array of classification rules, found " + describe(value)});
            return;
        }
        if (value.size() > ConfigLimits::kMaxClassificationRules) {
            add({path, too_many(ConfigLimits::kMaxClassificationRules, "classification rules", value.size())});
            return;
        }
        for (std::size_t i = 0; i < value.size(); ++i) {
            const json& rule = value[i];
            const std::string rule_path = child_path(path, i);
            if (!rule.is_object()) {
                add({rule_path, "expected a classification rule object, found " + describe(rule)});
                continue;
            }
            ConfigObjectReader params = params_of(rule, rule_path);
            params.allow_keys({"message", "class"});

            // Only used once params.ok(), i.e. once "class" was read successfully.
            ErrorClass error_class = ErrorClass::unknown;
            if (const json* class_value = find_value(rule, "class")) {
                auto parsed = class_value->is_string() ? parse_error_class(class_value->get_ref<const std::string&>())
                                                       : std::nullopt;
                if (parsed)
                    error_class = *parsed;
                else
                    params.fail("class", bad_choice(*class_value, error_class_names()));
            } else {
                params.fail("", "missing required key \"class\" (expected " + one_of(error_class_names()) + ")");
            }

            const bool has_type = find_value(rule, "type") != nullptr;
            const bool has_message = find_value(rule, "message") != nullptr;
            if (has_type && has_message) {
                params.fail("", "expected either \"type\" or \"message\", found both");
                continue;
            }
            if (!has_type && !has_message) {
                params.fail("", "missing required key \"type\" or \"message\"");
                continue;
            }
            if (has_type) {
                auto type = params.optional_string("type");
                if (type && type->empty()) params.fail("type", "expected a non-empty exception type name, found \"\"");
                if (params.ok() && type) classifier.add_type_name(*type, error_class);
                continue;
            }
            auto pattern = params.optional_string("message");
            if (!pattern) continue;
            // The limits first: std::regex recurses on nesting, so a hostile pattern must not reach it.
            if (auto problem = message_pattern_problem(*pattern)) {
                params.fail("message", "expected a regular expression within the limits of docs/config.md, found " +
                                           describe(json(*pattern)) + ", which " + *problem);
                continue;
            }
            try {
                std::regex check(*pattern, std::regex::ECMAScript);
            } catch (const std::regex_error& e) {
                params.fail("message", "expected an ECMAScript regular expression, found " + quote_json(*pattern) +
                                           " (" + e.what() + ")");
                continue;
            }
            if (!params.ok()) continue;
            try {
                classifier.add_message_pattern(*pattern, error_class);
            } catch (const Error& e) {
                params.fail("message", e.what());
            }
        }
    }

    // --- worker --------------------------------------------------------------------------------

    void load_worker(ConfigObjectReader& /*top*/, const json& value, Config& config) {
        const std::string path = "/worker";
        auto section = section_object(value, path, "worker settings", worker_keys());
        if (!section) return;
        ConfigObjectReader& params = *section;
        WorkerOptions& worker = config.worker;

        if (const json* channels = find_value(value, "channels")) {
            if (!channels->is_array()) {
                params.fail("channels", "expected an array of channel names, found " + describe(*channels));
            } else if (channels->size() > ConfigLimits::kMaxWorkerChannels) {
                params.fail("channels", too_many(ConfigLimits::kMaxWorkerChannels, "channels", channels->size()));
            } else {
                std::set<std::string> seen;
                for (std::size_t i = 0; i < channels->size(); ++i) {
                    const json& channel = (*channels)[i];
                    const std::string channel_path = child_path(child_path(path, "channels"), i);
                    if (!channel.is_string()) {
                        add({channel_path, "expected a non-empty channel name, found " + describe(channel)});
                        continue;
                    }
                    const auto& name = channel.get_ref<const std::string&>();
                    if (auto problem = channel_name_problem(name)) {
                        add({channel_path, *problem});
                        continue;
                    }
                    if (!seen.insert(name).second) {
                        add({channel_path, "duplicate channel " + quote_json(name)});
                        continue;
                    }
                    worker.channels.push_back(name);
                }
            }
        }
        if (auto batch = params.optional_integer_in("batchSize", 1, ConfigLimits::kMaxBatchSize))
            worker.batch_size = static_cast<std::size_t>(*batch);
        if (auto wait = params.optional_integer_in("waitMs", 0, ConfigLimits::kMaxWaitMs))
            worker.wait = std::chrono::milliseconds{*wait};
        if (auto max = params.optional_integer_in("maxDeliveries", 0, std::numeric_limits<std::uint32_t>::max()))
            worker.max_deliveries = static_cast<std::uint32_t>(*max);
        if (auto behavior = params.optional_choice("onExpired", {"dead-letter", "drop"}))
            worker.on_expired = *parse_expired_behavior(*behavior);
        if (auto timeout = params.optional_seconds("visibilityTimeout")) {
            config.visibility_timeout = Seconds{*timeout};
            config.worker.visibility_timeout = Seconds{*timeout};
        }
        load_worker_runtime(params, config);
    }

    // --- runtime (config_runtime.cpp) ------------------------------------------------------------

    void load_degradation_section(ConfigObjectReader& /*top*/, const json& value, Config& config) {
        if (auto section = section_object(value, "/degradation", "degradation settings", degradation_keys()))
            load_degradation(*section, config);
    }

    void load_http_section(ConfigObjectReader& /*top*/, const json& value, Config& config) {
        if (auto section = section_object(value, "/http", "HTTP endpoint settings", http_keys())) load_http(*section, config);
    }

    void load_dashboard_section(ConfigObjectReader& /*top*/, const json& value, Config& config) {
        if (auto section = section_object(value, "/dashboard", "dashboard settings", dashboard_keys()))
            load_dashboard(*section, config);
    }

    // --- breakers and retry budgets (config_resilience.cpp) ---------------------------------

    SectionContext context() { return SectionContext{issues_, &dropped_, clock_}; }
    void load_breakers(ConfigObjectReader& /*top*/, const json& value, Config& config) {
        detail::load_breakers(value, context(), config);
    }
    void load_retry_budget(ConfigObjectReader& /*top*/, const json& value, Config& config) {
        detail::load_retry_budget(value, context(), config);
    }

    // --- shard groups (config_groups.cpp) -------------------------------------------------------

    void load_groups_section(ConfigObjectReader& /*top*/, const json& value, Config& /*config*/) {
        detail::load_groups(value, context(), named_groups_);
    }
    void load_key_layout_setting(ConfigObjectReader& top, const json& /*value*/, Config& config) {
        detail::load_key_layout(top, config);
    }

    // --- durability -------------------------------------------------------------------------------

    // "master" | "replicas", or {"mode": ..., "replicas": N, "waitMs": T}.
    void load_durability(ConfigObjectReader& top, const json& value, Config& config) {
        DurabilitySetting setting;
        if (value.is_string()) {
            auto mode = top.optional_choice("durability", {"master", "replicas"});
            if (!mode) return;
            setting.mode = *mode == "replicas" ? DurabilitySetting::Mode::replicas : DurabilitySetting::Mode::master;
            config.durability = setting;
            return;
        }
        if (!value.is_object()) {
            add({"/durability", "expected \"master\", \"replicas\" or an object of durability settings, found " +
                                    describe(value)});
            return;
        }
        auto section = section_object(value, "/durability", "durability settings", durability_keys());
        if (!section) return;
        auto mode = section->optional_choice("mode", {"master", "replicas"});
        if (mode) setting.mode = *mode == "replicas" ? DurabilitySetting::Mode::replicas : DurabilitySetting::Mode::master;
        if (auto n = section->optional_integer_in("replicas", 1, 1000)) setting.replicas = static_cast<std::size_t>(*n);
        if (auto ms = section->optional_integer_in("waitMs", 1, 3'600'000)) setting.wait = std::chrono::milliseconds{*ms};
        if (!mode && section->ok()) {
            section->fail("mode", "expected \"master\" or \"replicas\": the object form names its mode");
        }
        if (section->ok()) config.durability = setting;
    }

    const MiddlewareRegistry& registry_;
    std::shared_ptr<const Clock> clock_;
    std::string suffix_ = DeadLetterMiddleware::kDefaultSuffix;
    std::vector<ConfigIssue> issues_;
    std::size_t dropped_ = 0;
    std::size_t middlewares_ = 0;
    std::vector<NamedShardGroup> named_groups_;
};

// To add a top-level key: a row here (listed where "expected one of" should name it), a reader
// above, the key in config/schema.json (a test compares the two) and docs/config.md.
const std::vector<Loader::Section>& Loader::sections() {
    static const std::vector<Section> table{
        {"$schema", Phase::first, &Loader::load_schema_reference},
        {"defaultPipeline", Phase::sections, &Loader::load_default_pipeline},
        {"pipelines", Phase::sections, &Loader::load_pipelines},
        {"final", Phase::settings, &Loader::load_final},
        {"deadLetterSuffix", Phase::first, &Loader::load_dead_letter_suffix},
        {"classification", Phase::sections, &Loader::load_classification},
        {"worker", Phase::sections, &Loader::load_worker},
        {"deadLetters", Phase::sections, &Loader::load_dead_letters},
        {"maxElapsed", Phase::settings, &Loader::load_max_elapsed},
        {"maxMessageBytes", Phase::settings, &Loader::load_max_message_bytes},
        {"degradation", Phase::sections, &Loader::load_degradation_section},
        {"http", Phase::sections, &Loader::load_http_section},
        {"dashboard", Phase::sections, &Loader::load_dashboard_section},
        {"breakers", Phase::sections, &Loader::load_breakers},  // after classification: breakers classify with it
        {"retryBudget", Phase::sections, &Loader::load_retry_budget},
        {"groups", Phase::sections, &Loader::load_groups_section},
        {"keyLayout", Phase::settings, &Loader::load_key_layout_setting},
        {"durability", Phase::settings, &Loader::load_durability},
    };
    return table;
}

}  // namespace

std::vector<std::string> top_level_keys() {
    std::vector<std::string> keys;
    for (const auto& section : Loader::sections()) keys.emplace_back(section.key);
    return keys;
}

const std::vector<std::string>& worker_keys() {
    static const std::vector<std::string> keys = [] {
        std::vector<std::string> all{"channels", "batchSize", "waitMs", "maxDeliveries", "visibilityTimeout", "onExpired"};
        for (const auto& key : worker_runtime_keys()) all.push_back(key);
        return all;
    }();
    return keys;
}

const std::vector<std::string>& durability_keys() {
    static const std::vector<std::string> keys{"mode", "replicas", "waitMs"};
    return keys;
}

const std::vector<std::string>& dead_letters_keys() {
    static const std::vector<std::string> keys{"historyLimit", "maxCount", "maxAge"};
    return keys;
}

LoadResult load_document(const json& document, const MiddlewareRegistry& registry, std::shared_ptr<const Clock> clock) {
    Loader loader(registry, std::move(clock));
    LoadResult result;
    result.config = loader.load(document);
    result.issues = std::move(loader.issues());
    result.dropped = loader.dropped();
    return result;
}

}  // namespace failpipe::detail
