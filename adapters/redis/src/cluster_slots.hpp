// Redis Cluster hash slots, as the adapter names them: the core's CRC16/XMODEM and hash-tag rule
// (failpipe/hash_slot.hpp), so the adapter and `failpipe config check` agree on every slot.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "failpipe/hash_slot.hpp"

namespace failpipe::detail::redis {

/// Hash slots of a Redis Cluster.
inline constexpr std::size_t kClusterSlots = failpipe::kClusterSlots;

/// CRC16-CCITT (XMODEM: polynomial 0x1021, initial value 0), as Redis Cluster computes it.
inline std::uint16_t crc16(std::string_view bytes) noexcept { return failpipe::crc16_xmodem(bytes); }

/// The slot of @p key: when the key holds a `{...}` with at least one byte between the first `{` and
/// the first `}` after it, only those bytes are hashed (the hash tag); else the whole key.
inline std::uint16_t key_slot(std::string_view key) noexcept { return failpipe::cluster_hash_slot(key); }

}  // namespace failpipe::detail::redis
