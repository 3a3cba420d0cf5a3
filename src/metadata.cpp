#include "metadata.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <limits>

#include "failpipe/metadata_keys.hpp"

namespace failpipe::detail {
namespace {

const std::string kFailureKey(metadata_keys::failure);

double parse_leading_number(const std::string& text) {
    const char* begin = text.c_str();
    char* end = nullptr;
    double value = std::strtod(begin, &end);
    return end == begin ? 0.0 : value;
}

long long saturate(double value) {
    if (!std::isfinite(value)) return 0;
    if (value >= static_cast<double>(std::numeric_limits<long long>::max())) return std::numeric_limits<long long>::max();
    if (value <= static_cast<double>(std::numeric_limits<long long>::min())) return std::numeric_limits<long long>::min();
    return static_cast<long long>(value);
}

}  // namespace

nlohmann::json& failure_meta(Message& message) {
    if (!message.metadata.is_object()) message.metadata = nlohmann::json::object();
    auto& meta = message.metadata[kFailureKey];
    if (!meta.is_object()) meta = nlohmann::json::object();
    return meta;
}

const nlohmann::json* failure_value(const Message& message, const std::string& key) {
    if (!message.metadata.is_object()) return nullptr;
    auto meta = message.metadata.find(kFailureKey);
    if (meta == message.metadata.end() || !meta->is_object()) return nullptr;
    auto value = meta->find(key);
    return value == meta->end() ? nullptr : &*value;
}

nlohmann::json* find_failure_object(Message& message) {
    if (!message.metadata.is_object()) return nullptr;
    auto meta = message.metadata.find(kFailureKey);
    return meta != message.metadata.end() && meta->is_object() ? &*meta : nullptr;
}

nlohmann::json* find_member(nlohmann::json* object, const std::string& key) {
    if (object == nullptr) return nullptr;
    auto it = object->find(key);
    return it == object->end() ? nullptr : &*it;
}

void set_failure_value(Message& message, nlohmann::json* existing, const std::string& key, nlohmann::json value) {
    if (existing != nullptr) {
        *existing = std::move(value);
    } else {
        failure_meta(message)[key] = std::move(value);
    }
}

long long to_int(const nlohmann::json* value) {
    if (value == nullptr) return 0;
    switch (value->type()) {
        case nlohmann::json::value_t::number_integer: return value->get<long long>();
        case nlohmann::json::value_t::number_unsigned: {
            auto u = value->get<unsigned long long>();
            return u > static_cast<unsigned long long>(std::numeric_limits<long long>::max())
                       ? std::numeric_limits<long long>::max()
                       : static_cast<long long>(u);
        }
        case nlohmann::json::value_t::number_float: return saturate(value->get<double>());
        case nlohmann::json::value_t::boolean: return value->get<bool>() ? 1 : 0;
        case nlohmann::json::value_t::string: return saturate(parse_leading_number(value->get_ref<const std::string&>()));
        default: return 0;
    }
}

long long to_count(const nlohmann::json* value) { return std::max(0LL, to_int(value)); }

long long next_count(const nlohmann::json* value) {
    const long long count = to_count(value);
    return count == std::numeric_limits<long long>::max() ? count : count + 1;
}

double to_float(const nlohmann::json* value) {
    if (value == nullptr) return 0.0;
    double result = 0.0;
    switch (value->type()) {
        case nlohmann::json::value_t::number_integer:
        case nlohmann::json::value_t::number_unsigned:
        case nlohmann::json::value_t::number_float: result = value->get<double>(); break;
        case nlohmann::json::value_t::boolean: result = value->get<bool>() ? 1.0 : 0.0; break;
        case nlohmann::json::value_t::string: result = parse_leading_number(value->get_ref<const std::string&>()); break;
        default: break;
    }
    return std::isfinite(result) ? result : 0.0;
}

std::string iso8601_utc(TimePoint time) {
    auto since_epoch = time.time_since_epoch();
    auto seconds = std::chrono::floor<std::chrono::seconds>(since_epoch);
    auto millis = std::chrono::duration_cast<std::chrono::milliseconds>(since_epoch - seconds).count();
    std::time_t t = static_cast<std::time_t>(seconds.count());
    std::tm tm{};
    gmtime_r(&t, &tm);
    char buffer[96];
    std::snprintf(buffer, sizeof buffer, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
                  tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(millis));
    return buffer;
}

long long epoch_ms(TimePoint time) {
    return std::chrono::floor<std::chrono::milliseconds>(time.time_since_epoch()).count();
}

TimePoint from_epoch_ms(long long ms) {
    // system_clock counts nanoseconds in 64 bits: about ±292 years from 1970.
    constexpr long long kLimit = 9'000'000'000'000LL;
    ms = std::clamp(ms, -kLimit, kLimit);
    return TimePoint{std::chrono::duration_cast<TimePoint::duration>(std::chrono::milliseconds{ms})};
}

std::string cut_utf8(std::string_view text, std::size_t max_bytes) {
    if (text.size() <= max_bytes) return std::string(text);
    std::size_t end = max_bytes;
    // Step back over continuation bytes (10xxxxxx) so no character is split.
    while (end > 0 && (static_cast<unsigned char>(text[end]) & 0xC0) == 0x80) --end;
    return std::string(text.substr(0, end));
}

}  // namespace failpipe::detail
