/// @file duration.hpp
/// @brief Durations as operators type them (`90s`, `15m`, `2h`, `7d`, `1.5`), for every command.
#pragma once

#include <string_view>

namespace failpipe::cli {

/// @brief The longest duration any option accepts, in seconds (the library's own bound for delays).
inline constexpr double kMaxDurationSeconds = 1e9;

/// @brief @p text in seconds: a number of seconds, or a number followed by one unit `s`, `m`, `h`
/// or `d`. Throws UsageError, whose message begins with @p what (`--delay`, `"delay"`), for
/// anything else: an empty or non-numeric text, an unknown unit, a negative, NaN or infinite
/// value, or more than kMaxDurationSeconds. A value too small for a double (`1e-400`) is 0.
double parse_duration(std::string_view text, std::string_view what);

}  // namespace failpipe::cli
