// The library's logger, inside failpipe: failpipe::logger() (include/failpipe/logging.hpp, the
// public header adapters use) under the name the core has always called it by.
#pragma once

#include <spdlog/spdlog.h>

#include "failpipe/logging.hpp"

namespace failpipe::detail {

/// failpipe::logger().
inline spdlog::logger& logger() { return failpipe::logger(); }

}  // namespace failpipe::detail
