// Redis Cluster's key hashing (the specification's "Keys distribution model").
#include "failpipe/hash_slot.hpp"

#include <array>

namespace failpipe {
namespace {

// The byte-at-a-time table of polynomial 0x1021, built at compile time.
constexpr std::array<std::uint16_t, 256> make_table() {
    std::array<std::uint16_t, 256> table{};
    for (unsigned byte = 0; byte < 256; ++byte) {
        auto crc = static_cast<std::uint16_t>(byte << 8);
        for (int bit = 0; bit < 8; ++bit)
            crc = static_cast<std::uint16_t>((crc & 0x8000) != 0 ? (crc << 1) ^ 0x1021 : crc << 1);
        table[byte] = crc;
    }
    return table;
}

constexpr std::array<std::uint16_t, 256> kTable = make_table();

}  // namespace

std::uint16_t crc16_xmodem(std::string_view data) noexcept {
    std::uint16_t crc = 0;
    for (const char c : data) {
        const auto index = static_cast<std::uint8_t>((crc >> 8) ^ static_cast<unsigned char>(c));
        crc = static_cast<std::uint16_t>((crc << 8) ^ kTable[index]);
    }
    return crc;
}

std::string_view cluster_hashed_part(std::string_view key) noexcept {
    const auto open = key.find('{');
    if (open == std::string_view::npos) return key;
    const auto close = key.find('}', open + 1);
    if (close == std::string_view::npos || close == open + 1) return key;
    return key.substr(open + 1, close - open - 1);
}

std::uint16_t cluster_hash_slot(std::string_view key) noexcept {
    return static_cast<std::uint16_t>(crc16_xmodem(cluster_hashed_part(key)) % kClusterSlots);
}

}  // namespace failpipe
