// Config loading: the document reader (MiddlewareParams), the loader and the JSON front ends.
//
// Every check records a ConfigIssue instead of throwing, so one pass reports every problem of a
// document; ConfigError is thrown once at the end.
#include "failpipe/config.hpp"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <fstream>
#include <limits>
#include <regex>
#include <set>
#include <sstream>
#include <unordered_map>
#include <utility>

#include "failpipe/dead_letter_middleware.hpp"

namespace failpipe {
namespace {

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
    if (near) return "unknown key " + quote_json(key) + "; did you mean " + quote_json(*near) + "?";
    return "unknown key " + quote_json(key) + "; expected one of " + list_of(known);
}

void reject_unknown_keys(const json& object, const std::string& path, const std::vector<std::string>& known,
                         std::vector<ConfigIssue>& issues) {
    if (!object.is_object()) return;
    for (const auto& item : object.items()) {
        if (std::find(known.begin(), known.end(), item.key()) == known.end())
            issues.push_back({child_path(path, item.key()), unknown_key_message(item.key(), known)});
    }
}

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

class Loader {
public:
    Loader(const MiddlewareRegistry& registry, std::shared_ptr<const Clock> clock)
        : registry_(registry), clock_(std::move(clock)) {}

    Config load(const json& document) {
        if (!document.is_object())
            throw ConfigError({{"", "expected a JSON object at the top level, found " + describe(document)}});

        Config config;
        config.document = document;
        reject_unknown_keys(
            document, "",
            {"$schema", "defaultPipeline", "pipelines", "final", "deadLetterSuffix", "classification", "worker"},
            issues_);
        MiddlewareParams top(document, "", issues_, suffix_, clock_);
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
            issues_.push_back({"/worker/maxDeliveries",
                               "expected an integer >= 1 when \"final\" is \"rethrow\" (with 0 a message that always "
                               "fails would be redelivered forever), found 0"});
        }
        config.dispatcher.dead_letter_suffix = suffix_;
        config.dispatcher.clock = clock_;
        if (!issues_.empty()) {
            sort_issues(issues_);
            throw ConfigError(std::move(issues_));
        }
        return config;
    }

private:
    FailurePipeline load_pipeline(const json& value, const std::string& path) {
        FailurePipeline pipeline;
        if (!value.is_array()) {
            issues_.push_back({path, "expected an array of middlewares, found " + describe(value)});
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
            issues_.push_back({path, "expected an object of pipelines by channel name, found " + describe(value)});
            return;
        }
        for (const auto& item : value.items()) {
            const std::string pipeline_path = child_path(path, item.key());
            if (item.key().empty()) {
                issues_.push_back({pipeline_path, "expected a non-empty channel name, found \"\""});
                continue;
            }
            config.dispatcher.pipelines[item.key()] = load_pipeline(item.value(), pipeline_path);
        }
    }

    FailureMiddlewarePtr load_middleware(const json& value, const std::string& path) {
        if (!value.is_object()) {
            issues_.push_back({path, "expected a middleware object, found " + describe(value)});
            return nullptr;
        }
        MiddlewareParams params(value, path, issues_, suffix_, clock_);
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
            for (const auto& issue : e.issues()) issues_.push_back({path + issue.path, issue.message});
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
            issues_.push_back({path, "expected an array of classification rules, found " + describe(value)});
            return;
        }
        for (std::size_t i = 0; i < value.size(); ++i) {
            const json& rule = value[i];
            const std::string rule_path = child_path(path, i);
            if (!rule.is_object()) {
                issues_.push_back({rule_path, "expected a classification rule object, found " + describe(rule)});
                continue;
            }
            MiddlewareParams params(rule, rule_path, issues_, suffix_, clock_);
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
            issues_.push_back({path, "expected an object of worker settings, found " + describe(value)});
            return;
        }
        reject_unknown_keys(value, path, {"channels", "batchSize", "waitMs", "maxDeliveries", "visibilityTimeout"},
                            issues_);
        MiddlewareParams params(value, path, issues_, suffix_, clock_);
        WorkerOptions& worker = config.worker;

