/// @file message.hpp
/// @brief The message: a value that carries its whole failure history in its metadata.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace failpipe {

/// @brief A queue message. A value: copy it freely.
///
/// Middlewares keep their state in `metadata` only, under keys that include their own id, so a
/// message carries its history with it across channels and processes.
struct Message {
    std::string id;       ///< Unique; assigned at push when empty, kept across retries and dead-lettering.
    std::string handler;  ///< The name a worker routes on (Yii's message type).
    nlohmann::json data = nullptr;                          ///< The payload.
    nlohmann::json metadata = nlohmann::json::object();     ///< Always a JSON object.

    /// @brief A message for @p handler with payload @p data and no id yet.
    static Message create(std::string handler, nlohmann::json data = nullptr);
};

/// @brief How deeply `data` and `metadata` may each nest arrays and objects (a scalar is 0 levels,
/// `[]` or `{}` 1, `[[1]]` 2; the metadata object itself is 1). Serialising, copying and comparing
/// JSON recurse once per level, so deeper values could overflow a thread's stack: they are refused
/// at push and are poison when they arrive as bytes (see docs/limits.md).
inline constexpr std::size_t kMaxMessageDepth = 128;

/// @brief Throws InvalidArgumentError, naming @p operation and the field, when `data` or `metadata`
/// of @p message nests deeper than kMaxMessageDepth. Checked without recursion. Every adapter and
/// Queue call it before storing a message; a custom adapter should too.
void check_message_depth(const Message& message, std::string_view operation);

/// @brief The largest `maxMessageBytes` a config may set (512 MiB, Redis's largest string).
inline constexpr std::size_t kMaxMessageBytesLimit = std::size_t{512} * 1024 * 1024;

/// @brief Throws InvalidArgumentError, naming @p operation, the message id, its size and the
/// limit, when @p encoded_bytes (the size of encode_message(@p message)) is more than @p limit
/// (0 = no limit). Adapters call it on the pushes of new messages (see docs/limits.md).
void check_message_size(const Message& message, std::size_t encoded_bytes, std::size_t limit, std::string_view operation);

/// @brief Why a message of @p bytes that arrives is poison under @p limit: "N bytes, more than
/// maxMessageBytes M"; empty when it fits or @p limit is 0.
std::string oversize_reason(std::size_t bytes, std::size_t limit);

/// @brief Serialises a message to its wire form (a JSON object with `id`, `handler`, `data`, `metadata`).
/// Throws InvalidArgumentError when the message nests deeper than kMaxMessageDepth.
std::string encode_message(const Message& message);

/// @brief Parses the wire form. Throws DecodeError with a reason when the bytes are not a message,
/// or when they nest deeper than a message may (kMaxMessageDepth below the top-level object).
Message decode_message(std::string_view bytes);

/// @brief A new unique id: 16 hex digits of per-process randomness and 16 of a counter.
std::string generate_message_id();

}  // namespace failpipe
