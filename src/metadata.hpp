// Reading and writing failure state in message metadata, with Yii's tolerant casts.
#pragma once

#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "failpipe/clock.hpp"
#include "failpipe/message.hpp"

namespace failpipe::detail {

/// The `failpipe-failure` object of @p message, created (and metadata made an object) when missing
/// or of the wrong type — Yii reads a non-map failure value as {}.
nlohmann::json& failure_meta(Message& message);

/// The value stored under @p key in `failpipe-failure`, or null when there is none.
const nlohmann::json* failure_value(const Message& message, const std::string& key);

/// The `failpipe-failure` object of @p message when it exists and is an object, else null. Unlike
/// failure_meta() it never creates anything, so a middleware that passes on leaves metadata as it was.
nlohmann::json* find_failure_object(Message& message);

/// The member @p key of the JSON object @p object, or null.
nlohmann::json* find_member(nlohmann::json* object, const std::string& key);

/// Sets @p key of @p message's failure object to @p value, reusing @p existing (a pointer from
/// find_member) when there is one, so the map is searched only once.
void set_failure_value(Message& message, nlohmann::json* existing, const std::string& key, nlohmann::json value);

/// PHP's (int) cast: numbers truncate, numeric strings parse their leading number, bools are 0/1,
/// anything else is 0.
long long to_int(const nlohmann::json* value);

/// A counter as failpipe reads it: to_int(), then negative values as 0. A counter comes from a
/// message anyone may have written; a negative one would grant attempts without bound.
long long to_count(const nlohmann::json* value);

/// to_count(@p value) + 1, saturating at the largest long long instead of overflowing.
long long next_count(const nlohmann::json* value);

/// PHP's (float) cast, with the same tolerance; NaN and infinities read as 0.
double to_float(const nlohmann::json* value);

/// `YYYY-MM-DDTHH:MM:SS.mmmZ`.
std::string iso8601_utc(TimePoint time);

/// @p time as UTC epoch milliseconds (rounded down).
long long epoch_ms(TimePoint time);

/// UTC epoch milliseconds as a time point, clamped to what the clock can hold (about ±292 years).
TimePoint from_epoch_ms(long long ms);

/// @p text cut to at most @p max_bytes bytes, at a UTF-8 character boundary.
std::string cut_utf8(std::string_view text, std::size_t max_bytes);

}  // namespace failpipe::detail
