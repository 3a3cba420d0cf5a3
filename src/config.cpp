// Config loading: the document reader (MiddlewareParams), the loader and the JSON front ends.
//
// Every check records a ConfigIssue instead of throwing, so one pass reports every problem of a
// document; ConfigError is thrown once at the end.
#include "failpipe/config.hpp"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <regex>
#include <set>
#include <unordered_map>
#include <unordered_set>
#include <utility>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "failpipe/dead_letter_middleware.hpp"

namespace failpipe {
namespace detail {

// How many issues a load keeps before it only counts them: enough to pick the first
// ConfigLimits::kMaxReportedIssues in document order, bounded so a document of a million bad keys
// costs a counter, not a million messages.
constexpr std::size_t kMaxKeptIssues = 1000;

// Lets the loader give the MiddlewareParams it creates its overflow counter.
struct IssueCap {
    static void attach(MiddlewareParams& params, std::size_t* dropped) { params.dropped_ = dropped; }
};

}  // namespace detail

namespace {

using detail::kMaxKeptIssues;

using nlohmann::json;

constexpr std::size_t kMaxShownString = 60;

// How a value is shown after "found": scalars as JSON, containers by kind, since a whole
// pipeline pasted into a one-line message helps nobody.
// A string as a JSON literal. Invalid UTF-8 (possible in a document built in code) is shown
// replaced rather than thrown at the very moment a problem is being reported.
std::string quote_json(std::string_view s) {
    return json(std::string(s)).dump(-1, ' ', false, json::error_handler_t::replace);
}

std::string describe(const json& value) {
    switch (value.type()) {
        case json::value_t::array:
            return value.empty() ? "[]" : "an array";
        case json::value_t::object:
            return value.empty() ? "{}" : "an object";
        case json::value_t::string: {
            const auto& s = value.get_ref<const std::string&>();
            if (s.size() <= kMaxShownString) return quote_json(s);
            // Cut before a UTF-8 continuation byte, never inside a character.
            std::size_t cut = kMaxShownString;
            while (cut > 0 && (static_cast<unsigned char>(s[cut]) & 0xC0) == 0x80) --cut;
            return quote_json(std::string_view(s).substr(0, cut)) + " (truncated)";
        }
        case json::value_t::discarded:
            return "nothing";
        default:
            return value.dump();
    }
}

// `"a", "b" or "c"`: the choices of an enumerated value.
std::string one_of(const std::vector<std::string>& choices) {
    std::string out;
    for (std::size_t i = 0; i < choices.size(); ++i) {
        if (i > 0) out += (i + 1 == choices.size()) ? " or " : ", ";
        out += quote_json(choices[i]);
    }
    return out;
}

std::string list_of(const std::vector<std::string>& items) {
    std::string out;
    for (std::size_t i = 0; i < items.size(); ++i) {
        if (i > 0) out += ", ";
        out += quote_json(items[i]);
    }
    return out;
}

std::string suggestion(std::string_view word, const std::vector<std::string>& known) {
    auto near = nearest_word(word, known);
    return near ? "; did you mean " + quote_json(*near) + "?" : std::string{};
}

// `expected "a", "b" or "c", found "x"; did you mean "a"?`
std::string bad_choice(const json& found, const std::vector<std::string>& choices) {
    std::string message = "expected " + one_of(choices) + ", found " + describe(found);
    if (found.is_string()) message += suggestion(found.get_ref<const std::string&>(), choices);
    return message;
}

std::string escape_pointer_token(std::string_view token) {
    std::string out;
    out.reserve(token.size());
    for (char c : token) {
        if (c == '~')
            out += "~0";
        else if (c == '/')
            out += "~1";
        else
            out += c;
    }
    return out;
}

std::string child_path(const std::string& parent, std::string_view token) {
    return parent + "/" + escape_pointer_token(token);
}

std::string child_path(const std::string& parent, std::size_t index) { return parent + "/" + std::to_string(index); }

// Absent and null are the same for optional keys: a generated document may write null for "not set".
const json* find_value(const json& object, std::string_view key) {
    if (!object.is_object()) return nullptr;
    auto it = object.find(key);
    if (it == object.end() || it->is_null()) return nullptr;
    return &*it;
}

std::string unknown_key_message(const std::string& key, const std::vector<std::string>& known) {
    auto near = nearest_word(key, known);
    if (near) return "unknown key " + describe(json(key)) + "; did you mean " + quote_json(*near) + "?";
    return "unknown key " + describe(json(key)) + "; expected one of " + list_of(known);
}

// True when one more issue may be kept; otherwise counts it in @p dropped (when there is a cap).
bool has_room(const std::vector<ConfigIssue>& issues, std::size_t* dropped) {
    if (dropped == nullptr || issues.size() < kMaxKeptIssues) return true;
    ++*dropped;
    return false;
}

void reject_unknown_keys(const json& object, const std::string& path, const std::vector<std::string>& known,
                         std::vector<ConfigIssue>& issues, std::size_t* dropped) {
    if (!object.is_object()) return;
    for (auto it = object.begin(); it != object.end(); ++it) {
        if (std::find(known.begin(), known.end(), it.key()) != known.end()) continue;
        // The message (and its "did you mean") is only built for an issue that is kept.
        if (has_room(issues, dropped)) issues.push_back({child_path(path, it.key()), unknown_key_message(it.key(), known)});
    }
}

// `and 12 more problems`: what a refusal says after the first kMaxReportedIssues issues.
void cap_issues(std::vector<ConfigIssue>& issues, std::size_t dropped) {
    const std::size_t total = issues.size() + dropped;
    if (total <= ConfigLimits::kMaxReportedIssues) return;
    issues.resize(ConfigLimits::kMaxReportedIssues);
    const std::size_t more = total - ConfigLimits::kMaxReportedIssues;
    issues.push_back({"", "and " + std::to_string(more) + " more problem" + (more == 1 ? "" : "s") + " (only the first " +
                              std::to_string(ConfigLimits::kMaxReportedIssues) + " are listed)"});
}

std::string too_many(std::size_t limit, const char* what, std::size_t found) {
    return "expected at most " + std::to_string(limit) + " " + what + ", found " + std::to_string(found);
}

// A channel name of a pipeline or of the worker: its length is bounded so that the paths and
// messages built from it stay small.
std::optional<std::string> channel_name_problem(const std::string& name) {
    if (name.empty()) return "expected a non-empty channel name, found \"\"";
    if (name.size() > ConfigLimits::kMaxChannelNameBytes)
        return "expected a channel name of at most " + std::to_string(ConfigLimits::kMaxChannelNameBytes) +
               " bytes, found one of " + std::to_string(name.size()) + " bytes";
    return std::nullopt;
}

// The JSON pointer of the first array or object nested deeper than ConfigLimits::kMaxDepth in
// @p document, found without recursion (a document built in code may be nested a million deep).
std::optional<std::string> too_deep(const json& document) {
    struct Level {
        const json* value;
        json::const_iterator next;
        std::size_t index;
    };
    if (!document.is_structured()) return std::nullopt;
    std::vector<Level> stack{{&document, document.cbegin(), 0}};
    while (!stack.empty()) {
        Level& top = stack.back();
        if (top.next == top.value->cend()) {
            stack.pop_back();
            continue;
        }
        const auto child = top.next++;
        ++top.index;
        if (!child->is_structured()) continue;
        if (stack.size() >= ConfigLimits::kMaxDepth) {
            std::string path;
            for (const auto& level : stack) {
                const auto at = std::prev(level.next);
                path = level.value->is_object() ? child_path(path, at.key()) : child_path(path, level.index - 1);
            }
            return path;
        }
        stack.push_back({&*child, child->cbegin(), 0});
    }
    return std::nullopt;
}

std::string too_deep_message() {
    return "expected arrays and objects nested at most " + std::to_string(ConfigLimits::kMaxDepth) +
           " deep, found one deeper";
}

// A number of seconds: finite (checked by the reader), > 0 and at most ConfigLimits::kMaxSeconds,
// the same rule as the Redis adapter's timeouts.
bool seconds_in_range(double value) { return value > 0 && value <= ConfigLimits::kMaxSeconds; }

// Issues are reported in document order as nlohmann sees it: object keys sorted, array elements
// by index (numerically, so /10 comes after /9). A stable sort keeps several issues of one value
// in the order they were found.
bool pointer_less(const std::string& a, const std::string& b) {
    auto split = [](const std::string& p) {
        std::vector<std::string_view> tokens;
        std::string_view rest(p);
        while (!rest.empty()) {
            rest.remove_prefix(1);  // the leading '/'
            auto slash = rest.find('/');
            tokens.push_back(rest.substr(0, slash));
            rest = slash == std::string_view::npos ? std::string_view{} : rest.substr(slash);
        }
        return tokens;
    };
    auto is_index = [](std::string_view t) {
        return !t.empty() && std::all_of(t.begin(), t.end(), [](char c) { return c >= '0' && c <= '9'; });
    };
    auto ta = split(a);
    auto tb = split(b);
    for (std::size_t i = 0; i < ta.size() && i < tb.size(); ++i) {
        if (ta[i] == tb[i]) continue;
        if (is_index(ta[i]) && is_index(tb[i])) {
            if (ta[i].size() != tb[i].size()) return ta[i].size() < tb[i].size();
        }
        return ta[i] < tb[i];
    }
    return ta.size() < tb.size();
}

void sort_issues(std::vector<ConfigIssue>& issues) {
    std::stable_sort(issues.begin(), issues.end(),
                     [](const ConfigIssue& a, const ConfigIssue& b) { return pointer_less(a.path, b.path); });
}

const std::vector<std::string>& error_class_names() {
    static const std::vector<std::string> names{"transient", "permanent", "unknown"};
    return names;
}

const std::vector<std::string>& final_behavior_names() {
    static const std::vector<std::string> names{"dead-letter", "rethrow", "drop"};
    return names;
}

// Integer range checks shared by the worker section.
std::optional<long long> optional_integer(MiddlewareParams& params, std::string_view key) {
    if (!find_value(params.json(), key)) return std::nullopt;
    return params.required_integer(key);
}

bool at_least(MiddlewareParams& params, std::string_view key, long long value, long long minimum) {
    if (value >= minimum) return true;
    params.fail(key, "expected an integer >= " + std::to_string(minimum) + ", found " + std::to_string(value));
    return false;
}

bool in_range(MiddlewareParams& params, std::string_view key, long long value, long long minimum, long long maximum) {
    if (!at_least(params, key, value, minimum)) return false;
    if (value <= maximum) return true;
    params.fail(key, "expected an integer <= " + std::to_string(maximum) + ", found " + std::to_string(value));
    return false;
}

class Loader {
public:
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
        reject_unknown_keys(
            document, "",
            {"$schema", "defaultPipeline", "pipelines", "final", "deadLetterSuffix", "classification", "worker"},
            issues_, &dropped_);
        MiddlewareParams top = params_of(document, "");
        (void)top.optional_string("$schema");  // only its type is checked: it is for editors

