// The failure record and the attempt history, built in one place for every dead-letter path.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "failpipe/clock.hpp"
#include "failpipe/failure.hpp"
#include "failpipe/message.hpp"

namespace failpipe::detail {

/// Counts one handler failure of @p message on @p channel at @p now: `failures` + 1, the first
/// failure time (when none is recorded yet), the last failure time, and the origin (when none).
void note_failure(Message& message, const std::string& channel, TimePoint now);

/// The time of the first handler failure recorded on @p message, if any.
std::optional<TimePoint> first_failure(const Message& message);

/// One history entry. @p retry_after is the hint that decided the delay, if one did.
nlohmann::json history_entry(TimePoint now, const std::string& channel, const std::string& middleware,
                             std::string_view action, Seconds delay, const Failure& failure,
                             std::optional<Seconds> retry_after, const std::string& note);

/// Appends @p entry to @p message's history, first cutting what is there to the last @p limit − 1
/// well-formed entries (each re-bounded). @p limit 0 removes the history.
void append_history(Message& message, nlohmann::json entry, std::size_t limit);

/// The failure record (see docs/dead-letters.md) of @p message, dead-lettered from @p channel.
nlohmann::json failure_record(const Message& message, const Failure& failure, std::string_view reason,
                              const std::string& middleware, const std::string& channel, TimePoint now,
                              const std::string& note);

}  // namespace failpipe::detail
