// failpipe's logger. The library, its adapters (failpipe::redis) and its tools all log through one
// spdlog logger; this is how to reach it or replace it.
//
//     #include <failpipe/logging.hpp>
//     failpipe::logger().set_level(spdlog::level::info);          // more detail
//     failpipe::set_logger(spdlog::basic_logger_mt("app", "app.log"));  // or your own logger
//
// What it says at which level: dead letters and drops at warn, retries at info (docs/events.md).
#pragma once

#include <memory>

#include <spdlog/logger.h>

namespace failpipe {

/// The logger failpipe writes to. Unless set_logger() named another, it is the spdlog logger
/// registered under the name "failpipe" when failpipe first logs, else one created then (stderr,
/// level from the environment variable FAILPIPE_LOG_LEVEL — trace, debug, info, warn or warning,
/// err or error, critical, off, in any case — default warn; another word keeps warn and is
/// logged). The reference stays valid until the process exits.
/// Thread-safe.
spdlog::logger& logger();

/// Makes @p logger the one failpipe writes to from now on (a null pointer: back to the default of
/// logger()). Lines being written at that moment may still go to the previous one. Every logger
/// passed here is kept alive until the process exits, so references from logger() never dangle.
/// Thread-safe.
void set_logger(std::shared_ptr<spdlog::logger> logger);

}  // namespace failpipe