        // The suffix first: dead-letter middlewares are built with it.
        if (auto suffix = top.optional_string("deadLetterSuffix")) {
            if (suffix->empty())
                top.fail("deadLetterSuffix",
                         "expected a non-empty string (an empty suffix would dead-letter a message into the "
                         "channel it failed on), found \"\"");
            else
                suffix_ = *suffix;
        }
        if (const json* final_value = find_value(document, "final")) {
            auto behavior = final_value->is_string() ? parse_final_behavior(final_value->get_ref<const std::string&>())
                                                     : std::nullopt;
            if (behavior)
                config.dispatcher.final_behavior = *behavior;
            else
                top.fail("final", bad_choice(*final_value, final_behavior_names()));
        }

        if (const json* pipeline = find_value(document, "defaultPipeline"))
            config.dispatcher.default_pipeline = load_pipeline(*pipeline, "/defaultPipeline");
        if (const json* pipelines = find_value(document, "pipelines")) load_pipelines(*pipelines, config);
        if (const json* rules = find_value(document, "classification")) load_classification(*rules, config.classifier);
        if (const json* worker = find_value(document, "worker")) load_worker(*worker, config);

        if (config.dispatcher.final_behavior == FinalBehavior::rethrow && config.worker.max_deliveries == 0 &&
            find_value(document, "worker") != nullptr) {
            // Under rethrow a failing message goes back to the broker; only maxDeliveries ends that.
            add({"/worker/maxDeliveries",
                               "expected an integer >= 1 when \"final\" is \"rethrow\" (with 0 a message that always "
                               "fails would be redelivered forever), found 0"});
        }
        config.dispatcher.dead_letter_suffix = suffix_;
        config.dispatcher.clock = clock_;
        return config;
    }

