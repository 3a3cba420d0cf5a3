// Times and durations of dead-letter filters and records, read one way for the library, the CLI and
// the dashboard (see failpipe/dead_letter_filter_params.hpp).
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "failpipe/clock.hpp"

namespace failpipe::detail {

/// Why a text is not a UTC time.
enum class UtcTimeProblem { none, not_a_time, no_zone, other_zone, out_of_range };

struct UtcTimeRead {
    std::optional<TimePoint> time;
    UtcTimeProblem problem = UtcTimeProblem::none;
};

/// `YYYY-MM-DDTHH:MM:SS[.fraction]Z`, year 1970 to 2200 (a time point holds about ±292 years
/// around 1970, so nothing later can overflow it); digits exactly where the form has them.
UtcTimeRead read_utc_time(std::string_view text);

/// read_utc_time(@p text).time: a record's `time`, or nothing when it is not one.
inline std::optional<TimePoint> parse_iso8601_utc(std::string_view text) { return read_utc_time(text).time; }

/// Throws InvalidArgumentError (DeadLetters' own text) when @p pattern cannot be a filter's grep.
void check_filter_grep(const std::string& pattern);

}  // namespace failpipe::detail
