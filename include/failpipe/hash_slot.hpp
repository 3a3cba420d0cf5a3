/// @file hash_slot.hpp
/// @brief Redis Cluster key hashing: CRC16 (XMODEM), the hash-tag rule and the slot of a key.
///
/// The algorithm of the Redis Cluster specification ("Keys distribution model"): a key's slot is
/// CRC16(key) mod 16384, where CRC16 is CRC-16/XMODEM (polynomial 0x1021, initial value 0, no
/// reflection; `123456789` → 0x31C3). When the key holds a `{` followed later by a `}` with at
/// least one byte between them, only the bytes between the first `{` and the first `}` after it
/// are hashed, so `{user1000}.following` and `{user1000}.followers` land on one slot.
#pragma once

#include <cstdint>
#include <string_view>

namespace failpipe {

/// @brief The number of hash slots of a Redis Cluster.
inline constexpr std::uint16_t kClusterSlots = 16384;

/// @brief CRC-16/XMODEM of @p data, as Redis Cluster computes it.
std::uint16_t crc16_xmodem(std::string_view data) noexcept;

/// @brief The part of @p key Redis Cluster hashes: between the first `{` and the first `}` after
/// it when that is not empty, else the whole key (`foo{}{bar}` → `foo{}{bar}`, `foo{{bar}}zap` → `{bar`).
std::string_view cluster_hashed_part(std::string_view key) noexcept;

/// @brief The Redis Cluster slot (0 … 16383) of @p key.
std::uint16_t cluster_hash_slot(std::string_view key) noexcept;

}  // namespace failpipe
