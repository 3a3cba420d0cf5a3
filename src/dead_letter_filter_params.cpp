#include "failpipe/dead_letter_filter_params.hpp"
#include "failpipe/error_class.hpp"

#include <array>
#include <charconv>
#include <chrono>
#include <cmath>
#include <optional>

#include "config_json.hpp"
#include "dead_letter_time.hpp"
#include "metadata.hpp"

namespace failpipe {
namespace detail {
namespace {

bool digits_at(std::string_view text, std::size_t at, std::size_t count) {
    if (at + count > text.size()) return false;
    for (std::size_t i = at; i < at + count; ++i)
        if (text[i] < '0' || text[i] > '9') return false;
    return true;
}

int number_at(std::string_view text, std::size_t at, std::size_t count) {
    int n = 0;
    for (std::size_t i = at; i < at + count; ++i) n = n * 10 + (text[i] - '0');
    return n;
}

}  // namespace

UtcTimeRead read_utc_time(std::string_view text) {
    // YYYY-MM-DDTHH:MM:SS: the separators and digits where the form has them, nothing else.
    constexpr std::string_view kForm = "0000-00-00T00:00:00";
    if (text.size() < kForm.size()) return {std::nullopt, UtcTimeProblem::not_a_time};
    for (std::size_t i = 0; i < kForm.size(); ++i) {
        const bool digit = text[i] >= '0' && text[i] <= '9';
        if (kForm[i] == '0' ? !digit : text[i] != kForm[i]) return {std::nullopt, UtcTimeProblem::not_a_time};
    }
    std::size_t i = kForm.size();
    long long nanos = 0;
    if (i < text.size() && text[i] == '.') {
        std::size_t digits = 0;
        for (++i; i < text.size() && text[i] >= '0' && text[i] <= '9'; ++i, ++digits)
            if (digits < 9) nanos = nanos * 10 + (text[i] - '0');
        if (digits == 0) return {std::nullopt, UtcTimeProblem::not_a_time};
        for (; digits < 9; ++digits) nanos *= 10;
    }
    if (i == text.size()) return {std::nullopt, UtcTimeProblem::no_zone};
    if (text[i] == '+' || text[i] == '-') return {std::nullopt, UtcTimeProblem::other_zone};
    if (text[i] != 'Z' || i + 1 != text.size()) return {std::nullopt, UtcTimeProblem::not_a_time};
    const int year = number_at(text, 0, 4), month = number_at(text, 5, 2), day = number_at(text, 8, 2);
    const int hour = number_at(text, 11, 2), minute = number_at(text, 14, 2), second = number_at(text, 17, 2);
    const std::chrono::year_month_day date{std::chrono::year{year}, std::chrono::month{static_cast<unsigned>(month)},
                                           std::chrono::day{static_cast<unsigned>(day)}};
    if (year < 1970 || year > 2200 || !date.ok() || hour > 23 || minute > 59 || second > 60)
        return {std::nullopt, UtcTimeProblem::out_of_range};
    const auto since_epoch = std::chrono::sys_days{date}.time_since_epoch() + std::chrono::hours{hour} +
                             std::chrono::minutes{minute} + std::chrono::seconds{second} + std::chrono::nanoseconds{nanos};
    return {TimePoint{std::chrono::duration_cast<TimePoint::duration>(since_epoch)}, UtcTimeProblem::none};
}

}  // namespace detail

namespace {

// The longest duration ago a filter accepts, in seconds (as the CLI's other durations).
constexpr double kMaxAgoSeconds = 1e9;
// How many bytes of a refused value a message repeats.
constexpr std::size_t kShownBytes = 200;

enum class Field { channel, error_type, reason, error_class, group, grep, since, until };

struct Name {
    Field field;
    const char* query;
    const char* option;
};

constexpr std::array<Name, 8> kNames{{{Field::channel, "channel", "channel"},
                                      {Field::error_type, "errorType", "error-type"},
                                      {Field::reason, "reason", "reason"},
                                      {Field::error_class, "class", "class"},
                                      {Field::group, "group", "group"},
                                      {Field::grep, "grep", "grep"},
                                      {Field::since, "since", "since"},
                                      {Field::until, "until", "until"}}};

const char* given_name(const Name& n, FilterParamStyle style) { return style == FilterParamStyle::query ? n.query : n.option; }

std::string shown_name(const Name& n, FilterParamStyle style) {
    return style == FilterParamStyle::query ? std::string(n.query) : "--" + std::string(n.option);
}

// A value repeated in a message: quoted, control characters as '?', cut after kShownBytes.
std::string echo_value(std::string_view value) {
    std::string text = detail::cut_utf8(value, kShownBytes);
    const bool cut = text.size() < value.size();
    for (char& c : text)
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';
    return "\"" + text + (cut ? "…" : "") + "\"";
}

/// Parses one parameter's value; its errors name the parameter as @p name shows it.
class Reader {
public:
    Reader(std::string name, const std::string& value, TimePoint now) : name_(std::move(name)), value_(value), now_(now) {}

