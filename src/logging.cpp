#include "logging.hpp"

#include <cstdlib>
#include <mutex>

#include <spdlog/sinks/stdout_color_sinks.h>

namespace failpipe::detail {

spdlog::logger& logger() {
    static std::shared_ptr<spdlog::logger> instance = [] {
        if (auto existing = spdlog::get("failpipe")) return existing;
        auto created = spdlog::stderr_color_mt("failpipe");
        // FAILPIPE_LOG_LEVEL (trace, debug, info, warn, err, critical, off) overrides the default.
        const char* level = std::getenv("FAILPIPE_LOG_LEVEL");
        created->set_level(level != nullptr ? spdlog::level::from_str(level) : spdlog::level::warn);
        return created;
    }();
    return *instance;
}

}  // namespace failpipe::detail
