/// @file duration.hpp
/// @brief Durations as operators type them (`90s`, `15m`, `2h`, `7d`, `1.5`), for every command.
/// The reading itself is the library's (src/duration_text.hpp), shared with the dashboard's query
/// parameters; here its refusals become usage errors.
#pragma once

#include <string_view>

namespace failpipe::cli {

/// @brief @p text in seconds: a number of seconds, or a number followed by one unit `s`, `m`, `h`
/// or `d`. Throws UsageError, whose message begins with @p what (`--delay`, `"delay"`), for
/// anything else: an empty or non-numeric text, an unknown unit, a negative, NaN or infinite
/// value, or more than 1e9 seconds. A value too small for a double (`1e-400`) is 0.
double parse_duration(std::string_view text, std::string_view what);

/// @brief parse_duration(), and more than 0: a time to live given at push (`--ttl`, a line's
/// `"ttl"`). Throws UsageError for 0 too.
double parse_ttl(std::string_view text, std::string_view what);

}  // namespace failpipe::cli
