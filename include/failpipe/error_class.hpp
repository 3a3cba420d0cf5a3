/// @file error_class.hpp
/// @brief The class of a failure — transient, permanent or unknown — and sets of classes for `on` filters.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string_view>

namespace failpipe {

/// @brief Whether trying again may help.
enum class ErrorClass : std::uint8_t {
    transient,  ///< May succeed later (timeouts, a partner down): retry, with backoff.
    permanent,  ///< Can never succeed (bad data, no handler): dead-letter at once.
    unknown,    ///< Nobody said: the default.
};

/// @brief `transient`, `permanent` or `unknown`.
std::string_view to_string(ErrorClass error_class) noexcept;
/// @brief Parses a class name; std::nullopt when it is none of the three.
std::optional<ErrorClass> parse_error_class(std::string_view name) noexcept;

/// @brief A set of error classes: the `on` filter of a middleware. Empty means "every class".
class ErrorClassSet {
public:
    ErrorClassSet() = default;
    ErrorClassSet(std::initializer_list<ErrorClass> classes) {
        for (auto c : classes) insert(c);
    }
    void insert(ErrorClass c) noexcept { bits_ |= bit(c); }
    bool empty() const noexcept { return bits_ == 0; }
    /// @brief True when @p c is in the set, or the set is empty (no filter).
    bool matches(ErrorClass c) const noexcept { return bits_ == 0 || (bits_ & bit(c)) != 0; }
    bool contains(ErrorClass c) const noexcept { return (bits_ & bit(c)) != 0; }

private:
    static constexpr std::uint8_t bit(ErrorClass c) noexcept { return static_cast<std::uint8_t>(1u << static_cast<unsigned>(c)); }
    std::uint8_t bits_ = 0;
};

}  // namespace failpipe
