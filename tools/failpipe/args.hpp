/// @file args.hpp
/// @brief The argument parser shared by every `failpipe` command.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "failpipe/error.hpp"

namespace failpipe::cli {

/// @brief A command line that cannot be run as given (exit status 2). The message is one line.
class UsageError : public Error {
public:
    using Error::Error;
};

/// @brief One `--name [VALUE]` option a command accepts.
struct OptionSpec {
    std::string name;        ///< Without the dashes: `config` for `--config`.
    std::string value_name;  ///< `FILE`, `N`, ...; empty for a flag that takes no value.
    std::string help;        ///< One line for the command's help.
    bool required = false;   ///< An error when absent.
};

/// @brief A positional argument a command takes (all required, in order).
struct PositionalSpec {
    std::string name;  ///< `FILE`
    std::string help;  ///< One line for the command's help.
};

/// @brief A parsed command line.
class ParsedArgs {
public:
    /// @brief True when `--help` or `-h` was given (everything else is then ignored).
    bool help = false;
    /// @brief Option values by name; a flag has an empty value.
    std::map<std::string, std::string, std::less<>> options;
    /// @brief The positional arguments, in order.
    std::vector<std::string> positionals;

    /// @brief True when option @p name was given.
    bool has(std::string_view name) const { return options.find(name) != options.end(); }
    /// @brief The value of option @p name, if given.
    std::optional<std::string> value(std::string_view name) const;
    /// @brief The value of option @p name as an integer in [@p min, @p max], or @p fallback when absent.
    /// Throws UsageError for anything else.
    long long integer(std::string_view name, long long min, long long max, long long fallback) const;
    /// @brief The value of option @p name, which must be one of @p choices, or @p fallback when absent.
    std::string choice(std::string_view name, const std::vector<std::string>& choices, std::string fallback) const;
};

/// @brief Parses @p args (the words after the command's name) against @p options and @p positionals,
/// with CLI11; its error texts are replaced by the tool's own (pinned by tests/cli). Accepts `--name VALUE`, `--name=VALUE` and `--` (the rest are positionals). Throws UsageError for
/// unknown options (offering the nearest), missing values, repeated options, missing required
/// options and a wrong number of positionals.
ParsedArgs parse_args(const std::vector<std::string>& args, const std::vector<OptionSpec>& options,
                      const std::vector<PositionalSpec>& positionals);

/// @brief How many bytes of a user's input an error message repeats; the rest is cut and marked.
inline constexpr std::size_t kMaxEchoedBytes = 200;

/// @brief @p text, cut after kMaxEchoedBytes bytes (never inside a UTF-8 character) and marked
/// with "…" when it was longer: a 100,000-character argument is not echoed whole. Control bytes
/// become `?` (line breaks and tabs a space), as in one_line: an argument echoed in an error cannot
/// move the cursor or forge a line.
std::string shorten(std::string_view text);

/// @brief `"text"`: a value quoted for an error message (shortened).
std::string quote(std::string_view text);

/// @brief `"a"`, `"a" or "b"`, `"a", "b" or "c"`: the words an error message offers, quoted.
std::string one_of(const std::vector<std::string>& words);

}  // namespace failpipe::cli
