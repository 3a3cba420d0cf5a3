/// @file metadata_keys.hpp
/// @brief The metadata keys failpipe reads and writes, in one place.
#pragma once

#include <string_view>

namespace failpipe::metadata_keys {

/// @brief Object holding every failure counter of a message (Yii's `yii-failure`).
inline constexpr std::string_view failure = "failpipe-failure";
/// @brief Inside `failure`: how many times the message's handler has failed in all.
inline constexpr std::string_view failures = "failures";
/// @brief Prefix of a SendAgainMiddleware counter; the middleware id follows.
inline constexpr std::string_view resend_attempts_prefix = "failure-strategy-resend-attempts-";
/// @brief Prefix of an ExponentialDelayMiddleware attempt counter; the middleware id follows.
inline constexpr std::string_view delay_attempts_prefix = "failure-strategy-exponential-delay-attempts-";
/// @brief Prefix of an ExponentialDelayMiddleware's last (un-jittered) delay; the middleware id follows.
inline constexpr std::string_view delay_delay_prefix = "failure-strategy-exponential-delay-delay-";
/// @brief Prefix of an ExponentialDelayMiddleware's last applied (jittered) delay; the middleware id follows.
inline constexpr std::string_view delay_applied_prefix = "failure-strategy-exponential-delay-applied-";
/// @brief Object recorded on a dead-lettered message (the failure record, see docs/dead-letters.md).
inline constexpr std::string_view dead_letter = "failpipe-dead-letter";
/// @brief Inside `failure`: the time of the first handler failure, UTC epoch milliseconds (int).
inline constexpr std::string_view first_failure_ms = "first-failure-ms";
/// @brief Inside `failure`: the time of the latest handler failure, UTC epoch milliseconds (int).
inline constexpr std::string_view last_failure_ms = "last-failure-ms";
/// @brief Object {`channel`, `id`}: where the message failed first, kept as it moves through retry channels.
inline constexpr std::string_view origin = "failpipe-origin";
/// @brief Array: the last attempts of a message (bounded at every step, see failure_record.hpp).
inline constexpr std::string_view history = "failpipe-history";
/// @brief When the message expires: UTC epoch milliseconds (int), set at push from a time to live.
inline constexpr std::string_view expires_at = "failpipe-expires-at";
/// @brief How many times DeadLetters::replay has sent the message back (an integer).
inline constexpr std::string_view replays = "failpipe-replays";
/// @brief How many times the message was dead-lettered since it was pushed or last replayed (an
/// integer): past DeadLetterMiddleware::kMaxHops it rests in the dead letters of the channel it
/// failed on, whatever the pipeline says (a loop of dead-letter channels ends there).
inline constexpr std::string_view dead_letter_hops = "failpipe-dead-letter-hops";
/// @brief The correlation id (a string) that ties a message to the messages it caused: set at
/// Queue::push when absent, carried across retries, dead letters and replays, and copied to the
/// follow-ups a handler pushes (see docs/events.md).
inline constexpr std::string_view correlation_id = "correlationId";
/// @brief When a delayed retry is due: UTC epoch milliseconds (int) on the dispatcher's clock, set
/// by the worker on a retry push with a delay; the worker reports how late the retry ran (lateness).
inline constexpr std::string_view due_at = "failpipe-due-at";

}  // namespace failpipe::metadata_keys
