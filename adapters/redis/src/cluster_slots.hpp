// Redis Cluster hash slots: CRC16 (XMODEM) of a key, or of its hash tag, modulo 16384.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace failpipe::detail::redis {

/// Hash slots of a Redis Cluster.
inline constexpr std::size_t kClusterSlots = 16384;

/// CRC16-CCITT (XMODEM: polynomial 0x1021, initial value 0), as Redis Cluster computes it.
std::uint16_t crc16(std::string_view bytes) noexcept;

/// The slot of @p key: when the key holds a `{...}` with at least one byte between the first `{` and
/// the first `}` after it, only those bytes are hashed (the hash tag); else the whole key.
std::uint16_t key_slot(std::string_view key) noexcept;

}  // namespace failpipe::detail::redis
