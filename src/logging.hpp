// The library's logger: spdlog logger "failpipe" (register your own under that name to redirect it).
#pragma once

#include <memory>

#include <spdlog/spdlog.h>

namespace failpipe::detail {

/// The "failpipe" logger: the one registered under that name, else a stderr logger created once.
spdlog::logger& logger();

}  // namespace failpipe::detail
