/// @file dead_letter_filter_params.hpp
/// @brief parse_dead_letter_filter(): a DeadLetterFilter from the text an operator typed.
///
/// The CLI (`failpipe dlq --since 2h ...`) and the dashboard (`GET /api/dead?since=2h`, the `filter`
/// of a replay or purge) both read their filters with it, so a value means the same everywhere and a
/// bad one gets the same message, naming the parameter as that interface spells it.
///
/// @code
///   DeadLetterFilter f = parse_dead_letter_filter({{"channel", "orders"}, {"since", "2h"}});
///   DeadLetterFilter g = parse_dead_letter_filter({{"channel", "orders"}, {"error-type", "app::NotFound"}},
///                                                 FilterParamStyle::option);
/// @endcode
#pragma once

#include <chrono>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "failpipe/clock.hpp"
#include "failpipe/dead_letter_filter.hpp"
#include "failpipe/error.hpp"

namespace failpipe {

/// @brief How the parameters are named, in the pairs given and in the errors.
enum class FilterParamStyle {
    /// `channel`, `errorType`, `reason`, `class`, `group`, `grep`, `since`, `until` (the dashboard's API).
    query,
    /// `channel`, `error-type`, `reason`, ... given without dashes, named `--channel`, `--error-type`, ...
    /// in errors (the CLI's options).
    option,
};

/// @brief A filter parameter that is not valid. The message names the parameter (as the style spells
/// it) and repeats the value (cut after 200 bytes).
class DeadLetterFilterError : public InvalidArgumentError {
public:
    DeadLetterFilterError(std::string parameter, std::string value, const std::string& message)
        : InvalidArgumentError(message), parameter_(std::move(parameter)), value_(std::move(value)) {}
    /// @brief The parameter as spelled in the message: `since`, or `--since` in the option style.
    const std::string& parameter() const noexcept { return parameter_; }
    /// @brief The value refused, whole.
    const std::string& value() const noexcept { return value_; }

private:
    std::string parameter_;
    std::string value_;
};

/// @brief Name → value pairs, as typed (a query string, command-line options).
using FilterParams = std::vector<std::pair<std::string, std::string>>;

/// @brief The names a filter reads, in @p style (without dashes for the option style).
const std::vector<std::string>& dead_letter_filter_names(FilterParamStyle style);

/// @brief Reads a filter from @p params, every value checked now (nothing is left to fail later).
///
/// - `channel` is required and not empty (see DeadLetterFilter::channel).
/// - `errorType`, `reason`, `class`, `group`: compared exactly; empty matches everything.
/// - `grep`: an ECMAScript regular expression, checked as DeadLetters would (it must compile and
///   be within message_pattern_problem()'s limits); empty matches everything.
/// - `since`, `until`: a duration ago — a number of seconds, or a number followed by one unit `s`,
///   `m`, `h` or `d` (`90s`, `15m`, `2h`, `7d`, `1.5h`), at most 1e9 seconds — or a UTC time
///   `YYYY-MM-DDTHH:MM:SS[.fraction]Z` (year 1970 to 2200). A time without its `Z`, or with another
///   zone (`+02:00`), is refused: it would be read differently by different people. `until` must be
///   later than `since`.
///
/// A name that is not a filter's, a name given twice, a missing channel or a bad value throws
/// DeadLetterFilterError. Durations count back from @p now.
DeadLetterFilter parse_dead_letter_filter(const FilterParams& params, FilterParamStyle style = FilterParamStyle::query,
                                          TimePoint now = std::chrono::system_clock::now());

}  // namespace failpipe
