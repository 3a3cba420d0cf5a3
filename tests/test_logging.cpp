// FAILPIPE_LOG_LEVEL: the level of the default logger. A word that is not a level must not silence
// the warnings a user relies on (dead letters, drops, broker trouble).
#include <doctest/doctest.h>

#include <string>

#include "logging.hpp"

TEST_CASE("FAILPIPE_LOG_LEVEL: every level name is read in any case, warn by default") {
    using failpipe::detail::log_level_from_env;
    CHECK(log_level_from_env(nullptr).level == spdlog::level::warn);
    CHECK(log_level_from_env("").level == spdlog::level::warn);
    CHECK(log_level_from_env("").complaint.empty());
    CHECK(log_level_from_env("debug").level == spdlog::level::debug);
    CHECK(log_level_from_env("WARN").level == spdlog::level::warn);
    CHECK(log_level_from_env("Warning").level == spdlog::level::warn);
    CHECK(log_level_from_env("ERROR").level == spdlog::level::err);
    CHECK(log_level_from_env("err").level == spdlog::level::err);
    CHECK(log_level_from_env("Off").level == spdlog::level::off);
    CHECK(log_level_from_env("TRACE").complaint.empty());
}

TEST_CASE("FAILPIPE_LOG_LEVEL: a word that is not a level keeps warn and says so - never silences the log") {
    const auto setting = failpipe::detail::log_level_from_env("verbose\x1b[2J");
    CHECK(setting.level == spdlog::level::warn);
    CHECK(setting.complaint ==
          "FAILPIPE_LOG_LEVEL=\"verbose?[2J\" is not a level (trace, debug, info, warn, error, critical, off): "
          "logging at warn");
    const auto long_value = failpipe::detail::log_level_from_env(std::string(100, 'x').c_str());
    CHECK(long_value.complaint.find(std::string(40, 'x') + "…\"") != std::string::npos);
}
