#pragma once
/// @file
/// @brief When a broker counts a settle or a push as done: the config's `durability`.

#include <chrono>
#include <cstddef>
#include <string_view>

namespace failpipe {

/// @brief The config's `durability` (docs/config.md, "Durability"): whether a write is done once
/// the broker's primary has it (`master`) or only once replicas confirmed it too (`replicas`).
/// Brokers that replicate asynchronously (Redis) can lose a write their primary acknowledged when it
/// fails over; with `replicas` such a write is reported as failed instead, and sent again safely.
/// The Redis adapter takes it through RedisAdapter::with_config (a `WAIT` after each write round trip).
struct DurabilitySetting {
    enum class Mode {
        master,    ///< done when the primary applied it (the default)
        replicas,  ///< done when `replicas` replicas also confirmed it within `wait`
    };
    Mode mode = Mode::master;
    std::size_t replicas = 1;                    ///< replicas that must confirm (mode replicas): 1 to 1000
    std::chrono::milliseconds wait{1000};        ///< how long to wait for them: 1 ms to 1 hour

    friend bool operator==(const DurabilitySetting&, const DurabilitySetting&) = default;
};

/// @brief "master" or "replicas".
constexpr std::string_view to_string(DurabilitySetting::Mode mode) noexcept {
    return mode == DurabilitySetting::Mode::replicas ? "replicas" : "master";
}

}  // namespace failpipe
