/// @file classifier.hpp
/// @brief Classifier: turns a caught exception into a Failure with a class.
///
/// Rules are tried in the order they were added; the first that matches wins. Then the built-in
/// rules: failpipe::TransientError → transient, failpipe::PermanentError → permanent. Otherwise unknown.
/// Thread safety: add rules before sharing; classify() is safe from many threads.
#pragma once

#include <cstddef>
#include <exception>
#include <functional>
#include <optional>
#include <regex>
#include <string>
#include <string_view>
#include <vector>

#include "failpipe/failure.hpp"

namespace failpipe {

/// @brief Classifies exceptions by user rules, then by failpipe's own error types.
class Classifier {
public:
    /// @brief Exceptions of type @p E or derived from it get @p error_class.
    template <class E>
    Classifier& add_type(ErrorClass error_class) {
        rules_.push_back(Rule{[](const std::exception* e, const std::string&) { return dynamic_cast<const E*>(e) != nullptr; },
                              error_class, "type rule", nullptr});
        return *this;
    }
    /// @brief Exceptions whose demangled dynamic type is exactly @p type_name (e.g. `std::out_of_range`).
    Classifier& add_type_name(std::string type_name, ErrorClass error_class);
    /// @brief Exceptions whose message matches the ECMAScript regular expression @p pattern (searched,
    /// not anchored, in the first kMessagePrefix bytes of the message). Throws InvalidArgumentError
    /// for a bad pattern and for one beyond the limits below (see message_pattern_problem()).
    /// Matching time grows with the message prefix times the pattern's size, never exponentially:
    /// a typical rule costs tens of microseconds per failure, so prefer type rules.
    Classifier& add_message_pattern(const std::string& pattern, ErrorClass error_class);

    /// @brief The longest message pattern accepted, in bytes.
    static constexpr std::size_t kMaxPatternLength = 512;
    /// @brief The deepest nesting of groups `( ... )` accepted in a message pattern.
    static constexpr std::size_t kMaxPatternDepth = 16;
    /// @brief The largest size of a pattern once its counted repetitions `{n,m}` are expanded,
    /// measured in atoms (a character, a class, an escape) plus two per group and quantifier.
    static constexpr std::size_t kMaxPatternSize = 1000;
    /// @brief How many bytes of a message are matched against message patterns.
    static constexpr std::size_t kMessagePrefix = 512;

    /// @brief Classifies @p e, the exception being handled: call it inside the catch block, so the
    /// Failure also holds std::current_exception().
    Failure classify(const std::exception& e) const;
    /// @brief Classifies the exception being handled when it is not a std::exception (`catch (...)`).
    Failure classify_non_standard() const;
    /// @brief Classifies a stored exception (slower: it rethrows to inspect).
    Failure classify(std::exception_ptr exception) const;
    /// @brief The class for an exception already named: @p e may be null for a non-std exception.
    ErrorClass class_of(const std::exception* e, const std::string& type, const std::string& what) const;

private:
    struct Rule {
        std::function<bool(const std::exception*, const std::string& type)> matches_type;
        ErrorClass error_class;
        std::string description;
        std::shared_ptr<std::regex> message;  // set for message rules
    };
    std::vector<Rule> rules_;
};

/// @brief Why @p pattern is refused as a message pattern although it may be valid ECMAScript, or
/// nothing. The limits keep compiling and matching bounded in time and stack (std::regex recurses
/// on nesting and on each term): at most Classifier::kMaxPatternLength bytes, groups nested at most
/// Classifier::kMaxPatternDepth deep, an expanded size of at most Classifier::kMaxPatternSize, and
/// no back-references (`\1`) or lookahead assertions (`(?=`, `(?!`), whose matching cost is not
/// bounded by the pattern's size times the message's length. Syntax errors are left to std::regex.
std::optional<std::string> message_pattern_problem(std::string_view pattern);

/// @brief The demangled name of the dynamic type of @p e (cached per type).
std::string exception_type_name(const std::exception& e);

}  // namespace failpipe
