// Durations as operators type them (`90s`, `15m`, `2h`, `7d`, `1.5`), read one way by the CLI's
// options and the dashboard's query parameters: a value means the same in both, and a bad one gets
// the same words, naming the option or parameter as that interface spells it.
#pragma once

#include <string>
#include <string_view>

namespace failpipe::detail {

/// The longest duration any option or parameter accepts, in seconds (the library's own bound for delays).
inline constexpr double kMaxDurationSeconds = 1e9;

/// How an interface shows a refused value in its messages: `"value"`, cut and made printable its own way.
using QuoteValue = std::string (*)(std::string_view);

/// @p text in seconds: a number of seconds, or a number followed by one unit `s`, `m`, `h` or `d`.
/// Throws InvalidArgumentError, whose message begins with @p what (`--delay`, `"delay"`, `` `ttl` ``)
/// and shows values through @p quote, for anything else: an empty or non-numeric text, an unknown
/// unit, a negative, NaN or infinite value, or more than kMaxDurationSeconds. A value too small for
/// a double (`1e-400`) is 0.
double parse_duration(std::string_view text, std::string_view what, QuoteValue quote);

/// parse_duration(), and more than 0: a time to live given at push (a message that expired at once
/// would never be handled). Throws InvalidArgumentError for 0 too.
double parse_time_to_live(std::string_view text, std::string_view what, QuoteValue quote);

}  // namespace failpipe::detail
