#include "logging.hpp"

#include <algorithm>
#include <array>
#include <atomic>
#include <cctype>
#include <cstdlib>
#include <mutex>
#include <string_view>
#include <utility>
#include <vector>

#include <spdlog/sinks/stdout_color_sinks.h>

namespace failpipe {
namespace {

spdlog::logger& default_logger() {
    static const std::shared_ptr<spdlog::logger> instance = [] {
        if (auto existing = spdlog::get("failpipe")) return existing;
        auto created = spdlog::stderr_color_mt("failpipe");
        // FAILPIPE_LOG_LEVEL overrides the default level (warn).
        const auto setting = detail::log_level_from_env(std::getenv("FAILPIPE_LOG_LEVEL"));
        created->set_level(setting.level);
        if (!setting.complaint.empty()) created->warn("{}", setting.complaint);
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

namespace detail {

LogLevelSetting log_level_from_env(const char* value) {
    if (value == nullptr || *value == '\0') return {};  // unset or empty: the default
    std::string name(value);
    std::transform(name.begin(), name.end(), name.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    // spdlog's own from_str answers "off" to any word it does not know, which would hide every
    // dead letter's warning behind a typo or "WARN"; so the names are matched here.
    static constexpr std::array<std::pair<std::string_view, spdlog::level::level_enum>, 9> kNames{{
        {"trace", spdlog::level::trace},
        {"debug", spdlog::level::debug},
        {"info", spdlog::level::info},
        {"warn", spdlog::level::warn},
        {"warning", spdlog::level::warn},
        {"err", spdlog::level::err},
        {"error", spdlog::level::err},
        {"critical", spdlog::level::critical},
        {"off", spdlog::level::off},
    }};
    for (const auto& [known, level] : kNames) {
        if (name == known) return {level, {}};
    }
    std::string shown(value);
    if (shown.size() > 40) {
        std::size_t cut = 40;
        while (cut > 0 && (static_cast<unsigned char>(shown[cut]) & 0xC0) == 0x80) --cut;  // not inside a character
        shown = shown.substr(0, cut) + "…";
    }
    for (char& c : shown) {
        if (std::iscntrl(static_cast<unsigned char>(c))) c = '?';
    }
    return {spdlog::level::warn, "FAILPIPE_LOG_LEVEL=\"" + shown +
                                     "\" is not a level (trace, debug, info, warn, error, critical, off): "
                                     "logging at warn"};
}

}  // namespace detail

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
