/// @file jitter.hpp
/// @brief Jitter kinds for ExponentialDelayMiddleware, and the seedable random source behind them.
#pragma once

#include <atomic>
#include <cstdint>
#include <optional>
#include <string_view>

namespace failpipe {

/// @brief How a computed delay d (the schedule's value, already capped at delayMaximum) is randomised.
enum class Jitter {
    none,          ///< d exactly: Yii's schedule (the default).
    full,          ///< uniform in [0, d].
    equal,         ///< d/2 + uniform in [0, d/2].
    decorrelated,  ///< uniform in [delayInitial, min(delayMaximum, 3 × previous applied delay)].
};

/// @brief `none`, `full`, `equal`, `decorrelated`.
std::string_view to_string(Jitter jitter) noexcept;
/// @brief Parses a jitter name; std::nullopt when unknown.
std::optional<Jitter> parse_jitter(std::string_view name) noexcept;

/// @brief A lock-free, seedable source of uniform doubles (SplitMix64). The same seed gives the same
/// sequence of draws; safe to share between threads (draws are then interleaved).
class RandomSource {
public:
    /// @brief A source seeded with @p seed.
    explicit RandomSource(std::uint64_t seed) noexcept : state_(seed) {}
    /// @brief A source seeded from std::random_device.
    static std::uint64_t random_seed();
    /// @brief A uniform double in [0, 1).
    double next_unit() noexcept;

private:
    std::atomic<std::uint64_t> state_;
};

}  // namespace failpipe
