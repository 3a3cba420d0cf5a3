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
/// @brief Object recorded on a dead-lettered message: reason, error, class, time, attempts, channel, id.
inline constexpr std::string_view dead_letter = "failpipe-dead-letter";
/// @brief How many times DeadLetters::replay has sent the message back (an integer).
inline constexpr std::string_view replays = "failpipe-replays";

}  // namespace failpipe::metadata_keys