        if (const json* channels = find_value(value, "channels")) {
            if (!channels->is_array()) {
                params.fail("channels", "expected an array of channel names, found " + describe(*channels));
            } else {
                std::set<std::string> seen;
                for (std::size_t i = 0; i < channels->size(); ++i) {
                    const json& channel = (*channels)[i];
                    const std::string channel_path = child_path(child_path(path, "channels"), i);
                    if (!channel.is_string() || channel.get_ref<const std::string&>().empty()) {
                        issues_.push_back(
                            {channel_path, "expected a non-empty channel name, found " + describe(channel)});
                        continue;
                    }
                    const auto& name = channel.get_ref<const std::string&>();
                    if (!seen.insert(name).second) {
                        issues_.push_back({channel_path, "duplicate channel " + quote_json(name)});
                        continue;
                    }
                    worker.channels.push_back(name);
                }
            }
        }
        if (auto batch = optional_integer(params, "batchSize"); batch && at_least(params, "batchSize", *batch, 1))
            worker.batch_size = static_cast<std::size_t>(*batch);
        if (auto wait = optional_integer(params, "waitMs"); wait && at_least(params, "waitMs", *wait, 0))
            worker.wait = std::chrono::milliseconds{*wait};
        if (auto max = optional_integer(params, "maxDeliveries"); max && at_least(params, "maxDeliveries", *max, 0)) {
            if (*max > static_cast<long long>(std::numeric_limits<std::uint32_t>::max()))
                params.fail("maxDeliveries", "expected an integer <= 4294967295, found " + std::to_string(*max));
            else
                worker.max_deliveries = static_cast<std::uint32_t>(*max);
        }
        if (auto timeout = params.optional_number("visibilityTimeout")) {
            if (*timeout > 0) {
                config.visibility_timeout = Seconds{*timeout};
                config.worker.visibility_timeout = Seconds{*timeout};
            }
            else
                params.fail("visibilityTimeout",
                            "expected a number > 0, found " + value.at("visibilityTimeout").dump());
        }
    }

    const MiddlewareRegistry& registry_;
    std::shared_ptr<const Clock> clock_;
    std::string suffix_ = DeadLetterMiddleware::kDefaultSuffix;
    std::vector<ConfigIssue> issues_;
};

// Follows the JSON pointer of each value while nlohmann parses, for two things the parsed json
// loses: duplicate keys (JSON allows them and nlohmann silently keeps the last one, so a config
// whose first `maxAttempts` is ignored would load) and the order of keys in the text (nlohmann's
// objects are sorted), so issues can be listed in the order the file has them.
class DocumentScanner {
public:
    DocumentScanner(std::vector<ConfigIssue>& duplicates, std::unordered_map<std::string, std::size_t>& order)
        : duplicates_(duplicates), order_(order) {}

    bool operator()(int /*depth*/, json::parse_event_t event, json& parsed) {
        switch (event) {
            case json::parse_event_t::object_start:
            case json::parse_event_t::array_start:
                start_element();
                frames_.push_back(Frame{event == json::parse_event_t::object_start, {}, {}, 0});
                break;
            case json::parse_event_t::object_end:
            case json::parse_event_t::array_end:
                if (!frames_.empty()) frames_.pop_back();
                break;
            case json::parse_event_t::key:
                if (!frames_.empty() && parsed.is_string()) {
                    Frame& frame = frames_.back();
                    frame.key = parsed.get<std::string>();
                    const std::string at = path();
                    order_.try_emplace(at, order_.size());
                    if (!frame.keys.insert(frame.key).second)
                        duplicates_.push_back(
                            {at, "duplicate key " + quote_json(frame.key) + " (only its last value would be used)"});
                }
                break;
            case json::parse_event_t::value:
                start_element();
                break;
        }
        return true;
    }

private:
    struct Frame {
        bool object;
        std::set<std::string> keys;
        std::string key;
        std::size_t next_index;
    };

