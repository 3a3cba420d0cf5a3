#include "duration_text.hpp"

#include <charconv>
#include <cmath>

#include "failpipe/error.hpp"

namespace failpipe::detail {
namespace {

constexpr std::string_view kForms = "a duration such as 90s, 15m, 2h, 7d or plain seconds";

double unit_seconds(char unit) {
    switch (unit) {
        case 's': return 1;
        case 'm': return 60;
        case 'h': return 3600;
        case 'd': return 86400;
        default: return 0;
    }
}

}  // namespace

double parse_duration(std::string_view text, std::string_view what, QuoteValue quote) {
    const std::string name(what);
    const std::string found = ", found " + quote(text);
    double number = 0;
    const char* begin = text.data();
    const char* end = begin + text.size();
    // from_chars accepts no leading '+' and no spaces: "+5" and " 5" are refused like any typo.
    auto [ptr, ec] = std::from_chars(begin, end, number);
    if (text.empty() || ec == std::errc::invalid_argument || ptr == begin)
        throw InvalidArgumentError(name + " expects " + std::string(kForms) + found);
    if (ec == std::errc::result_out_of_range) {
        // Out of range downwards (1e-400) is a duration of 0; upwards (1e400) is too long.
        const std::string_view digits(begin, static_cast<std::size_t>(ptr - begin));
        const bool tiny = digits.find("e-") != std::string_view::npos || digits.find("E-") != std::string_view::npos;
        if (!tiny) throw InvalidArgumentError(name + " expects at most 1e9 seconds (about 31 years)" + found);
        number = 0;
    }
    double scale = 1;
    if (ptr != end) {
        const std::string_view unit(ptr, static_cast<std::size_t>(end - ptr));
        // "2026-01-01T00:00:00Z" reads as 2026 with the unit "-01-01T…": name the mistake instead.
        if (unit.find_first_of("-:T") != std::string_view::npos && unit.size() > 1)
            throw InvalidArgumentError(name + " expects " + std::string(kForms) + ", not a date or time" + found);
        scale = unit.size() == 1 ? unit_seconds(unit.front()) : 0;
        if (scale == 0)
            throw InvalidArgumentError(name + ": unknown unit " + quote(unit) + " in " + quote(text) +
                                       " (expected s, m, h or d)");
    }
    if (std::isnan(number)) throw InvalidArgumentError(name + " expects " + std::string(kForms) + found);
    if (number < 0) throw InvalidArgumentError(name + " expects a duration of 0 or more" + found);
    const double seconds = number * scale;
    if (!(seconds <= kMaxDurationSeconds))
        throw InvalidArgumentError(name + " expects at most 1e9 seconds (about 31 years)" + found);
    return seconds;
}

double parse_time_to_live(std::string_view text, std::string_view what, QuoteValue quote) {
    const double seconds = parse_duration(text, what, quote);
    if (!(seconds > 0))
        throw InvalidArgumentError(std::string(what) + " expects a time to live greater than 0, found " + quote(text));
    return seconds;
}

}  // namespace failpipe::detail
