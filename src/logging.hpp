// The library's logger, inside failpipe: failpipe::logger() (include/failpipe/logging.hpp, the
// public header adapters use) under the name the core has always called it by.
#pragma once

#include <string>

#include <spdlog/spdlog.h>

#include "failpipe/logging.hpp"

namespace failpipe::detail {

/// failpipe::logger().
inline spdlog::logger& logger() { return failpipe::logger(); }

/// The default logger's level read from FAILPIPE_LOG_LEVEL (@p value; null when unset).
struct LogLevelSetting {
    spdlog::level::level_enum level = spdlog::level::warn;
    std::string complaint;  ///< Non-empty when @p value was not a level: what was wrong, for the log.
};

/// Reads a level name, in any case: trace, debug, info, warn or warning, err or error, critical,
/// off. Anything else keeps the default (warn) and says so, rather than silencing every line.
LogLevelSetting log_level_from_env(const char* value);

}  // namespace failpipe::detail