    [[noreturn]] void refuse(const std::string& message) const { throw DeadLetterFilterError(name_, value_, message); }

    TimePoint time() const {
        // Four digits and a dash: meant as a time, whatever is wrong with it.
        if (detail::digits_at(value_, 0, 4) && value_.size() > 4 && value_[4] == '-') return utc_time();
        return now_ - std::chrono::duration_cast<TimePoint::duration>(Seconds{seconds_ago()});
    }

private:
    TimePoint utc_time() const {
        const detail::UtcTimeRead read = detail::read_utc_time(value_);
        switch (read.problem) {
            case detail::UtcTimeProblem::none: return *read.time;
            case detail::UtcTimeProblem::no_zone:
                refuse(name_ + ": " + echo_value(value_) + " has no time zone: add Z for UTC (" + echo_value(value_ + "Z") + ")");
            case detail::UtcTimeProblem::other_zone:
                refuse(name_ + ": " + echo_value(value_) + " is not in UTC: write the time in UTC, ending in Z");
            case detail::UtcTimeProblem::out_of_range:
                refuse(name_ + ": " + echo_value(value_) + " is not a valid time (a real date of the years 1970 to 2200, "
                                                      "hours 00 to 23)");
            case detail::UtcTimeProblem::not_a_time: break;
        }
        refuse(expected());
    }

    std::string expected() const {
        return name_ + " expects a duration ago (90s, 15m, 2h, 7d) or a UTC time (2026-03-01T10:00:00Z), found " +
               echo_value(value_);
    }

    double seconds_ago() const {
        const char* begin = value_.data();
        const char* end = begin + value_.size();
        double number = 0;
        // from_chars takes no leading '+' or space: "+5" and " 5" are refused like any typo.
        auto [ptr, ec] = std::from_chars(begin, end, number);
        if (value_.empty() || ec == std::errc::invalid_argument || ptr == begin) refuse(expected());
        if (ec == std::errc::result_out_of_range) {
            // Below what a double holds (1e-400) is 0; above it, too long.
            const std::string_view digits(begin, static_cast<std::size_t>(ptr - begin));
            if (digits.find("e-") == std::string_view::npos && digits.find("E-") == std::string_view::npos) refuse(too_long());
            number = 0;
        }
        double scale = 1;
        if (ptr != end) {
            const std::string_view unit(ptr, static_cast<std::size_t>(end - ptr));
            scale = unit == "s" ? 1 : unit == "m" ? 60 : unit == "h" ? 3600 : unit == "d" ? 86400 : 0;
            if (scale == 0)
                refuse(name_ + ": unknown unit " + echo_value(unit) + " in " + echo_value(value_) + " (expected s, m, h or d)");
        }
        if (std::isnan(number)) refuse(expected());
        if (number < 0) refuse(name_ + " expects a duration of 0 or more, found " + echo_value(value_));
        const double seconds = number * scale;
        if (!(seconds <= kMaxAgoSeconds)) refuse(too_long());
        return seconds;
    }

