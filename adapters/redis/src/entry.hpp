// A stream entry becomes a Delivery here, and nowhere else: the reserve paths and browse share it,
// and a fuzzer can call it without a server. Entries may come from foreign producers (a plain
// XADD), so any field list is accepted: see docs/redis.md, "Entries written by other producers".
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <utility>

#include "failpipe/delivery.hpp"

namespace failpipe::detail::redis {

/// One field of a stream entry: name, value (any bytes).
using EntryField = std::pair<std::string_view, std::string_view>;

/// An entry without a non-empty `i` field is known by this prefix and the stream id it was first
/// written with (when the adapter re-adds such an entry it stores that stream id in a field `o`).
/// The scripts use the same prefix (scripts.cpp).
inline constexpr std::string_view kDerivedIdPrefix = "stream-";

/// The id of an entry that has no `i`: "stream-<stream id>".
std::string derived_id(std::string_view stream_id);

/// The deliveries an entry's `n` field carries: decimal digits only, capped at UINT32_MAX; absent
/// or anything else counts as 0 (the scripts read it the same way).
std::uint32_t carried_count(std::string_view n) noexcept;

/// The producer's fields of an entry as JSON text: an array of [name, value] pairs in entry order
/// (repeated names kept; the adapter's bookkeeping fields `n` and `o` left out), each name and
/// value a JSON string when it is UTF-8, else {"base64": "..."}.
std::string fields_as_json(std::span<const EntryField> fields);

/// The Delivery of a stream entry of @p channel reserved at @p reserved_ms (server ms).
/// Never throws on the entry's content: an entry whose bytes are not a message is a poisoned
/// delivery (decode_error says why; raw holds `b` alone when the entry has only the adapter's
/// fields, else fields_as_json of them). The message id is the first `i` field when it is not
/// empty, else derived_id of the first `o` field, else derived_id(@p stream_id). An entry the
/// scripts re-added with its fields packed in `p` (one too wide for one XADD from Lua) is read as
/// the fields inside `p`.
/// A body of more than @p max_message_bytes (0 = no limit) is poison too, its bytes kept: a
/// foreign producer's, or one that grew past the limit through its metadata.
Delivery delivery_from_entry(std::string_view channel, std::string_view stream_id, std::span<const EntryField> fields,
                             long long reserved_ms, std::size_t max_message_bytes = 0);

}  // namespace failpipe::detail::redis