    std::vector<ConfigIssue>& issues() { return issues_; }
    std::size_t dropped() const { return dropped_; }

private:
    MiddlewareParams params_of(const json& object, std::string path) {
        MiddlewareParams params(object, std::move(path), issues_, suffix_, clock_);
        detail::IssueCap::attach(params, &dropped_);
        return params;
    }

    void add(ConfigIssue issue) {
        if (has_room(issues_, &dropped_)) issues_.push_back(std::move(issue));
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

    void load_pipelines(const json& value, Config& config) {
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

    FailureMiddlewarePtr load_middleware(const json& value, const std::string& path) {
        if (!value.is_object()) {
            add({path, "expected a middleware object, found " + describe(value)});
            return nullptr;
        }
        MiddlewareParams params = params_of(value, path);
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

    void load_classification(const json& value, Classifier& classifier) {
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
            MiddlewareParams params = params_of(rule, rule_path);
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

    void load_worker(const json& value, Config& config) {
        const std::string path = "/worker";
        if (!value.is_object()) {
            add({path, "expected an object of worker settings, found " + describe(value)});
            return;
        }
        reject_unknown_keys(value, path, {"channels", "batchSize", "waitMs", "maxDeliveries", "visibilityTimeout"},
                            issues_, &dropped_);
        MiddlewareParams params = params_of(value, path);
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
        if (auto batch = optional_integer(params, "batchSize");
            batch && in_range(params, "batchSize", *batch, 1, ConfigLimits::kMaxBatchSize))
            worker.batch_size = static_cast<std::size_t>(*batch);
        if (auto wait = optional_integer(params, "waitMs");
            wait && in_range(params, "waitMs", *wait, 0, ConfigLimits::kMaxWaitMs))
            worker.wait = std::chrono::milliseconds{*wait};
        if (auto max = optional_integer(params, "maxDeliveries"); max && at_least(params, "maxDeliveries", *max, 0)) {
            if (*max > static_cast<long long>(std::numeric_limits<std::uint32_t>::max()))
                params.fail("maxDeliveries", "expected an integer <= 4294967295, found " + std::to_string(*max));
            else
                worker.max_deliveries = static_cast<std::uint32_t>(*max);
        }
        if (auto timeout = params.optional_number("visibilityTimeout")) {
            // The adapters' own rule (the Redis adapter refuses the same values at start-up).
            if (seconds_in_range(*timeout)) {
                config.visibility_timeout = Seconds{*timeout};
                config.worker.visibility_timeout = Seconds{*timeout};
            } else {
                params.fail("visibilityTimeout", std::string(*timeout > 0 ? "expected a number <= 1e9 (seconds)"
                                                                          : "expected a number > 0") +
                                                     ", found " + value.at("visibilityTimeout").dump());
            }
        }
    }

    const MiddlewareRegistry& registry_;
    std::shared_ptr<const Clock> clock_;
    std::string suffix_ = DeadLetterMiddleware::kDefaultSuffix;
    std::vector<ConfigIssue> issues_;
    std::size_t dropped_ = 0;
    std::size_t middlewares_ = 0;
};

// Positions of values in the text, by JSON pointer. Each pointer is kept as a 64-bit hash chained
// from its parent's (not as a string: storing every value's pointer costs the depth times the
// number of values), so recording is constant work per value and lookup walks one pointer. A hash
// collision could only misplace an issue in the listing.
class TextOrder {
public:
    static constexpr std::uint64_t kRoot = 0x6a09e667f3bcc908ULL;

    // The hash of the child @p token (an escaped pointer token, as written in a pointer) of @p parent.
    static std::uint64_t child(std::uint64_t parent, std::string_view token) {
        std::uint64_t h = 0xcbf29ce484222325ULL;  // FNV-1a over the token
        for (unsigned char c : token) h = (h ^ c) * 0x100000001b3ULL;
        std::uint64_t x = parent ^ (h + 0x9e3779b97f4a7c15ULL + (parent << 6) + (parent >> 2));
        x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;  // splitmix64's finaliser
        x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
        return x ^ (x >> 31);
    }

    void record(std::uint64_t hash) { entries_.emplace_back(hash, entries_.size()); }

    void seal() {
        std::sort(entries_.begin(), entries_.end());
    }

    // The position of @p path, or of its nearest ancestor that is in the text (a custom factory's
    // issue may name a key that is not); 0 for the document.
    std::size_t position(std::string_view path) const {
        std::vector<std::uint64_t> chain{kRoot};
        while (!path.empty()) {
            path.remove_prefix(1);  // the leading '/'
            const auto slash = path.find('/');
            chain.push_back(child(chain.back(), path.substr(0, slash)));
            path = slash == std::string_view::npos ? std::string_view{} : path.substr(slash);
        }
        for (std::size_t i = chain.size(); i-- > 1;) {
            auto it = std::lower_bound(entries_.begin(), entries_.end(), std::pair<std::uint64_t, std::size_t>{chain[i], 0});
            if (it != entries_.end() && it->first == chain[i]) return it->second + 1;
        }
        return 0;
    }

private:
    std::vector<std::pair<std::uint64_t, std::size_t>> entries_;
};

// Thrown from the parser callback to stop parsing a document nested too deep.
struct TooDeep {
    std::string path;
};

// Builds the document from nlohmann's SAX events, watching for what the parsed json loses or must
// never hold: duplicate keys (JSON allows them and nlohmann silently keeps the last one, so a config
// whose first `maxAttempts` is ignored would load), the order of keys in the text (nlohmann's
// objects are sorted, and issues are listed in the order the file has them), and nesting beyond
// ConfigLimits::kMaxDepth (the parse stops at the first such value). Work per event is constant
// apart from the key's own length; pointers are built only for a problem. (nlohmann's parser
// callback is not used: it rescans an array after each object in it, quadratic in the array.)
class DocumentBuilder : public nlohmann::json_sax<json> {
public:
    DocumentBuilder(json& root, std::vector<ConfigIssue>& duplicates, std::size_t& dropped, TextOrder& order)
        : root_(root), duplicates_(duplicates), dropped_(dropped), order_(order) {}

    bool null() override { return value(nullptr); }
    bool boolean(bool v) override { return value(v); }
    bool number_integer(number_integer_t v) override { return value(v); }
    bool number_unsigned(number_unsigned_t v) override { return value(v); }
    bool number_float(number_float_t v, const string_t& /*text*/) override { return value(v); }
    bool string(string_t& v) override { return value(std::move(v)); }
    bool binary(binary_t& v) override { return value(json::binary(std::move(v))); }

    bool start_object(std::size_t /*elements*/) override { return open(json::value_t::object); }
    bool start_array(std::size_t /*elements*/) override { return open(json::value_t::array); }
    bool end_object() override { return close(); }
    bool end_array() override { return close(); }

    bool key(string_t& k) override {
        Frame& frame = frames_.back();
        frame.key = k;
        order_.record(TextOrder::child(frame.hash, escape_pointer_token(frame.key)));
        if (!frame.keys.insert(frame.key).second && has_room(duplicates_, &dropped_))
            duplicates_.push_back(
                {path(), "duplicate key " + describe(json(frame.key)) + " (only its last value would be used)"});
        // As nlohmann: a repeated key's later value replaces the earlier one.
        slot_ = &(*frame.value)[k];
        return true;
    }

    bool parse_error(std::size_t /*position*/, const std::string& /*last_token*/,
                     const nlohmann::detail::exception& e) override {
        // Rethrown as its own type: the caller turns a parse_error into line and column.
        if (const auto* error = dynamic_cast<const json::parse_error*>(&e)) throw *error;
        throw e;
    }

private:
    struct Frame {
        json* value;
        std::uint64_t hash;  // of the frame's own pointer
        std::unordered_set<std::string> keys;
        std::string key;
        std::size_t next_index;
    };

    // Where the next value goes, and the hash of its pointer (recorded for an array element; an
    // object member was recorded at its key).
    std::pair<json*, std::uint64_t> place() {
        if (frames_.empty()) return {&root_, TextOrder::kRoot};
        Frame& frame = frames_.back();
        if (frame.value->is_object()) return {slot_, TextOrder::child(frame.hash, escape_pointer_token(frame.key))};
        const std::uint64_t hash = TextOrder::child(frame.hash, std::to_string(frame.next_index++));
        order_.record(hash);
        frame.value->push_back(nullptr);
        return {&frame.value->back(), hash};
    }

    template <class V>
    bool value(V&& v) {
        *place().first = json(std::forward<V>(v));
        return true;
    }

    bool open(json::value_t type) {
        auto [slot, hash] = place();
        if (frames_.size() >= ConfigLimits::kMaxDepth) throw TooDeep{path()};
        *slot = json(type);
        frames_.push_back(Frame{slot, hash, {}, {}, 0});
        return true;
    }

    bool close() {
        frames_.pop_back();
        return true;
    }

    // The pointer of the value being parsed: only built for a problem.
    std::string path() const {
        std::string out;
        for (const auto& frame : frames_) {
            if (frame.value->is_object())
                out = child_path(out, frame.key);
            else
                out = child_path(out, frame.next_index - 1);
        }
        return out;
    }

    json& root_;
    std::vector<ConfigIssue>& duplicates_;
    std::size_t& dropped_;
    TextOrder& order_;
    std::vector<Frame> frames_;
    json* slot_ = nullptr;
};

// Sorts issues by where their value starts in the text. A path not in the text (a custom
// factory's own) goes with its nearest ancestor that is; the sort is stable.
void sort_in_text_order(std::vector<ConfigIssue>& issues, const TextOrder& order) {
    std::vector<std::pair<std::size_t, std::size_t>> keyed;  // (position, index): each path is looked up once
    keyed.reserve(issues.size());
    for (std::size_t i = 0; i < issues.size(); ++i) keyed.emplace_back(order.position(issues[i].path), i);
    std::stable_sort(keyed.begin(), keyed.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
    std::vector<ConfigIssue> sorted;
    sorted.reserve(issues.size());
    for (const auto& [position, i] : keyed) sorted.push_back(std::move(issues[i]));
    issues = std::move(sorted);
}

std::pair<std::size_t, std::size_t> line_and_column(std::string_view text, std::size_t byte) {
    std::size_t line = 1;
    std::size_t column = 1;
    // nlohmann reports the position just past the offending character.
    const std::size_t end = std::min(byte > 0 ? byte - 1 : 0, text.size());
    for (std::size_t i = 0; i < end; ++i) {
        if (text[i] == '\n') {
            ++line;
            column = 1;
        } else {
            ++column;
        }
    }
    return {line, column};
}

// nlohmann's text is "[json.exception.parse_error.101] parse error at line L, column C: <detail>";
// the detail is what helps, the position is computed from the text (so it is 1-based and exact).
std::string parse_error_detail(const std::string& what) {
    auto colon = what.find(": ");
    if (what.find("parse error at line") != std::string::npos && colon != std::string::npos)
        return what.substr(colon + 2);
    auto bracket = what.find("] ");
    return bracket == std::string::npos ? what : what.substr(bracket + 2);
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// MiddlewareParams

MiddlewareParams::MiddlewareParams(const nlohmann::json& object, std::string path, std::vector<ConfigIssue>& issues,
                                   std::string dead_letter_suffix, std::shared_ptr<const Clock> clock)
    : object_(object),
      path_(std::move(path)),
      issues_(issues),
      dead_letter_suffix_(std::move(dead_letter_suffix)),
      clock_(std::move(clock)) {}

std::string MiddlewareParams::key_path(std::string_view key) const {
    return key.empty() ? path_ : child_path(path_, key);
}

void MiddlewareParams::record(std::string path, std::string message) {
    ok_ = false;
    if (has_room(issues_, dropped_)) issues_.push_back({std::move(path), std::move(message)});
}

void MiddlewareParams::fail(std::string_view key, std::string message) { record(key_path(key), std::move(message)); }

void MiddlewareParams::allow_keys(std::initializer_list<std::string_view> known) {
    std::vector<std::string> names{"type"};
    for (auto k : known) names.emplace_back(k);
    const auto before = issues_.size();
    const auto dropped_before = dropped_ ? *dropped_ : 0;
    reject_unknown_keys(object_, path_, names, issues_, dropped_);
    if (issues_.size() != before || (dropped_ && *dropped_ != dropped_before)) ok_ = false;
}

std::string MiddlewareParams::required_string(std::string_view key) {
    auto it = object_.is_object() ? object_.find(key) : object_.end();
    if (it == object_.end()) {
        fail("", "missing required key " + quote_json(key) + " (expected a string)");
        return {};
    }
    if (!it->is_string()) {
        fail(key, "expected a string, found " + describe(*it));
        return {};
    }
    return it->get<std::string>();
}

std::optional<std::string> MiddlewareParams::optional_string(std::string_view key) {
    const nlohmann::json* value = find_value(object_, key);
    if (!value) return std::nullopt;
    if (!value->is_string()) {
        fail(key, "expected a string, found " + describe(*value));
        return std::nullopt;
    }
    return value->get<std::string>();
}

std::optional<long long> MiddlewareParams::required_integer(std::string_view key) {
    auto it = object_.is_object() ? object_.find(key) : object_.end();
    if (it == object_.end()) {
        fail("", "missing required key " + quote_json(key) + " (expected an integer)");
        return std::nullopt;
    }
    const nlohmann::json& value = *it;
    if (value.is_number_integer() && !value.is_number_unsigned()) return value.get<long long>();
    if (value.is_number_unsigned()) {
        const auto u = value.get<unsigned long long>();
        if (u <= static_cast<unsigned long long>(std::numeric_limits<long long>::max()))
            return static_cast<long long>(u);
        fail(key, "expected an integer <= " + std::to_string(std::numeric_limits<long long>::max()) + ", found " +
                      value.dump());
        return std::nullopt;
    }
    if (value.is_number_float()) {
        const double d = value.get<double>();
        // 2^63 is exactly representable; anything below it with no fraction converts exactly.
        if (std::isfinite(d) && std::trunc(d) == d && d >= -9223372036854775808.0 && d < 9223372036854775808.0)
            return static_cast<long long>(d);
    }
    fail(key, "expected an integer, found " + describe(value));
    return std::nullopt;
}

std::optional<double> MiddlewareParams::required_number(std::string_view key) {
    auto it = object_.is_object() ? object_.find(key) : object_.end();
    if (it == object_.end()) {
        fail("", "missing required key " + quote_json(key) + " (expected a number)");
        return std::nullopt;
    }
    if (!it->is_number()) {
        fail(key, "expected a number, found " + describe(*it));
        return std::nullopt;
    }
    const double d = it->get<double>();
    if (!std::isfinite(d)) {
        fail(key, "expected a finite number, found " + describe(*it));
        return std::nullopt;
    }
    return d;
}

std::optional<double> MiddlewareParams::optional_number(std::string_view key) {
    if (!find_value(object_, key)) return std::nullopt;
    return required_number(key);
}

std::optional<unsigned long long> MiddlewareParams::optional_unsigned(std::string_view key) {
    const nlohmann::json* value = find_value(object_, key);
    if (!value) return std::nullopt;
    if (value->is_number_unsigned()) return value->get<unsigned long long>();
    if (value->is_number_integer() && value->get<long long>() >= 0)
        return static_cast<unsigned long long>(value->get<long long>());
    if (value->is_number_float()) {
        const double d = value->get<double>();
        if (std::isfinite(d) && std::trunc(d) == d && d >= 0 && d < 18446744073709551616.0)
            return static_cast<unsigned long long>(d);
    }
    fail(key, "expected an unsigned integer, found " + describe(*value));
    return std::nullopt;
}

ErrorClassSet MiddlewareParams::error_classes(std::string_view key) {
    ErrorClassSet set;
    const nlohmann::json* value = find_value(object_, key);
    if (!value) return set;
    if (!value->is_array() || value->empty()) {
        // An empty list would mean "every class" to ErrorClassSet, the opposite of what it reads like.
        fail(key, "expected a non-empty array of error classes (" + one_of(error_class_names()) + "), found " +
                      describe(*value));
        return set;
    }
    for (std::size_t i = 0; i < value->size(); ++i) {
        const nlohmann::json& item = (*value)[i];
        auto error_class = item.is_string() ? parse_error_class(item.get_ref<const std::string&>()) : std::nullopt;
        if (error_class) {
            set.insert(*error_class);
        } else {
            record(child_path(key_path(key), i), bad_choice(item, error_class_names()));
        }
    }
    return set;
}

// ---------------------------------------------------------------------------------------------
// nearest_word

std::optional<std::string> nearest_word(std::string_view word, const std::vector<std::string>& known) {
    auto lower = [](std::string_view s) {
        std::string out(s);
        for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        return out;
    };
    const std::string w = lower(word);
    std::optional<std::string> best;
    std::size_t best_distance = std::numeric_limits<std::size_t>::max();
    std::vector<std::size_t> previous;
    std::vector<std::size_t> current;
    for (const auto& candidate : known) {
        // The distance is at least the difference in length: a word far longer than every known
        // one (a megabyte-long key) costs nothing, rather than its length times theirs.
        const std::size_t longer = std::max(word.size(), candidate.size());
        const std::size_t shorter = std::min(word.size(), candidate.size());
        if (longer - shorter > std::max<std::size_t>(2, longer / 3)) continue;
        const std::string k = lower(candidate);
        previous.resize(k.size() + 1);
        current.resize(k.size() + 1);
        for (std::size_t j = 0; j <= k.size(); ++j) previous[j] = j;
        for (std::size_t i = 1; i <= w.size(); ++i) {
            current[0] = i;
            for (std::size_t j = 1; j <= k.size(); ++j) {
                const std::size_t substitution = previous[j - 1] + (w[i - 1] == k[j - 1] ? 0 : 1);
                current[j] = std::min({previous[j] + 1, current[j - 1] + 1, substitution});
            }
            std::swap(previous, current);
        }
        const std::size_t distance = previous[k.size()];
        // A third of the longer word: a truncated name (`delayMax` for `delayMaximum`) is still found.
        const std::size_t threshold = std::max<std::size_t>(2, std::max(w.size(), k.size()) / 3);
        if (distance <= threshold && distance < best_distance) {
            best_distance = distance;
            best = candidate;
        }
    }
    return best;
}

// ---------------------------------------------------------------------------------------------
// Loading

Config load_config(const nlohmann::json& document, const MiddlewareRegistry& registry,
                   std::shared_ptr<const Clock> clock) {
    // Before anything copies or walks it: nlohmann's copy and dump recurse.
    if (auto path = too_deep(document)) throw ConfigError({{*path, too_deep_message()}});
    Loader loader(registry, std::move(clock));
    Config config = loader.load(document);
    if (loader.issues().empty()) return config;
    sort_issues(loader.issues());
    cap_issues(loader.issues(), loader.dropped());
    throw ConfigError(std::move(loader.issues()));
}

Config parse_config(std::string_view text, const MiddlewareRegistry& registry, std::shared_ptr<const Clock> clock) {
    if (text.size() > ConfigLimits::kMaxDocumentBytes)
        throw ConfigError({{"", "the document is " + std::to_string(text.size()) + " bytes, more than the limit of " +
                                    std::to_string(ConfigLimits::kMaxDocumentBytes) + " bytes"}});
    std::vector<ConfigIssue> issues;
    std::size_t dropped = 0;
    TextOrder order;
    json document;
    try {
        DocumentBuilder builder(document, issues, dropped, order);
        (void)json::sax_parse(text.begin(), text.end(), &builder);
    } catch (const TooDeep& e) {
        throw ConfigError({{e.path, too_deep_message()}});
    } catch (const json::parse_error& e) {
        auto [line, column] = line_and_column(text, e.byte);
        throw ConfigError({{"", "JSON syntax error at line " + std::to_string(line) + ", column " +
                                    std::to_string(column) + ": " + parse_error_detail(e.what())}});
    } catch (const json::exception& e) {
        throw ConfigError({{"", "invalid JSON: " + parse_error_detail(e.what())}});
    }
    order.seal();
    Loader loader(registry, std::move(clock));
    Config config = loader.load(document);
    if (issues.empty() && loader.issues().empty()) return config;
    for (auto& issue : loader.issues()) {
        if (has_room(issues, &dropped)) issues.push_back(std::move(issue));
    }
    sort_in_text_order(issues, order);
    cap_issues(issues, dropped + loader.dropped());
    throw ConfigError(std::move(issues));
}

namespace {

// An open file descriptor, closed on scope exit.
class FileDescriptor {
public:
    explicit FileDescriptor(int fd) : fd_(fd) {}
    FileDescriptor(const FileDescriptor&) = delete;
    FileDescriptor& operator=(const FileDescriptor&) = delete;
    ~FileDescriptor() {
        if (fd_ >= 0) ::close(fd_);
    }
    int get() const { return fd_; }

private:
    int fd_;
};

// A file name as given, shortened only when absurdly long (a message must stay one readable line).
std::string shown_path(const std::filesystem::path& path) {
    constexpr std::size_t kMaxShownPath = 200;
    std::string name = path.string();
    if (name.size() <= kMaxShownPath) return quote_json(name);
    std::size_t cut = kMaxShownPath;
    while (cut > 0 && (static_cast<unsigned char>(name[cut]) & 0xC0) == 0x80) --cut;
    name.resize(cut);
    return quote_json(name) + " (truncated)";
}

[[noreturn]] void cannot_read(const std::filesystem::path& path, const std::string& why) {
    throw ConfigError({{"", "cannot read " + shown_path(path) + ": " + why}});
}

// At most ConfigLimits::kMaxDocumentBytes + 1 bytes of @p fd: one more than allowed is enough to
// refuse, even when the file grows while it is read.
std::string read_bounded(int fd, const std::filesystem::path& path) {
    std::string text;
    char buffer[65536];
    while (text.size() <= ConfigLimits::kMaxDocumentBytes) {
        const std::size_t want = std::min(sizeof buffer, ConfigLimits::kMaxDocumentBytes + 1 - text.size());
        const ssize_t got = ::read(fd, buffer, want);
        if (got < 0 && errno == EINTR) continue;
        if (got < 0) cannot_read(path, std::strerror(errno));
        if (got == 0) break;
        text.append(buffer, static_cast<std::size_t>(got));
    }
    return text;
}

}  // namespace

Config load_config_file(const std::filesystem::path& path, const MiddlewareRegistry& registry,
                        std::shared_ptr<const Clock> clock) {
    // O_NONBLOCK: opening a FIFO must not wait for a writer; fstat then refuses it. For a regular
    // file the flag changes nothing.
    FileDescriptor fd(::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC));
    if (fd.get() < 0) cannot_read(path, std::strerror(errno));
    struct stat info {};
    if (::fstat(fd.get(), &info) != 0) cannot_read(path, std::strerror(errno));
    if (S_ISDIR(info.st_mode)) cannot_read(path, "it is a directory");
    if (!S_ISREG(info.st_mode)) cannot_read(path, "it is not a regular file (a FIFO, a device or a socket)");
    if (static_cast<std::uintmax_t>(info.st_size) > ConfigLimits::kMaxDocumentBytes)
        cannot_read(path, "it is " + std::to_string(info.st_size) + " bytes, more than the limit of " +
                              std::to_string(ConfigLimits::kMaxDocumentBytes) + " bytes");
    const std::string text = read_bounded(fd.get(), path);
    if (text.size() > ConfigLimits::kMaxDocumentBytes)
        cannot_read(path, "it grew beyond the limit of " + std::to_string(ConfigLimits::kMaxDocumentBytes) +
                              " bytes while it was read");
    return parse_config(text, registry, std::move(clock));
}

}  // namespace failpipe