    std::string too_long() const { return name_ + " expects at most 1e9 seconds (about 31 years), found " + echo_value(value_); }

    std::string name_;
    const std::string& value_;
    TimePoint now_;
};

const Name* find_name(const std::string& given, FilterParamStyle style) {
    for (const Name& n : kNames)
        if (given == given_name(n, style)) return &n;
    return nullptr;
}

std::string every_name(FilterParamStyle style) {
    std::string names;
    for (const Name& n : kNames) names += (names.empty() ? "" : ", ") + shown_name(n, style);
    return names;
}

}  // namespace

const std::vector<std::string>& dead_letter_filter_names(FilterParamStyle style) {
    static const auto names_of = [](FilterParamStyle s) {
        std::vector<std::string> names;
        for (const Name& n : kNames) names.emplace_back(given_name(n, s));
        return names;
    };
    static const std::vector<std::string> query = names_of(FilterParamStyle::query);
    static const std::vector<std::string> option = names_of(FilterParamStyle::option);
    return style == FilterParamStyle::query ? query : option;
}

DeadLetterFilter parse_dead_letter_filter(const FilterParams& params, FilterParamStyle style, TimePoint now) {
    std::array<const std::string*, kNames.size()> values{};
    for (const auto& [given, value] : params) {
        const Name* name = find_name(given, style);
        const std::string shown = name ? shown_name(*name, style) : (style == FilterParamStyle::query ? "" : "--") + given;
        if (!name)
            throw DeadLetterFilterError(shown, value, "unknown filter parameter " + echo_value(shown) + " (a filter has " +
                                                          every_name(style) + ")");
        const std::string*& slot = values[static_cast<std::size_t>(name->field)];
        if (slot)
            throw DeadLetterFilterError(shown, value, shown + " is given twice (" + echo_value(*slot) + " and " + echo_value(value) + ")");
        slot = &value;
    }
    auto value_of = [&](Field f) -> const std::string* { return values[static_cast<std::size_t>(f)]; };
    auto text_of = [&](Field f) { return value_of(f) ? *value_of(f) : std::string(); };
    auto reader = [&](Field f) { return Reader(shown_name(kNames[static_cast<std::size_t>(f)], style), *value_of(f), now); };

    DeadLetterFilter filter;
    const std::string channel_name = shown_name(kNames[0], style);
    if (!value_of(Field::channel))
        throw DeadLetterFilterError(channel_name, "", channel_name + " is required: the channel whose dead letters are meant");
    filter.channel = *value_of(Field::channel);
    if (filter.channel.empty()) reader(Field::channel).refuse(channel_name + " expects a channel name, found \"\"");
    filter.error_type = text_of(Field::error_type);
    filter.reason = text_of(Field::reason);
    filter.error_class = text_of(Field::error_class);
    if (!filter.error_class.empty() && !parse_error_class(filter.error_class)) {
        // Records only ever hold these three: any other class would match nothing, silently.
        const Field f = Field::error_class;
        reader(f).refuse(shown_name(kNames[static_cast<std::size_t>(f)], style) + " " +
                         detail::bad_choice(filter.error_class, detail::error_class_names()));
    }
    filter.fingerprint = text_of(Field::group);
    filter.grep = text_of(Field::grep);
    if (!filter.grep.empty()) {
        try {
            detail::check_filter_grep(filter.grep);
        } catch (const InvalidArgumentError& e) {
            reader(Field::grep).refuse(e.what());
        }
    }
    if (value_of(Field::since)) filter.since = reader(Field::since).time();
    if (value_of(Field::until)) filter.until = reader(Field::until).time();
    if (filter.since && filter.until && *filter.until <= *filter.since)
        reader(Field::until).refuse(shown_name(kNames[7], style) + " " + echo_value(*value_of(Field::until)) +
                                    " must be later than " + shown_name(kNames[6], style) + " " +
                                    echo_value(*value_of(Field::since)));
    return filter;
}

}  // namespace failpipe
