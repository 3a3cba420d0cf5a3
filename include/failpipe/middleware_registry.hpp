/// @file middleware_registry.hpp
/// @brief MiddlewareRegistry: middleware types by config name, so user middlewares can be named in JSON.
#pragma once

#include <functional>
#include <initializer_list>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "failpipe/clock.hpp"
#include "failpipe/error.hpp"
#include "failpipe/error_class.hpp"
#include "failpipe/failure_middleware.hpp"

namespace failpipe {

namespace detail {
struct IssueCap;
}  // namespace detail

/// @brief One middleware object of a config document, with typed, path-aware readers. Problems are
/// collected (not thrown), so a whole document is checked in one pass.
class MiddlewareParams {
public:
    /// @param object     the middleware's JSON object.
    /// @param path       its JSON pointer, e.g. `/pipelines/orders/0`.
    /// @param issues     where problems are collected.
    /// @param dead_letter_suffix the document's dead-letter suffix.
    /// @param clock      the clock to record time with (may be null).
    MiddlewareParams(const nlohmann::json& object, std::string path, std::vector<ConfigIssue>& issues,
                     std::string dead_letter_suffix, std::shared_ptr<const Clock> clock);

    const nlohmann::json& json() const noexcept { return object_; }
    const std::string& path() const noexcept { return path_; }
    const std::string& dead_letter_suffix() const noexcept { return dead_letter_suffix_; }
    const std::shared_ptr<const Clock>& clock() const noexcept { return clock_; }

    /// @brief Reports every key not in @p known (besides `type`), offering the nearest known key.
    void allow_keys(std::initializer_list<std::string_view> known);
    /// @brief A required string (an error when missing or not a string).
    std::string required_string(std::string_view key);
    /// @brief An optional string; `null` counts as absent.
    std::optional<std::string> optional_string(std::string_view key);
    /// @brief A required integer (a number with no fraction).
    std::optional<long long> required_integer(std::string_view key);
    /// @brief A required number.
    std::optional<double> required_number(std::string_view key);
    /// @brief An optional number.
    std::optional<double> optional_number(std::string_view key);
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
    const nlohmann::json& object_;
    std::string path_;
    std::vector<ConfigIssue>& issues_;
    std::string dead_letter_suffix_;
    std::shared_ptr<const Clock> clock_;
    std::size_t* dropped_ = nullptr;  // set by the loader: counts issues beyond its cap instead of keeping them
    bool ok_ = true;
};

/// @brief Middleware types by name. The built-ins are `send-again`, `exponential-delay` and `dead-letter`.
class MiddlewareRegistry {
public:
    /// @brief Builds a middleware from its params; may return null after recording problems on @p params.
    using Factory = std::function<FailureMiddlewarePtr(MiddlewareParams& params)>;

    /// @brief An empty registry.
    MiddlewareRegistry() = default;
    /// @brief A registry holding the built-in types.
    static MiddlewareRegistry with_builtins();

    /// @brief Registers @p factory under @p type (replacing an earlier one of that name).
    MiddlewareRegistry& add(std::string type, Factory factory);
    /// @brief True when @p type is registered.
    bool contains(std::string_view type) const;
    /// @brief The registered type names, sorted.
    std::vector<std::string> types() const;
    /// @brief The factory for @p type, or null.
    const Factory* find(std::string_view type) const;

private:
    std::map<std::string, Factory, std::less<>> factories_;
};

/// @brief The known word nearest to @p word by edit distance, when it is close enough to be a likely typo.
std::optional<std::string> nearest_word(std::string_view word, const std::vector<std::string>& known);

}  // namespace failpipe
