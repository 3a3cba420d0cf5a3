/// @file failure_record.hpp
/// @brief The failure record written on every dead letter, and the attempt history it carries.
///
/// Every path that dead-letters a message — DeadLetterMiddleware, the final handler, poison,
/// max-deliveries, pipeline-error, settle-error and expired — writes one record shape under metadata
/// `failpipe-dead-letter` (every key, its type and an example: docs/dead-letters.md).
///
/// The attempt history travels in metadata `failpipe-history` as the message is retried: an array of
/// at most the dispatcher's history limit entries (the latest last), each with a bounded error
/// message. It is cut back to the limit, and every entry re-checked, each time an entry is added, so
/// a message that failed thirty times, or arrived with a hostile history, never carries more.
#pragma once

#include <cstddef>
#include <string_view>

namespace failpipe {

/// @brief History entries kept by default (JSON config: `deadLetters.historyLimit`).
inline constexpr std::size_t kDefaultHistoryLimit = 10;
/// @brief The largest history limit accepted.
inline constexpr std::size_t kMaxHistoryLimit = 1000;
/// @brief Error messages in history entries are cut to this many bytes (at a UTF-8 boundary).
inline constexpr std::size_t kHistoryMessageBytes = 500;
/// @brief At most this many middlewares are listed in a record's `attemptsByMiddleware`.
inline constexpr std::size_t kMaxRecordMiddlewares = 64;

/// @brief The reasons a record may give.
namespace dead_letter_reasons {
inline constexpr std::string_view failure = "failure";              ///< the handler failed and the pipeline gave up
inline constexpr std::string_view poison = "poison";                ///< bytes that do not decode to a message
inline constexpr std::string_view max_deliveries = "max-deliveries";  ///< reserved too often without a settle
inline constexpr std::string_view pipeline_error = "pipeline-error";  ///< a failure middleware threw
inline constexpr std::string_view settle_error = "settle-error";      ///< the adapter refused the settle
inline constexpr std::string_view expired = "expired";              ///< its time to live passed before a worker handled it
}  // namespace dead_letter_reasons

}  // namespace failpipe