    // A value starts: in an array that is the next element (an object's values were placed by their key).
    void start_element() {
        if (frames_.empty() || frames_.back().object) return;
        ++frames_.back().next_index;
        order_.try_emplace(path(), order_.size());
    }

    std::string path() const {
        std::string out;
        for (const auto& frame : frames_) {
            if (frame.object)
                out = child_path(out, frame.key);
            else
                out = child_path(out, frame.next_index - 1);
        }
        return out;
    }

    std::vector<ConfigIssue>& duplicates_;
    std::unordered_map<std::string, std::size_t>& order_;
    std::vector<Frame> frames_;
};

// Sorts issues by where their value starts in the text. A path not in the text (a custom
// factory's own) goes with its nearest ancestor that is; the sort is stable.
void sort_in_text_order(std::vector<ConfigIssue>& issues, const std::unordered_map<std::string, std::size_t>& order) {
    auto position = [&](std::string path) -> std::size_t {
        while (!path.empty()) {
            if (auto it = order.find(path); it != order.end()) return it->second + 1;
            path.resize(path.rfind('/'));
        }
        return 0;
    };
    std::stable_sort(issues.begin(), issues.end(),
                     [&](const ConfigIssue& a, const ConfigIssue& b) { return position(a.path) < position(b.path); });
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

void MiddlewareParams::fail(std::string_view key, std::string message) {
    issues_.push_back({key_path(key), std::move(message)});
    ok_ = false;
}

void MiddlewareParams::allow_keys(std::initializer_list<std::string_view> known) {
    std::vector<std::string> names{"type"};
    for (auto k : known) names.emplace_back(k);
    const auto before = issues_.size();
    reject_unknown_keys(object_, path_, names, issues_);
    if (issues_.size() != before) ok_ = false;
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
            issues_.push_back({child_path(key_path(key), i), bad_choice(item, error_class_names())});
            ok_ = false;
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
    return Loader(registry, std::move(clock)).load(document);
}

Config parse_config(std::string_view text, const MiddlewareRegistry& registry, std::shared_ptr<const Clock> clock) {
    std::vector<ConfigIssue> issues;
    std::unordered_map<std::string, std::size_t> order;
    json document;
    try {
        document = json::parse(text.begin(), text.end(), DocumentScanner(issues, order));
    } catch (const json::parse_error& e) {
        auto [line, column] = line_and_column(text, e.byte);
        throw ConfigError({{"", "JSON syntax error at line " + std::to_string(line) + ", column " +
                                    std::to_string(column) + ": " + parse_error_detail(e.what())}});
    } catch (const json::exception& e) {
        throw ConfigError({{"", "invalid JSON: " + parse_error_detail(e.what())}});
    }
    try {
        if (issues.empty()) return load_config(document, registry, std::move(clock));
        (void)load_config(document, registry, std::move(clock));
    } catch (const ConfigError& e) {
        issues.insert(issues.end(), e.issues().begin(), e.issues().end());
    }
    sort_in_text_order(issues, order);
    throw ConfigError(std::move(issues));
}

Config load_config_file(const std::filesystem::path& path, const MiddlewareRegistry& registry,
                        std::shared_ptr<const Clock> clock) {
    const std::string shown = quote_json(path.string());
    std::error_code ec;
    if (std::filesystem::is_directory(path, ec))
        throw ConfigError({{"", "cannot read " + shown + ": it is a directory"}});
    std::ifstream in(path, std::ios::binary);
    if (!in) throw ConfigError({{"", "cannot read " + shown + ": " + std::strerror(errno)}});
    std::ostringstream text;
    text << in.rdbuf();
    if (in.bad()) throw ConfigError({{"", "cannot read " + shown + ": " + std::strerror(errno)}});
    return parse_config(text.str(), registry, std::move(clock));
}

}  // namespace failpipe
