#include "failure_record.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "failpipe/failure_record.hpp"
#include "failpipe/fingerprint.hpp"
#include "failpipe/metadata_keys.hpp"
#include "metadata.hpp"

namespace failpipe::detail {
namespace {

const std::string kFailuresKey(metadata_keys::failures);
const std::string kFirstKey(metadata_keys::first_failure_ms);
const std::string kLastKey(metadata_keys::last_failure_ms);
const std::string kOriginKey(metadata_keys::origin);
const std::string kHistoryKey(metadata_keys::history);
const std::string kResendPrefix(metadata_keys::resend_attempts_prefix);
const std::string kDelayPrefix(metadata_keys::delay_attempts_prefix);

// Bounds of what a history entry may hold. A history arrives from anyone who can write a message,
// so every entry is re-checked against these when the history is cut back.
constexpr std::size_t kNameBytes = 256;
constexpr std::size_t kTimeBytes = 32;
// An origin longer than this is not one failpipe wrote: it is replaced, not copied into records.
constexpr std::size_t kOriginBytes = 1024;

const nlohmann::json* member(const nlohmann::json& object, const std::string& key) {
    if (!object.is_object()) return nullptr;
    auto it = object.find(key);
    return it == object.end() ? nullptr : &*it;
}

bool valid_origin(const nlohmann::json* origin) {
    if (origin == nullptr || !origin->is_object()) return false;
    const auto* channel = member(*origin, "channel");
    const auto* id = member(*origin, "id");
    return channel != nullptr && channel->is_string() && !channel->get_ref<const std::string&>().empty() &&
           channel->get_ref<const std::string&>().size() <= kOriginBytes && id != nullptr && id->is_string() &&
           id->get_ref<const std::string&>().size() <= kOriginBytes;
}

std::optional<TimePoint> time_value(const nlohmann::json* value) {
    if (value == nullptr || !value->is_number()) return std::nullopt;
    const long long ms = to_int(value);
    if (ms <= 0) return std::nullopt;
    return from_epoch_ms(ms);
}

nlohmann::json iso_or_null(std::optional<TimePoint> time) {
    return time ? nlohmann::json(iso8601_utc(*time)) : nlohmann::json(nullptr);
}

// Copies the well-formed fields of a stored entry, each bounded; null when nothing is left.
nlohmann::json sanitized(const nlohmann::json& entry) {
    if (!entry.is_object()) return nullptr;
    nlohmann::json out = nlohmann::json::object();
    auto text = [&](const char* key, std::size_t bytes) {
        if (const auto* v = member(entry, key); v != nullptr && v->is_string()) {
            out[key] = cut_utf8(v->get_ref<const std::string&>(), bytes);
        }
    };
    auto number = [&](const char* key) {
        if (const auto* v = member(entry, key); v != nullptr && v->is_number() && std::isfinite(v->get<double>())) {
            out[key] = *v;
        }
    };
    text("time", kTimeBytes);
    text("channel", kNameBytes);
    text("middleware", kNameBytes);
    text("action", kNameBytes);
    number("delay");
    text("errorType", kNameBytes);
    text("errorMessage", kHistoryMessageBytes);
    number("retryAfter");
    text("note", kHistoryMessageBytes);
    if (out.empty()) return nullptr;
    return out;
}

// True when sanitized(@p entry) would return it unchanged: the common case, checked without copying.
bool well_formed(const nlohmann::json& entry) {
    if (!entry.is_object() || entry.empty()) return false;
    for (auto it = entry.begin(); it != entry.end(); ++it) {
        const std::string& key = it.key();
        const nlohmann::json& v = it.value();
        if (key == "delay" || key == "retryAfter") {
            if (!v.is_number() || !std::isfinite(v.get<double>())) return false;
            continue;
        }
        std::size_t bound = 0;
        if (key == "time") bound = kTimeBytes;
        else if (key == "channel" || key == "middleware" || key == "action" || key == "errorType") bound = kNameBytes;
        else if (key == "errorMessage" || key == "note") bound = kHistoryMessageBytes;
        else return false;
        if (!v.is_string() || v.get_ref<const std::string&>().size() > bound) return false;
    }
    return true;
}

// Keeps the newest @p keep entries of a well-formed history in place; false (nothing changed) when
// the history is long or holds anything sanitized() would change.
bool trim_in_place(nlohmann::json::array_t& stored, std::size_t keep) {
    if (stored.size() > 2 * kMaxHistoryLimit) return false;
    if (!std::all_of(stored.begin(), stored.end(), well_formed)) return false;
    if (stored.size() > keep) stored.erase(stored.begin(), stored.end() - static_cast<std::ptrdiff_t>(keep));
    return true;
}

nlohmann::json attempts_by_middleware(const Message& message) {
    nlohmann::json out = nlohmann::json::object();
    const nlohmann::json* meta = member(message.metadata, std::string(metadata_keys::failure));
    if (meta == nullptr || !meta->is_object()) return out;
    for (auto it = meta->begin(); it != meta->end() && out.size() < kMaxRecordMiddlewares; ++it) {
        const std::string& key = it.key();
        std::string id;
        if (key.starts_with(kResendPrefix)) {
            id = key.substr(kResendPrefix.size());
        } else if (key.starts_with(kDelayPrefix)) {
            id = key.substr(kDelayPrefix.size());
        } else {
            continue;
        }
        id = cut_utf8(id, kNameBytes);
        // A send-again and an exponential delay may share an id: their attempts add up.
        const long long before = to_count(member(out, id));
        const long long add = to_count(&it.value());
        out[id] = add > std::numeric_limits<long long>::max() - before ? std::numeric_limits<long long>::max()
                                                                        : before + add;
    }
    return out;
}

}  // namespace

void note_failure(Message& message, const std::string& channel, TimePoint now) {
    auto& meta = failure_meta(message);
    auto& failures = meta[kFailuresKey];
    failures = next_count(&failures);
    const long long ms = epoch_ms(now);
    auto& first = meta[kFirstKey];
    if (!time_value(&first)) first = ms;
    meta[kLastKey] = ms;
    auto& origin = message.metadata[kOriginKey];
    if (!valid_origin(&origin)) origin = {{"channel", channel}, {"id", message.id}};
}

std::optional<TimePoint> first_failure(const Message& message) {
    return time_value(failure_value(message, kFirstKey));
}

nlohmann::json history_entry(TimePoint now, const std::string& channel, const std::string& middleware,
                             std::string_view action, Seconds delay, const Failure& failure,
                             std::optional<Seconds> retry_after, const std::string& note) {
    nlohmann::json entry = {
        {"time", iso8601_utc(now)},
        {"channel", cut_utf8(channel, kNameBytes)},
        {"middleware", cut_utf8(middleware, kNameBytes)},
        {"action", std::string(action)},
        {"delay", std::isfinite(delay.count()) ? delay.count() : 0.0},
        {"errorType", cut_utf8(failure.type, kNameBytes)},
        {"errorMessage", cut_utf8(failure.what, kHistoryMessageBytes)},
    };
    if (retry_after && std::isfinite(retry_after->count())) entry["retryAfter"] = retry_after->count();
    if (!note.empty()) entry["note"] = cut_utf8(note, kHistoryMessageBytes);
    return entry;
}

void append_history(Message& message, nlohmann::json entry, std::size_t limit) {
    if (!message.metadata.is_object()) message.metadata = nlohmann::json::object();
    if (limit == 0) {
        message.metadata.erase(kHistoryKey);
        return;
    }
    limit = std::min(limit, kMaxHistoryLimit);
    if (auto it = message.metadata.find(kHistoryKey); it != message.metadata.end() && it->is_array() &&
                                                      trim_in_place(it->get_ref<nlohmann::json::array_t&>(), limit - 1)) {
        it->push_back(std::move(entry));  // the hot path: no copy of the entries already there
        return;
    }
    nlohmann::json kept = nlohmann::json::array();
    if (auto it = message.metadata.find(kHistoryKey); it != message.metadata.end() && it->is_array()) {
        // Walk back from the newest: at most limit − 1 well-formed entries are kept, whatever came.
        auto& stored = it->get_ref<nlohmann::json::array_t&>();
        std::vector<nlohmann::json> newest;
        for (auto e = stored.rbegin(); e != stored.rend() && newest.size() + 1 < limit; ++e) {
            nlohmann::json clean = sanitized(*e);
            if (!clean.is_null()) newest.push_back(std::move(clean));
        }
        for (auto e = newest.rbegin(); e != newest.rend(); ++e) kept.push_back(std::move(*e));
    }
    kept.push_back(std::move(entry));
    message.metadata[kHistoryKey] = std::move(kept);
}

nlohmann::json failure_record(const Message& message, const Failure& failure, std::string_view reason,
                              const std::string& middleware, const std::string& channel, TimePoint now,
                              const std::string& note) {
    const long long failures = to_count(failure_value(message, kFailuresKey));
    const nlohmann::json* origin = member(message.metadata, kOriginKey);
    const bool has_origin = valid_origin(origin);
    const nlohmann::json* history = member(message.metadata, kHistoryKey);
    nlohmann::json record = {
        {"reason", std::string(reason)},
        {"errorType", failure.type},
        {"errorMessage", failure.what},
        {"errorClass", to_string(failure.error_class)},
        {"fingerprint", error_fingerprint(failure.type, failure.what)},
        {"time", iso8601_utc(now)},
        {"attempts", failures},
        {"failures", failures},
        {"attemptsByMiddleware", attempts_by_middleware(message)},
        {"firstFailure", iso_or_null(time_value(failure_value(message, kFirstKey)))},
        {"lastFailure", iso_or_null(time_value(failure_value(message, kLastKey)))},
        {"channel", channel},
        {"id", message.id},
        {"originalChannel", has_origin ? member(*origin, "channel")->get<std::string>() : channel},
        {"originalId", has_origin ? member(*origin, "id")->get<std::string>() : message.id},
        {"middleware", middleware},
        {"history", history != nullptr && history->is_array() ? *history : nlohmann::json::array()},
    };
    if (!note.empty()) record["note"] = note;
    return record;
}

}  // namespace failpipe::detail
