#include "failpipe/message.hpp"

#include <pthread.h>

#include <array>
#include <atomic>
#include <random>

#include "failpipe/error.hpp"

namespace failpipe {

Message Message::create(std::string handler, nlohmann::json data) {
    Message message;
    message.handler = std::move(handler);
    message.data = std::move(data);
    return message;
}

std::string encode_message(const Message& message) {
    nlohmann::json wire = {{"id", message.id}, {"handler", message.handler}, {"data", message.data},
                           {"metadata", message.metadata.is_object() ? message.metadata : nlohmann::json::object()}};
    // Replacement keeps invalid UTF-8 in a user's strings from turning a push into an exception.
    return wire.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

Message decode_message(std::string_view bytes) {
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
