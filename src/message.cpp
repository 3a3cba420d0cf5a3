#include "failpipe/message.hpp"

#include <pthread.h>

#include <array>
#include <atomic>
#include <random>
#include <utility>
#include <vector>

#include "failpipe/error.hpp"

namespace failpipe {

Message Message::create(std::string handler, nlohmann::json data) {
    Message message;
    message.handler = std::move(handler);
    message.data = std::move(data);
    return message;
}

namespace {

constexpr const char* kDepthLimitText = "nested deeper than 128 levels";
static_assert(kMaxMessageDepth == 128, "keep kDepthLimitText and docs/limits.md in step");

// True when @p value nests arrays and objects more than @p limit levels. An explicit stack instead
// of recursion: the value may come from anyone, and this is what guards the recursive code.
bool nests_deeper_than(const nlohmann::json& value, std::size_t limit) {
    if (!value.is_structured()) return false;
    std::vector<std::pair<const nlohmann::json*, std::size_t>> pending{{&value, 1}};
    while (!pending.empty()) {
        const auto [node, depth] = pending.back();
        pending.pop_back();
        if (depth > limit) return true;
        for (const auto& child : *node) {
            if (child.is_structured()) pending.emplace_back(&child, depth + 1);
        }
    }
    return false;
}

// The same for JSON text, counted on the bytes (brackets outside strings) before anything parses
// them, so that hostile bytes cost neither a deep tree in memory nor a deep recursion later.
bool text_nests_deeper_than(std::string_view text, std::size_t limit) {
    std::size_t depth = 0;
    bool in_string = false;
    for (std::size_t i = 0; i < text.size(); ++i) {
        const char c = text[i];
        if (in_string) {
            if (c == '\\') {
                ++i;
            } else if (c == '"') {
                in_string = false;
            }
            continue;
        }
        if (c == '"') {
            in_string = true;
        } else if (c == '[' || c == '{') {
            if (++depth > limit) return true;
        } else if ((c == ']' || c == '}') && depth > 0) {
            --depth;
        }
    }
    return false;
}

}  // namespace

void check_message_depth(const Message& message, std::string_view operation) {
    const char* field = nests_deeper_than(message.data, kMaxMessageDepth)       ? "data"
                        : nests_deeper_than(message.metadata, kMaxMessageDepth) ? "metadata"
                                                                                : nullptr;
    if (field == nullptr) return;
    throw InvalidArgumentError(std::string(operation) + ": the " + field + " of message " +
                               (message.id.empty() ? std::string("(no id yet)") : "\"" + message.id + "\"") + " is " +
                               kDepthLimitText + " (the limit of a message's data and metadata)");
}

std::string oversize_reason(std::size_t bytes, std::size_t limit) {
    if (limit == 0 || bytes <= limit) return {};
    return std::to_string(bytes) + " bytes, more than maxMessageBytes " + std::to_string(limit);
}

void check_message_size(const Message& message, std::size_t encoded_bytes, std::size_t limit, std::string_view operation) {
    const std::string reason = oversize_reason(encoded_bytes, limit);
    if (reason.empty()) return;
    throw InvalidArgumentError(std::string(operation) + ": message " +
                               (message.id.empty() ? std::string("(no id yet)") : "\"" + message.id + "\"") + " is " +
                               reason + " (its encoded size; nothing was pushed)");
}

std::string encode_message(const Message& message) {
    // dump() recurses once per level: the check comes first.
    check_message_depth(message, "encode_message");
    nlohmann::json wire = {{"id", message.id}, {"handler", message.handler}, {"data", message.data},
                           {"metadata", message.metadata.is_object() ? message.metadata : nlohmann::json::object()}};
    // Replacement keeps invalid UTF-8 in a user's strings from turning a push into an exception.
    return wire.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

Message decode_message(std::string_view bytes) {
    // The message object is one level; data and metadata may each have kMaxMessageDepth below it.
    if (text_nests_deeper_than(bytes, kMaxMessageDepth + 1)) {
        throw DecodeError(std::string("JSON ") + kDepthLimitText + " below the message object (the limit of data and metadata; " +
                          std::to_string(bytes.size()) + " bytes)");
    }
    nlohmann::json wire = nlohmann::json::parse(bytes.begin(), bytes.end(), nullptr, /*allow_exceptions=*/false);
    if (wire.is_discarded()) throw DecodeError("not JSON (" + std::to_string(bytes.size()) + " bytes)");
    if (!wire.is_object()) throw DecodeError(std::string("expected a JSON object, found ") + wire.type_name());
    Message message;
    auto id = wire.find("id");
    if (id != wire.end() && !id->is_null()) {
        if (!id->is_string()) throw DecodeError(std::string("\"id\": expected a string, found ") + id->type_name());
        message.id = id->get<std::string>();
    }
    auto handler = wire.find("handler");
    if (handler == wire.end() || !handler->is_string()) {
        throw DecodeError(handler == wire.end() ? std::string("\"handler\": missing")
                                                : std::string("\"handler\": expected a string, found ") + handler->type_name());
    }
    message.handler = handler->get<std::string>();
    if (auto data = wire.find("data"); data != wire.end()) message.data = std::move(*data);
    if (auto metadata = wire.find("metadata"); metadata != wire.end() && !metadata->is_null()) {
        if (!metadata->is_object()) {
            throw DecodeError(std::string("\"metadata\": expected an object, found ") + metadata->type_name());
        }
        message.metadata = std::move(*metadata);
    }
    return message;
}

namespace {

std::uint64_t fresh_process_part() {
    std::random_device device;
    return (static_cast<std::uint64_t>(device()) << 32) ^ device();
}

// Per-process randomness makes ids from different processes (and restarts) distinct; the counter
// makes them distinct within the process without a lock. A forked child would share both with
// its parent, so it draws a new random part.
std::atomic<std::uint64_t> process_part{0};
std::atomic<std::uint64_t> counter{0};

void reseed_after_fork() {
    process_part.store(fresh_process_part(), std::memory_order_relaxed);
    counter.store(0, std::memory_order_relaxed);
}

const bool id_source_ready = [] {
    process_part.store(fresh_process_part(), std::memory_order_relaxed);
    pthread_atfork(nullptr, nullptr, reseed_after_fork);
    return true;
}();

}  // namespace

std::string generate_message_id() {
    (void)id_source_ready;
    const std::uint64_t process = process_part.load(std::memory_order_relaxed);
    std::uint64_t sequence = counter.fetch_add(1, std::memory_order_relaxed);
    static constexpr char digits[] = "0123456789abcdef";
    std::string id(32, '0');
    for (int i = 0; i < 16; ++i) {
        id[static_cast<std::size_t>(15 - i)] = digits[(process >> (4 * i)) & 0xF];
        id[static_cast<std::size_t>(31 - i)] = digits[(sequence >> (4 * i)) & 0xF];
    }
    return id;
}

}  // namespace failpipe
