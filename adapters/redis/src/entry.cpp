#include "entry.hpp"

#include <algorithm>
#include <limits>
#include <vector>
#include <nlohmann/json.hpp>

#include "bytes.hpp"
#include "failpipe/error.hpp"

namespace failpipe::detail::redis {
namespace {

nlohmann::json text_or_base64(std::string_view bytes) {
    if (detail::is_valid_utf8(bytes)) return std::string(bytes);
    return nlohmann::json{{"base64", detail::base64_encode(bytes)}};
}

// The adapter's own fields, each once: an entry with anything else came from another producer,
// and a poisoned one then keeps all of it.
bool only_adapter_fields(std::span<const EntryField> fields) {
    bool seen_i = false, seen_b = false, seen_n = false, seen_o = false;
    for (const auto& [name, value] : fields) {
        bool* seen = name == "i"   ? &seen_i
                     : name == "b" ? &seen_b
                     : name == "n" ? &seen_n
                     : name == "o" ? &seen_o
                                   : nullptr;
        if (seen == nullptr || *seen) return false;
        *seen = true;
    }
    return true;
}

// Bookkeeping the adapter adds when it moves an entry ('n' the count, 'o' the first stream id):
// not the producer's, so not part of what a poisoned entry keeps.
bool is_bookkeeping(std::string_view name) { return name == "n" || name == "o"; }

// The fields of a wide entry packed by the scripts ('p'): 'F', then each name and value as
// '<length>:<bytes>'. False when @p packed is not that.
bool unpack_fields(std::string_view packed, std::vector<EntryField>& out) {
    if (packed.empty() || packed.front() != 'F') return false;
    std::vector<std::string_view> parts;
    std::size_t pos = 1;
    while (pos < packed.size()) {
        const auto colon = packed.find(':', pos);
        if (colon == std::string_view::npos || colon == pos || colon - pos > 12) return false;
        std::size_t length = 0;
        for (std::size_t k = pos; k < colon; ++k) {
            if (packed[k] < '0' || packed[k] > '9') return false;
            length = length * 10 + static_cast<std::size_t>(packed[k] - '0');
        }
        if (length > packed.size() - colon - 1) return false;
        parts.push_back(packed.substr(colon + 1, length));
        pos = colon + 1 + length;
    }
    if (parts.size() % 2 != 0) return false;
    out.clear();
    for (std::size_t k = 0; k < parts.size(); k += 2) out.emplace_back(parts[k], parts[k + 1]);
    return true;
}

}  // namespace

std::string derived_id(std::string_view stream_id) {
    std::string id;
    id.reserve(kDerivedIdPrefix.size() + stream_id.size());
    id.append(kDerivedIdPrefix).append(stream_id);
    return id;
}

std::uint32_t carried_count(std::string_view n) noexcept {
    if (n.empty()) return 0;
    std::uint64_t value = 0;
    for (char c : n) {
        if (c < '0' || c > '9') return 0;
        value = std::min<std::uint64_t>(value * 10 + static_cast<std::uint64_t>(c - '0'),
                                        std::numeric_limits<std::uint32_t>::max());
    }
    return static_cast<std::uint32_t>(value);
}

std::string fields_as_json(std::span<const EntryField> fields) {
    nlohmann::json pairs = nlohmann::json::array();
    for (const auto& [name, value] : fields) {
        if (is_bookkeeping(name)) continue;
        pairs.push_back(nlohmann::json::array({text_or_base64(name), text_or_base64(value)}));
    }
    return pairs.dump();
}

Delivery delivery_from_entry(std::string_view channel, std::string_view stream_id, std::span<const EntryField> fields,
                             long long reserved_ms, std::size_t max_message_bytes) {
    const EntryField* id = nullptr;
    const EntryField* body = nullptr;
    const EntryField* count = nullptr;
    const EntryField* origin = nullptr;
    // A wide entry's own fields travel packed in 'p' (see carried_fields in scripts.cpp); its id
    // and count stay outside.
    std::vector<EntryField> unpacked;
    std::span<const EntryField> content = fields;
    for (const auto& field : fields) {
        if (field.first == "p" && unpack_fields(field.second, unpacked)) {
            content = unpacked;
            break;
        }
    }
    for (const auto& field : fields) {
        if (field.first == "i" && id == nullptr) id = &field;
        else if (field.first == "n" && count == nullptr) count = &field;
        else if (field.first == "o" && origin == nullptr) origin = &field;
    }
    for (const auto& field : content) {
        if (field.first == "b") {
            body = &field;
            break;
        }
    }
    Delivery delivery;
    delivery.channel = std::string(channel);
    std::string message_id = id != nullptr && !id->second.empty() ? std::string(id->second)
                             : origin != nullptr                  ? derived_id(origin->second)
                                                                  : derived_id(stream_id);
    delivery.receipt.reserve(stream_id.size() + message_id.size() + 16);
    delivery.receipt.append(stream_id).append(" ").append(std::to_string(std::max(0LL, reserved_ms))).append(" ").append(message_id);
    const std::uint64_t carried = count != nullptr ? carried_count(count->second) : 0;
    delivery.deliveries = static_cast<std::uint32_t>(std::min<std::uint64_t>(carried + 1, std::numeric_limits<std::uint32_t>::max()));

    auto poison = [&](std::string why, bool bytes_alone) {
        delivery.message = Message{};
        delivery.raw = bytes_alone ? std::string(body->second) : fields_as_json(content);
        delivery.decode_error = std::move(why);
    };
    if (body == nullptr) {
        poison("stream entry " + std::string(stream_id) +
                   " has no 'b' field (the message bytes); its fields are kept as a JSON array of [name, value] pairs",
               false);
    } else if (auto too_big = oversize_reason(body->second.size(), max_message_bytes); !too_big.empty()) {
        poison(std::move(too_big), only_adapter_fields(content));
    } else {
        try {
            delivery.message = decode_message(body->second);
        } catch (const DecodeError& e) {
            poison(e.what(), only_adapter_fields(content));
        } catch (const nlohmann::json::exception& e) {
            poison(e.what(), only_adapter_fields(content));
        }
    }
    // The entry's id, not the one inside the bytes: it is the id the index, status and remove know.
    delivery.message.id = std::move(message_id);
    return delivery;
}

}  // namespace failpipe::detail::redis
