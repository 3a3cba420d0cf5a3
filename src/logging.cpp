#include "logging.hpp"

#include <atomic>
#include <cstdlib>
#include <mutex>
#include <utility>
#include <vector>

#include <spdlog/sinks/stdout_color_sinks.h>

namespace failpipe {
namespace {

spdlog::logger& default_logger() {
    static const std::shared_ptr<spdlog::logger> instance = [] {
        if (auto existing = spdlog::get("failpipe")) return existing;
        auto created = spdlog::stderr_color_mt("failpipe");
        // FAILPIPE_LOG_LEVEL (trace, debug, info, warn, err, critical, off) overrides the default.
        const char* level = std::getenv("FAILPIPE_LOG_LEVEL");
        created->set_level(level != nullptr ? spdlog::level::from_str(level) : spdlog::level::warn);
        return created;
    }();
    return *instance;
}

// The logger set by set_logger (null: the default). Every one ever set is kept in `kept`, so a
// reference handed out by logger() stays valid whatever is set later.
std::atomic<spdlog::logger*> current{nullptr};
std::mutex kept_mutex;
std::vector<std::shared_ptr<spdlog::logger>> kept;

}  // namespace

spdlog::logger& logger() {
    if (spdlog::logger* set = current.load(std::memory_order_acquire)) return *set;
    return default_logger();
}

void set_logger(std::shared_ptr<spdlog::logger> logger) {
    std::lock_guard lock(kept_mutex);
    spdlog::logger* raw = logger.get();
    if (logger) kept.push_back(std::move(logger));
    current.store(raw, std::memory_order_release);
}

}  // namespace failpipe
