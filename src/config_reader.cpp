// ConfigObjectReader: typed, path-aware reading of one object of a config document. Every check
// records an issue instead of throwing, so one pass reports every problem of a document.
#include "failpipe/config_reader.hpp"

#include <cmath>
#include <limits>
#include <utility>

#include "config_bounds.hpp"
#include "config_issues.hpp"
#include "config_json.hpp"
#include "failpipe/config_limits.hpp"

namespace failpipe {

using detail::bad_choice;
using detail::child_path;
using detail::describe;
using detail::error_class_names;
using detail::find_value;
using detail::has_room;
using detail::one_of;
using detail::quote_json;

ConfigObjectReader::ConfigObjectReader(const nlohmann::json& object, std::string path, std::vector<ConfigIssue>& issues,
                                   std::string dead_letter_suffix, std::shared_ptr<const Clock> clock)
    : object_(object),
      path_(std::move(path)),
      issues_(issues),
      dead_letter_suffix_(std::move(dead_letter_suffix)),
      clock_(std::move(clock)) {}

std::string ConfigObjectReader::key_path(std::string_view key) const {
    return key.empty() ? path_ : child_path(path_, key);
}

void ConfigObjectReader::record(std::string path, std::string message) {
    ok_ = false;
    if (has_room(issues_, dropped_)) issues_.push_back({std::move(path), std::move(message)});
}

void ConfigObjectReader::fail(std::string_view key, std::string message) { record(key_path(key), std::move(message)); }

void ConfigObjectReader::allow_keys(std::initializer_list<std::string_view> known) {
    std::vector<std::string> names{"type"};
    for (auto k : known) names.emplace_back(k);
    reject_unknown(names);
}

void ConfigObjectReader::allow_keys(std::span<const std::string_view> known) {
    std::vector<std::string> names{"type"};
    for (auto k : known) names.emplace_back(k);
    reject_unknown(names);
}

void ConfigObjectReader::reject_unknown(const std::vector<std::string>& names) {
    const auto before = issues_.size();
    const auto dropped_before = dropped_ ? *dropped_ : 0;
    detail::reject_unknown_keys(object_, path_, names, issues_, dropped_);
    if (issues_.size() != before || (dropped_ && *dropped_ != dropped_before)) ok_ = false;
}

std::string ConfigObjectReader::required_string(std::string_view key) {
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

std::optional<std::string> ConfigObjectReader::optional_string(std::string_view key) {
    const nlohmann::json* value = find_value(object_, key);
    if (!value) return std::nullopt;
    if (!value->is_string()) {
        fail(key, "expected a string, found " + describe(*value));
        return std::nullopt;
    }
    return value->get<std::string>();
}

std::optional<std::string> ConfigObjectReader::optional_choice(std::string_view key,
                                                               const std::vector<std::string>& choices) {
    const nlohmann::json* value = find_value(object_, key);
    if (!value) return std::nullopt;
    if (value->is_string()) {
        const auto& s = value->get_ref<const std::string&>();
        for (const auto& choice : choices)
            if (s == choice) return s;
    }
    fail(key, bad_choice(*value, choices));
    return std::nullopt;
}

std::optional<long long> ConfigObjectReader::optional_integer(std::string_view key) {
    if (!find_value(object_, key)) return std::nullopt;
    return required_integer(key);
}

std::optional<long long> ConfigObjectReader::optional_integer_in(std::string_view key, long long minimum,
                                                                 long long maximum) {
    auto value = optional_integer(key);
    if (!value) return std::nullopt;
    if (*value < minimum) {
        fail(key, "expected an integer >= " + std::to_string(minimum) + ", found " + std::to_string(*value));
        return std::nullopt;
    }
    if (*value > maximum) {
        fail(key, "expected an integer <= " + std::to_string(maximum) + ", found " + std::to_string(*value));
        return std::nullopt;
    }
    return value;
}

std::optional<long long> ConfigObjectReader::required_integer(std::string_view key) {
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

std::optional<double> ConfigObjectReader::required_number(std::string_view key) {
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

std::optional<double> ConfigObjectReader::optional_number(std::string_view key) {
    if (!find_value(object_, key)) return std::nullopt;
    return required_number(key);
}

std::optional<double> ConfigObjectReader::optional_seconds(std::string_view key) {
    auto value = optional_number(key);
    if (!value || detail::seconds_in_range(*value)) return value;
    // The adapters' own rule (the Redis adapter refuses the same values at start-up).
    fail(key, std::string(*value > 0 ? "expected a number <= 1e9 (seconds)" : "expected a number > 0") + ", found " +
                  describe(object_.at(std::string(key))));
    return std::nullopt;
}

std::optional<unsigned long long> ConfigObjectReader::optional_unsigned(std::string_view key) {
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

ErrorClassSet ConfigObjectReader::error_classes(std::string_view key) {
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


}  // namespace failpipe
