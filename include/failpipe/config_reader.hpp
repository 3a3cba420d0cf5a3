/// @file config_reader.hpp
/// @brief ConfigObjectReader: typed, path-aware reading of one JSON object of a config document.
///
/// The loader reads every object of a document (the top level, each section, each middleware)
/// through it, and hands one to each middleware factory, so that a custom type gets the same checks
/// and messages as the built-ins.
#pragma once

#include <cstddef>
#include <initializer_list>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "failpipe/clock.hpp"
#include "failpipe/error.hpp"
#include "failpipe/error_class.hpp"

namespace failpipe {

namespace detail {
struct IssueCap;
}  // namespace detail

/// @brief One object of a config document, with typed, path-aware readers. Problems are collected
/// (not thrown), so a whole document is checked in one pass.
class ConfigObjectReader {
public:
    /// @param object     the JSON object.
    /// @param path       its JSON pointer, e.g. `/pipelines/orders/0`.
    /// @param issues     where problems are collected.
    /// @param dead_letter_suffix the document's dead-letter suffix (for middleware factories).
    /// @param clock      the clock to record time with (may be null).
    ConfigObjectReader(const nlohmann::json& object, std::string path, std::vector<ConfigIssue>& issues,
                       std::string dead_letter_suffix, std::shared_ptr<const Clock> clock);

    const nlohmann::json& json() const noexcept { return object_; }
    const std::string& path() const noexcept { return path_; }
    const std::string& dead_letter_suffix() const noexcept { return dead_letter_suffix_; }
    const std::shared_ptr<const Clock>& clock() const noexcept { return clock_; }

    /// @brief Reports every key not in @p known (besides `type`), offering the nearest known key.
    void allow_keys(std::initializer_list<std::string_view> known);
    /// @brief The same, for a list kept elsewhere (a registration table).
    void allow_keys(std::span<const std::string_view> known);
    /// @brief A required string (an error when missing or not a string).
    std::string required_string(std::string_view key);
    /// @brief An optional string; `null` counts as absent.
    std::optional<std::string> optional_string(std::string_view key);
    /// @brief An optional string that must be one of @p choices (the error offers the nearest).
    std::optional<std::string> optional_choice(std::string_view key, const std::vector<std::string>& choices);
    /// @brief A required integer (a number with no fraction).
    std::optional<long long> required_integer(std::string_view key);
    /// @brief An optional integer; `null` counts as absent.
    std::optional<long long> optional_integer(std::string_view key);
    /// @brief An optional integer in [@p minimum, @p maximum]; out of range is an error and gives nothing.
    std::optional<long long> optional_integer_in(std::string_view key, long long minimum, long long maximum);
    /// @brief A required number.
    std::optional<double> required_number(std::string_view key);
    /// @brief An optional number.
    std::optional<double> optional_number(std::string_view key);
    /// @brief An optional number of seconds: > 0 and at most ConfigLimits::kMaxSeconds.
    std::optional<double> optional_seconds(std::string_view key);
    /// @brief An optional unsigned integer.
    std::optional<unsigned long long> optional_unsigned(std::string_view key);
    /// @brief `on`: an array of error class names (absent = all classes).
    ErrorClassSet error_classes(std::string_view key = "on");
    /// @brief Records a problem with @p key (or with the object itself when @p key is empty).
    void fail(std::string_view key, std::string message);
    /// @brief True when no problem was recorded through this object.
    bool ok() const noexcept { return ok_; }

private:
    friend struct detail::IssueCap;
    std::string key_path(std::string_view key) const;
    void record(std::string path, std::string message);
    void reject_unknown(const std::vector<std::string>& names);
    const nlohmann::json& object_;
    std::string path_;
    std::vector<ConfigIssue>& issues_;
    std::string dead_letter_suffix_;
    std::shared_ptr<const Clock> clock_;
    std::size_t* dropped_ = nullptr;  // set by the loader: counts issues beyond its cap instead of keeping them
    bool ok_ = true;
};

/// @brief The former name of ConfigObjectReader, from when only middleware factories used it.
using MiddlewareParams = ConfigObjectReader;

/// @brief The known word nearest to @p word by edit distance, when it is close enough to be a likely typo.
std::optional<std::string> nearest_word(std::string_view word, const std::vector<std::string>& known);

}  // namespace failpipe
