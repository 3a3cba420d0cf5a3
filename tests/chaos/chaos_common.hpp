// What the chaos runner and its worker processes share: message ids, the seeded fate of a message,
// and the names of the channels. See docs/chaos.md.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace failpipe::chaos {

inline constexpr std::string_view channel_a = "chaos-a";
inline constexpr std::string_view channel_b = "chaos-b";
inline constexpr std::string_view dead_letter_suffix = ":dlq";
inline constexpr std::string_view handler_name = "chaos";

/// The channel message number @p index is pushed to (both channels get half).
inline std::string channel_of(std::uint64_t index) {
    return std::string(index % 2 == 0 ? channel_a : channel_b);
}

/// Message ids are `m<index>`, so the audit can count by index in flat arrays.
inline std::string id_of(std::uint64_t index) { return "m" + std::to_string(index); }

/// The index of an id made by id_of, or nothing for any other id (a foreign or damaged one).
inline std::optional<std::uint64_t> index_of(std::string_view id) {
    if (id.size() < 2 || id.size() > 21 || id.front() != 'm') return std::nullopt;
    std::uint64_t value = 0;
    for (char c : id.substr(1)) {
        if (c < '0' || c > '9') return std::nullopt;
        value = value * 10 + static_cast<std::uint64_t>(c - '0');
    }
    return value;
}

/// splitmix64: a good, cheap mix of a seed and a number.
inline std::uint64_t mix(std::uint64_t seed, std::uint64_t value) {
    std::uint64_t z = seed + 0x9E3779B97F4A7C15ULL * (value + 1);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

/// What the handler does with a message, fixed by the seed and the message's index.
enum class Fate {
    flaky,             ///< fails transiently at random (per attempt), usually succeeds within the retries
    always_transient,  ///< always throws TransientError: retried until the pipeline gives up (dead letter)
    permanent,         ///< always throws PermanentError: dead-lettered at once
};

/// 2 % permanent, 1 % always transient, the rest flaky.
inline Fate fate_of(std::uint64_t seed, std::uint64_t index) {
    const std::uint64_t roll = mix(seed, index) % 1000;
    if (roll < 20) return Fate::permanent;
    if (roll < 30) return Fate::always_transient;
    return Fate::flaky;
}

}  // namespace failpipe::chaos
