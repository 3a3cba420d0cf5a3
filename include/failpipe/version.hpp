/// @file version.hpp
/// @brief The library's version.
#pragma once

#define FAILPIPE_VERSION_MAJOR 0
#define FAILPIPE_VERSION_MINOR 1
#define FAILPIPE_VERSION_PATCH 0

namespace failpipe {
/// @brief "major.minor.patch".
inline constexpr const char* kVersion = "0.1.0";
}  // namespace failpipe
